// What the HTTP/1.1 check (prober.cpp) and the HTTP/2 check (h2_probe.cpp)
// share: one connection to the endpoint, TLS over it when the pool has it,
// and one deadline covering the connect, the handshake and the answer. The
// first result ends the check and closes the connection; a callback arriving
// after that finds `finished` set and does nothing.
//
// `Check` derives from it and provides handshake() (run once connected when
// `tls` is set; it fills `stream`) and connected() (run once connected
// otherwise, and by handshake() once it succeeded).
#pragma once

#include "health/prober.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace weir::health {

template <class Check>
struct ProbeConnection : std::enable_shared_from_this<Check> {
    using tcp = boost::asio::ip::tcp;

    ProbeConnection(boost::asio::io_context& io, std::chrono::milliseconds timeout) : socket(io), timer(io) {
        timer.expires_after(timeout);
    }

    void start(const tcp::endpoint& address) {
        timer.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
            if (ec || self->finished) return;
            self->finish({ProbeResult::Kind::timeout, 0, "timeout"});
        });
        socket.async_connect(address, [self = this->shared_from_this()](const boost::system::error_code& ec) {
            if (self->finished) return;
            if (ec) {
                auto kind = ec == boost::asio::error::connection_refused ? ProbeResult::Kind::refused
                                                                         : ProbeResult::Kind::error;
                return self->finish({kind, 0, ec.message()});
            }
            if (self->tls) self->handshake();
            else self->connected();
        });
    }

    // The check's bytes go through TLS when the pool has it, else straight to the socket.
    template <class F>
    void with_stream(F&& f) {
        if (stream) f(*stream);
        else f(socket);
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
    std::optional<boost::asio::ssl::stream<tcp::socket&>> stream;  // with TLS: over `socket`
    boost::asio::steady_timer timer;
    std::shared_ptr<const tls::ClientContext> tls;
    std::string host;         // TLS: SNI and the name verified
    std::string session_key;  // TLS: the endpoint whose session is resumed
    bool finished = false;
    std::function<void(ProbeResult)> done;
};

}  // namespace weir::health
