#include "rollout/run.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace weir::rollout {

namespace json = boost::json;

namespace {

// Decisions kept in memory; how many state changes go to the state file,
// and how many of those keep their evidence there (the evidence of one
// decision is a few KiB: the file stays small with many rollouts).
constexpr std::size_t kMaxDecisions = 200;
constexpr std::size_t kPersistedDecisions = 20;
constexpr std::size_t kPersistedEvidence = 5;
// Periodic hold/inconclusive notes are written at most this often.
constexpr std::int64_t kHoldLogEveryMs = 30000;

std::string pct(double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g%%", p);
    return buf;
}

std::string step_words(const RolloutSpec& spec, int step) {
    const double p = step >= 0 && static_cast<std::size_t>(step) < spec.steps.size()
                         ? spec.steps[static_cast<std::size_t>(step)]
                         : 100.0;
    return "step " + std::to_string(step) + " (" + pct(p) + ")";
}

std::string seconds_words(std::int64_t ms) {
    char buf[32];
    if (ms % 60000 == 0 && ms >= 60000)
        std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(ms / 60000));
    else
        std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ms) / 1000);
    return buf;
}

bool as_int64(const json::value& v, std::int64_t& out) {
    if (v.is_int64()) {
        out = v.get_int64();
        return true;
    }
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        out = static_cast<std::int64_t>(v.get_uint64());
        return true;
    }
    if (v.is_double() && std::trunc(v.get_double()) == v.get_double() && std::fabs(v.get_double()) < 9e15) {
        out = static_cast<std::int64_t>(v.get_double());
        return true;
    }
    return false;
}

bool as_double(const json::value& v, double& out) {
    if (v.is_double()) {
        out = v.get_double();
        return true;
    }
    if (v.is_int64()) {
        out = static_cast<double>(v.get_int64());
        return true;
    }
    if (v.is_uint64()) {
        out = static_cast<double>(v.get_uint64());
        return true;
    }
    return false;
}

std::optional<Phase> phase_from(std::string_view s) {
    for (Phase p : {Phase::idle, Phase::running, Phase::paused, Phase::promoted, Phase::rolled_back})
        if (s == phase_name(p)) return p;
    return std::nullopt;
}

}  // namespace

bool RolloutRun::periodic(const DecisionRecord& d) {
    return d.decision == "hold" || (d.decision == "inconclusive" && d.reason.rfind("holding", 0) == 0);
}

std::int64_t RolloutRun::step_elapsed_ms(std::int64_t now_ms) const {
    const std::int64_t until = phase_ == Phase::paused ? paused_at_ms_ : now_ms;
    return elapsed_before_ms_ + std::max<std::int64_t>(0, until - evidence_since_ms_);
}

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::idle: return "idle";
        case Phase::running: return "running";
        case Phase::paused: return "paused";
        case Phase::promoted: return "promoted";
        case Phase::rolled_back: return "rolled_back";
    }
    return "idle";
}

RolloutRun::RolloutRun(RolloutSpec spec) : spec_(std::move(spec)) {}

double RolloutRun::canary_percent() const {
    switch (phase_) {
        case Phase::running:
        case Phase::paused:
            if (step_ >= 0 && static_cast<std::size_t>(step_) < spec_.steps.size())
                return spec_.steps[static_cast<std::size_t>(step_)];
            return 0;
        case Phase::promoted: return 100;
        default: return 0;
    }
}

JudgeLimits RolloutRun::limits() const {
    JudgeLimits l;
    l.max_latency_ratio = spec_.max_latency_ratio;
    l.max_error_rate_increase = spec_.max_error_rate_increase;
    l.min_samples = spec_.min_samples;
    l.min_latency_difference_us = static_cast<double>(spec_.min_latency_difference.count());
    return l;
}

