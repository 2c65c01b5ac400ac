// One progressive rollout of one route: the walk through `steps`, driven by
// the judge's decision at every look, plus operator commands. Pure: time
// and traffic come in as arguments, so it runs under simulated time.
#pragma once

#include "rollout/slice.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace weir::rollout {

enum class OnInconclusive { hold, rollback };

struct RolloutSpec {
    std::string canary;    // pool names
    std::string baseline;
    std::vector<double> steps{1, 5, 10, 25, 50, 100};  // percent of traffic to the canary, increasing
    std::chrono::milliseconds step_min_duration{30000};
    std::chrono::milliseconds step_max_duration{600000};
    std::uint64_t min_samples = 500;   // canary successes at a step before it may advance
    double max_latency_ratio = 1.10;   // canary/baseline at p50, p90 (p99 when samples allow)
    double max_error_rate_increase = 0.001;  // canary error rate minus baseline's
    OnInconclusive on_inconclusive = OnInconclusive::hold;
};

enum class Phase { idle, running, paused, promoted, rolled_back };
const char* phase_name(Phase p);

struct DecisionRecord {
    std::int64_t at_ms = 0;
    int step = 0;               // index into steps at the time of the decision
    std::string decision;       // "start", "advance", "hold", "inconclusive", "rollback", "promote", "pause", "resume"
    std::string reason;         // one sentence a human can act on
    boost::json::object evidence;  // counts, quantiles with bounds, test statistics
};

class RolloutRun {
public:
    explicit RolloutRun(RolloutSpec spec);

    const RolloutSpec& spec() const { return spec_; }
    Phase phase() const { return phase_; }
    int step_index() const { return step_; }
    // The canary's share (percent) the route should have now: steps[step]
    // while running or paused, 100 once promoted, 0 when idle or rolled back.
    double canary_percent() const;

    // Operator commands. Each records a decision; invalid ones (e.g. resume
    // when not paused) return false and change nothing.
    bool start(std::int64_t now_ms);
    bool pause(std::int64_t now_ms);
    bool resume(std::int64_t now_ms);
    bool promote(std::int64_t now_ms);
    bool rollback(std::int64_t now_ms, const std::string& reason);

    // One look at the traffic of the slice that just ended (called once per
    // slice, in time order, also while paused so windows stay current).
    // Returns true when canary_percent() changed.
    bool look(std::int64_t now_ms, const Slice& latest);

    const std::deque<DecisionRecord>& decisions() const { return decisions_; }

    // State for the state file; a run restored from it resumes at its step
    // with empty traffic windows (and says so in a decision).
    boost::json::object to_json() const;
    static std::optional<RolloutRun> from_json(RolloutSpec spec, const boost::json::object& o, std::int64_t now_ms,
                                               std::string& error);

private:
    RolloutSpec spec_;
    Phase phase_ = Phase::idle;
    int step_ = 0;
    std::int64_t step_started_ms_ = 0;
    std::deque<DecisionRecord> decisions_;  // newest last; bounded
    // Traffic since the current step began, and the recent window the
    // rollback tests use (implementation details for the judge).
    PoolSlice step_baseline_;
    PoolSlice step_canary_;
    std::deque<Slice> recent_;
    int latency_strikes_ = 0;
    std::int64_t last_hold_log_ms_ = 0;
};

}  // namespace weir::rollout
