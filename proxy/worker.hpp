// One event-loop thread: its own epoll loop, acceptors (SO_REUSEPORT),
// upstream connection pool, scratch memory and routing snapshot. Nothing here
// is shared with other workers; the control thread talks to it only by posting.
#pragma once

#include "common/log_limiter.hpp"
#include "proxy/access_log.hpp"
#include "proxy/event_loop.hpp"
#include "proxy/exchange.hpp"
#include "proxy/failure_counters.hpp"
#include "proxy/pipe_pool.hpp"
#include "proxy/stat_slots.hpp"
#include "proxy/upstream_pool.hpp"
#include "routing/random.hpp"
#include "rollout/slice.hpp"
#include "routing/snapshot.hpp"
#include "telemetry/traffic.hpp"

#include <boost/intrusive/list.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace weir::proxy {

class Session;
class Listener;
class H2Upstreams;

struct ListenSpec {
    std::string name;
    boost::asio::ip::tcp::endpoint address;
};

// Counters a worker keeps for itself; other threads read them with relaxed
// loads (tests, logs, later the metrics scrape). Single writer: no contention.
struct WorkerStats {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> local_replies{0};
    std::atomic<std::uint64_t> upstream_connects{0};
    std::atomic<std::uint64_t> upstream_reuses{0};
    std::atomic<std::uint64_t> failovers{0};  // requests moved to another pool after a pre-send failure
    // Requests answered 502 rather than sent again: bytes had gone out and
    // the method is not idempotent (no Idempotency-Key).
    std::atomic<std::uint64_t> retries_refused{0};
    std::atomic<std::uint64_t> accept_pauses{0};  // listeners stopped accepting: out of descriptors
    std::atomic<std::uint64_t> http2_connections{0};  // client connections that switched to HTTP/2
    std::atomic<std::uint64_t> http2_calm_goaways{0};  // HTTP/2 connections ended for abuse (ENHANCE_YOUR_CALM)
    std::atomic<std::uint64_t> http2_client_resets{0};  // streams the client reset before their answer was complete
};

using SessionHook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
// Links a session whose next step waits for a turn of the loop (Worker::queue_turn).
struct TurnTag;
using TurnHook =
    boost::intrusive::list_base_hook<boost::intrusive::tag<TurnTag>,
                                     boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

// Links a session whose HTTP/2 output waits for the end of the loop's batch (Worker::queue_flush).
struct FlushTag;
using FlushHook = boost::intrusive::list_base_hook<boost::intrusive::tag<FlushTag>,
                                                    boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
// A connection whose output waits for the end of the loop's batch: a client's
// HTTP/2 connection (Session), an HTTP/2 connection to an upstream (H2Upstream).
class Flushable : public FlushHook {
public:
    virtual void flush() = 0;

protected:
    ~Flushable() = default;
};

// Links a session that has become a tunnel (Worker::tunnel_opened).
struct TunnelTag;
using TunnelHook = boost::intrusive::list_base_hook<boost::intrusive::tag<TunnelTag>,
                                                     boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

// What went wrong with an upstream exchange (docs/metrics.md weir_upstream_errors_total{kind}).
// response_too_large: the response head was over the pool's configured
// limits; a mismatch of settings, not ill health, so it never ejects.
// grpc_status: a gRPC response ended with a status the pool's
// grpc_error_codes name (HTTP status 200 notwithstanding).
enum class UpstreamError : std::uint8_t {
    connect,
    timeout,
    reset,
    invalid_response,
    status_5xx,
    response_too_large,
    tls,
    grpc_status
};
const char* upstream_error_name(UpstreamError e);

// One upstream failure, reported by a worker to the control side (which
// counts it and decides about ejection). Failures are rare, so they travel
// by posting; successes only reset the worker's own counter.
struct EndpointFailure {
    std::string pool;
    std::string endpoint;
    UpstreamError kind;
    // Failures in a row on this endpoint, across all workers (0 for failures
    // that never count toward ejection: refusals and oversized heads).
    int consecutive;
    bool refused = false;  // the connection was refused: nothing listens there
};
using FailureSink = std::function<void(EndpointFailure)>;

// Per-endpoint numbers for GET /pools, summed over workers.
struct EndpointLoad {
    std::uint64_t in_flight = 0;
    std::uint64_t requests = 0;
    std::uint64_t idle = 0;  // idle upstream connections kept for reuse
    std::uint64_t tunnels = 0;  // open tunnels (also counted in in_flight)
};

