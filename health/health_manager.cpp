#include "health/health_manager.hpp"

#include "common/log.hpp"
#include "health/h2_probe.hpp"

#include <boost/asio/steady_timer.hpp>

namespace weir::health {
namespace {

std::string key_of(const std::string& pool, const std::string& endpoint) { return pool + "\n" + endpoint; }

// An h2 endpoint does not speak HTTP/1.1: its checks go over HTTP/2.
void start_probe(boost::asio::io_context& io, const Target& target, const CheckSpec& spec,
                 std::function<void(ProbeResult)> done) {
    if (target.h2) probe_h2(io, target, spec, std::move(done));
    else probe(io, target, spec.path, spec.timeout, spec.expect_min, spec.expect_max, std::move(done));
}

}  // namespace

struct HealthManager::Entry {
    Entry(boost::asio::io_context& io) : check_timer(io), eject_timer(io), refusal_timer(io) {}
    std::string pool;
    Target target;
    std::optional<CheckSpec> spec;
    std::optional<CheckState> state;  // set when the pool is checked
    OutlierState outlier;
    OutlierState refusal;             // out after a refused connection
    boost::asio::steady_timer check_timer;
    boost::asio::steady_timer eject_timer;
    boost::asio::steady_timer refusal_timer;
    std::string last_check;
    bool draining = false;
    bool alive = true;  // false once removed: late completions do nothing
    // Failures that could not eject: logged at most once per interval.
    Clock::time_point last_not_ejected_log{};
    std::uint64_t not_ejected_unlogged = 0;

