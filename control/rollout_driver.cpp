#include "control/rollout_driver.hpp"

#include "common/log.hpp"
#include "config/config.hpp"
#include "control/control_plane.hpp"
#include "proxy/server.hpp"
#include "rollout/slice_json.hpp"
#include "telemetry/metrics.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cmath>
#include <random>
#include <set>

namespace weir::control {
namespace {

namespace json = boost::json;

// Judging looks at one slice a second: fast enough to roll back within
// seconds, coarse enough that a look is cheap.
constexpr std::chrono::milliseconds slice_length{1000};
constexpr std::chrono::milliseconds gather_timeout{500};

// Step durations run on the monotonic clock (a wall-clock step of an hour
// must neither end a step nor freeze it); decisions are stamped with wall
// time through the offset between the two, taken afresh at every use.
std::int64_t mono_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::int64_t wall_offset_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() - mono_ms();
}

// The elapsed time at a step is written to the state file this often (and
// with every change of state), so a restart resumes close to where it was.
constexpr std::int64_t elapsed_refresh_ms = 60000;
constexpr std::size_t rate_window_slices = 60;
// Seconds of traffic a fleet replica keeps for the leader to gather: a
// leader that misses a few calls still gets everything.
constexpr std::size_t recorded_slices = 30;

bool active(const rollout::RolloutRun& run) {
    return run.phase() == rollout::Phase::running || run.phase() == rollout::Phase::paused;
}

// weir_rollout_step: the step while active, the number of steps once
// promoted, -1 otherwise.
double step_metric(const rollout::RolloutRun& run) {
    if (active(run)) return run.step_index();
    if (run.phase() == rollout::Phase::promoted) return static_cast<double>(run.spec().steps.size());
    return -1;
}

bool same_spec(const rollout::RolloutSpec& a, const rollout::RolloutSpec& b) {
    return a.canary == b.canary && a.baseline == b.baseline && a.steps == b.steps &&
           a.step_min_duration == b.step_min_duration && a.step_max_duration == b.step_max_duration &&
           a.min_samples == b.min_samples && a.max_latency_ratio == b.max_latency_ratio &&
           a.max_error_rate_increase == b.max_error_rate_increase && a.on_inconclusive == b.on_inconclusive &&
           a.min_latency_difference == b.min_latency_difference;
}

}  // namespace

std::optional<rollout::RolloutRun> RolloutDriver::restore(const std::string& route, const rollout::RolloutSpec& spec,
                                                         const std::string& text) const {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    std::string error;
    if (!ec && v.is_object()) {
        if (auto run = rollout::RolloutRun::from_json(spec, v.as_object(), mono_ms(), error, wall_offset_ms())) return run;
    }
    log::error("rollout", "route {}: saved rollout state unusable ({}); starting idle", route, ec ? ec.message() : error);
    return std::nullopt;
}

void RolloutDriver::set_judge(bool judge) {
    if (judge == judge_) return;
    judge_ = judge;
    log::info("rollout", "{}", judge ? "this replica judges the rollouts now" : "rollouts are judged by the fleet's leader");
}

void RolloutDriver::join_fleet() {
    fleet_ = true;
    std::random_device rd;
    epoch_ = fmt::format("{:08x}{:08x}", rd(), rd());
}

void RolloutDriver::record(std::int64_t start_ms, json::object routes) {
    recorded_.push_back({next_seq_++, start_ms, std::move(routes)});
    while (recorded_.size() > recorded_slices) recorded_.pop_front();
}

json::object RolloutDriver::slices_after(std::uint64_t after) const {
    json::array records;
    for (const auto& r : recorded_) {
        if (r.seq > after && !r.routes.empty())
            records.push_back(json::object{{"seq", r.seq}, {"start_ms", r.start_ms}, {"routes", r.routes}});
    }
    return json::object{{"epoch", epoch_}, {"seq", next_seq_ - 1}, {"slices", std::move(records)}};
}

