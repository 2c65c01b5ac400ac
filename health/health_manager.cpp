#include "health/health_manager.hpp"

#include "common/log.hpp"
#include "health/prober.hpp"

#include <boost/asio/steady_timer.hpp>

namespace weir::health {
namespace {

std::string key_of(const std::string& pool, const std::string& endpoint) { return pool + "\n" + endpoint; }

}  // namespace

struct HealthManager::Entry {
    Entry(boost::asio::io_context& io) : check_timer(io), eject_timer(io) {}
    std::string pool;
    Target target;
    std::optional<CheckSpec> spec;
    std::optional<CheckState> state;  // set when the pool is checked
    OutlierState outlier;
    boost::asio::steady_timer check_timer;
    boost::asio::steady_timer eject_timer;
    std::string last_check;
    bool alive = true;  // false once removed: late completions do nothing
};

HealthManager::HealthManager(boost::asio::io_context& io, std::function<void()> on_change, std::uint64_t seed)
    : io_(io), on_change_(std::move(on_change)), random_(seed) {}

HealthManager::~HealthManager() { stop(); }

void HealthManager::stop() {
    for (auto& [_, e] : entries_) {
        e->alive = false;
        e->check_timer.cancel();
        e->eject_timer.cancel();
    }
    entries_.clear();
}

void HealthManager::update(const std::vector<PoolTargets>& pools, bool initial) {
    std::map<std::string, std::shared_ptr<Entry>> next;
    outlier_.clear();
    pool_sizes_.clear();
    for (const PoolTargets& p : pools) {
        if (p.outlier) outlier_[p.name] = *p.outlier;
        pool_sizes_[p.name] = p.endpoints.size();
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
            next.emplace(key, std::move(e));
        }
    }
    for (auto& [_, gone] : entries_) {
        gone->alive = false;
        gone->check_timer.cancel();
        gone->eject_timer.cancel();
    }
    entries_ = std::move(next);
}

void HealthManager::schedule(const std::shared_ptr<Entry>& e, bool first) {
    const auto interval = e->spec->interval;
    e->check_timer.expires_after(first ? initial_offset(interval, random_.unit())
                                       : jittered_interval(interval, random_.unit()));
    e->check_timer.async_wait([this, w = std::weak_ptr<Entry>(e)](const boost::system::error_code& ec) {
        auto e = w.lock();
        if (ec || !e || !e->alive) return;
        check(e);
    });
}

void HealthManager::check(const std::shared_ptr<Entry>& e) {
    const CheckSpec spec = *e->spec;
    probe(io_, e->target.address, e->target.name, spec.path, spec.timeout, spec.expect_min, spec.expect_max,
          [this, w = std::weak_ptr<Entry>(e)](ProbeResult r) {
              auto e = w.lock();
              if (!e || !e->alive || !e->state) return;
              e->last_check = r.detail;
              if (e->state->record(r.passed())) {
                  if (e->state->healthy()) {
                      log::info("health", "pool {} endpoint {}: healthy ({})", e->pool, e->target.name, r.detail);
                  } else {
                      log::warn("health", "pool {} endpoint {}: unhealthy after {} failed checks (last: {})", e->pool,
                                e->target.name, e->state->failures_in_row(), r.detail);
                  }
                  on_change_();
              }
              if (e->alive) schedule(e, false);
          });
}

void HealthManager::report_failure(const std::string& pool, const std::string& endpoint, int consecutive) {
    auto spec_it = outlier_.find(pool);
    if (spec_it == outlier_.end() || consecutive < spec_it->second.consecutive_failures) return;
    auto it = entries_.find(key_of(pool, endpoint));
    if (it == entries_.end()) return;
    const auto& e = it->second;
    if (e->outlier.ejected()) return;
    std::size_t ejected = 0;
    for (const auto& [_, other] : entries_) {
        if (other->pool == pool && other->outlier.ejected()) ++ejected;
    }
    if (!may_eject(ejected, pool_sizes_[pool])) {
        log::warn("health", "pool {} endpoint {}: {} failures in a row, not ejected: half of the pool is already out",
                  pool, endpoint, consecutive);
        return;
    }
    const auto now = Clock::now();
    const auto duration = e->outlier.next_duration(spec_it->second.ejection_time);
    const auto until = e->outlier.eject(now, spec_it->second.ejection_time);
    log::warn("health", "pool {} endpoint {}: ejected for {} ms after {} failures in a row", pool, endpoint,
              duration.count(), consecutive);
    e->eject_timer.expires_at(until);
    e->eject_timer.async_wait([this, w = std::weak_ptr<Entry>(e)](const boost::system::error_code& ec) {
        auto e = w.lock();
        if (ec || !e || !e->alive) return;
        if (e->outlier.expire(Clock::now())) {
            log::info("health", "pool {} endpoint {}: ejection ended", e->pool, e->target.name);
            on_change_();
        }
    });
    on_change_();
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
        auto e = w.lock();
        if (ec || !e || !e->alive) return;
        check(e);
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
    s.last_check = e.last_check;
    return s;
}

}  // namespace weir::health
