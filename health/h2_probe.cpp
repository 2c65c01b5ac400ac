#include "health/h2_probe.hpp"

#include "health/grpc_health_message.hpp"
#include "health/probe_connection.hpp"
#include "http2/client_connection.hpp"
#include "tls/client_context.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <memory>
#include <optional>

namespace weir::health {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A health answer is a few bytes; anything near this is not one.
constexpr std::size_t max_body = 64 * 1024;
constexpr std::size_t max_detail = 120;
constexpr unsigned char alpn_h2[] = {2, 'h', '2'};

std::string_view find_field(const std::vector<http::Header>& fields, std::string_view name) {
    for (const auto& f : fields)
        if (f.name == name) return f.value;
    return {};
}

// Checks ask little of the connection: one stream, a small window.
http2::ClientLimits probe_limits() {
    http2::ClientLimits l;
    l.max_concurrent_streams = 1;
    l.max_header_list_bytes = 16 * 1024;
    return l;
}

struct H2Probe : ProbeConnection<H2Probe>, http2::ClientEvents {
    H2Probe(asio::io_context& io, const CheckSpec& s) : ProbeConnection(io, s.timeout), spec(s) {}

    void handshake() {
        SSL* ssl = tls->new_connection(host, session_key);
        if (!ssl) return finish({ProbeResult::Kind::error, 0, "cannot start TLS: out of memory"});
        // On this connection's SSL only: the pool's context is shared with
        // connections that must not offer h2.
        if (SSL_set_alpn_protos(ssl, alpn_h2, sizeof alpn_h2) != 0) {
            SSL_free(ssl);
            return finish({ProbeResult::Kind::error, 0, "cannot offer ALPN h2"});
        }
        stream.emplace(socket, ssl);  // owns `ssl` from here
        stream->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& ec) {
            if (self->finished) return;
            // A server that refuses every protocol offered ends the handshake with this alert.
            if (ec.category() == asio::error::get_ssl_category() &&
                ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)
                return self->finish({ProbeResult::Kind::error, 0, "not h2 (ALPN)"});
            if (ec) {
                return self->finish({ProbeResult::Kind::error, 0,
                                     "TLS handshake failed: " + self->tls->failure(self->stream->native_handle(), ec.message())});
            }
            const unsigned char* proto = nullptr;
            unsigned int len = 0;
            SSL_get0_alpn_selected(self->stream->native_handle(), &proto, &len);
            if (std::string_view(reinterpret_cast<const char*>(proto), proto ? len : 0) != "h2")
                return self->finish({ProbeResult::Kind::error, 0, "not h2 (ALPN)"});
            self->open();
        });
    }

    void connected() { open(); }  // over plain TCP (h2c)

    // The connection preface and the check's one stream, then the read loop.
    void open() {
        conn = std::make_unique<http2::ClientConnection>(probe_limits(), *this);
        std::string request_body;
        // The server may give up when the check would: it is not waited for longer.
        const std::string grpc_timeout = std::to_string(spec.timeout.count()) + "m";
        http2::RequestHeaders req;
        req.scheme = tls ? "https" : "http";
        req.authority = authority;
        if (spec.type == CheckType::grpc) {
            request_body = grpc_frame(encode_health_request(spec.service));
            req.method = "POST";
            req.path = "/grpc.health.v1.Health/Check";
            req.headers = {{"content-type", "application/grpc"},
                           {"te", "trailers"},
                           {"grpc-timeout", grpc_timeout},
                           {"user-agent", "weir-health-check"}};
        } else {
            req.method = "GET";
            req.path = spec.path;
            req.headers = {{"user-agent", "weir-health-check"}};
            req.end_stream = true;
        }
        auto opened = conn->submit_request(req);
        if (opened.error) return finish({ProbeResult::Kind::error, 0, "cannot open a stream: " + opened.error.message()});
        stream_id = opened.stream_id;
        if (!req.end_stream) conn->submit_body(stream_id, request_body, true);
        flush();
        read();
    }

    // One write at a time; what the codec has ready is copied out and taken.
    void flush() {
        if (writing || finished) return;
        std::string_view pending = conn->pending_output();
        if (pending.empty()) return;
        out.assign(pending);
        conn->consumed_output(pending.size());
        writing = true;
        with_stream([this](auto& s) {
            asio::async_write(s, asio::buffer(out), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                self->writing = false;
                if (self->finished) return;
                if (ec) return self->finish({ProbeResult::Kind::error, 0, ec.message()});
                self->flush();
            });
        });
    }

    void read() {
        with_stream([this](auto& s) {
            s.async_read_some(asio::buffer(in), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                if (self->finished) return;
                self->on_read(ec, n);
            });
        });
    }

    void on_read(const boost::system::error_code& ec, std::size_t n) {
        if (n > 0) {
            std::error_code err = conn->receive(std::string_view(in.data(), n), http2::Clock::now());
            if (verdict) return finish(std::move(*verdict));
            if (err == http2::Error::bad_preface) return finish({ProbeResult::Kind::error, 0, "not h2 (no SETTINGS first)"});
            if (err) return finish({ProbeResult::Kind::error, 0, "HTTP/2: " + err.message()});
            flush();
        }
        if (ec) {
            const bool closed = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
            return finish({ProbeResult::Kind::error, 0, closed ? "closed before a response" : ec.message()});
        }
        read();
    }

    // ---------------------------------------------------------------- stream events

    void on_response(std::int32_t, int st, const std::vector<http::Header>& headers, bool end_stream) override {
        status = st;
        if (spec.type == CheckType::http) {
            const auto kind = st >= spec.expect_min && st <= spec.expect_max ? ProbeResult::Kind::ok
                                                                             : ProbeResult::Kind::bad_status;
            return judge({kind, st, "status " + std::to_string(st)});
        }
        if (st != 200) return judge({ProbeResult::Kind::bad_status, st, "status " + std::to_string(st)});
        // Trailers-only: the head carries grpc-status (never 0 with no message).
        if (end_stream) judge_grpc(headers);
    }

    void on_body(std::int32_t id, std::string_view bytes) override {
        conn->consumed_body(id, bytes.size());
        if (body.size() + bytes.size() > max_body)
            return judge({ProbeResult::Kind::error, status, "response body too large"});
        body.append(bytes);
    }

    void on_trailers(std::int32_t, const std::vector<http::Header>& trailers) override { judge_grpc(trailers); }

    void on_end_of_response(std::int32_t) override {
        if (spec.type == CheckType::grpc) judge({ProbeResult::Kind::error, status, "no grpc-status"});
    }

    void on_stream_closed(std::int32_t, std::uint32_t code) override {
        judge({ProbeResult::Kind::error, status, "stream reset (HTTP/2 error " + std::to_string(code) + ")"});
    }

    void judge_grpc(const std::vector<http::Header>& fields) {
        const std::string_view code = find_field(fields, "grpc-status");
        if (code.empty()) return judge({ProbeResult::Kind::error, status, "no grpc-status"});
        if (code != "0") {
            std::string detail = "grpc-status " + std::string(code);
            const std::string_view message = find_field(fields, "grpc-message");
            if (!message.empty()) detail += ": " + std::string(message.substr(0, max_detail));
            return judge({ProbeResult::Kind::bad_status, status, std::move(detail)});
        }
        std::string error;
        auto message = grpc_unframe(body, error);
        if (!message) return judge({ProbeResult::Kind::error, status, "grpc-status 0, " + error});
        auto serving = decode_health_response(*message);
        if (!serving) return judge({ProbeResult::Kind::error, status, "grpc-status 0, malformed HealthCheckResponse"});
        const auto kind = *serving == static_cast<std::uint32_t>(ServingStatus::serving) ? ProbeResult::Kind::ok
                                                                                          : ProbeResult::Kind::bad_status;
        judge({kind, status, serving_status_name(*serving)});
    }

    // The first verdict stands; it is acted on once the codec returns.
    void judge(ProbeResult r) {
        if (!verdict) verdict = std::move(r);
    }

    CheckSpec spec;
    std::string authority;  // "host:port", as the snapshot names the endpoint
    std::unique_ptr<http2::ClientConnection> conn;
    std::int32_t stream_id = 0;
    std::array<char, 16 * 1024> in{};
    std::string out;
    bool writing = false;
    int status = 0;
    std::string body;
    std::optional<ProbeResult> verdict;
};

}  // namespace

void probe_h2(asio::io_context& io, const Target& target, const CheckSpec& spec, std::function<void(ProbeResult)> done) {
    auto p = std::make_shared<H2Probe>(io, spec);
    p->tls = target.tls;
    p->host = target.host;
    p->session_key = target.name;
    p->authority = target.name;
    p->done = std::move(done);
    p->start(target.address);
}

}  // namespace weir::health
