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
#include "proxy/socket.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"
#include "routing/snapshot.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace weir::proxy {

class Session final : public IoObject, public UpstreamOwner, public SessionHook, public Timer {
public:
    // Whether the peer is a trusted proxy, and what its listener allows, is
    // decided here once for the connection's lifetime (a reload that changes
    // trusted_proxies or underscores_in_headers applies to new connections).
    Session(Worker& worker, int fd, const Listener& from);
    ~Session() override;

    void start();
    void on_events(std::uint32_t events) override;           // client socket
    void on_upstream_events(std::uint32_t events) override;  // upstream socket
    // The current step's deadline has passed (worker timer wheel).
    void on_timer() override;
    // Graceful shutdown: close now if idle, else after the current exchange.
    void drain();
    // Closes at once (process exit).
    void abort() { close(); }
    std::uint32_t listener_id() const { return listener_id_; }

private:
    // What the session waits for; the event handlers resume the matching step.
    enum class Wait : std::uint8_t {
        none,
        idle,           // keep-alive: the first byte of the next request (client readable)
        request_head,   // the rest of a request head (client readable)
        connect,        // upstream connect completes (upstream writable)
        pump_read,      // body bytes from the source side
        pump_write,     // room on the destination side
        response_head,  // the response head (upstream readable)
        reply,          // room to write a local reply (client writable)
        linger,         // after an error reply: client input to discard, or its close
        closed,
    };
    enum class Direction : std::uint8_t { request, response };

    void resume();

    // Request side
    void wait_request();
    void read_head();
    void handle_request();
    void pick_endpoint();
    // Every endpoint of the pool failed where a retry is safe (refused or
    // timed-out connects; nothing back for a repeatable request): move the
    // request to another pool of the route. False when there is none.
    bool fail_over();
    void connect_upstream();
    void on_connected();
    void send_request();

    // Response side
    void read_response();
    void send_response();
    bool forward_interim();

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
    void record(int status, bool error);
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

    Worker& worker_;
    std::uint32_t listener_id_;
    std::uint16_t local_port_;      // the listener port the client connected to (X-Forwarded-Port)
    http::ClaimPolicy claims_;      // trusted peer? underscores kept?
    Socket client_;
    std::string client_ip_;
    Wait wait_ = Wait::none;
    // Per-request memory, held only while a request is under way (the
    // request's strings and lists live there too, so an idle connection holds
    // nothing allocated during its last request).
    std::unique_ptr<Exchange> ex_;
    routing::SnapshotPtr snapshot_;  // held for the whole exchange
    const routing::Route* route_ = nullptr;
    const routing::Pool* pool_ = nullptr;
    const routing::Endpoint* endpoint_ = nullptr;
    bool panic_ = false;             // every pool of the route is down: failing endpoints allowed
    UpstreamPtr upstream_;

    std::uint64_t head_started_ms_ = 0;
    bool served_ = false;            // a request has been handled on this connection
    bool close_after_ = false;       // reply with Connection: close and end the connection
    bool draining_ = false;
    bool reply_close_ = false;
    int attempts_ = 0;               // endpoints tried for this request, all pools
    int pool_attempts_ = 0;          // endpoints tried in pool_
    int last_failure_status_ = 503;  // what running out of endpoints answers
    http::HeadScan head_scan_;       // the request head arriving, searched so far
    http::HeadScan response_scan_;   // the same for the response head
    std::size_t pending_head_ = 0;   // request head bytes still at the front of client_in
    std::size_t response_head_len_ = 0;
    std::size_t lingered_ = 0;
    bool request_sent_ = false;      // head and body went out in full
    bool continue_sent_ = false;     // "100 Continue" already written to the client
    bool response_started_ = false;  // the response head was accepted and is being sent
    bool client_bytes_sent_ = false; // response bytes reached the client socket
    std::chrono::steady_clock::time_point request_started_{};
    bool request_counted_ = false;   // request_started_ belongs to the current request
    bool recorded_ = true;           // the current request is already in the statistics
    bool counted_ = false;           // this attempt is counted in the endpoint's in-flight load
    std::uint32_t counted_key_ = 0;
    bool repeatable_ = false;        // may be sent again after bytes went out (idempotent or keyed)
    bool replaying_ = false;         // sending the exchange's replay copy after a stale pooled connection

    // Pump state
    Direction dir_ = Direction::request;
    Socket* src_ = nullptr;
    Socket* dst_ = nullptr;
    FlatBuffer* in_ = nullptr;
    http::BodyKind framing_ = http::BodyKind::none;
    std::uint64_t remaining_ = 0;   // content-length bytes not yet claimed
    std::uint64_t body_bytes_ = 0;  // decoded request body bytes, for max_body_bytes
    bool encode_chunked_ = false;
    bool source_done_ = false;
    std::size_t stage_off_ = 0;
    std::size_t view_len_ = 0;  // bytes at the front of *in_ to write as they are
};

}  // namespace weir::proxy
