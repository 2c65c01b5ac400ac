#include "proxy/worker.hpp"

#include "common/log.hpp"
#include "proxy/h2_upstreams.hpp"
#include "proxy/listener.hpp"
#include "proxy/session.hpp"

#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <random>

namespace weir::proxy {
namespace {

// Housekeeping (access log batches, idle upstream expiry, accept retries)
// runs on this tick; request deadlines have their own timer wheel.
constexpr std::chrono::milliseconds tick_interval{100};
// Statistics dropped over budget are logged at most this often per worker.
constexpr std::uint64_t drop_log_interval_ms = 60'000;
// How often unused cached memory is freed (and, after a burst, handed back
// to the system), and suppressed log lines are reported.
constexpr std::uint64_t housekeeping_interval_ms = 1000;

std::uint64_t seed_for(unsigned index) {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ index;
}

std::uint64_t clock_ms() {
    using namespace std::chrono;
    return static_cast<std::uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

}  // namespace

Worker::Worker(unsigned index, std::atomic<std::size_t>& connections, FailureCounters& failures,
               StatsBudget& stats_budget)
    : index_(index),
      connections_(connections),
      random_(seed_for(index)),
      upstreams_(loop_),
      h2_upstreams_(std::make_unique<H2Upstreams>(*this)),
      failures_(failures),
      stats_slots_(stats_budget) {
    now_ms_ = clock_ms();
}

Worker::~Worker() {
    // Connections still open at exit (drain timeout) are closed here, while
    // the members their destructors report to still exist; then the access
    // log lines they wrote (tunnels) go out with the rest.
    while (!sessions_.empty()) sessions_.front().abort();
    flush_access_log();
    h2_upstreams_->close_all();
    upstreams_.close_all();
    loop_.flush_retired();
}

void Worker::listen(const std::vector<ListenSpec>& specs) {
    for (const auto& spec : specs) listeners_.push_back(std::make_unique<Listener>(spec.name, spec.address));
}

std::vector<boost::asio::ip::tcp::endpoint> Worker::local_endpoints() const {
    std::vector<boost::asio::ip::tcp::endpoint> out;
    for (const auto& l : listeners_) out.push_back(l->local_endpoint());
    return out;
}

void Worker::run() {
    // Queued behind the first snapshot (published before the workers start):
    // every connection is accepted with a snapshot at hand, which decides
    // whether its peer is trusted.
    loop_.post([this] {
        for (auto& l : listeners_) start_listener(*l);
    });
    loop_.run([this] { tick(); }, tick_interval, [this] {
        flush_queued();
        const bool more = next_turn();
        flush_queued();
        h2_upstreams_->reap();
        return more;
    });
}

void Worker::stop() { loop_.stop(); }

void Worker::publish(routing::SnapshotPtr snapshot, std::function<void()> done) {
    loop_.post([this, s = std::move(snapshot), done = std::move(done)]() mutable {
        // Idle connections to endpoints that are gone or draining are closed
        // now; connections in use finish their exchange first.
        std::vector<bool> keep(s->endpoint_key_limit, false);
        for (const auto& pool : s->pools) {
            for (const auto& e : pool.endpoints) {
                if (!e.draining && e.key < keep.size()) keep[e.key] = true;
            }
        }
        upstreams_.close_unless(keep);
        // HTTP/2 connections carry many exchanges at once: those to such
        // endpoints finish the ones they have and take no more.
        h2_upstreams_->retire_unless(keep);
        // An endpoint back from an ejection starts with a clean record, so
        // one more failure does not eject it again at once.
        if (snapshot_) {
            for (const auto& pool : snapshot_->pools) {
                for (const auto& e : pool.endpoints) {
                    if (e.ejected) failures_.reset(e.key);
                }
            }
        }
        // Tunnels follow the new configuration, or get drain_timeout to leave.
        if (!tunnels_.empty()) {
            const SnapshotNames names(*s);
            for (auto it = tunnels_.begin(); it != tunnels_.end();) {
                Session& t = *it++;
                t.rebind_tunnel(s, names);
            }
        }
        // Slots of pairs this snapshot no longer names are freed.
        stats_slots_.set_live(s->live_stats);
        snapshot_ = std::move(s);
        if (done) done();
    });
}

const char* upstream_error_name(UpstreamError e) {
    switch (e) {
        case UpstreamError::connect: return "connect";
        case UpstreamError::timeout: return "timeout";
        case UpstreamError::reset: return "reset";
        case UpstreamError::invalid_response: return "invalid_response";
        case UpstreamError::status_5xx: return "5xx";
        case UpstreamError::response_too_large: return "response_too_large";
        case UpstreamError::grpc_status: return "grpc_status";
        case UpstreamError::tls: return "tls";
    }
    return "unknown";
}

void Worker::endpoint_begin(std::uint32_t key) {
    if (key >= load_.size()) load_.resize(key + 1);
    ++load_[key].in_flight;
    ++load_[key].requests;
    if (key >= demand_.size()) demand_.resize(key + 1);
    demand_[key].peak = std::max(demand_[key].peak, load_[key].in_flight);
}

std::size_t Worker::idle_keep(std::uint32_t key, std::size_t configured) {
    if (configured == 0) return 0;
    if (key >= demand_.size()) demand_.resize(key + 1);
    PoolDemand& d = demand_[key];
    d.configured = configured;
    return std::max<std::size_t>(configured, static_cast<std::size_t>(std::max(d.peak, d.last_peak)));
}

void Worker::trim_idle_upstreams() {
    for (std::uint32_t key = 0; key < demand_.size(); ++key) {
        PoolDemand& d = demand_[key];
        d.last_peak = d.peak;
        d.peak = key < load_.size() ? load_[key].in_flight : 0;
        if (d.configured > 0) idle_closed_ += upstreams_.trim(key, std::max<std::size_t>(d.configured, d.last_peak));
    }
}

void Worker::endpoint_end(std::uint32_t key) {
    if (key < load_.size() && load_[key].in_flight > 0) --load_[key].in_flight;
}

void Worker::tunnel_opened(Session& s, std::uint32_t stat, std::uint32_t endpoint_key) {
    tunnels_.push_back(s);
    ++tunnels_by_stat_[stat];
    if (endpoint_key >= load_.size()) load_.resize(endpoint_key + 1);
    ++load_[endpoint_key].tunnels;
}

void Worker::tunnel_closed(std::uint32_t stat, std::uint32_t endpoint_key) {
    if (auto it = tunnels_by_stat_.find(stat); it != tunnels_by_stat_.end() && --it->second == 0)
        tunnels_by_stat_.erase(it);
    if (endpoint_key < load_.size() && load_[endpoint_key].tunnels > 0) --load_[endpoint_key].tunnels;
}

char* Worker::tunnel_buffer() {
    if (!tunnel_buffer_) tunnel_buffer_ = std::make_unique<char[]>(tunnel_buffer_size);
    return tunnel_buffer_.get();
}

void Worker::collect_tunnels(std::function<void(TunnelCounts)> done) {
    loop_.post([this, done = std::move(done)] { done(TunnelCounts(tunnels_by_stat_.begin(), tunnels_by_stat_.end())); });
}

void Worker::upstream_ok(std::uint32_t key) { failures_.succeeded(key); }

void Worker::upstream_failed(const routing::Pool& pool, const routing::Endpoint& endpoint, UpstreamError kind,
                             int error) {
    // A refusal is not an outlier (nothing listens: the health side takes the
    // endpoint out at once), and an oversized head is a settings mismatch:
    // neither counts toward ejection, neither ends a run of failures.
    const bool refused = kind == UpstreamError::connect && error == ECONNREFUSED;
    const bool counts = !refused && kind != UpstreamError::response_too_large;
    const std::uint32_t n = counts ? failures_.failed(endpoint.key) : 0;
    if (failure_sink_)
        failure_sink_(EndpointFailure{pool.name, endpoint.name, kind, static_cast<int>(std::min<std::uint32_t>(n, INT32_MAX)),
                                      refused});
}

void Worker::record(std::uint32_t stat, int status, std::chrono::nanoseconds elapsed, bool error) {
    if (stats_slots_.record(stat, status, elapsed, error)) return;
    if (now_ms_ - last_drop_log_ms_ >= drop_log_interval_ms || last_drop_log_ms_ == 0) {
        last_drop_log_ms_ = now_ms_;
        log::warn("proxy", "worker {}: statistics memory is at limits.max_statistics_bytes; requests of pairs "
                  "without a slot yet are not counted (weir_statistics_dropped_total)", index_);
    }
}

void Worker::flush_access_log() {
    if (access_buffer_.empty()) return;
    if (snapshot_ && snapshot_->access_log) {
        if (!snapshot_->access_log->append(access_buffer_)) {
            if (!access_error_logged_) {
                log::error("proxy", "worker {}: cannot write the access log {}: {}", index_,
                           snapshot_->access_log->path(), std::strerror(errno));
                access_error_logged_ = true;
            }
        } else {
            access_error_logged_ = false;
        }
    }
    access_buffer_.clear();
}

void Worker::collect_traffic(std::function<void(SlotTraffic)> done) {
    loop_.post([this, done = std::move(done)] { done(stats_slots_.traffic()); });
}

void Worker::take_slices(std::vector<std::uint32_t> stats, std::function<void(std::vector<rollout::PoolSlice>)> done) {
    loop_.post([this, stats = std::move(stats), done = std::move(done)] {
        std::vector<rollout::PoolSlice> out;
        out.reserve(stats.size());
        const std::uint64_t now = EventLoop::clock_ms();
        for (std::uint32_t id : stats) out.push_back(stats_slots_.take_slice(id, now));
        done(std::move(out));
    });
}

void Worker::collect_load(std::function<void(std::vector<EndpointLoad>)> done) {
    loop_.post([this, done = std::move(done)] {
        std::vector<EndpointLoad> out = load_;
        for (std::uint32_t k = 0; k < upstreams_.key_limit(); ++k) {
            std::size_t idle = upstreams_.idle_count(k);
            if (idle == 0) continue;
            if (k >= out.size()) out.resize(k + 1);
            out[k].idle = idle;
        }
        done(std::move(out));
    });
}

void Worker::start_listener(Listener& l) {
    l.start(
        loop_, [this](int fd, const sockaddr_storage& peer, const Listener& from) { on_accepted(fd, peer, from); },
        &stats_.accept_pauses);
}

void Worker::adopt_listener(std::unique_ptr<Listener> listener) {
    // Handed over as a raw pointer because std::function needs a copyable
    // callable; the worker owns it again on its own thread.
    Listener* raw = listener.release();
    loop_.post([this, raw] {
        std::unique_ptr<Listener> l(raw);
        if (draining_) return;
        try {
            start_listener(*l);
        } catch (const std::exception& e) {
            // A worker thread must not die of it: the listener is just not added here.
            log::error("proxy", "worker {}: cannot watch listener {}: {}", index_, l->name(), e.what());
            return;
        }
        listeners_.push_back(std::move(l));
    });
}

void Worker::remove_listener(const std::string& name, std::uint32_t min_id, std::uint32_t end_id) {
    loop_.post([this, name, min_id, end_id] {
        std::vector<std::uint32_t> ids;
        for (auto it = listeners_.begin(); it != listeners_.end();) {
            if ((*it)->name() == name && (*it)->id() >= min_id && (*it)->id() < end_id) {
                ids.push_back((*it)->id());
                (*it)->close();
                // Events of this batch may still name it: freed after the batch.
                loop_.retire(std::move(*it));
                it = listeners_.erase(it);
            } else {
                ++it;
            }
        }
        for (auto it = sessions_.begin(); it != sessions_.end();) {
            Session& s = *it++;  // drain may close and unlink s
            if (std::find(ids.begin(), ids.end(), s.listener_id()) != ids.end()) s.drain();
        }
    });
}

void Worker::on_accepted(int fd, const sockaddr_storage& peer, const Listener& from) {
    const std::size_t limit = snapshot_ ? snapshot_->limits.max_connections : routing::Limits{}.max_connections;
    if (draining_ || connections_.fetch_add(1, std::memory_order_relaxed) >= limit) {
        if (!draining_) connections_.fetch_sub(1, std::memory_order_relaxed);
        ::close(fd);  // over max_connections (or shutting down): refused
        return;
    }
    session_count_.fetch_add(1, std::memory_order_relaxed);
    (new Session(*this, fd, peer, from))->start();  // owns itself; retired through the loop on close
}

void Worker::add_session(Session& s) { sessions_.push_back(s); }

void Worker::queue_turn(Session& s) {
    if (!static_cast<TurnHook&>(s).is_linked()) turn_queue_.push_back(s);
}

void Worker::queue_flush(Flushable& s) {
    if (!static_cast<FlushHook&>(s).is_linked()) flush_queue_.push_back(s);
}

void Worker::flush_queued() {
    while (!flush_queue_.empty()) {
        Flushable& s = flush_queue_.front();
        flush_queue_.pop_front();
        s.flush();
    }
}

bool Worker::next_turn() {
    if (turn_queue_.empty()) return false;
    Session& s = turn_queue_.front();
    turn_queue_.pop_front();
    s.take_turn();
    return !turn_queue_.empty();
}

void Worker::session_closed() {
    connections_.fetch_sub(1, std::memory_order_relaxed);
    session_count_.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::tick() {
    now_ms_ = clock_ms();
    flush_access_log();
    stats_slots_.expire_slices(now_ms_);
    upstreams_.expire(now_ms_);
    if (now_ms_ - last_housekeeping_ms_ >= housekeeping_interval_ms) {
        last_housekeeping_ms_ = now_ms_;
        return_memory();
        trim_idle_upstreams();
        pipes_.housekeeping();
        report_suppressed_logs();
    }
    if (!draining_) {
        for (auto& l : listeners_) l->accept_some();
    }
}

void Worker::return_memory() {
    // Idle upstream connections a burst left, closed by the last
    // housekeeping (and freed since), pinned pages between them until now.
    const bool upstreams_closed = idle_closed_ >= ExchangeCache::release_threshold;
    idle_closed_ = 0;
    if (!exchanges_.housekeeping() && !upstreams_closed) return;
    // glibc keeps freed memory in the thread's arena and gives back only the
    // top of a heap; after a burst the free chunks sit between live sessions.
    // malloc_trim returns every whole free page (madvise). It walks all arenas
    // under their locks, so it runs only after a burst has passed, at most
    // once per housekeeping_interval_ms.
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
}

void Worker::report_suppressed_logs() {
    // Lines suppressed at the end of a flood are reported here, since no
    // later line may come to carry their count.
    if (std::uint64_t n = client_log_.take_suppressed(); n > 0 && log::enabled(log::Level::info))
        log::info("proxy", "worker {}: suppressed {} similar client error lines (at most {} a second are logged)",
                  index_, n, request_log_per_second);
    if (std::uint64_t n = upstream_log_.take_suppressed(); n > 0 && log::enabled(log::Level::warn))
        log::warn("proxy", "worker {}: suppressed {} similar upstream failure lines (at most {} a second are logged)",
                  index_, n, request_log_per_second);
}

void Worker::begin_drain() {
    loop_.post([this] {
        draining_ = true;
        for (auto& l : listeners_) l->close();
        for (auto it = sessions_.begin(); it != sessions_.end();) {
            Session& s = *it++;  // drain may close and unlink s
            s.drain();
        }
        upstreams_.close_all();
        h2_upstreams_->retire_all();
    });
}

}  // namespace weir::proxy