void RolloutRun::record(std::int64_t now_ms, const char* decision, std::string reason, json::object evidence) {
    last_now_ms_ = std::max(last_now_ms_, now_ms);
    DecisionRecord d;
    d.at_ms = now_ms + wall_offset_ms_;
    d.step = step_;
    d.decision = decision;
    d.reason = std::move(reason);
    d.evidence = std::move(evidence);
    decisions_.push_back(std::move(d));
    if (decisions_.size() > kMaxDecisions) {
        // Drop the oldest periodic note first; every state change is kept
        // as long as there are notes to drop.
        auto it = std::find_if(decisions_.begin(), decisions_.end() - 1, periodic);
        if (it != decisions_.end() - 1)
            decisions_.erase(it);
        else
            decisions_.pop_front();
    }
}

json::object RolloutRun::snapshot(std::int64_t now_ms, const char* trigger) const {
    const JudgeLimits lim = limits();
    json::object o;
    o["trigger"] = trigger;
    o["phase"] = phase_name(phase_);
    o["step"] = step_;
    o["canary_percent"] = canary_percent();
    const double at_step = static_cast<double>(now_ms - evidence_since_ms_) / 1000;
    o["seconds_of_evidence"] = round_to(at_step, 0.001);
    o["seconds_at_step"] = round_to(static_cast<double>(step_elapsed_ms(now_ms)) / 1000, 0.001);
    o["errors"] = judge_errors(evidence_, lim).to_json();
    json::array lat;
    const LatencyFinding recent = judge_latency(evidence_.recent(), lim, ScopeKind::recent);
    lat.push_back(latency_evidence(evidence_.recent(), recent, lim));
    const LatencyFinding step = judge_latency(evidence_.step(), lim, ScopeKind::step);
    lat.push_back(latency_evidence(evidence_.step(), step, lim));
    o["latency"] = std::move(lat);
    o["latency_strikes"] = latency_strikes_;
    const double min_s = static_cast<double>(spec_.step_min_duration.count()) / 1000;
    o["advance"] = judge_advance(evidence_, lim, at_step, min_s).to_json(lim);
    return o;
}

void RolloutRun::enter_step(int step, std::int64_t now_ms) {
    step_ = step;
    step_started_ms_ = now_ms + wall_offset_ms_;
    evidence_since_ms_ = now_ms;
    elapsed_before_ms_ = 0;
    evidence_.begin_step();
    latency_strikes_ = 0;
    last_hold_log_ms_ = now_ms;
    inconclusive_logged_ = false;
}

void RolloutRun::roll_back(std::int64_t now_ms, std::string reason, const char* trigger) {
    json::object ev = snapshot(now_ms, trigger);
    phase_ = Phase::rolled_back;
    latency_strikes_ = 0;
    record(now_ms, "rollback", std::move(reason), std::move(ev));
}

// ---- what the limits ask of traffic ---------------------------------------------------

TrafficNeeds traffic_needs(const RolloutSpec& spec, std::optional<double> route_rps) {
    TrafficNeeds n;
    n.error_proof_requests = requests_to_prove_error_limit(spec.max_error_rate_increase);
    n.step_requests = std::max(n.error_proof_requests, spec.min_samples);
    n.first_step_share = spec.steps.empty() ? 0 : spec.steps.front() / 100;
    n.route_rps = route_rps;
    const double max_s = static_cast<double>(spec.step_max_duration.count()) / 1000;
    if (n.first_step_share > 0 && max_s > 0)
        n.route_rps_needed = static_cast<double>(n.step_requests) / (n.first_step_share * max_s);
    char buf[400];
    if (n.error_proof_requests == UINT64_MAX) {
        n.warnings.push_back("max_error_rate_increase " + std::to_string(spec.max_error_rate_increase) +
                             " can never be shown with confidence: no step will advance by itself");
        n.route_rps_needed = std::numeric_limits<double>::infinity();
        return n;
    }
    if (n.error_proof_requests > spec.min_samples) {
        std::snprintf(buf, sizeof buf,
                      "max_error_rate_increase %g is shown only after about %llu canary requests per step "
                      "without errors (more if either pool has errors), more than min_samples %llu",
                      spec.max_error_rate_increase, static_cast<unsigned long long>(n.error_proof_requests),
                      static_cast<unsigned long long>(spec.min_samples));
        n.warnings.push_back(buf);
    }
    if (route_rps && n.first_step_share > 0) {
        const double canary_rps = *route_rps * n.first_step_share;
        n.first_step_seconds = canary_rps > 0 ? static_cast<double>(n.step_requests) / canary_rps
                                              : std::numeric_limits<double>::infinity();
        if (*n.first_step_seconds > max_s) {
            std::snprintf(buf, sizeof buf,
                          "at the route's %.3g requests/s the first step (%g%%) gets %.3g canary requests/s: %llu of "
                          "them take %s, longer than step_max_duration %s (finishing in time needs %.3g requests/s)%s",
                          *route_rps, spec.steps.front(), canary_rps,
                          static_cast<unsigned long long>(n.step_requests),
                          std::isfinite(*n.first_step_seconds)
                              ? seconds_words(static_cast<std::int64_t>(*n.first_step_seconds) * 1000).c_str()
                              : "forever",
                          seconds_words(spec.step_max_duration.count()).c_str(), n.route_rps_needed,
                          spec.on_inconclusive == OnInconclusive::rollback
                              ? "; on_inconclusive: rollback will roll back even a good canary"
                              : "; the step will hold past it");
            n.warnings.push_back(buf);
        }
    }
    return n;
}

