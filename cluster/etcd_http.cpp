#include "cluster/etcd_http.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <optional>

namespace weir::cluster {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Unary answers are small; a range over many keys is the largest.
constexpr std::uint64_t max_unary_body = 64 * 1024 * 1024;

class BeastExchange : public HttpExchange, public std::enable_shared_from_this<BeastExchange> {
public:
    explicit BeastExchange(asio::io_context& io) : resolver_(io), socket_(io) {}

    void post(HttpPost request, Done done) override {
        done_ = std::move(done);
        streaming_ = false;
        start(std::move(request));
    }

    void post_stream(HttpPost request, StreamHandlers handlers) override {
        stream_ = std::move(handlers);
        streaming_ = true;
        start(std::move(request));
    }

    void cancel() override {
        if (cancelled_) return;
        cancelled_ = true;
        resolver_.cancel();
        boost::system::error_code ignored;
        socket_.close(ignored);
        // Handlers may hold what owns this exchange: let them go now.
        done_ = nullptr;
        stream_ = {};
    }

private:
    void start(HttpPost request) {
        req_.method(request.get ? http::verb::get : http::verb::post);
        req_.target(request.target);
        req_.version(11);
        req_.set(http::field::host, request.to.host + ":" + request.to.port);
        req_.set(http::field::content_type, "application/json");
        if (!request.authorization.empty()) req_.set(http::field::authorization, request.authorization);
        // One exchange per connection: the server closes it after answering.
        req_.keep_alive(streaming_);
        req_.body() = std::move(request.body);
        req_.prepare_payload();

        boost::system::error_code ec;
        const auto address = asio::ip::make_address(request.to.host, ec);
        auto self = shared_from_this();
        if (!ec) {
            std::uint16_t port = 0;
            try {
                port = static_cast<std::uint16_t>(std::stoi(request.to.port));
            } catch (...) {
            }
            socket_.async_connect(tcp::endpoint(address, port),
                                  [self](boost::system::error_code e) { self->on_connect(e); });
            return;
        }
        resolver_.async_resolve(request.to.host, request.to.port,
                                [self](boost::system::error_code e, tcp::resolver::results_type results) {
                                    if (self->cancelled_) return;
                                    if (e) return self->fail(e, false);
                                    asio::async_connect(self->socket_, results,
                                                        [self](boost::system::error_code e2, const tcp::endpoint&) {
                                                            self->on_connect(e2);
                                                        });
                                });
    }

    void on_connect(boost::system::error_code ec) {
        if (cancelled_) return;
        if (ec) return fail(ec, false);
        boost::system::error_code ignored;
        socket_.set_option(tcp::no_delay(true), ignored);
        auto self = shared_from_this();
        http::async_write(socket_, req_, [self](boost::system::error_code e, std::size_t) { self->on_write(e); });
    }

    void on_write(boost::system::error_code ec) {
        if (cancelled_) return;
        if (ec) return fail(ec, true);
        parser_.emplace();
        auto self = shared_from_this();
        if (!streaming_) {
            parser_->body_limit(max_unary_body);
            http::async_read(socket_, buffer_, *parser_,
                             [self](boost::system::error_code e, std::size_t) { self->on_read(e); });
            return;
        }
        parser_->body_limit(boost::none);  // a watch stream has no end
        http::async_read_header(socket_, buffer_, *parser_,
                                [self](boost::system::error_code e, std::size_t) { self->on_head(e); });
    }

    void on_read(boost::system::error_code ec) {
        if (cancelled_) return;
        if (ec) return fail(ec, true);
        auto done = std::move(done_);
        auto& res = parser_->get();
        done({}, true, static_cast<int>(res.result_int()), std::move(res.body()));
    }

    void on_head(boost::system::error_code ec) {
        if (cancelled_) return;
        if (ec) return fail(ec, true);
        // Copies: a handler may cancel this exchange, which drops stream_.
        auto on_head = stream_.on_head;
        if (on_head) on_head(static_cast<int>(parser_->get().result_int()));
        if (cancelled_) return;
        read_more();
    }

    void read_more() {
        if (cancelled_) return;
        if (parser_->is_done()) return end_stream({});
        auto self = shared_from_this();
        http::async_read_some(socket_, buffer_, *parser_,
                              [self](boost::system::error_code e, std::size_t) { self->on_some(e); });
    }

    void on_some(boost::system::error_code ec) {
        if (cancelled_) return;
        // What was parsed before an error is still delivered.
        std::string& body = parser_->get().body();
        if (!body.empty()) {
            std::string data;
            data.swap(body);  // the body reader appends at the string's end
            auto on_data = stream_.on_data;
            if (on_data) on_data(data);
            if (cancelled_) return;
        }
        if (ec) return end_stream(ec);
        read_more();
    }

    void end_stream(std::error_code ec) {
        auto handlers = std::move(stream_);
        if (!ec) ec = boost::system::error_code(asio::error::eof);  // a watch stream never ends by itself
        if (handlers.on_end) handlers.on_end(ec, true);
    }

    void fail(boost::system::error_code ec, bool sent) {
        if (streaming_) {
            auto handlers = std::move(stream_);
            if (handlers.on_end) handlers.on_end(ec, sent);
        } else {
            auto done = std::move(done_);
            if (done) done(ec, sent, 0, {});
        }
    }

    tcp::resolver resolver_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
    std::optional<http::response_parser<http::string_body>> parser_;
    bool streaming_ = false;
    bool cancelled_ = false;
    Done done_;
    StreamHandlers stream_;
};

}  // namespace

bool parse_endpoint_url(std::string_view url, EndpointAddress& out) {
    constexpr std::string_view scheme = "http://";
    if (url.substr(0, scheme.size()) != scheme) return false;
    url.remove_prefix(scheme.size());
    while (!url.empty() && url.back() == '/') url.remove_suffix(1);
    if (url.find('/') != std::string_view::npos) return false;
    std::string_view host = url;
    std::string_view port = "2379";
    if (!url.empty() && url.front() == '[') {  // [::1]:2379
        const auto close = url.find(']');
        if (close == std::string_view::npos) return false;
        host = url.substr(1, close - 1);
        const auto rest = url.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            port = rest.substr(1);
        }
    } else if (const auto colon = url.rfind(':'); colon != std::string_view::npos) {
        host = url.substr(0, colon);
        port = url.substr(colon + 1);
    }
    if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
    out.host = std::string(host);
    out.port = std::string(port);
    return true;
}

std::shared_ptr<HttpExchange> make_http_exchange(boost::asio::io_context& io) {
    return std::make_shared<BeastExchange>(io);
}

}  // namespace weir::cluster