    bool serving() const { return !draining && (!state || state->healthy()) && !refusal.ejected(); }
};

struct HealthManager::PoolState {
    std::optional<OutlierSpec> outlier;
    std::vector<Entry*> members;  // owned by entries_; rebuilt on every update()
    // Any change of a member's state bumps `generation`; the ejection cap is
    // recomputed only then, so repeated failures cost no scan.
    std::uint64_t generation = 1;
    std::uint64_t cached_generation = 0;
    bool cached_may_eject = false;
    std::size_t cached_serving = 0;
};

HealthManager::HealthManager(boost::asio::io_context& io, std::function<void()> on_change, std::uint64_t seed)
    : io_(io), on_change_(std::move(on_change)), random_(seed) {}

HealthManager::~HealthManager() { stop(); }

void HealthManager::stop() {
    for (auto& [_, e] : entries_) {
        e->alive = false;
        e->check_timer.cancel();
        e->eject_timer.cancel();
        e->refusal_timer.cancel();
    }
    entries_.clear();
    pools_.clear();
}

void HealthManager::changed(const std::string& pool) {
    auto it = pools_.find(pool);
    if (it != pools_.end()) ++it->second.generation;
}

void HealthManager::update(const std::vector<PoolTargets>& pools, bool initial) {
    std::map<std::string, std::shared_ptr<Entry>> next;
    std::map<std::string, PoolState> next_pools;
    for (const PoolTargets& p : pools) {
        PoolState& ps = next_pools[p.name];
        ps.outlier = p.outlier;
        for (const Target& t : p.endpoints) {
            const std::string key = key_of(p.name, t.name);
            auto it = entries_.find(key);
            std::shared_ptr<Entry> e;
            bool fresh = it == entries_.end();
            if (!fresh) {
                e = it->second;
                entries_.erase(it);
            } else {
                e = std::make_shared<Entry>(io_);
                e->pool = p.name;
            }
            e->target = t;
            if (e->spec != p.check) {
                // New or changed checks start over; an existing endpoint keeps
                // its current verdict, a new one must pass first.
                bool healthy_now = fresh ? (initial || !p.check) : (!e->state || e->state->healthy());
                e->check_timer.cancel();
                e->spec = p.check;
                if (p.check) {
                    e->state.emplace(p.check->healthy_threshold, p.check->unhealthy_threshold, healthy_now);
                    schedule(e, true);
                } else {
                    e->state.reset();
                }
            }
            ps.members.push_back(e.get());
            next.emplace(key, std::move(e));
        }
    }
    for (auto& [_, gone] : entries_) {
        gone->alive = false;
        gone->check_timer.cancel();
        gone->eject_timer.cancel();
        gone->refusal_timer.cancel();
    }
    entries_ = std::move(next);
    pools_ = std::move(next_pools);
}

void HealthManager::schedule(const std::shared_ptr<Entry>& e, bool first) {
    const auto interval = e->spec->interval;
    e->check_timer.expires_after(first ? initial_offset(interval, random_.unit())
                                       : jittered_interval(interval, random_.unit()));
    e->check_timer.async_wait([this, w = std::weak_ptr<Entry>(e)](const boost::system::error_code& ec) {
        auto entry = w.lock();
        if (ec || !entry || !entry->alive) return;
        check(entry);
    });
}

void HealthManager::check(const std::shared_ptr<Entry>& e) {
    const CheckSpec spec = *e->spec;
    start_probe(io_, e->target, spec,
          [this, w = std::weak_ptr<Entry>(e)](ProbeResult r) {
              auto entry = w.lock();
              if (!entry || !entry->alive || !entry->state) return;
              entry->last_check = r.detail;
              if (r.passed() && entry->refusal.ejected()) {
                  // It accepts connections again: no need to wait out the refusal.
                  entry->refusal.end_early(Clock::now());
                  entry->refusal_timer.cancel();
                  log::info("health", "pool {} endpoint {}: accepts connections again ({})", entry->pool,
                            entry->target.name, r.detail);
                  changed(entry->pool);
                  on_change_();
              }
              if (entry->state->record(r.passed())) {
                  changed(entry->pool);
                  if (entry->state->healthy()) {
                      log::info("health", "pool {} endpoint {}: healthy ({})", entry->pool, entry->target.name, r.detail);
                  } else {
                      log::warn("health", "pool {} endpoint {}: unhealthy after {} failed checks (last: {})", entry->pool,
                                entry->target.name, entry->state->failures_in_row(), r.detail);
                  }
                  on_change_();
              }
              if (entry->alive) schedule(entry, false);
          });
}

void HealthManager::report_failure(const std::string& pool, const std::string& endpoint, int consecutive,
                                   bool refused) {
    auto it = entries_.find(key_of(pool, endpoint));
    if (it == entries_.end()) return;
    const auto& e = it->second;
    if (refused) {
        refuse(e);
        return;
    }
    auto pit = pools_.find(pool);
    if (pit == pools_.end() || !pit->second.outlier) return;
    PoolState& ps = pit->second;
    const OutlierSpec& spec = *ps.outlier;
    if (consecutive < spec.consecutive_failures || e->outlier.ejected() || !e->serving()) return;
    if (!may_eject_in(ps)) {
        const auto now = Clock::now();
        ++e->not_ejected_unlogged;
        if (now - e->last_not_ejected_log < not_ejected_log_interval) return;
        log::warn("health",
                  "pool {} endpoint {}: {} failures in a row, not ejected: half of the pool is already out "
                  "(of {} serving endpoints; {} such failures since the last message)",
                  pool, endpoint, consecutive, ps.cached_serving, e->not_ejected_unlogged);
        e->last_not_ejected_log = now;
        e->not_ejected_unlogged = 0;
        return;
    }
    eject(e, spec, consecutive);
}

bool HealthManager::may_eject_in(PoolState& ps) {
    if (ps.cached_generation != ps.generation) {
        std::size_t serving = 0, ejected = 0;
        for (const Entry* m : ps.members) {
            if (!m->serving()) continue;
            ++serving;
            if (m->outlier.ejected()) ++ejected;
        }
        ps.cached_serving = serving;
        ps.cached_may_eject = may_eject(ejected, serving);
        ps.cached_generation = ps.generation;
    }
    return ps.cached_may_eject;
}

void HealthManager::eject(const std::shared_ptr<Entry>& e, const OutlierSpec& spec, int consecutive) {
    const auto now = Clock::now();
    const auto duration = e->outlier.next_duration(spec.ejection_time, spec.max_ejection_time);
    const auto until = e->outlier.eject(now, spec.ejection_time, spec.max_ejection_time);
    log::warn("health", "pool {} endpoint {}: ejected for {} ms after {} failures in a row", e->pool,
              e->target.name, duration.count(), consecutive);
    e->eject_timer.expires_at(until);
    e->eject_timer.async_wait([this, w = std::weak_ptr<Entry>(e)](const boost::system::error_code& ec) {
        auto entry = w.lock();
        if (ec || !entry || !entry->alive) return;
        if (entry->outlier.expire(Clock::now())) {
            log::info("health", "pool {} endpoint {}: ejection ended", entry->pool, entry->target.name);
            changed(entry->pool);
            on_change_();
        }
    });
    changed(e->pool);
    on_change_();
}

void HealthManager::refuse(const std::shared_ptr<Entry>& e) {
    if (e->refusal.ejected()) return;  // already out: the other workers' refusals of the same moment
    const auto now = Clock::now();
    const auto duration = e->refusal.next_duration(refusal_base, refusal_max);
    const auto until = e->refusal.eject(now, refusal_base, refusal_max);
    log::warn("health", "pool {} endpoint {}: connection refused; out for {} ms", e->pool, e->target.name,
              duration.count());
    e->refusal_timer.expires_at(until);
    e->refusal_timer.async_wait([this, w = std::weak_ptr<Entry>(e)](const boost::system::error_code& ec) {
        auto entry = w.lock();
        if (ec || !entry || !entry->alive) return;
        // Back on trial: the next request tries it, and a refusal costs that
        // request only a failover, not an error.
        if (entry->refusal.expire(Clock::now())) {
            log::info("health", "pool {} endpoint {}: back after refusing connections", entry->pool, entry->target.name);
            changed(entry->pool);
            on_change_();
        }
    });
    changed(e->pool);
    on_change_();
}

void HealthManager::set_draining(const std::string& pool, const std::string& endpoint, bool draining) {
    auto it = entries_.find(key_of(pool, endpoint));
    if (it == entries_.end() || it->second->draining == draining) return;
    it->second->draining = draining;
    changed(pool);
}

void HealthManager::require_pass(const std::string& pool, const std::string& endpoint) {
    auto it = entries_.find(key_of(pool, endpoint));
    if (it == entries_.end() || !it->second->spec) return;
    auto& e = it->second;
    e->state.emplace(e->spec->healthy_threshold, e->spec->unhealthy_threshold, /*start_healthy=*/false);
    // Check soon rather than a whole interval from now.
    e->check_timer.cancel();
    e->check_timer.expires_after(std::chrono::milliseconds(0));
    e->check_timer.async_wait([this, w = std::weak_ptr<Entry>(e)](const boost::system::error_code& ec) {
        auto entry = w.lock();
        if (ec || !entry || !entry->alive) return;
        check(entry);
    });
}

EndpointStatus HealthManager::status(const std::string& pool, const std::string& endpoint) const {
    EndpointStatus s;
    auto it = entries_.find(key_of(pool, endpoint));
    if (it == entries_.end()) return s;
    const auto& e = *it->second;
    if (e.state) {
        s.healthy = e.state->healthy();
        s.checks_passed_in_row = e.state->passes_in_row();
        s.checks_failed_in_row = e.state->failures_in_row();
    }
    s.ejected = e.outlier.ejected();
    s.ejected_until = e.outlier.until();
    s.refusing = e.refusal.ejected();
    s.refusing_until = e.refusal.until();
    s.last_check = e.last_check;
    return s;
}

}  // namespace weir::health