json::object TrafficNeeds::to_json() const {
    json::object o;
    o["error_proof_requests"] = error_proof_requests;
    o["step_requests"] = step_requests;
    o["first_step_share"] = first_step_share;
    if (std::isfinite(route_rps_needed)) o["route_rps_needed"] = round_to(route_rps_needed, 0.001);
    else o["route_rps_needed"] = nullptr;
    if (route_rps) o["route_rps"] = round_to(*route_rps, 0.001);
    if (first_step_seconds) {
        if (std::isfinite(*first_step_seconds)) o["first_step_seconds"] = round_to(*first_step_seconds, 0.1);
        else o["first_step_seconds"] = nullptr;
    }
    json::array w;
    for (const auto& x : warnings) w.push_back(json::string(x));
    o["warnings"] = std::move(w);
    return o;
}

// ---- operator commands -------------------------------------------------------

bool RolloutRun::start(std::int64_t now_ms, std::optional<double> route_rps) {
    if (phase_ == Phase::running || phase_ == Phase::paused) return false;
    if (spec_.steps.empty()) return false;
    evidence_.clear();
    enter_step(0, now_ms);
    if (spec_.steps.front() >= 100) {
        phase_ = Phase::promoted;
        record(now_ms, "promote", "started with a first step of 100%: promoted", snapshot(now_ms, "operator"));
        return true;
    }
    phase_ = Phase::running;
    const TrafficNeeds needs = traffic_needs(spec_, route_rps);
    std::string reason = "started at " + step_words(spec_, 0) + "; steps advance on evidence (at least " +
                         seconds_words(spec_.step_min_duration.count()) + " and " + std::to_string(needs.step_requests) +
                         " canary requests per step)";
    for (const auto& w : needs.warnings) reason += "; WARNING: " + w;
    json::object ev = snapshot(now_ms, "operator");
    ev["traffic"] = needs.to_json();
    record(now_ms, "start", std::move(reason), std::move(ev));
    return true;
}

bool RolloutRun::pause(std::int64_t now_ms) {
    if (phase_ != Phase::running) return false;
    phase_ = Phase::paused;
    paused_at_ms_ = now_ms;
    record(now_ms, "pause", "paused by operator at " + step_words(spec_, step_) + "; no automatic decisions until resumed",
           snapshot(now_ms, "operator"));
    return true;
}

bool RolloutRun::resume(std::int64_t now_ms) {
    if (phase_ != Phase::paused) return false;
    phase_ = Phase::running;
    if (now_ms > paused_at_ms_) evidence_since_ms_ += now_ms - paused_at_ms_;
    latency_strikes_ = 0;
    last_hold_log_ms_ = now_ms;
    record(now_ms, "resume", "resumed by operator at " + step_words(spec_, step_), snapshot(now_ms, "operator"));
    return true;
}

