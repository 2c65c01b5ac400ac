// One HTTP/1.1 POST to one etcd endpoint on a connection of its own: either
// the whole answer at once (unary calls) or the answer's body as it arrives
// (watch streams). No time limits here: the owner bounds the exchange with
// its own timer and cancel(). Beast stays inside etcd_http.cpp.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace weir::cluster {

// "http://host:port" split up; false if it is not such a URL.
struct EndpointAddress {
    std::string host;
    std::string port;
};
bool parse_endpoint_url(std::string_view url, EndpointAddress& out);

struct HttpPost {
    EndpointAddress to;
    std::string target;         // "/v3/kv/range"
    std::string body;           // JSON
    std::string authorization;  // empty: no Authorization field
    bool get = false;           // a GET without body instead (the fleet's calls to other replicas)
};

class HttpExchange {
public:
    virtual ~HttpExchange() = default;

    // `sent` false: the connection was never made, so etcd cannot have seen
    // the request (another endpoint may be tried).
    using Done = std::function<void(std::error_code, bool sent, int status, std::string body)>;
    virtual void post(HttpPost request, Done done) = 0;

    // The answer's status, then its body in pieces as they arrive, then its
    // end: {} when the body ended normally, else the error (`sent` as above).
    struct StreamHandlers {
        std::function<void(int status)> on_head;
        std::function<void(std::string_view data)> on_data;
        std::function<void(std::error_code, bool sent)> on_end;
    };
    virtual void post_stream(HttpPost request, StreamHandlers handlers) = 0;

    // Closes the connection; no handler of this exchange runs afterwards.
    virtual void cancel() = 0;
};

std::shared_ptr<HttpExchange> make_http_exchange(boost::asio::io_context& io);

}  // namespace weir::cluster