std::string RolloutDriver::add_remote(const json::object& record) {
    const json::value* start = record.if_contains("start_ms");
    const json::value* routes = record.if_contains("routes");
    if (!start || !start->is_number() || !routes || !routes->is_object()) return "a record needs start_ms and routes";
    const std::int64_t start_ms = start->to_number<std::int64_t>();
    const std::int64_t offset = wall_offset_ms();
    for (const auto& [route, pair] : routes->as_object()) {
        const json::object* o = pair.if_object();
        const json::value* b = o ? o->if_contains("baseline") : nullptr;
        const json::value* c = o ? o->if_contains("canary") : nullptr;
        if (!b || !c) return "route " + std::string(route) + ": needs baseline and canary";
        rollout::PoolSlice baseline, canary;
        std::string error;
        if (!rollout::merge_slice_json(*b, baseline, error) || !rollout::merge_slice_json(*c, canary, error))
            return "route " + std::string(route) + ": " + error;
        // Another replica's second reaches here a second or two late: one
        // that began before the run's evidence window (a step change, a
        // resume) is evidence about the step before, not this one.
        auto run = runs_.find(std::string(route));
        if (run == runs_.end()) continue;
        if (active(run->second) && start_ms < run->second.evidence_since_ms() + offset) continue;
        auto& into = remote_[std::string(route)];
        into.first.merge(baseline);
        into.second.merge(canary);
    }
    return {};
}

void RolloutDriver::follow() {
    for (auto& [route, run] : runs_) {
        auto saved = plane_.state().rollouts.find(route);
        if (saved == plane_.state().rollouts.end()) continue;
        auto mine = written_.find(route);
        if (mine != written_.end() && mine->second == saved->second) continue;  // our own write, back
        if (saved->second == json::serialize(run.to_json())) continue;
        auto restored = restore(route, run.spec(), saved->second);
        if (!restored) continue;
        if (restored->phase() != run.phase() || restored->step_index() != run.step_index())
            log::info("rollout", "route {}: following the fleet: {} at step {}", route,
                      rollout::phase_name(restored->phase()), restored->step_index());
        run = std::move(*restored);
        written_.erase(route);
        unapplied_.erase(route);
        metrics_.rollout_step(route, step_metric(run));
    }
}

RolloutDriver::RolloutDriver(boost::asio::io_context& io, ControlPlane& plane, proxy::Server& server,
                             telemetry::Metrics& metrics)
    : io_(io), plane_(plane), server_(server), metrics_(metrics), timer_(io) {}

void RolloutDriver::sync() {
    std::map<std::string, rollout::RolloutRun> next;
    for (const config::RouteConfig& r : plane_.file_config().routes) {
        if (!r.rollout) continue;
        const rollout::RolloutSpec& spec = *r.rollout;  // config::RolloutConfig is this type
        auto it = runs_.find(r.name);
        if (it == runs_.end() || !same_spec(it->second.spec(), spec)) {
            // What these limits ask of traffic, said once per new setting.
            const rollout::TrafficNeeds needs = rollout::traffic_needs(spec, std::nullopt);
            if (std::isfinite(needs.route_rps_needed))
                log::info("rollout", "route {}: each step needs about {} canary requests; the first step ({}%) "
                          "finishes within step_max_duration only above {:.3g} requests/s on the route",
                          r.name, needs.step_requests, spec.steps.empty() ? 0.0 : spec.steps.front(),
                          needs.route_rps_needed);
            for (const auto& w : needs.warnings) log::warn("rollout", "route {}: {}", r.name, w);
        }
        if (it != runs_.end() && same_spec(it->second.spec(), spec)) {
            next.emplace(r.name, std::move(it->second));
            continue;
        }
        if (it == runs_.end()) {
            // Not known in this process: maybe the state file remembers it.
            auto saved = plane_.state().rollouts.find(r.name);
            if (saved != plane_.state().rollouts.end()) {
                if (auto run = restore(r.name, spec, saved->second)) {
                    log::info("rollout", "route {}: rollout restored ({} at step {})", r.name,
                              rollout::phase_name(run->phase()), run->step_index());
                    next.emplace(r.name, std::move(*run));
                    continue;
                }
            }
        } else {
            log::info("rollout", "route {}: rollout settings changed; the run starts over (idle)", r.name);
        }
        next.emplace(r.name, rollout::RolloutRun(spec));
    }
    runs_ = std::move(next);
    for (auto& [route, run] : runs_) {
        metrics_.rollout_step(route, step_metric(run));
        const auto saved = plane_.state().rollouts.find(route);
        const std::string text = json::serialize(run.to_json());
        if (active(run)) {
            // A reload whose file changed the route's split dropped the
            // rollout's share with the override: put it back.
            auto o = plane_.state().routes.find(route);
            if (o == plane_.state().routes.end() || o->second.split != split_for(run)) {
                log::info("rollout", "route {}: re-applying the rollout's share ({}% canary)", route,
                          run.canary_percent());
                apply(route, run, true);
            }
        } else if (saved != plane_.state().rollouts.end() && saved->second != text) {
            // A run reset by changed settings: the state file must not bring the old one back.
            apply(route, run, false);
        }
    }
}