bool RolloutRun::promote(std::int64_t now_ms) {
    if (phase_ == Phase::promoted) return false;
    json::object ev = snapshot(now_ms, "operator");
    const Phase before = phase_;
    phase_ = Phase::promoted;
    record(now_ms, "promote",
           std::string("promoted by operator") +
               (before == Phase::running || before == Phase::paused ? " at " + step_words(spec_, step_) : "") +
               ": canary gets 100%",
           std::move(ev));
    return true;
}

bool RolloutRun::rollback(std::int64_t now_ms, const std::string& reason) {
    if (phase_ == Phase::idle || phase_ == Phase::rolled_back) return false;
    roll_back(now_ms, reason.empty() ? std::string("rolled back by operator") : "rolled back by operator: " + reason,
              "operator");
    return true;
}

// ---- the judge at every look -----------------------------------------------------

bool RolloutRun::look(std::int64_t now_ms, const Slice& latest) {
    if (phase_ != Phase::running && phase_ != Phase::paused) {
        // Not judging: the baseline's error history still counts.
        evidence_.observe_baseline(latest);
        return false;
    }
    last_now_ms_ = std::max(last_now_ms_, now_ms);
    evidence_.add(latest);
    if (phase_ == Phase::paused) return false;

    const JudgeLimits lim = limits();
    const std::int64_t at_step_ms = now_ms - evidence_since_ms_;
    const double at_step_s = static_cast<double>(at_step_ms) / 1000;

    // 1. Errors: no minimum traffic, acts at once.
    const ErrorFinding errors = judge_errors(evidence_, lim);
    if (errors.fire()) {
        roll_back(now_ms, errors.reason(), errors.significant ? "errors" : "failure_streak");
        return true;
    }

    // 2. Latency: either scope slower, on consecutive looks.
    const LatencyFinding recent = judge_latency(evidence_.recent(), lim, ScopeKind::recent);
    bool slow = recent.slower();
    std::string why = slow ? "last " + std::to_string(recent.slices) + " s: " + recent.why : std::string();
    if (!slow) {
        const LatencyFinding step = judge_latency(evidence_.step(), lim, ScopeKind::step);
        if (step.slower()) {
            slow = true;
            why = "since the step began (" + std::to_string(step.slices) + " s): " + step.why;
        }
    }
    latency_strikes_ = slow ? latency_strikes_ + 1 : 0;
    if (latency_strikes_ >= judge::latency_strikes) {
        roll_back(now_ms,
                  "canary slower than baseline on " + std::to_string(latency_strikes_) + " consecutive looks: " + why,
                  "latency");
        return true;
    }

    // 3. Advance on positive evidence only.
    const double min_s = static_cast<double>(spec_.step_min_duration.count()) / 1000;
    if (at_step_s >= min_s && evidence_.step().canary_ok() >= spec_.min_samples && latency_strikes_ == 0) {
        const AdvanceFinding adv = judge_advance(evidence_, lim, at_step_s, min_s);
        if (adv.ready) {
            json::object ev = snapshot(now_ms, "evidence");
            const int from = step_;
            const int next = step_ + 1;
            if (static_cast<std::size_t>(next) >= spec_.steps.size() ||
                spec_.steps[static_cast<std::size_t>(next)] >= 100) {
                phase_ = Phase::promoted;
                record(now_ms, "promote",
                       step_words(spec_, from) + " passed after " + seconds_words(at_step_ms) + ": " + adv.why +
                           "; next is 100%: promoted",
                       std::move(ev));
                if (static_cast<std::size_t>(next) < spec_.steps.size()) step_ = next;
            } else {
                record(now_ms, "advance",
                       step_words(spec_, from) + " -> " + step_words(spec_, next) + " after " +
                           seconds_words(at_step_ms) + ": " + adv.why,
                       std::move(ev));
                enter_step(next, now_ms);
            }
            return true;
        }
    }

    // 4. Too long at this step without a verdict (time at the step counts
    // across restarts; the evidence does not).
    const std::int64_t elapsed_ms = step_elapsed_ms(now_ms);
    if (elapsed_ms >= spec_.step_max_duration.count() &&
        (spec_.on_inconclusive == OnInconclusive::rollback || !inconclusive_logged_)) {
        const AdvanceFinding adv = judge_advance(evidence_, lim, at_step_s, min_s);
        const std::string what = "no verdict after " + seconds_words(elapsed_ms) + " at " + step_words(spec_, step_) +
                                 " (step_max_duration " + seconds_words(spec_.step_max_duration.count()) +
                                 "): " + adv.why;
        if (spec_.on_inconclusive == OnInconclusive::rollback) {
            roll_back(now_ms, what + "; on_inconclusive: rollback", "inconclusive");
            return true;
        }
        inconclusive_logged_ = true;
        last_hold_log_ms_ = now_ms;
        record(now_ms, "inconclusive", what + "; on_inconclusive: hold, so holding until the evidence is clear",
               snapshot(now_ms, "inconclusive"));
        return false;
    }

    // 5. A note now and then that it is holding, and why.
    if (now_ms - last_hold_log_ms_ >= kHoldLogEveryMs) {
        last_hold_log_ms_ = now_ms;
        const AdvanceFinding adv = judge_advance(evidence_, lim, at_step_s, min_s);
        const bool lacking = adv.enough_time && (!adv.enough_samples || adv.insufficient);
        std::string reason = std::string(lacking ? "holding, inconclusive: " : "holding: ") + adv.why;
        if (latency_strikes_ > 0) reason += "; latency looked slower on the last " + std::to_string(latency_strikes_) + " look(s)";
        record(now_ms, lacking ? "inconclusive" : "hold", std::move(reason), snapshot(now_ms, "evidence"));
    }
    return false;
}