class Worker {
public:
    Worker(unsigned index, std::atomic<std::size_t>& connections, FailureCounters& failures, StatsBudget& stats_budget);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Opens this worker's listening sockets (start-up, before run()). Throws on failure.
    void listen(const std::vector<ListenSpec>& specs);
    // Thread-safe: takes over a bound listener and starts accepting on it.
    void adopt_listener(std::unique_ptr<Listener> listener);
    // Thread-safe: stops accepting on the named listener's sockets whose ids
    // are in [min_id, end_id); the connections they accepted close after
    // their current exchange.
    void remove_listener(const std::string& name, std::uint32_t min_id, std::uint32_t end_id);
    std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;

    void run();  // the thread body; returns after stop()
    void stop();

    // Thread-safe: swaps the snapshot on the worker's own thread, then calls
    // `done` there (if given).
    void publish(routing::SnapshotPtr snapshot, std::function<void()> done = {});
    // Thread-safe: stop accepting, close idle connections, ask active ones to
    // close after their current exchange.
    void begin_drain();
    std::size_t active_sessions() const { return session_count_.load(std::memory_order_relaxed); }

    // Worker-thread only.
    EventLoop& loop() { return loop_; }
    const routing::SnapshotPtr& snapshot() const { return snapshot_; }
    routing::Random& random() { return random_; }
    UpstreamPool& upstreams() { return upstreams_; }
    // HTTP/2 connections to the endpoints of `protocol: h2` pools.
    H2Upstreams& h2_upstreams() { return *h2_upstreams_; }
    ExchangeCache& exchanges() { return exchanges_; }
    std::uint64_t now_ms() const { return now_ms_; }
    bool draining() const { return draining_; }
    WorkerStats& stats() { return stats_; }
    // Rate limits of per-request log lines (see request_log_per_second).
    log::Limiter& client_log() { return client_log_; }
    log::Limiter& upstream_log() { return upstream_log_; }
    unsigned index() const { return index_; }

    // Upstream bookkeeping from sessions (worker thread).
    void endpoint_begin(std::uint32_t key);
    void endpoint_end(std::uint32_t key);
    // Idle connections to the endpoint the pool may keep: `configured`
    // (max_idle_per_endpoint), or the most requests in flight to it at once
    // lately (since the housekeeping before last) when that is more. Many
    // concurrent requests (HTTP/2 streams, a burst of clients) then find a
    // connection each instead of a connect per request past the setting, and
    // the surplus closes within two housekeeping periods once the load falls.
    // 0 turns pooling off whatever the load.
    std::size_t idle_keep(std::uint32_t key, std::size_t configured);
    void upstream_ok(std::uint32_t key);
    // `error` is the errno of a failed connect (ECONNREFUSED marks a refusal).
    void upstream_failed(const routing::Pool& pool, const routing::Endpoint& endpoint, UpstreamError kind,
                         int error = 0);
    void set_failure_sink(FailureSink sink) { failure_sink_ = std::move(sink); }  // before run()
    // Thread-safe: calls `done` (on this worker's thread) with its load by endpoint key.
    void collect_load(std::function<void(std::vector<EndpointLoad>)> done);

    // One finished request of a statistics slot (route, pool): its status,
    // how long it took, and whether it counts as an error for the judge.
    void record(std::uint32_t stat, int status, std::chrono::nanoseconds elapsed, bool error);
    // An attempt on the slot's pool failed before the request moved to another pool.
    void record_failed_attempt(std::uint32_t stat) { stats_slots_.record_error(stat); }
    // Access log: lines are appended to this buffer and written in batches
    // (when it fills, and on every tick) to the current snapshot's file.
    std::string& access_buffer() { return access_buffer_; }
    TimeStamper& time_stamper() { return time_stamper_; }
    void access_flush_if_full() {
        if (access_buffer_.size() >= access_batch) flush_access_log();
    }
    void flush_access_log();

    // Thread-safe: calls `done` on this worker's thread with a copy of its counters by slot id.
    using SlotTraffic = std::vector<std::pair<std::uint32_t, telemetry::TrafficCounters>>;
    void collect_traffic(std::function<void(SlotTraffic)> done);
    // Thread-safe: hands the current rollout slices of `stats` to `done` (on
    // this worker's thread) and starts new ones.
    void take_slices(std::vector<std::uint32_t> stats, std::function<void(std::vector<rollout::PoolSlice>)> done);

