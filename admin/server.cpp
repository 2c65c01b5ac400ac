#include "admin/server.hpp"

#include "common/log.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <cerrno>
#include <chrono>

namespace weir::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t max_body = 1024 * 1024;
constexpr std::chrono::seconds admin_timeout{10};

class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
public:
    AdminConnection(tcp::socket socket, const AdminServer::Handler& handler)
        : stream_(std::move(socket)), handler_(handler) {
        beast::error_code ec;
        auto ep = stream_.socket().remote_endpoint(ec);
        peer_ = ec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
    }

    void start() { read(); }

private:
    void read() {
        parser_.emplace();
        parser_->body_limit(max_body);
        parser_->header_limit(64 * 1024);
        stream_.expires_after(admin_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&AdminConnection::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout) return close();
        if (ec) {
            // docs/admin-api.md answers every refused admin call with 400/401/404/405/409/412;
            // an oversized body is a bad request like any other.
            const int status = 400;
            std::string why = ec == http::error::body_limit ? "body larger than 1 MiB" : "malformed request";
            // Refused before any handler saw it: the audit line is written here.
            // The start line is stored as soon as it is parsed, even when a
            // header (like an oversized Content-Length) fails afterwards.
            std::string method(parser_->get().method_string());
            std::string target(parser_->get().target());
            if (method.empty()) method = "-";
            if (target.empty()) target = "-";
            log::warn("admin", "{} {} {} -> {}: {}", peer_, method, target, status, why);
            respond(json_error(status, why), false);
            return;
        }
        auto& msg = parser_->get();
        AdminRequest req;
        req.method = std::string(msg.method_string());
        std::string_view target = msg.target();
        req.path = std::string(target.substr(0, target.find('?')));
        if (auto q = target.find('?'); q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
        req.body = std::move(msg.body());
        req.peer = peer_;
        for (const auto& f : msg) {
            std::string name(f.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            req.headers[name] = std::string(f.value());
        }
        const bool keep_alive = msg.keep_alive();
        try {
            handler_(req, [self = shared_from_this(), keep_alive](AdminResponse resp) {
                self->respond(std::move(resp), keep_alive);
            });
        } catch (const std::exception& e) {
            log::error("admin", "{} {} from {}: {}", req.method, req.path, peer_, e.what());
            respond(json_error(500, "internal error"), keep_alive);
        }
    }

    void respond(AdminResponse r, bool keep_alive) {
        res_ = {};
        res_.version(11);
        res_.result(static_cast<http::status>(r.status));
        res_.set(http::field::content_type, r.headers.count("content-type") ? r.headers["content-type"]
                                                                              : "application/json");
        for (const auto& [k, v] : r.headers) {
            if (k != "content-type") res_.set(k, v);
        }
        res_.body() = std::move(r.body);
        res_.keep_alive(keep_alive);
        res_.prepare_payload();
        http::async_write(stream_, res_,
                          [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              if (!keep_alive) return self->linger();
                              self->read();
                          });
    }

    // Closing with unread request bytes (a refused oversized body) would reset
    // the connection and could destroy the answer before the client reads
    // it: half-close, then discard what still comes, for a bounded time.
    void linger() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.expires_after(std::chrono::seconds(2));
        discard_.resize(64 * 1024);
        drain_more(0);
    }

    void drain_more(std::size_t seen) {
        stream_.async_read_some(asio::buffer(discard_),
                                [self = shared_from_this(), seen](beast::error_code ec, std::size_t n) {
                                    if (ec || seen + n > 8 * max_body) return self->close();
                                    self->drain_more(seen + n);
                                });
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.socket().close(ignored);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::vector<char> discard_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> res_;
    AdminServer::Handler handler_;
    std::string peer_;
};

}  // namespace

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
    Impl(asio::io_context& io, const tcp::endpoint& ep, Handler h) : acceptor(io), handler(std::move(h)) {
        acceptor.open(ep.protocol());
        acceptor.set_option(asio::socket_base::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen();
    }
    void accept() {
        acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
            if (ec == asio::error::operation_aborted) return;
            if (!ec) std::make_shared<AdminConnection>(std::move(s), self->handler)->start();
            if (out_of_descriptors(ec)) return self->pause(ec);
            self->accept();
        });
    }

    // Out of descriptors the pending connection stays queued and accept fails
    // again at once: retrying immediately would spin the control thread, which
    // also runs health checks and the rollout judge. Wait, then try again.
    static bool out_of_descriptors(const beast::error_code& ec) {
        return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
               ec == asio::error::no_memory || ec.value() == ENFILE;
    }

    void pause(const beast::error_code& ec) {
        ++paused;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_pause_log >= std::chrono::seconds(10)) {
            log::warn("admin", "cannot accept: {}; pausing accepts for {} ms ({} pauses since the last report)",
                      ec.message(), pause_time.count(), paused);
            last_pause_log = now;
            paused = 0;
        }
        retry.expires_after(pause_time);
        retry.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
            if (wait_ec || !self->acceptor.is_open()) return;
            self->accept();
        });
    }

    static constexpr std::chrono::milliseconds pause_time{100};
    tcp::acceptor acceptor;
    Handler handler;
    asio::steady_timer retry{acceptor.get_executor()};
    std::chrono::steady_clock::time_point last_pause_log{};
    std::uint64_t paused = 0;
};

AdminServer::AdminServer(asio::io_context& io, const tcp::endpoint& address, Handler handler)
    : impl_(std::make_shared<Impl>(io, address, std::move(handler))) {
    impl_->accept();
}

AdminServer::~AdminServer() { close(); }

tcp::endpoint AdminServer::local_endpoint() const { return impl_->acceptor.local_endpoint(); }

void AdminServer::close() {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->retry.cancel();
}

AdminResponse json_error(int status, const std::string& message) {
    AdminResponse r;
    r.status = status;
    r.body = boost::json::serialize(boost::json::object{{"error", message}});
    return r;
}

}  // namespace weir::admin
