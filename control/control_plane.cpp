#include "control/control_plane.hpp"

#include "common/log.hpp"
#include "control/endpoints.hpp"
#include "proxy/server.hpp"
#include "proxy/worker.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/ip/address.hpp>

#include "health/health_manager.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

namespace weir::control {
namespace {

using routing::max_weight;  // as in the file: sums stay finite and exact enough

std::map<std::string, double> as_map(const Split& split) { return {split.begin(), split.end()}; }

std::string split_text(const Split& split) {
    std::string out;
    for (const auto& [pool, w] : split) {
        if (!out.empty()) out += ", ";
        out += pool + "=" + fmt::format("{}", w);
    }
    return "{" + out + "}";
}



config::Config apply_state(config::Config config, const RuntimeState& state) {
    for (config::RouteConfig& r : config.routes) {
        auto it = state.routes.find(r.name);
        if (it != state.routes.end()) r.split = it->second.split;
    }
    for (config::PoolConfig& p : config.pools) {
        auto it = state.pools.find(p.name);
        if (it == state.pools.end()) continue;
        p.endpoints.clear();
        for (const auto& [address, w] : it->second.endpoints) {
            if (auto hp = config::parse_host_port(address)) p.endpoints.push_back({*hp, w});
        }
    }
    return config;
}

Split endpoints_of(const config::PoolConfig& p) {
    Split out;
    for (const auto& e : p.endpoints) out.emplace_back(e.address.text(), e.weight);
    return out;
}

health::PoolTargets targets_of(const routing::Pool& pool, const config::PoolConfig* config) {
    health::PoolTargets t;
    t.name = pool.name;
    // The configuration holds them in the health library's own types.
    if (config) {
        t.check = config->health_check;
        t.outlier = config->outlier;
    }
    const bool h2 = pool.protocol == routing::UpstreamProtocol::h2;
    for (const auto& e : pool.endpoints) t.endpoints.push_back({e.name, e.address, e.host, pool.upstream.tls, h2});
    return t;
}

}  // namespace

std::optional<std::string> check_split(const Split& split, const config::Config& config) {
    if (split.empty()) return "the split names no pool";
    double total = 0;
    for (const auto& [pool, w] : split) {
        bool known = false;
        for (const config::PoolConfig& p : config.pools) known = known || p.name == pool;
        if (!known) return "unknown pool '" + pool + "'";
        if (!std::isfinite(w) || w < 0) return "weight of '" + pool + "' must be a finite number >= 0";
        if (w > max_weight) return "weight of '" + pool + "' is above " + fmt::format("{}", max_weight);
        total += w;
    }
    if (total <= 0) return "at least one weight must be above 0";
    return std::nullopt;
}

ControlPlane::ControlPlane(config::Config file_config, std::string config_path, proxy::Server& server,
                           telemetry::Metrics& metrics, boost::asio::io_context& io)
    : file_(std::move(file_config)),
      config_path_(std::move(config_path)),
      server_(server),
      metrics_(metrics),
      health_(std::make_unique<health::HealthManager>(io, [this] { republish_states(); }, std::random_device{}())) {}

ControlPlane::~ControlPlane() = default;

void ControlPlane::stop() { health_->stop(); }

bool ControlPlane::is_drained(const std::string& pool, const std::string& endpoint) const {
    auto it = state_.drained.find(pool);
    return it != state_.drained.end() &&
           std::find(it->second.begin(), it->second.end(), endpoint) != it->second.end();
}

void ControlPlane::apply_states(routing::Snapshot& snapshot) const {
    for (routing::Pool& p : snapshot.pools) {
        for (routing::Endpoint& e : p.endpoints) {
            e.draining = is_drained(p.name, e.name);
            health_->set_draining(p.name, e.name, e.draining);
            auto st = health_->status(p.name, e.name);
            e.healthy = st.healthy;
            // Refusing connections takes an endpoint out like an ejection
            // does, outside the ejection cap.
            e.ejected = st.ejected || st.refusing;
        }
    }
    snapshot.finalize();
}

void ControlPlane::republish_states() {
    if (!current_) return;
    auto next = std::make_shared<routing::Snapshot>(*current_);
    apply_states(*next);
    current_ = next;
    server_.publish(current_);
    export_endpoint_metrics();
}

void ControlPlane::export_endpoint_metrics() const {
    std::vector<telemetry::EndpointState> states;
    for (const auto& p : current_->pools) {
        for (const auto& e : p.endpoints) states.push_back({p.name, e.name, e.healthy && !e.ejected, e.draining});
    }
    metrics_.set_endpoint_states(states);
}

void ControlPlane::on_upstream_failure(const proxy::EndpointFailure& f) {
    metrics_.upstream_error(f.pool, f.endpoint, proxy::upstream_error_name(f.kind));
    health_->report_failure(f.pool, f.endpoint, f.consecutive, f.refused);
}

const config::RouteConfig* ControlPlane::find_route(const std::string& name) const {
    for (const config::RouteConfig& r : file_.routes) {
        if (r.name == name) return &r;
    }
    return nullptr;
}

const config::PoolConfig* ControlPlane::find_pool(const std::string& name) const {
    for (const config::PoolConfig& p : file_.pools) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

config::Config ControlPlane::effective_config() const { return apply_state(file_, state_); }

bool ControlPlane::reconcile(RuntimeState& state, const config::Config& file, std::vector<std::string>& dropped) const {
    bool changed = false;
    for (auto it = state.routes.begin(); it != state.routes.end();) {
        const config::RouteConfig* route = nullptr;
        for (const config::RouteConfig& r : file.routes) {
            if (r.name == it->first) route = &r;
        }
        std::string why;
        if (!route) why = "the route is gone from the file";
        else if (as_map(route->split) != as_map(it->second.file_split)) why = "the file changed the route's split";
        else if (auto bad = check_split(it->second.split, file)) why = *bad;
        if (!why.empty()) {
            dropped.push_back("route " + it->first + ": runtime split " + split_text(it->second.split) +
                              " dropped: " + why);
            it = state.routes.erase(it);
            changed = true;
        } else {
            ++it;
        }
    }
    for (auto it = state.pools.begin(); it != state.pools.end();) {
        const config::PoolConfig* pool = nullptr;
        for (const config::PoolConfig& p : file.pools) {
            if (p.name == it->first) pool = &p;
        }
        std::string why;
        if (!pool) why = "the pool is gone from the file";
        else if (as_map(endpoints_of(*pool)) != as_map(it->second.file_endpoints)) why = "the file changed the pool's endpoints";
        if (!why.empty()) {
            dropped.push_back("pool " + it->first + ": runtime endpoint list dropped: " + why);
            it = state.pools.erase(it);
            changed = true;
        } else {
            ++it;
        }
    }
    return changed;
}

// The snapshot endpoints an operator's address means: the endpoint of that
// name, or every address a configured DNS name resolved to.
std::vector<std::string> ControlPlane::endpoints_named(const std::string& pool, const std::string& endpoint) const {
    std::vector<std::string> names;
    if (!current_) return names;
    for (const auto& p : current_->pools) {
        if (p.name != pool) continue;
        for (const auto& e : p.endpoints) {
            if (e.name == endpoint || e.configured == endpoint) names.push_back(e.name);
        }
    }
    return names;
}

void ControlPlane::prune_drains(const routing::Snapshot& snapshot, RuntimeState& state,
                                std::vector<std::string>& dropped) const {
    for (auto it = state.drained.begin(); it != state.drained.end();) {
        auto& list = it->second;
        for (auto a = list.begin(); a != list.end();) {
            bool present = false;
            for (const auto& p : snapshot.pools) {
                if (p.name != it->first) continue;
                for (const auto& e : p.endpoints) present = present || e.name == *a;
            }
            if (!present) {
                dropped.push_back("pool " + it->first + ": drain of " + *a + " dropped: no such endpoint any more");
                a = list.erase(a);
            } else {
                ++a;
            }
        }
        it = list.empty() ? state.drained.erase(it) : std::next(it);
    }
}

bool ControlPlane::start() {
    if (!file_.state_file.empty()) {
        store_ = std::make_unique<StateStore>(file_.state_file);
        auto loaded = store_->load();
        if (!loaded.error.empty()) {
            log::error("state", "{}: {}{}", file_.state_file, loaded.error,
                       loaded.moved_to.empty() ? "" : "; moved aside to " + loaded.moved_to);
        }
        state_ = std::move(loaded.state);
        version_ = state_.config_version;  // continue above the last version handed out
        std::vector<std::string> dropped;
        reconcile(state_, file_, dropped);
        for (const auto& d : dropped) log::warn("state", "{}", d);
        for (const auto& [route, o] : state_.routes)
            log::info("state", "route {}: runtime split {} restored", route, split_text(o.split));
    }
    std::vector<std::string> errors;
    if (!publish(effective_config(), &errors)) {
        for (const auto& e : errors) log::error("config", "{}", e);
        return false;
    }
    if (store_) {
        std::vector<std::string> dropped;
        prune_drains(*current_, state_, dropped);
        for (const auto& d : dropped) log::warn("state", "{}", d);
        // Records the version now in force (and any edits the file superseded).
        state_.config_version = version_;
        if (auto ec = store_->save(state_)) log::error("state", "cannot write {}: {}", file_.state_file, ec.message());
    }
    return true;
}

bool ControlPlane::publish(const config::Config& effective, std::vector<std::string>* errors) {
    auto built = build_snapshot(effective, version_ + 1, keys_, stat_keys_, addresses_, /*fresh=*/true);
    if (!built.snapshot) {
        if (errors) *errors = std::move(built.errors);
        return false;
    }
    push(built.snapshot, effective, /*initial=*/true);
    return true;
}

void ControlPlane::push(std::shared_ptr<routing::Snapshot> snapshot, const config::Config& effective, bool initial) {
    std::vector<health::PoolTargets> targets;
    for (const auto& p : snapshot->pools) {
        const config::PoolConfig* pc = nullptr;
        for (const auto& c : effective.pools) {
            if (c.name == p.name) pc = &c;
        }
        targets.push_back(targets_of(p, pc));
    }
    health_->update(targets, initial);
    apply_states(*snapshot);
    current_ = snapshot;
    export_endpoint_metrics();
    version_ = snapshot->version;
    server_.publish(current_);
    // Pairs this snapshot no longer names give their slots back.
    stat_keys_.retain(current_->live_stats);
    metrics_.set_config_version(version_);
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, double>>>> weights;
    for (const config::RouteConfig& r : effective.routes) weights.emplace_back(r.name, r.split);
    metrics_.set_route_weights(weights);
}

// ---- runtime edits ----

void ControlPlane::submit(std::string what, Edit edit, Pinned pinned, Done done) {
    edits_.push_back({std::move(what), std::move(edit), pinned, std::move(done)});
    run_next_edit();
}

void ControlPlane::finish_edit(Result result) {
    PendingEdit e = std::move(edits_.front());
    edits_.pop_front();
    editing_ = false;
    if (!result.ok() && result.code != Errc::not_found && result.code != Errc::invalid && result.code != Errc::conflict)
        log::warn("state", "{} not changed: {}", e.what, result.message);
    e.done(std::move(result));
    run_next_edit();
}

std::shared_ptr<routing::Snapshot> ControlPlane::build_for(const RuntimeState& next, bool& needed, std::string& error) {
    needed = next.routes != state_.routes || next.pools != state_.pools;
    if (!needed) return nullptr;
    auto built = build_snapshot(apply_state(file_, next), version_ + 1, keys_, stat_keys_, addresses_, /*fresh=*/false);
    if (!built.snapshot) error = built.errors.empty() ? "cannot build the routing table" : built.errors.front();
    return built.snapshot;
}

void ControlPlane::run_next_edit() {
    while (!editing_ && !edits_.empty()) {
        PendingEdit& e = edits_.front();
        if (e.pinned && *e.pinned != etag_version())
            return finish_edit(Result::fail(Errc::stale, "the state changed since version " +
                                                             std::to_string(*e.pinned) + " (now " +
                                                             std::to_string(etag_version()) + ")"));
        const RuntimeState& base = fleet_ ? fleet_state_ : state_;
        RuntimeState next = base;
        if (Result r = e.edit(next); !r.ok()) return finish_edit(std::move(r));
        next.config_version = base.config_version;
        if (next == base) return finish_edit({});  // already as asked
        // Resolve and build first: a change that cannot be served is refused
        // before anything is written. In a fleet, what this replica would
        // serve of it is what its file allows (as apply_fleet will).
        bool needed = false;
        std::string error;
        RuntimeState served = next;
        if (fleet_) {
            std::vector<std::string> ignored;
            reconcile(served, file_, ignored);
        }
        auto built = build_for(served, needed, error);
        if (needed && !built) return finish_edit(Result::fail(Errc::unavailable, error));
        if (!fleet_) {
            next.config_version = built ? built->version : version_;
            if (store_) {
                if (auto ec = store_->save(next)) {
                    log::error("state", "cannot persist {} to {}: {}", e.what, file_.state_file, ec.message());
                    return finish_edit(Result::fail(Errc::internal, "cannot persist the change: " + ec.message()));
                }
            }
            adopt(std::move(next), std::move(built));
            return finish_edit({});
        }
        if (std::string why = fleet_->unavailable(); !why.empty())
            return finish_edit(Result::fail(Errc::unavailable, "the fleet's state cannot be written: " + why));
        editing_ = true;
        fleet_->write(next, fleet_revision_, [this, next](FleetWriteOutcome out) {
            PendingEdit& pending = edits_.front();
            switch (out.kind) {
                case FleetWriteOutcome::Kind::written:
                    // Served like any state from the fleet: against the file
                    // in force now (a reload may have come in between).
                    apply_fleet(next, out.revision);
                    return finish_edit({});
                case FleetWriteOutcome::Kind::stale:
                    // Another replica wrote first; the store has brought the
                    // newer state in. A pinned edit is refused, others are
                    // made again on top of it.
                    if (pending.pinned)
                        return finish_edit(Result::fail(Errc::stale, "another replica changed the state first (now version " +
                                                                         std::to_string(fleet_revision_) + ")"));
                    if (++pending.attempts >= 5)
                        return finish_edit(Result::fail(Errc::unavailable, "the fleet's state kept changing; try again"));
                    editing_ = false;
                    return run_next_edit();
                case FleetWriteOutcome::Kind::unavailable:
                    return finish_edit(Result::fail(Errc::unavailable, "the fleet's state cannot be written: " + out.error));
            }
        });
        return;
    }
}

void ControlPlane::save_state_file(const std::string& what) {
    if (!store_) return;
    if (auto ec = store_->save(state_)) log::error("state", "cannot write {} ({}): {}", file_.state_file, what, ec.message());
}

void ControlPlane::adopt(RuntimeState next, std::shared_ptr<routing::Snapshot> built) {
    // Undrained endpoints take traffic again only once a check passes.
    std::vector<std::pair<std::string, std::string>> undrained;
    for (const auto& [pool, list] : state_.drained) {
        for (const auto& e : list) {
            auto it = next.drained.find(pool);
            if (it == next.drained.end() || std::find(it->second.begin(), it->second.end(), e) == it->second.end())
                undrained.emplace_back(pool, e);
        }
    }
    for (const auto& [pool, list] : next.drained) {
        for (const auto& e : list) {
            if (!is_drained(pool, e)) log::info("health", "pool {} endpoint {}: draining", pool, e);
        }
    }
    const bool drains_changed = next.drained != state_.drained;
    state_ = std::move(next);
    for (const auto& [pool, e] : undrained) {
        health_->require_pass(pool, e);
        log::info("health", "pool {} endpoint {}: undrained (eligible once a check passes)", pool, e);
    }
    if (built) push(std::move(built), apply_state(file_, state_));
    else if (drains_changed) republish_states();
}

void ControlPlane::apply_fleet(RuntimeState state, std::uint64_t revision) {
    if (revision <= fleet_revision_) return;  // already in force (this replica's own write, or older)
    fleet_revision_ = revision;
    fleet_state_ = state;
    fleet_state_.config_version = 0;
    std::vector<std::string> dropped;
    reconcile(state, file_, dropped);
    for (const auto& d : dropped) log::warn("state", "fleet revision {}: {}", revision, d);
    state.config_version = state_.config_version;
    bool needed = false;
    std::string error;
    auto built = build_for(state, needed, error);
    if (needed && !built) {
        // This replica's file cannot serve what the fleet asks: keep serving
        // the last state that works, loudly.
        log::error("state", "fleet revision {} cannot be served with this replica's configuration: {}", revision, error);
        return;
    }
    if (built) state.config_version = built->version;
    if (state != state_) {
        adopt(std::move(state), std::move(built));
        save_state_file("a cache of the fleet's state");
    }
    if (on_fleet_applied_) on_fleet_applied_();
}

void ControlPlane::apply_rollout(const std::string& route, RolloutNow now, Done done) {
    submit("the rollout of route " + route,
           [this, route, now](RuntimeState& next) {
               const config::RouteConfig* r = find_route(route);
               std::optional<RolloutUpdate> update = now();
               if (!r || !update) return Result::fail(Errc::not_found, "route '" + route + "' has no rollout any more");
               next.rollouts[route] = update->run_json;
               if (update->split) next.routes[route] = RouteOverride{*update->split, r->split};
               return Result{};
           },
           std::nullopt, std::move(done));
}

void ControlPlane::persist_rollouts(RolloutsNow now, Done done) {
    submit("the state of the rollouts",
           [this, now](RuntimeState& next) {
               for (const auto& [route, text] : now()) {
                   if (find_route(route)) next.rollouts[route] = text;
               }
               return Result{};
           },
           std::nullopt, std::move(done));
}

void ControlPlane::set_drained(const std::string& pool, const std::string& endpoint, bool drained, Done done) {
    submit(std::string(drained ? "the drain of " : "the undrain of ") + pool + " endpoint " + endpoint,
           [this, pool, endpoint, drained](RuntimeState& next) {
               if (!find_pool(pool)) return Result::fail(Errc::not_found, "no pool '" + pool + "'");
               const auto names = endpoints_named(pool, endpoint);
               if (names.empty()) return Result::fail(Errc::not_found, "pool " + pool + " has no endpoint " + endpoint);
               auto& list = next.drained[pool];
               for (const auto& n : names) {
                   auto it = std::find(list.begin(), list.end(), n);
                   if (drained && it == list.end()) list.push_back(n);
                   else if (!drained && it != list.end()) list.erase(it);
               }
               if (list.empty()) next.drained.erase(pool);
               return Result{};
           },
           std::nullopt, std::move(done));
}

void ControlPlane::drain(const std::string& pool, const std::string& endpoint, Done done) {
    set_drained(pool, endpoint, true, std::move(done));
}

void ControlPlane::undrain(const std::string& pool, const std::string& endpoint, Done done) {
    set_drained(pool, endpoint, false, std::move(done));
}

void ControlPlane::set_endpoints(const std::string& pool, const Split& endpoints, Pinned pinned, Done done) {
    submit("the endpoints of pool " + pool,
           [this, pool, endpoints](RuntimeState& next) {
               const config::PoolConfig* p = find_pool(pool);
               if (!p) return Result::fail(Errc::not_found, "no pool '" + pool + "'");
               if (endpoints.empty()) return Result::fail(Errc::invalid, "the endpoint list is empty");
               double total = 0;
               std::map<std::string, int> seen;
               Split canonical;
               for (const auto& [address, w] : endpoints) {
                   auto hp = config::parse_host_port(address);
                   if (!hp || hp->port == 0)
                       return Result::fail(Errc::invalid, "'" + address + "' is not host:port or [v6]:port");
                   if (!std::isfinite(w) || w < 0 || w > max_weight)
                       return Result::fail(Errc::invalid, "weight of " + address + " must be a finite number from 0 to 1e9");
                   if (seen[hp->text()]++) return Result::fail(Errc::invalid, "duplicate endpoint " + hp->text());
                   canonical.emplace_back(hp->text(), w);
                   total += w;
               }
               if (total <= 0) return Result::fail(Errc::invalid, "at least one endpoint needs a weight above 0");
               next.pools[pool] = PoolOverride{canonical, endpoints_of(*p)};
               return Result{};
           },
           pinned, std::move(done));
}

void ControlPlane::set_split(const std::string& route, const Split& split, Pinned pinned, Done done) {
    submit("the split of route " + route,
           [this, route, split](RuntimeState& next) {
               const config::RouteConfig* r = find_route(route);
               if (!r) return Result::fail(Errc::not_found, "no route '" + route + "'");
               if (auto bad = check_split(split, file_)) return Result::fail(Errc::invalid, *bad);
               next.routes[route] = RouteOverride{split, r->split};
               return Result{};
           },
           pinned, std::move(done));
}

void ControlPlane::clear_split(const std::string& route, Pinned pinned, Done done) {
    submit("dropping the split of route " + route,
           [this, route](RuntimeState& next) {
               if (!find_route(route)) return Result::fail(Errc::not_found, "no route '" + route + "'");
               next.routes.erase(route);
               return Result{};
           },
           pinned, std::move(done));
}

void ControlPlane::switch_to(const std::string& route, const std::string& pool, Pinned pinned, Done done) {
    submit("the switch of route " + route,
           [this, route, pool](RuntimeState& next) {
               const config::RouteConfig* r = find_route(route);
               if (!r) return Result::fail(Errc::not_found, "no route '" + route + "'");
               if (!find_pool(pool)) return Result::fail(Errc::invalid, "unknown pool '" + pool + "'");
               // Every pool the route currently splits over stays listed with
               // 0, so the switch back is the same call with the other pool.
               Split split;
               for (const config::RouteConfig& er : apply_state(file_, next).routes) {
                   if (er.name != route) continue;
                   for (const auto& [p, w] : er.split) {
                       if (p != pool) split.emplace_back(p, 0.0);
                   }
               }
               split.emplace_back(pool, 100.0);
               next.routes[route] = RouteOverride{split, r->split};
               return Result{};
           },
           pinned, std::move(done));
}


ControlPlane::ReloadOutcome ControlPlane::reload(const std::string& trigger) {
    ReloadOutcome out;
    auto fail = [&](std::vector<std::string> errors) {
        for (const auto& e : errors) log::error("config", "{}", e);
        log::error("weir", "{}: reload failed, keeping config version {}", trigger, version_);
        metrics_.reload_failed();
        out.errors = std::move(errors);
        return out;
    };
    if (config_path_.empty()) return fail({"no configuration file to reload (built-in configuration)"});
    auto loaded = config::load_config_file(config_path_);
    if (!loaded.config) {
        std::vector<std::string> errors;
        for (const auto& e : loaded.errors) errors.push_back(e.text());
        return fail(std::move(errors));
    }
    config::Config& next_file = *loaded.config;

    RuntimeState next_state = state_;
    std::vector<std::string> dropped;
    reconcile(next_state, next_file, dropped);
    config::Config effective = apply_state(next_file, next_state);
    auto built = build_snapshot(effective, version_ + 1, keys_, stat_keys_, addresses_, /*fresh=*/true);
    if (!built.snapshot) return fail(std::move(built.errors));
    // Drains of endpoints that are no longer there mean nothing.
    prune_drains(*built.snapshot, next_state, dropped);

    // New or moved listeners are bound before anything else changes, so a
    // port in use fails the reload as a whole.
    std::map<std::string, std::string> old_by_name;
    for (const auto& l : file_.listeners) old_by_name[l.name] = l.address.text();
    struct Bound {
        std::string name;
        proxy::Server::AddedListener added;
        bool moved;
    };
    std::vector<Bound> bound;
    for (const auto& l : next_file.listeners) {
        auto it = old_by_name.find(l.name);
        if (it != old_by_name.end() && it->second == l.address.text()) continue;
        try {
            bound.push_back({l.name, server_.add_listener({l.name, to_endpoint(l.address)}), it != old_by_name.end()});
        } catch (const std::exception& e) {
            // Nothing changes: only the sockets bound by this reload go.
            for (const auto& b : bound) server_.remove_listener(b.name, b.added.first_id, b.added.end_id);
            return fail({"listener " + l.name + ": cannot listen on " + l.address.text() + ": " + e.what()});
        }
    }
    // A moved listener's old sockets go only now that the new ones are bound.
    for (const auto& b : bound) {
        if (b.moved) server_.remove_listener(b.name, 0, b.added.first_id);
    }
    for (const auto& [name, _] : old_by_name) {
        bool kept = false;
        for (const auto& l : next_file.listeners) kept = kept || l.name == name;
        if (!kept) {
            server_.remove_listener(name);
            log::info("weir", "listener {} removed; its connections drain", name);
        }
    }
    for (const auto& b : bound) log::info("weir", "listener {} listening on {}", b.name, endpoint_text(b.added.address));

    if (next_file.admin.address.text() != file_.admin.address.text())
        log::warn("weir", "{}: admin.address changes take effect at the next start", trigger);
    if (next_file.workers != file_.workers)
        log::warn("weir", "{}: workers changes take effect at the next start", trigger);
    if (next_file.state_file != file_.state_file)
        log::warn("weir", "{}: state_file changes take effect at the next start", trigger);

    for (const auto& d : dropped) log::info("state", "{}", d);
    next_state.config_version = built.snapshot->version;
    if (store_) {
        // Written on every reload so the version survives a restart. The file
        // is the newer intent: if this write fails, the next start drops the
        // same edits again, so nothing contradicts the file.
        if (auto ec = store_->save(next_state)) log::error("state", "cannot rewrite {}: {}", file_.state_file, ec.message());
    }
    file_ = std::move(next_file);
    state_ = std::move(next_state);
    push(built.snapshot, effective);
    metrics_.reload_succeeded();
    log::info("weir", "{}: reloaded, config version {}", trigger, version_);
    if (on_reloaded_) on_reloaded_();
    out.ok = true;
    return out;
}

}  // namespace weir::control