    void add_session(Session& s);
    void session_closed();
    // Work that must not hold up the other connections' I/O waits for a turn
    // of the loop, one session per turn:
    //  - a new TLS connection's handshake: its first flight (key exchange and
    //    signature, a few hundred microseconds) must not, in a burst of new
    //    connections, hold up the requests of open ones for the whole burst;
    //    they take turns with the I/O instead (nginx gets the same by
    //    accepting one connection per turn);
    //  - a tunnel that moved its share of bytes and has more to move.
    // A closed session leaves the queue by itself; one already queued is not
    // queued twice.
    void queue_turn(Session& s);
    // An HTTP/2 connection has frames to write: they go out once the loop's
    // current batch of events has been handled, so the answers of many
    // streams whose upstreams replied in one batch leave in one write (one
    // TLS record, one segment) rather than one each.
    void queue_flush(Flushable& s);
    // Tunnels: a session switched protocols on (stat, endpoint key), or its
    // tunnel ended. The endpoint's in-flight count is the session's (it
    // keeps the one its request took).
    void tunnel_opened(Session& s, std::uint32_t stat, std::uint32_t endpoint_key);
    void tunnel_closed(std::uint32_t stat, std::uint32_t endpoint_key);
    // Scratch for tunnel bytes between a read and the write that passes them on.
    static constexpr std::size_t tunnel_buffer_size = 64 * 1024;
    char* tunnel_buffer();
    PipePool& pipes() { return pipes_; }
    // Thread-safe: calls `done` (on this worker's thread) with its open tunnels by statistics slot id.
    using TunnelCounts = std::vector<std::pair<std::uint32_t, std::uint64_t>>;
    void collect_tunnels(std::function<void(TunnelCounts)> done);
    // A new client connection from a listener.
    void on_accepted(int fd, const sockaddr_storage& peer, const Listener& from);

private:
    void tick();
    // Frees cached exchanges no request needed lately, and memory a burst left
    // in the allocator (worker tick, once per second).
    void return_memory();
    // Reports log lines the limiters suppressed and no later line reported.
    void report_suppressed_logs();
    void start_listener(Listener& l);
    // One queued session's turn; whether more are queued.
    bool next_turn();
    // Writes the output of every connection queue_flush named.
    void flush_queued();

    unsigned index_;
    std::atomic<std::size_t>& connections_;  // process-wide downstream count: touched on accept/close only
    EventLoop loop_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    routing::SnapshotPtr snapshot_;
    routing::Random random_;
    UpstreamPool upstreams_;
    std::unique_ptr<H2Upstreams> h2_upstreams_;
    ExchangeCache exchanges_;
    std::uint64_t now_ms_ = 0;
    bool draining_ = false;
    boost::intrusive::list<Session, boost::intrusive::base_hook<SessionHook>, boost::intrusive::constant_time_size<false>>
        sessions_;
    boost::intrusive::list<Session, boost::intrusive::base_hook<TurnHook>,
                           boost::intrusive::constant_time_size<false>>
        turn_queue_;
    boost::intrusive::list<Session, boost::intrusive::base_hook<TunnelHook>, boost::intrusive::constant_time_size<false>>
        tunnels_;
    boost::intrusive::list<Flushable, boost::intrusive::base_hook<FlushHook>,
                           boost::intrusive::constant_time_size<false>>
        flush_queue_;
    std::map<std::uint32_t, std::uint64_t> tunnels_by_stat_;  // open tunnels by statistics slot id
    std::unique_ptr<char[]> tunnel_buffer_;
    PipePool pipes_;
    std::atomic<std::size_t> session_count_{0};
    WorkerStats stats_;
    FailureSink failure_sink_;
    std::vector<EndpointLoad> load_;             // by endpoint key
    // By endpoint key, for idle_keep: the most requests in flight at once in
    // this housekeeping period and the last, and the configured floor.
    struct PoolDemand {
        std::uint64_t peak = 0;
        std::uint64_t last_peak = 0;
        std::size_t configured = 0;
    };
    std::vector<PoolDemand> demand_;
    std::size_t idle_closed_ = 0;  // idle upstream connections the last trim closed
    // Housekeeping: idle connections beyond what idle_keep allows now close.
    void trim_idle_upstreams();
    FailureCounters& failures_;  // consecutive failures by endpoint key, shared by all workers
    StatSlots stats_slots_;      // traffic counters and judge slices by (route, pool)
    std::uint64_t last_drop_log_ms_ = 0;
    std::uint64_t last_housekeeping_ms_ = 0;
    // Per-request log lines: at most this many a second per worker and kind
    // (client refusals; upstream and routing failures), after a burst of
    // twice as many; the rest are counted and reported.
    static constexpr double request_log_per_second = 20;
    log::Limiter client_log_{request_log_per_second, 2 * request_log_per_second};
    log::Limiter upstream_log_{request_log_per_second, 2 * request_log_per_second};
    static constexpr std::size_t access_batch = 64 * 1024;
    std::string access_buffer_;
    TimeStamper time_stamper_;
    bool access_error_logged_ = false;
};

}  // namespace weir::proxy
