// The canary judge: traffic kept slice by slice, and the three questions
// asked at every look —
//   errors:  does the canary's error rate exceed the baseline's by more than
//            max_error_rate_increase (likelihood-ratio test over the recent
//            minute and over the whole step, where the canary's share is
//            constant), or did it fail a run of requests while the baseline
//            was fine?                                  -> roll back now
//   latency: is a quantile's canary/baseline ratio above max_latency_ratio
//            with confidence (with a stratified rank test that says the
//            canary is slower, or a tail quantile alone at higher
//            confidence)?                     -> strike; 3 in a row: roll back
//   advance: is there positive evidence that it is good enough (time,
//            samples, upper bounds of the error-rate increase and of the
//            latency ratios below the limits)?         -> next step
// The ratio is the rule at every latency scale; an absolute tolerance
// applies only where min_latency_difference is set. Everything here is pure
// and deterministic; RolloutRun drives it.
#pragma once

#include "rollout/histogram.hpp"
#include "rollout/slice.hpp"
#include "rollout/spec.hpp"
#include "rollout/stats.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace weir::rollout {

// The tuning of the judge. Every threshold is one-sided.
namespace judge {
// The recent window the rollback tests look at: this many 1-second slices
// (only those of the current step: the canary's share is constant there).
inline constexpr std::size_t window_slices = 60;
// Error test: the signed-root likelihood ratio for "the canary's error rate
// exceeds the baseline's by at most max_error_rate_increase" reaches this,
// on at least min_canary_errors canary errors. It is looked at every
// second: over the sliding recent window that is ~60 fresh chances an hour
// (one-sided p ~ 3e-7 each), over the growing step far fewer (p ~ 3e-6).
inline constexpr double error_z_recent = 5.0;
inline constexpr double error_z_step = 4.5;
inline constexpr std::uint64_t min_canary_errors = 3;
// The baseline's error rate is also taken over its longer history (this
// many slices, across steps and from before the start), which at a few
// requests a second is what makes a failing canary's excess visible —
// unless the baseline is failing more now than before (a shared outage):
// then only the scope's own baseline counts. "More now" is this z of the
// scope's baseline rate against the rest of its history.
inline constexpr std::size_t baseline_history_slices = 600;
inline constexpr double baseline_shift_z = 2.0;
// Hard limit: this many canary failures with no canary success in between,
// while the baseline's error rate over those slices stayed below the cap.
inline constexpr std::uint64_t failure_streak = 5;
inline constexpr double streak_baseline_max_error_rate = 0.2;
// Latency "shift" rule: the stratified Mann-Whitney z says the canary is
// slower (one-sided p ~ 3e-7) and a quantile's ratio is above
// max_latency_ratio at this confidence (each pool's bound).
inline constexpr double rank_z = 5.0;
inline constexpr double shift_confidence = 0.99;
// Latency "tail" rule: at this confidence (each pool) the canary's quantile
// is above max_latency_ratio times the baseline's — no rank test needed,
// which is what catches a slow 2% tail.
inline constexpr double tail_confidence = 0.999;
// Neither rule looks at a scope with fewer successes than this in either
// pool: a bound from a handful of samples, re-tested as each one arrives,
// would fire by chance (seen at 0.5 requests/s) ...
inline constexpr std::uint64_t min_latency_samples = 50;
// ... and the sliding recent window, which offers a fresh sample every
// minute (sixty chances an hour for a chance fluke), needs this many: below
// it the step, whose evidence only grows, judges alone.
inline constexpr std::uint64_t min_recent_latency_samples = 200;
// ... and be seen on this many consecutive looks.
inline constexpr int latency_strikes = 3;
// Advancing: one-sided confidence of each pool's quantile bound (the ratio
// bound then holds at about 95%), and the normal quantile for the
// error-rate increase bound (95% one-sided).
inline constexpr double advance_confidence = 0.975;
inline constexpr double error_bound_z = 1.6448536269514722;
inline constexpr std::array<double, 3> quantiles{0.5, 0.9, 0.99};
// A quantile is used once n (1 - q) reaches this in both pools (rollback
// tests; advancing checks p99's point estimate from here, which may veto) ...
inline constexpr double min_tail_count = 5;
// ... and advancing needs p99's upper confidence bound from here on ("when
// samples allow": with fewer, the bound of an equal canary is mostly above
// a 1.10 limit, so it could only hold the step forever). p50 and p90 always
// need their bounds.
inline constexpr double min_tail_count_bound = 50;
}  // namespace judge