// ---- persistence ------------------------------------------------------------------

json::object RolloutRun::to_json(bool all_decisions) const {
    json::object o;
    o["phase"] = phase_name(phase_);
    o["step"] = step_;
    o["canary_percent"] = canary_percent();
    o["step_started_ms"] = step_started_ms_;
    o["step_elapsed_ms"] = step_elapsed_ms(last_now_ms_);
    std::vector<const DecisionRecord*> kept;
    for (auto it = decisions_.rbegin(); it != decisions_.rend(); ++it) {
        if (!all_decisions && (periodic(*it) || kept.size() >= kPersistedDecisions)) continue;
        kept.push_back(&*it);
    }
    json::array ds;
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
        const DecisionRecord& d = **it;
        json::object e{{"at_ms", d.at_ms}, {"step", d.step}, {"decision", d.decision}, {"reason", d.reason}};
        const auto newest_rank = static_cast<std::size_t>(kept.rend() - it);  // 1 = the newest
        if (all_decisions || newest_rank <= kPersistedEvidence) e["evidence"] = d.evidence;
        ds.push_back(std::move(e));
    }
    o["decisions"] = std::move(ds);
    return o;
}

std::optional<RolloutRun> RolloutRun::from_json(RolloutSpec spec, const json::object& o, std::int64_t now_ms,
                                                std::string& error, std::int64_t wall_offset_ms) {
    RolloutRun run(std::move(spec));
    run.wall_offset_ms_ = wall_offset_ms;
    const json::value* phase = o.if_contains("phase");
    if (!phase || !phase->is_string()) {
        error = "rollout state: \"phase\" missing or not a string";
        return std::nullopt;
    }
    const auto p = phase_from(phase->get_string());
    if (!p) {
        error = "rollout state: unknown phase \"" + std::string(phase->get_string()) + "\"";
        return std::nullopt;
    }
    std::int64_t step = 0, started = 0;
    const json::value* sv = o.if_contains("step");
    if (!sv || !as_int64(*sv, step) || step < 0) {
        error = "rollout state: \"step\" missing or not a non-negative integer";
        return std::nullopt;
    }
    const json::value* st = o.if_contains("step_started_ms");
    if (!st || !as_int64(*st, started)) {
        error = "rollout state: \"step_started_ms\" missing or not an integer";
        return std::nullopt;
    }
    std::int64_t elapsed = 0;
    if (const json::value* ev = o.if_contains("step_elapsed_ms")) {
        if (!as_int64(*ev, elapsed) || elapsed < 0) {
            error = "rollout state: \"step_elapsed_ms\" is not a non-negative integer";
            return std::nullopt;
        }
    }
    std::optional<double> saved_percent;
    if (const json::value* cp = o.if_contains("canary_percent")) {
        double d = 0;
        if (!as_double(*cp, d)) {
            error = "rollout state: \"canary_percent\" is not a number";
            return std::nullopt;
        }
        saved_percent = d;
    }
    if (const json::value* dv = o.if_contains("decisions")) {
        if (!dv->is_array()) {
            error = "rollout state: \"decisions\" is not an array";
            return std::nullopt;
        }
        for (const json::value& e : dv->get_array()) {
            const json::object* d = e.if_object();
            if (!d) continue;
            DecisionRecord r;
            const json::value* at = d->if_contains("at_ms");
            const json::value* ds = d->if_contains("step");
            const json::value* dd = d->if_contains("decision");
            const json::value* dr = d->if_contains("reason");
            std::int64_t s = 0;
            if (!at || !as_int64(*at, r.at_ms) || !ds || !as_int64(*ds, s) || !dd || !dd->is_string()) continue;
            r.step = static_cast<int>(s);
            r.decision = std::string(dd->get_string());
            if (dr && dr->is_string()) r.reason = std::string(dr->get_string());
            if (const json::value* ev = d->if_contains("evidence"); ev && ev->is_object()) r.evidence = ev->get_object();
            run.decisions_.push_back(std::move(r));
        }
        while (run.decisions_.size() > kMaxDecisions) run.decisions_.pop_front();
    }

    run.phase_ = *p;
    const auto& steps = run.spec_.steps;
    std::string note;
    if (steps.empty()) {
        if (*p == Phase::running || *p == Phase::paused) {
            error = "rollout state: the rollout has no steps";
            return std::nullopt;
        }
        step = 0;
    } else {
        const bool in_range = static_cast<std::size_t>(step) < steps.size();
        const bool same_percent =
            !saved_percent || !(*p == Phase::running || *p == Phase::paused) ||
            (in_range && steps[static_cast<std::size_t>(step)] == *saved_percent);
        if (!in_range || !same_percent) {
            // The steps changed since the state was written: resume at the
            // highest step not above the share the canary had.
            std::int64_t best = 0;
            if (saved_percent) {
                for (std::size_t i = 0; i < steps.size(); ++i)
                    if (steps[i] <= *saved_percent) best = static_cast<std::int64_t>(i);
            } else {
                best = std::min<std::int64_t>(step, static_cast<std::int64_t>(steps.size()) - 1);
            }
            note = "; the steps changed, so it resumes at " + step_words(run.spec_, static_cast<int>(best)) +
                   " instead of step " + std::to_string(step);
            step = best;
            if ((*p == Phase::running || *p == Phase::paused) && steps[static_cast<std::size_t>(step)] >= 100) {
                run.phase_ = Phase::promoted;
                note += ", which is 100%: promoted";
            }
        }
    }
    // A run that resumes at another step than it was saved at starts that
    // step's time afresh.
    if (note.empty()) run.elapsed_before_ms_ = elapsed;
    run.step_ = static_cast<int>(step);
    run.step_started_ms_ = started;
    run.evidence_since_ms_ = now_ms;
    run.last_now_ms_ = now_ms;
    run.paused_at_ms_ = now_ms;
    run.last_hold_log_ms_ = now_ms;
    if (run.phase_ == Phase::running || run.phase_ == Phase::paused || !note.empty()) {
        json::object ev;
        ev["trigger"] = "restart";
        ev["phase"] = phase_name(run.phase_);
        ev["step"] = run.step_;
        ev["canary_percent"] = run.canary_percent();
        ev["step_started_ms"] = started;
        ev["step_elapsed_ms"] = run.elapsed_before_ms_;
        ev["evidence_window"] = "empty";
        run.record(now_ms, "hold",
                   "restarted: evidence window lost, holding until new data at " + step_words(run.spec_, run.step_) +
                       " (" + seconds_words(run.elapsed_before_ms_) + " already spent at it)" + note,
                   std::move(ev));
    }
    return run;
}

}  // namespace weir::rollout
