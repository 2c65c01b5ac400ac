// One progressive rollout of one route: the walk through `steps`, driven by
// the judge's decision at every look, plus operator commands. Pure: time
// and traffic come in as arguments, so it runs under simulated time.
#pragma once

#include "rollout/judge.hpp"
#include "rollout/slice.hpp"
#include "rollout/spec.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace weir::rollout {

// What a rollout's limits ask of traffic. A step advances on at least
// min_samples canary successes, and only once the error-rate increase is
// shown to be below max_error_rate_increase, which takes about 2.7 /
// max_error_rate_increase canary requests even when nothing fails (more
// when either pool has errors). The first step sees the least traffic.
struct TrafficNeeds {
    std::uint64_t error_proof_requests = 0;  // canary requests to show the error limit, at best
    std::uint64_t step_requests = 0;         // the larger of that and min_samples
    double first_step_share = 0;             // 0..1
    double route_rps_needed = 0;             // to finish the first step within step_max_duration
    std::optional<double> route_rps;         // measured, when known
    std::optional<double> first_step_seconds;  // at the measured rate
    std::vector<std::string> warnings;       // limits that cannot be shown in time

    boost::json::object to_json() const;
};
TrafficNeeds traffic_needs(const struct RolloutSpec& spec, std::optional<double> route_rps);

enum class Phase { idle, running, paused, promoted, rolled_back };
const char* phase_name(Phase p);

struct DecisionRecord {
    std::int64_t at_ms = 0;
    int step = 0;               // index into steps at the time of the decision
    std::string decision;       // "start", "advance", "hold", "inconclusive", "rollback", "promote", "pause", "resume"
    std::string reason;         // one sentence a human can act on
    boost::json::object evidence;  // counts, quantiles with bounds, test statistics
};

// Time: every `now_ms` a run is given is a monotonic clock's reading (step
// durations must not jump with the wall clock); decisions are stamped with
// wall time by adding the offset the driver keeps current.
class RolloutRun {
public:
    explicit RolloutRun(RolloutSpec spec);

    // wall-clock ms minus monotonic ms, for the time stamps of decisions.
    void set_wall_offset_ms(std::int64_t offset) { wall_offset_ms_ = offset; }

    const RolloutSpec& spec() const { return spec_; }
    Phase phase() const { return phase_; }
    int step_index() const { return step_; }
    // The canary's share (percent) the route should have now: steps[step]
    // while running or paused, 100 once promoted, 0 when idle or rolled back.
    double canary_percent() const;

    // Operator commands. Each records a decision; invalid ones (e.g. resume
    // when not paused) return false and change nothing.
    // `route_rps`, when known, is the route's recent request rate: the start
    // decision says whether the limits can be shown at it (TrafficNeeds).
    bool start(std::int64_t now_ms, std::optional<double> route_rps = std::nullopt);
    bool pause(std::int64_t now_ms);
    bool resume(std::int64_t now_ms);
    bool promote(std::int64_t now_ms);
    bool rollback(std::int64_t now_ms, const std::string& reason);

    // One look at the traffic of the slice that just ended (called once per
    // slice, in time order, also while paused so windows stay current, and
    // while idle or finished, when only the baseline's error history is
    // kept). Returns true when canary_percent() changed.
    bool look(std::int64_t now_ms, const Slice& latest);

    const std::deque<DecisionRecord>& decisions() const { return decisions_; }
    // Time spent at the current step (monotonic, paused time excluded),
    // including what a restored run had spent before its restart.
    std::int64_t step_elapsed_ms(std::int64_t now_ms) const;
    // Since when (monotonic ms) the evidence counts: the step's start, or a
    // resume, or a restore. Traffic from before it is not evidence.
    std::int64_t evidence_since_ms() const { return evidence_since_ms_; }

    // State for the state file: phase, step, elapsed time at the step and
    // the newest state changes (periodic hold notes are left to the log and
    // to memory, so a long hold writes nothing). A run restored from it
    // resumes at its step and its elapsed time, with empty traffic windows
    // (and says so in a decision). `all_decisions` includes every decision
    // kept in memory, periodic notes too, with their evidence.
    boost::json::object to_json(bool all_decisions = false) const;
    // Whether a decision is a periodic note rather than a change of state.
    static bool periodic(const DecisionRecord& d);
    static std::optional<RolloutRun> from_json(RolloutSpec spec, const boost::json::object& o, std::int64_t now_ms,
                                               std::string& error, std::int64_t wall_offset_ms = 0);

private:
    JudgeLimits limits() const;
    // Appends a decision (bounded: the oldest periodic holds go first).
    void record(std::int64_t now_ms, const char* decision, std::string reason, boost::json::object evidence);
    // Everything the judge sees now: error test, latency of both scopes,
    // the advance gates.
    boost::json::object snapshot(std::int64_t now_ms, const char* trigger) const;
    void enter_step(int step, std::int64_t now_ms);
    void roll_back(std::int64_t now_ms, std::string reason, const char* trigger);

    RolloutSpec spec_;
    Phase phase_ = Phase::idle;
    int step_ = 0;
    std::int64_t step_started_ms_ = 0;
    // When the evidence of this step began: the step's start, or a restore
    // that lost the window, moved later by time spent paused. Step
    // durations count from here.
    std::int64_t evidence_since_ms_ = 0;
    std::int64_t paused_at_ms_ = 0;  // paused time does not count toward the step's durations
    // Time at the step before the evidence began (a restored run's elapsed
    // time at its step when it was saved).
    std::int64_t elapsed_before_ms_ = 0;
    std::int64_t last_now_ms_ = 0;  // the latest time the run was given
    std::int64_t wall_offset_ms_ = 0;
    std::deque<DecisionRecord> decisions_;  // newest last; bounded
    // Traffic since the current step began, and the recent window the
    // rollback tests use (see judge.hpp).
    Evidence evidence_;
    int latency_strikes_ = 0;
    std::int64_t last_hold_log_ms_ = 0;
    bool inconclusive_logged_ = false;  // the step_max_duration note, once per step
};

}  // namespace weir::rollout
