// One HTTP/2 connection to an endpoint of a `protocol: h2` pool (gRPC
// backends): many exchanges at once, each a stream of it. The worker keeps
// these per endpoint (H2Upstreams); an exchange asks for one, waits until it
// is ready (connect, TLS with ALPN "h2"), opens its stream, and from then on
// hears of its response through H2UpstreamUser.
//
// The connection's socket is an UpstreamConnection like any other (the same
// connect, TLS and retirement code); this object owns it, drives the codec
// (http2::ClientConnection), and passes each stream's events to the exchange
// that opened it. Its output goes out at the end of the loop's batch
// (Worker::queue_flush), so the requests of many streams started in one
// batch leave in one write.
//
// The connection holds the snapshot whose pool and endpoint it names in its
// logs and charges; an exchange of a later snapshot with the same endpoint
// and TLS settings moves it on to that snapshot (weight changes and rollout
// steps publish snapshots all the time: none of them costs a connection).
// Other settings, or an endpoint removed or draining, retire it: it takes no
// new streams, finishes those it has, and closes.
#pragma once

#include "http/message.hpp"
#include "http2/client_connection.hpp"
#include "proxy/timer_wheel.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"
#include "routing/snapshot.hpp"

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weir::proxy {

// What an exchange using an HTTP/2 upstream connection hears, in this order:
// h2_ready (or h2_unavailable) once, then for its stream h2_response,
// h2_body*, h2_trailers?, h2_end, or h2_closed at any point instead of what
// is left. Nothing is heard after h2_unavailable, h2_end, h2_closed or an
// h2_response with end_stream (complete), or after the exchange let go of
// the stream (H2Upstream::cancel, forget).
class H2UpstreamUser {
public:
    // The connection is ready: open the stream now (H2Upstream::open).
    virtual void on_h2_ready() = 0;
    // It could not be made (logged and charged to the endpoint already):
    // nothing was sent, another endpoint may be tried.
    virtual void on_h2_unavailable() = 0;
    virtual void on_h2_response(int status, const std::vector<http::Header>& headers, bool end_stream) = 0;
    virtual void on_h2_body(std::string_view bytes) = 0;
    virtual void on_h2_trailers(const std::vector<http::Header>& trailers) = 0;
    virtual void on_h2_end() = 0;
    // The stream ended before its response did: the RST_STREAM code (0x7
    // REFUSED_STREAM: the upstream never processed it), or connection_lost.
    virtual void on_h2_closed(std::uint32_t code) = 0;
    // The stream's unsent request body filled its buffer (full) or drained.
    virtual void on_h2_send_buffer(bool full) = 0;

    static constexpr std::uint32_t connection_lost = 0xffffffffu;

protected:
    ~H2UpstreamUser() = default;
};

class H2Upstream final : public UpstreamOwner, public Timer, public Flushable, private http2::ClientEvents {
public:
    // Starts connecting to `endpoint` of `pool` (both in `snapshot`).
    H2Upstream(Worker& worker, routing::SnapshotPtr snapshot, const routing::Pool& pool,
               const routing::Endpoint& endpoint);
    ~H2Upstream() override;
    H2Upstream(const H2Upstream&) = delete;
    H2Upstream& operator=(const H2Upstream&) = delete;

    // Whether another exchange may use it: not closed or retired, and room
    // for one more stream (counting those waiting for the connection).
    bool has_room() const;
    bool ready() const { return state_ == State::ready; }
    bool closed() const { return state_ == State::closed; }
    std::uint32_t endpoint_key() const { return key_; }
    const tls::ClientContext* tls_context() const { return pool_->upstream.tls.get(); }
    // Whether it may carry streams of `pool` to `endpoint` (same address,
    // same TLS settings) of another snapshot than its own.
    bool serves(const routing::Pool& pool, const routing::Endpoint& endpoint) const;
    // Takes the newer snapshot's view of its pool and endpoint, letting go
    // of the older snapshot.
    void rebind(const routing::SnapshotPtr& snapshot, const routing::Pool& pool, const routing::Endpoint& endpoint);

    // Connecting: `user` hears on_h2_ready or on_h2_unavailable.
    void wait(H2UpstreamUser& user);
    // The user no longer waits (its exchange ended).
    void forget(H2UpstreamUser& user);
    // Opens a stream (ready only); 0 when none can be opened now.
    std::int32_t open(const http2::RequestHeaders& request, H2UpstreamUser& user);
    // Request body for the stream; false when its buffer is full (on_h2_send_buffer follows).
    bool send_body(std::int32_t id, std::string_view bytes, bool end_stream);
    void send_trailers(std::int32_t id, const std::vector<http::Header>& trailers);
    // Response bytes the exchange has passed on (the upstream may send more).
    void consumed(std::int32_t id, std::size_t n);
    // The exchange is done with the stream: reset with CANCEL unless it
    // already ended; its user hears nothing more.
    void cancel(std::int32_t id);
    // No new streams; closes once those it has are over (a reload, a drain).
    void retire();
    // Closes now; streams and waiters hear connection_lost / unavailable.
    void close();

    void on_upstream_events(std::uint32_t events) override;
    void on_timer() override;
    void flush() override;

private:
    enum class State : std::uint8_t { connecting, handshake, ready, closed };

    // http2::ClientEvents
    void on_response(std::int32_t stream_id, int status, const std::vector<http::Header>& headers,
                     bool end_stream) override;
    void on_body(std::int32_t stream_id, std::string_view bytes) override;
    void on_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers) override;
    void on_end_of_response(std::int32_t stream_id) override;
    void on_stream_closed(std::int32_t stream_id, std::uint32_t error_code) override;
    void on_send_buffer(std::int32_t stream_id, bool full) override;

    void connected();
    void handshake_step();
    void became_ready();
    // The connection could not be made: every waiter hears it.
    void unavailable();
    void read_input();
    bool write_output();
    void queue_output();
    // Arms the timer for what the connection waits for now.
    void arm();
    H2UpstreamUser* user(std::int32_t id);

    Worker& worker_;
    routing::SnapshotPtr snapshot_;  // keeps pool_ and endpoint_ alive
    const routing::Pool* pool_;
    const routing::Endpoint* endpoint_;
    std::uint32_t key_;
    UpstreamPtr conn_;
    http2::ClientConnection codec_;
    State state_ = State::connecting;
    bool retired_ = false;
    bool in_input_ = false;  // inside codec_.receive: the codec may not be fed again
    std::vector<H2UpstreamUser*> waiters_;
    std::unordered_map<std::int32_t, H2UpstreamUser*> users_;
};

}  // namespace weir::proxy