struct JudgeLimits {
    double max_latency_ratio = defaults::max_latency_ratio;
    double max_error_rate_increase = defaults::max_error_rate_increase;
    std::uint64_t min_samples = defaults::min_samples;
    // An absolute tolerance (microseconds): a quantile whose canary/baseline
    // difference is below it passes whatever its ratio. 0 = the ratio alone.
    double min_latency_difference_us = static_cast<double>(defaults::min_latency_difference.count());
};

// How many canary requests a step needs, at best (no errors in either pool,
// a baseline far larger than the canary), before the upper bound of the
// error-rate increase can fall below `max_error_rate_increase`.
std::uint64_t requests_to_prove_error_limit(double max_error_rate_increase);

// A histogram's non-empty buckets, ascending.
stats::Counts sparse_counts(const Histogram& h);

// Dense bucket counts that can also be subtracted from, with per-octave
// totals so finding a rank takes ~90 steps instead of ~1500.
class BucketCounts {
public:
    BucketCounts();
    void add(const stats::Counts& c);
    void remove(const stats::Counts& c);
    void clear();
    std::uint64_t total() const { return total_; }
    int bucket_at_rank(std::uint64_t rank) const;  // 0-based; total() must be > 0
    // The value (us) of the sample of that rank, placed within its bucket
    // by its rank among the bucket's samples (as if they were spread
    // evenly): closer than the midpoint when a bucket holds many samples,
    // so bucket width does not eat into a 10% limit. In the overflow
    // bucket: its lower edge, or infinity when `upper`.
    double value_at_rank(std::uint64_t rank, bool upper = false) const;

private:
    // The bucket holding the sample of that rank, and how many samples lie
    // in the buckets below it.
    std::pair<int, std::uint64_t> locate(std::uint64_t rank) const;

    std::vector<std::uint64_t> counts_;
    std::vector<std::uint64_t> octaves_;
    std::uint64_t total_ = 0;
};

// What the judge keeps of one slice.
struct SliceRecord {
    std::int64_t start_ms = 0;
    std::uint64_t canary_ok = 0, canary_errors = 0;
    std::uint64_t baseline_ok = 0, baseline_errors = 0;
    stats::Counts canary, baseline;  // latency buckets of successes
    stats::MannWhitney mw;           // canary vs baseline within this slice
    bool in_step = false;            // part of the recent scope of the current step

    std::uint64_t canary_requests() const { return canary_ok + canary_errors; }
    std::uint64_t baseline_requests() const { return baseline_ok + baseline_errors; }
};

// Traffic of both pools over a set of slices within the current step (the
// canary's share is constant there, so pooled quantiles compare like with
// like), with the slice-stratified rank statistic.
struct Scope {
    BucketCounts canary, baseline;
    stats::MannWhitney mw;
    std::uint64_t canary_errors = 0, baseline_errors = 0;
    std::uint64_t slices = 0;

    std::uint64_t canary_ok() const { return canary.total(); }
    std::uint64_t baseline_ok() const { return baseline.total(); }
    std::uint64_t canary_requests() const { return canary.total() + canary_errors; }
    std::uint64_t baseline_requests() const { return baseline.total() + baseline_errors; }
    void clear();
};

class Evidence {
public:
    // The baseline's traffic of a slice before the rollout started (or
    // while it is not running): its error history only.
    void observe_baseline(const Slice& s);
    // Appends a slice: to the recent window (dropping the oldest beyond
    // judge::window_slices), to the step scope, and to the failure streak.
    void add(const Slice& s);
    // A new step began: the step scope restarts and the slices already in
    // the window stop counting for latency (the canary's share changed).
    void begin_step();
    // Forget the canary's evidence (start, restore); the baseline's error
    // history stays.
    void clear();
    // The baseline's requests and errors in the history older than the
    // newest `newest_slices` slices.
    std::pair<std::uint64_t, std::uint64_t> baseline_history_before(std::uint64_t newest_slices) const;

    const std::deque<SliceRecord>& window() const { return window_; }
    const Scope& recent() const { return recent_; }  // window slices since the step began
    const Scope& step() const { return step_; }      // all slices since the step began
    std::uint64_t failure_streak() const { return streak_; }
    std::uint64_t streak_baseline_requests() const { return streak_baseline_requests_; }
    std::uint64_t streak_baseline_errors() const { return streak_baseline_errors_; }

private:
    std::deque<SliceRecord> window_;
    std::deque<std::pair<std::uint64_t, std::uint64_t>> baseline_history_;  // (requests, errors) a slice
    Scope recent_;
    Scope step_;
    std::uint64_t streak_ = 0;
    std::uint64_t streak_baseline_requests_ = 0;
    std::uint64_t streak_baseline_errors_ = 0;
};