void RolloutDriver::start_ticking() {
    timer_.expires_after(slice_length);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopped_) return;
        tick();
        start_ticking();
    });
}

void RolloutDriver::stop() {
    if (stopped_) return;
    stopped_ = true;
    timer_.cancel();
    // A restart resumes the step's time where this process left it.
    refresh_persisted_elapsed();
}

void RolloutDriver::tick() {
    const routing::SnapshotPtr& snap = plane_.current();
    if (!snap) return;
    // The slots to collect: baseline and canary of every configured run.
    // Inactive runs' slices are taken too, so traffic from before a start
    // never counts as its evidence; only the baseline's error history is
    // kept from them.
    std::vector<std::string> routes;
    std::vector<std::uint32_t> stats;
    for (auto& [name, run] : runs_) {
        auto slots = slots_of(name, run);
        if (!slots) continue;
        routes.push_back(name);
        stats.push_back(slots->first);
        stats.push_back(slots->second);
    }
    for (const auto& route : std::set<std::string>(unapplied_)) {
        auto it = runs_.find(route);
        if (it == runs_.end()) unapplied_.erase(route);
        else apply(route, it->second, true);
    }
    if (routes.empty()) return;
    auto slices = server_.take_slices(stats, gather_timeout);
    const std::int64_t now = mono_ms();
    const std::int64_t offset = wall_offset_ms();
    json::object recorded;
    const std::int64_t slice_start_wall = now + offset - slice_length.count();
    for (std::size_t i = 0; i < routes.size(); ++i) {
        auto& run = runs_.at(routes[i]);
        rollout::Slice slice;
        slice.start_ms = now + offset - slice_length.count();
        slice.baseline = std::move(slices[2 * i]);
        slice.canary = std::move(slices[2 * i + 1]);
        if (fleet_ && slice.baseline.requests() + slice.canary.requests() > 0)
            recorded[routes[i]] = json::object{{"baseline", rollout::slice_to_json(slice.baseline)},
                                               {"canary", rollout::slice_to_json(slice.canary)}};
        if (!judge_) continue;  // the fleet's leader judges
        // The leader judges on the whole fleet's traffic.
        if (auto r = remote_.find(routes[i]); r != remote_.end()) {
            slice.baseline.merge(r->second.first);
            slice.canary.merge(r->second.second);
        }
        auto& rate = recent_requests_[routes[i]];
        rate.push_back(slice.baseline.requests() + slice.canary.requests());
        while (rate.size() > rate_window_slices) rate.pop_front();
        if (!active(run)) {
            // Not evidence about a canary, but the baseline's error history.
            run.look(now, slice);
            continue;
        }
        run.set_wall_offset_ms(offset);
        const std::size_t before = run.decisions().size();
        const std::int64_t last_before = run.decisions().empty() ? 0 : run.decisions().back().at_ms;
        const bool changed = run.look(now, slice);
        const bool decided = run.decisions().size() != before ||
                             (!run.decisions().empty() && run.decisions().back().at_ms != last_before);
        // Periodic hold notes go to the log and stay in memory; only a
        // change of state rewrites the state file.
        const bool state_changed = decided && count_new_decisions(routes[i], run, before);
        if (changed || state_changed) apply(routes[i], run, changed || unapplied_.count(routes[i]) > 0);
    }
    remote_.clear();
    if (fleet_) record(slice_start_wall, std::move(recorded));
    for (auto it = recent_requests_.begin(); it != recent_requests_.end();) {
        it = runs_.count(it->first) ? std::next(it) : recent_requests_.erase(it);
    }
    if (now - elapsed_saved_ms_ >= elapsed_refresh_ms) refresh_persisted_elapsed();
}

