#include "app/demo_backend.hpp"

#include "http/parser.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <thread>

namespace weir::app {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct DemoBackend::Impl {
    std::string name;
    asio::io_context io{1};
    tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    std::thread thread;

    void accept() {
        acceptor.async_accept([this](boost::system::error_code ec, tcp::socket s) {
            if (ec) return;
            // One thread per connection keeps this demo code short; it is not the proxy.
            std::thread([this, sock = std::move(s)]() mutable { serve(std::move(sock)); }).detach();
            accept();
        });
    }

    void serve(tcp::socket sock) {
        std::string buf;
        char tmp[4096];
        http::RequestHead req;
        for (;;) {
            std::size_t head_len = 0;
            http::ParseError err;
            auto st = http::parse_request_head(buf, 65536, req, head_len, err);
            if (st == http::ParseStatus::error) return;
            if (st == http::ParseStatus::incomplete) {
                boost::system::error_code ec;
                std::size_t n = sock.read_some(asio::buffer(tmp), ec);
                if (ec) return;
                buf.append(tmp, n);
                continue;
            }
            std::string body = name + " " + std::string(req.method) + " " + std::string(req.target) + "\n";
            bool keep = req.keep_alive;
            std::uint64_t skip = req.body == http::BodyKind::content_length ? req.content_length : 0;
            if (req.body == http::BodyKind::chunked) keep = false;  // the demo does not read chunked bodies
            buf.erase(0, head_len);
            while (skip > 0) {
                if (buf.empty()) {
                    boost::system::error_code ec;
                    std::size_t n = sock.read_some(asio::buffer(tmp), ec);
                    if (ec) return;
                    buf.append(tmp, n);
                }
                std::size_t n = std::min<std::uint64_t>(skip, buf.size());
                buf.erase(0, n);
                skip -= n;
            }
            std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(body.size()) + (keep ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n") +
                               body;
            boost::system::error_code ec;
            asio::write(sock, asio::buffer(resp), ec);
            if (ec || !keep) return;
        }
    }
};

DemoBackend::DemoBackend(std::string name) : impl_(std::make_unique<Impl>()) {
    impl_->name = std::move(name);
    impl_->accept();
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

DemoBackend::~DemoBackend() {
    impl_->io.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t DemoBackend::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace weir::app