// One quantile of both pools: point estimates (bucket midpoints) and, when
// asked for, confidence bounds (bucket edges, so they are conservative).
struct QuantileView {
    double q = 0;
    bool usable = false;  // n (1 - q) >= judge::min_tail_count in both pools
    double canary_us = 0, baseline_us = 0;
    double confidence = 0;  // 0 when no bounds were computed
    std::optional<double> canary_lo, canary_hi, baseline_lo, baseline_hi;

    double ratio() const { return baseline_us > 0 ? canary_us / baseline_us : 0; }
    std::optional<double> ratio_upper() const;  // canary_hi / baseline_lo
    std::optional<double> ratio_lower() const;  // canary_lo / baseline_hi
};
QuantileView view_quantile(const Scope& s, double q, double confidence);  // confidence 0: no bounds

// The two scopes the rollback tests look at: the recent window (a sliding
// minute of the step) and the whole step. They differ in how many fresh
// chances for a fluke they offer, so in their thresholds.
enum class ScopeKind { recent, step };
const char* scope_name(ScopeKind k);

// The error test over one scope (see Scope).
struct ErrorTest {
    std::string scope;  // "recent" or "step"
    std::uint64_t slices = 0;
    std::uint64_t canary_requests = 0, canary_errors = 0;
    std::uint64_t baseline_requests = 0, baseline_errors = 0;
    double rate_increase = 0;  // canary error rate - baseline's
    double z = 0;              // stats::rate_increase_lr_z against max_error_rate_increase
    double threshold_z = 0;    // judge::error_z_recent or error_z_step
    // The same against the baseline over its history as well (when that
    // history is consistent with the scope's baseline).
    std::uint64_t history_requests = 0, history_errors = 0;  // before the scope
    double baseline_shift_z = 0;  // the scope's baseline rate against its history
    bool history_used = false;
    double history_rate_increase = 0;
    double history_z = 0;
    bool significant = false;

    double canary_rate() const;
    double baseline_rate() const;
    boost::json::object to_json() const;
};

struct ErrorFinding {
    ErrorTest recent, step;
    std::uint64_t streak = 0;
    double streak_baseline_error_rate = 0;
    bool significant = false;  // either scope's test fired
    bool hard_limit = false;   // the failure streak fired
    double max_error_rate_increase = 0;

    bool fire() const { return significant || hard_limit; }
    const ErrorTest& fired() const { return recent.significant ? recent : step; }
    std::string reason() const;
    boost::json::object to_json() const;
};
ErrorFinding judge_errors(const Evidence& e, const JudgeLimits& limits);

struct LatencyFinding {
    std::string scope;  // "recent" or "step"
    std::uint64_t slices = 0;
    std::uint64_t canary_samples = 0, baseline_samples = 0;
    double mw_z = 0;
    std::uint64_t strata = 0;
    double min_latency_difference_us = 0;
    bool shift = false;  // rank test + a quantile's ratio bound above the limit
    bool tail = false;   // a quantile alone, at tail confidence
    std::string why;     // the quantile that fired, in words

    bool slower() const { return shift || tail; }
};
LatencyFinding judge_latency(const Scope& s, const JudgeLimits& limits, ScopeKind kind);
// Evidence for a scope: counts, rank test, and p50/p90/p99 of both pools
// with bounds at the shift (99%) and tail (99.9%) confidence.
boost::json::object latency_evidence(const Scope& s, const LatencyFinding& f, const JudgeLimits& limits);

struct AdvanceFinding {
    bool enough_time = false;
    bool enough_samples = false;
    bool insufficient = false;  // some check lacks data (not negative evidence)
    bool ready = false;         // every gate passed
    std::uint64_t canary_ok = 0, baseline_ok = 0;
    double seconds_at_step = 0;
    double error_increase = 0, error_increase_upper = 0;
    bool error_ok = false;
    struct Check {
        QuantileView view;
        enum Mode { skipped, point, bound } mode = skipped;
        bool pass = false;
    };
    std::array<Check, 3> latency;
    std::string why;  // which gate holds it back, or what passed

    boost::json::object to_json(const JudgeLimits& limits) const;
};
AdvanceFinding judge_advance(const Evidence& e, const JudgeLimits& limits, double seconds_at_step,
                             double min_seconds);

// Helpers shared with the run for reasons and evidence.
std::string format_ms(double us);
double round_to(double x, double unit);

}  // namespace weir::rollout
