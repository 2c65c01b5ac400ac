#include "health/prober.hpp"

#include "http/parser.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <memory>

namespace weir::health {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr std::size_t max_head = 16 * 1024;

struct Probe : std::enable_shared_from_this<Probe> {
    Probe(asio::io_context& io, std::chrono::milliseconds timeout) : socket(io), timer(io) {
        timer.expires_after(timeout);
    }

    void start(const tcp::endpoint& address) {
        timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->finished) return;
            self->finish({ProbeResult::Kind::timeout, 0, "timeout"});
        });
        socket.async_connect(address, [self = shared_from_this()](const boost::system::error_code& ec) {
            if (self->finished) return;
            if (ec) {
                auto kind = ec == asio::error::connection_refused ? ProbeResult::Kind::refused : ProbeResult::Kind::error;
                self->finish({kind, 0, ec.message()});
                return;
            }
            asio::async_write(self->socket, asio::buffer(self->request),
                              [self](const boost::system::error_code& wec, std::size_t) {
                                  if (self->finished) return;
                                  if (wec) return self->finish({ProbeResult::Kind::error, 0, wec.message()});
                                  self->read();
                              });
        });
    }

    void read() {
        std::size_t old = buffer.size();
        buffer.resize(old + 4096);
        socket.async_read_some(asio::buffer(buffer.data() + old, 4096),
                               [self = shared_from_this(), old](const boost::system::error_code& ec, std::size_t n) {
                                   if (self->finished) return;
                                   self->buffer.resize(old + n);
                                   self->on_read(ec);
                               });
    }

    void on_read(const boost::system::error_code& ec) {
        http::ResponseHead head;
        std::size_t len = 0;
        http::ParseError err;
        auto st = http::parse_response_head(buffer, max_head, http::Method::get, head, len, err);
        if (st == http::ParseStatus::complete) {
            if (head.status >= expect_min && head.status <= expect_max)
                return finish({ProbeResult::Kind::ok, head.status, "status " + std::to_string(head.status)});
            return finish({ProbeResult::Kind::bad_status, head.status, "status " + std::to_string(head.status)});
        }
        if (st == http::ParseStatus::error) return finish({ProbeResult::Kind::error, 0, std::string(err.reason)});
        if (ec) return finish({ProbeResult::Kind::error, 0, ec == asio::error::eof ? "closed before a response" : ec.message()});
        read();
    }

    void finish(ProbeResult r) {
        finished = true;
        boost::system::error_code ignored;
        timer.cancel();
        socket.close(ignored);
        auto cb = std::move(done);
        cb(std::move(r));
    }

    tcp::socket socket;
    asio::steady_timer timer;
    std::string request;
    std::string buffer;
    int expect_min = 0;  // always set by probe(), from the pool's CheckSpec
    int expect_max = 0;
    bool finished = false;
    std::function<void(ProbeResult)> done;
};

}  // namespace

void probe(asio::io_context& io, const tcp::endpoint& address, const std::string& host, const std::string& path,
           std::chrono::milliseconds timeout, int expect_min, int expect_max, std::function<void(ProbeResult)> done) {
    auto p = std::make_shared<Probe>(io, timeout);
    p->request = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                 "\r\nUser-Agent: weir-health-check\r\nConnection: close\r\n\r\n";
    p->expect_min = expect_min;
    p->expect_max = expect_max;
    p->done = std::move(done);
    p->start(address);
}

}  // namespace weir::health
