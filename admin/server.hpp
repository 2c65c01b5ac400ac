// The admin API: JSON over HTTP/1.1 on the control thread. Requests are
// small and rare, so this side uses Boost.Beast's message types for clarity;
// the data plane does not.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace weir::admin {

struct AdminRequest {
    std::string method;
    std::string path;  // without the query
    std::string query; // after '?', as sent
    std::string body;
    std::string peer;  // "ip:port", for the audit log
    std::map<std::string, std::string> headers;  // lower-case names
};

struct AdminResponse {
    int status = 200;
    std::string body;  // JSON
    std::map<std::string, std::string> headers;
};

class AdminServer {
public:
    // Answers through `reply`, at once or later (an edit that waits for the
    // fleet's store); exactly once.
    using Reply = std::function<void(AdminResponse)>;
    using Handler = std::function<void(const AdminRequest&, Reply)>;

    AdminServer(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& address, Handler handler);
    ~AdminServer();
    boost::asio::ip::tcp::endpoint local_endpoint() const;
    void close();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// {"error": "..."} with the given status.
AdminResponse json_error(int status, const std::string& message);

}  // namespace weir::admin
