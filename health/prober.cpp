#include "health/prober.hpp"

#include "health/probe_connection.hpp"
#include "http/parser.hpp"
#include "tls/client_context.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>

#include <memory>
#include <optional>

namespace weir::health {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr std::size_t max_head = 16 * 1024;

struct Probe : ProbeConnection<Probe> {
    Probe(asio::io_context& io, std::chrono::milliseconds timeout) : ProbeConnection(io, timeout) {}

    void handshake() {
        SSL* ssl = tls->new_connection(host, session_key);
        if (!ssl) return finish({ProbeResult::Kind::error, 0, "cannot start TLS: out of memory"});
        stream.emplace(socket, ssl);  // owns `ssl` from here
        stream->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& ec) {
            if (self->finished) return;
            if (ec) {
                return self->finish({ProbeResult::Kind::error, 0,
                                     "TLS handshake failed: " + self->tls->failure(self->stream->native_handle(), ec.message())});
            }
            self->send();
        });
    }

    void connected() { send(); }  // over plain TCP

    void send() {
        with_stream([this](auto& s) {
            asio::async_write(s, asio::buffer(request), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                if (self->finished) return;
                if (ec) return self->finish({ProbeResult::Kind::error, 0, ec.message()});
                self->read();
            });
        });
    }

    void read() {
        std::size_t old = buffer.size();
        buffer.resize(old + 4096);
        with_stream([this, old](auto& s) {
            s.async_read_some(asio::buffer(buffer.data() + old, 4096),
                              [self = shared_from_this(), old](const boost::system::error_code& ec, std::size_t n) {
                                  if (self->finished) return;
                                  self->buffer.resize(old + n);
                                  self->on_read(ec);
                              });
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
        if (ec) {
            const bool closed = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
            return finish({ProbeResult::Kind::error, 0, closed ? "closed before a response" : ec.message()});
        }
        read();
    }

    std::string request;
    std::string buffer;
    int expect_min = 0;  // always set by probe(), from the pool's CheckSpec
    int expect_max = 0;
};

}  // namespace

void probe(asio::io_context& io, const Target& target, const std::string& path, std::chrono::milliseconds timeout,
           int expect_min, int expect_max, std::function<void(ProbeResult)> done) {
    auto p = std::make_shared<Probe>(io, timeout);
    p->tls = target.tls;
    p->host = target.host;
    p->session_key = target.name;
    p->request = "GET " + path + " HTTP/1.1\r\nHost: " + target.name +
                 "\r\nUser-Agent: weir-health-check\r\nConnection: close\r\n\r\n";
    p->expect_min = expect_min;
    p->expect_max = expect_max;
    p->done = std::move(done);
    p->start(target.address);
}

}  // namespace weir::health
