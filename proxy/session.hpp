// One downstream connection and the exchanges it carries, in order:
// read head -> route -> upstream -> stream request -> read response head ->
// stream response -> next request (keep-alive, pipelining) or close.
//
// Every step reads or writes without blocking as far as it can; when a socket
// has nothing more to give or take, the session records what it waits for
// and returns to the event loop, which calls it back on the next edge.
#pragma once

#include "common/log_limiter.hpp"
#include "http/claims.hpp"
#include "http/message.hpp"
#include "http/parser.hpp"
#include "proxy/exchange.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/socket.hpp"
#include "proxy/tunnel.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"
#include "routing/snapshot.hpp"
#include "tls/handshake_stats.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace weir::proxy {

class Session final : public IoObject,
                      public UpstreamOwner,
                      public SessionHook,
                      public TurnHook,
                      public Flushable,
                      public TunnelHook,
                      public Timer {
public:
    // Whether the peer is a trusted proxy, and what its listener allows, is
    // decided here once for the connection's lifetime (a reload that changes
    // trusted_proxies or underscores_in_headers applies to new connections).
    Session(Worker& worker, int fd, const sockaddr_storage& peer, const Listener& from);
    ~Session() override;

    void start();
    void on_events(std::uint32_t events) override;           // client socket
    void on_upstream_events(std::uint32_t events) override;  // upstream socket
    // The current step's deadline has passed (worker timer wheel).
    void on_timer() override;
    // Graceful shutdown: close now if idle, else after the current exchange;
    // a tunnel after the snapshot's drain_timeout.
    void drain();
    // Closes at once (process exit).
    void abort() { close(); }
    // The loop's turn for this connection (Worker::queue_turn) has come.
    void take_turn();
    // The end of the loop's batch: HTTP/2 output queued by Worker::queue_flush goes out.
    void flush() override {
        if (h2_) h2_->flush();
    }
    std::uint32_t listener_id() const { return listener_id_; }
    // A new snapshot (worker thread, before it becomes the worker's): the
    // tunnel follows it when it still has the tunnel's route, pool and
    // endpoint, not draining; otherwise the tunnel closes after drain_timeout.
    void rebind_tunnel(const routing::SnapshotPtr& next, const SnapshotNames& names);

private:
    // An HTTP/2 connection and its streams use the connection's socket and
    // what the session knows of its client.
    friend class H2Connection;
    friend class H2Stream;

    // What the session waits for; the event handlers resume the matching step.
    enum class Wait : std::uint8_t {
        none,
        handshake,      // TLS: the handshake's next flight (client readable or writable)
        idle,           // keep-alive: the first byte of the next request (client readable)
        request_head,   // the rest of a request head (client readable)
        connect,        // upstream connect completes (upstream writable)
        upstream_handshake,  // TLS to the upstream: the handshake's next flight
        pump_read,      // body bytes from the source side
        pump_write,     // room on the destination side
        response_head,  // the response head (upstream readable)
        reply,          // room to write a local reply (client writable)
        linger,         // after an error reply: client input to discard, or its close
        tunnel,         // after a 101: bytes either way (either socket)
        http2,          // the connection speaks HTTP/2: h2_ serves it
        closed,
    };

    void resume();
    // The client speaks HTTP/2 (ALPN h2, or the preface on an h2c listener):
    // h2_ takes the connection over, starting with `first_bytes` already read.
    void start_http2(std::string_view first_bytes);
    // Whether the bytes at the front of a new connection are (the start of)
    // the HTTP/2 connection preface; `complete` when all 24 bytes are there.
    bool http2_preface(std::string_view bytes, bool& complete) const;
    // TLS: advances the handshake; serves requests once it is done.
    void continue_handshake();

    // Request side
    void wait_request();
    void read_head();
    void handle_request();
    void pick_endpoint();
    void connect_upstream();
    void on_connected();
    // The connection is open: with upstream.tls, the handshake comes first.
    void start_upstream();
    void continue_upstream_handshake();
    void send_request();
    // Whether the request's body (if any) has fully arrived and is small
    // enough to be kept for a replay after a stale pooled connection.
    bool body_kept_for_replay() const;
    // Whether a pooled connection found closed when used would cost this
    // request only a repeat on a fresh one (see upstream_failed).
    bool survives_stale_connection() const;

    // Response side
    void read_response();
    void send_response();
    bool forward_interim();

    // Tunnels (session_tunnel.cpp). The 101 head of `head_len` bytes is at
    // the front of upstream_in: checked, sent on, and the tunnel opened.
    void start_tunnel(std::size_t head_len);
    void tunnel_pump();
    // Moves bytes one way until neither side can go on, or its share of the
    // turn is used (`more`); false when a socket failed (`why`).
    bool tunnel_flow(TunnelFlow& f, bool& more, const char*& why);
    void tunnel_timer();
    // Sets a time at which the tunnel closes (drain, reload); an earlier one stays.
    void tunnel_leave(std::uint64_t due_ms, TunnelLeave why);
    // Shutdown or listener removal: the tunnel closes after the current drain_timeout.
    void tunnel_shut_down();
    // The tunnel's accounting and access log line, once, as it closes.
    void finish_tunnel(std::string_view why);
    void arm_tunnel_deadline();

    // Body streaming in either direction.
    void start_pump(Direction dir, bool staged_whole = false);
    void pump();
    bool fill();
    void pump_done();
    // How a body transfer failed: what the session answers depends on the
    // kind, never on the wording of `what`, which is for the log.
    enum class BodyFailure : std::uint8_t {
        malformed,  // framing broken (chunked syntax): 400 to a client
        too_large,  // over limits.max_body_bytes: 413
        cut_short,  // the source closed before the end of the body
        io,         // a read or write failed, or timed out (`error`)
    };
    void pump_failed(bool source_side, BodyFailure kind, int error, std::string_view what);

    void finish_exchange();
    // Counts the request once, in its (route, pool) statistics slot, and
    // writes its access log line.
    void record(int status, bool error, bool log_line = true);
    void start_access_line(const http::RequestHead* req);
    void upstream_failed(std::string_view what, int error);
    // Before a replay: drops the body bytes the failed attempt left unsent.
    void skip_unsent_body();
    void on_timeout();
    void reply(int status, std::string_view body, bool close);
    void write_reply();
    void linger();
    void linger_read();
    void close();
    void drop_request_head();
    void release_upstream(bool reusable);
    // Per-request log lines go through the worker's rate limiters: a client
    // (or a dead upstream) must not be able to flood the log at request rate.
    // Client-caused refusals at INFO, upstream and routing failures at WARN.
    template <class... Args>
    void client_note(fmt::format_string<Args...> f, Args&&... args) {
        log::limited(worker_.client_log(), EventLoop::clock_ms(), log::Level::info, "proxy", f,
                     std::forward<Args>(args)...);
    }
    template <class... Args>
    void upstream_note(fmt::format_string<Args...> f, Args&&... args) {
        log::limited(worker_.upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy", f,
                     std::forward<Args>(args)...);
    }
    void set_deadline(std::chrono::milliseconds d);
    std::chrono::milliseconds idle_limit(const routing::Limits& limits) const;
    // Deadlines count from the moment they are armed (the clock read now,
    // not a cached tick time), so they never fire early.
    void set_deadline_at(std::uint64_t due_ms);
    void clear_deadline() { cancel(); }

    // Connection state only: what the connection keeps across requests.
    // Everything one request changes is in the exchange (ex_->, see
    // ExchangeState in exchange.hpp), reset by assignment per request.
    Worker& worker_;
    std::uint32_t listener_id_;
    std::uint16_t local_port_;      // the listener port the client connected to (X-Forwarded-Port)
    http::ClaimPolicy claims_;      // trusted peer? underscores kept?
    Socket client_;
    std::string client_ip_;
    Wait wait_ = Wait::none;
    // Per-request memory and state, held only while a request is under way
    // (the request's strings and lists live there too, so an idle connection
    // holds nothing allocated during its last request).
    std::unique_ptr<Exchange> ex_;
    // The upstream connection carrying the current exchange. Held here, not
    // in the pooled exchange: it goes back through the upstream pool or the
    // loop's retire list, never with the exchange's memory.
    UpstreamPtr upstream_;
    // After a 101: the tunnel's state (the exchange has been given back).
    std::unique_ptr<Tunnel> tunnel_;
    // After ALPN h2 or the h2c preface: the HTTP/2 connection.
    std::unique_ptr<H2Connection> h2_;

    std::uint64_t head_started_ms_ = 0;  // when the head being read began (header_timeout)
    http::HeadScan head_scan_;           // the request head arriving, searched so far
    bool served_ = false;                // a request has been handled on this connection
    bool close_after_ = false;           // reply with Connection: close and end the connection
    bool draining_ = false;
    bool reply_close_ = false;           // the local reply being written ends the connection
    bool http2_allowed_ = false;         // the listener's http2 setting, at accept
    std::size_t lingered_ = 0;          // bytes discarded while lingering before the close
    tls::HandshakeCounts* handshakes_ = nullptr;  // TLS connections: the listener's handshake counters
    std::shared_ptr<const tls::ServerContext> tls_context_;  // what the connection's SSL was made from
    std::string client_cert_subject_;  // mTLS: the verified client certificate's subject (RFC 2253)
};

}  // namespace weir::proxy