void RolloutDriver::refresh_persisted_elapsed() {
    elapsed_saved_ms_ = mono_ms();
    // In a fleet the runs' time is the judge's to record: a follower's copy
    // may be a look behind and must not overwrite it.
    if (!judge_) return;
    auto texts = [this] {
        std::map<std::string, std::string> out;
        for (const auto& [route, run] : runs_) {
            if (!active(run)) continue;
            out[route] = json::serialize(run.to_json());
            written_[route] = out[route];
        }
        return out;
    };
    if (texts().empty()) return;
    plane_.persist_rollouts(std::move(texts), [](Result outcome) {
        if (!outcome.ok()) log::error("rollout", "cannot persist the rollouts' elapsed step time: {}", outcome.message);
    });
}

std::optional<double> RolloutDriver::route_rps(const std::string& route) const {
    auto it = recent_requests_.find(route);
    if (it == recent_requests_.end() || it->second.size() < rate_window_slices) return std::nullopt;
    std::uint64_t sum = 0;
    for (auto n : it->second) sum += n;
    return static_cast<double>(sum) * 1000.0 / static_cast<double>(it->second.size() * slice_length.count());
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> RolloutDriver::slots_of(const std::string& name,
                                                                               const rollout::RolloutRun& run) const {
    const routing::SnapshotPtr& snap = plane_.current();
    if (!snap) return std::nullopt;
    const routing::Route* route = nullptr;
    for (const auto& r : snap->routes) {
        if (r.name == name) route = &r;
    }
    if (!route) return std::nullopt;
    std::uint32_t base = UINT32_MAX, canary = UINT32_MAX;
    for (std::size_t i = 0; i < snap->pools.size(); ++i) {
        if (snap->pools[i].name == run.spec().baseline) base = route->pool_stat[i];
        if (snap->pools[i].name == run.spec().canary) canary = route->pool_stat[i];
    }
    if (base == UINT32_MAX || canary == UINT32_MAX) return std::nullopt;
    return std::make_pair(base, canary);
}

bool RolloutDriver::count_new_decisions(const std::string& route, const rollout::RolloutRun& run, std::size_t before) {
    const auto& d = run.decisions();
    // The deque is bounded: when it was full, the newest entry is the new one.
    std::size_t first = before < d.size() ? before : d.size() - 1;
    bool state_changed = false;
    for (std::size_t i = first; i < d.size(); ++i) {
        const auto& rec = d[i];
        state_changed = state_changed || !rollout::RolloutRun::periodic(rec);
        metrics_.rollout_decision(route, rec.decision);
        if (rec.decision == "hold") {
            log::info("rollout", "route {}: hold at step {}: {}", route, rec.step, rec.reason);
        } else if (rec.decision == "rollback") {
            log::warn("rollout", "route {}: ROLLBACK at step {}: {}", route, rec.step, rec.reason);
        } else {
            log::info("rollout", "route {}: {} (step {}): {}", route, rec.decision, rec.step, rec.reason);
        }
    }
    return state_changed;
}

Split RolloutDriver::split_for(const rollout::RolloutRun& run) {
    const double p = run.canary_percent();
    return Split{{run.spec().baseline, 100.0 - p}, {run.spec().canary, p}};
}

void RolloutDriver::apply(const std::string& route, rollout::RolloutRun& run, bool share_changed, Done done) {
    metrics_.rollout_step(route, step_metric(run));
    auto now = [this, route, share_changed]() -> std::optional<ControlPlane::RolloutUpdate> {
        auto it = runs_.find(route);
        if (it == runs_.end()) return std::nullopt;
        ControlPlane::RolloutUpdate u;
        if (share_changed) u.split = split_for(it->second);
        u.run_json = json::serialize(it->second.to_json());
        written_[route] = u.run_json;
        return u;
    };
    plane_.apply_rollout(route, std::move(now), [this, route, done](Result outcome) {
        if (!outcome.ok()) {
            // The run has decided; the route must follow. Retried every second
            // until the split is published and persisted.
            log::error("rollout", "route {}: cannot apply the rollout's decision yet: {}", route, outcome.message);
            unapplied_.insert(route);
            if (done)
                done(Result::fail(outcome.code, "the decision is recorded but not applied yet (" + outcome.message +
                                                    "); it is retried every second"));
            return;
        }
        unapplied_.erase(route);
        if (done) done({});
    });
}

void RolloutDriver::command(const std::string& route, const std::string& verb, Done done) {
    auto it = runs_.find(route);
    if (it == runs_.end()) return done(Result::fail(Errc::not_found, "route '" + route + "' has no rollout configured"));
    auto& run = it->second;
    const double before_share = run.canary_percent();
    const std::size_t before = run.decisions().size();
    const std::int64_t now = mono_ms();
    run.set_wall_offset_ms(wall_offset_ms());
    bool ok = false;
    if (verb == "start") {
        // What the workers gathered since the last look predates the start: not its evidence.
        if (auto slots = slots_of(route, run)) server_.take_slices({slots->first, slots->second}, gather_timeout);
        ok = run.start(now, route_rps(route));
    }
    else if (verb == "pause") ok = run.pause(now);
    else if (verb == "resume") ok = run.resume(now);
    else if (verb == "promote") ok = run.promote(now);
    else if (verb == "rollback") ok = run.rollback(now, "operator request");
    else return done(Result::fail(Errc::not_found, "no rollout action '" + verb + "' (start, pause, resume, promote, rollback)"));
    if (!ok)
        return done(Result::fail(Errc::conflict, "cannot " + verb + " a rollout that is " + rollout::phase_name(run.phase())));
    count_new_decisions(route, run, before);
    apply(route, run, run.canary_percent() != before_share || unapplied_.count(route) > 0, std::move(done));
}

std::optional<json::object> RolloutDriver::describe(const std::string& route) const {
    auto it = runs_.find(route);
    if (it == runs_.end()) return std::nullopt;
    const auto& run = it->second;
    json::object o = run.to_json(/*all_decisions=*/true);
    o["route"] = route;
    json::array steps;
    for (double s : run.spec().steps) steps.push_back(s);
    o["spec"] = json::object{{"canary", run.spec().canary},
                             {"baseline", run.spec().baseline},
                             {"steps", std::move(steps)},
                             {"step_min_duration_ms", run.spec().step_min_duration.count()},
                             {"step_max_duration_ms", run.spec().step_max_duration.count()},
                             {"min_samples", run.spec().min_samples},
                             {"max_latency_ratio", run.spec().max_latency_ratio},
                             {"max_error_rate_increase", run.spec().max_error_rate_increase},
                             {"min_latency_difference_ms",
                              static_cast<double>(run.spec().min_latency_difference.count()) / 1000}};
    o["traffic"] = rollout::traffic_needs(run.spec(), route_rps(route)).to_json();
    return o;
}

bool RolloutDriver::controls_split(const std::string& route) const {
    auto it = runs_.find(route);
    return it != runs_.end() && active(it->second);
}

std::optional<json::object> RolloutDriver::summary(const std::string& route) const {
    auto it = runs_.find(route);
    if (it == runs_.end()) return std::nullopt;
    const auto& run = it->second;
    json::object o{{"phase", rollout::phase_name(run.phase())},
                   {"step", run.step_index()},
                   {"canary_percent", run.canary_percent()}};
    if (!run.decisions().empty()) {
        o["last_decision"] = run.decisions().back().decision;
        o["last_reason"] = run.decisions().back().reason;
    }
    return o;
}

}  // namespace weir::control
