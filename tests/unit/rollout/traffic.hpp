// Synthetic traffic for the rollout tests, deterministic on every platform:
// splitmix64, Marsaglia's polar method for normals, Poisson by inversion —
// no std::*_distribution (their output differs between standard libraries).
#pragma once

#include "rollout/run.hpp"
#include "rollout/slice.hpp"

#include <cmath>
#include <cstdint>

namespace weir::rollout::testing {

class Rng {
public:
    explicit Rng(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    // [0, 1)
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u, v, s;
        do {
            u = 2 * uniform() - 1;
            v = 2 * uniform() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        const double m = std::sqrt(-2 * std::log(s) / s);
        spare_ = v * m;
        has_spare_ = true;
        return u * m;
    }

    // Poisson by inversion (sequential search); fine for means up to ~700.
    std::uint64_t poisson(double mean) {
        if (mean <= 0) return 0;
        const double u = uniform();
        double p = std::exp(-mean);
        double f = p;
        std::uint64_t k = 0;
        while (u > f && k < 100000) {
            ++k;
            p *= mean / static_cast<double>(k);
            f += p;
            if (p == 0 && static_cast<double>(k) > mean) break;
        }
        return k;
    }

private:
    std::uint64_t state_;
    double spare_ = 0;
    bool has_spare_ = false;
};

// How one pool answers.
struct PoolModel {
    double median_ms = 50;      // lognormal latency of successes
    double sigma = 0.5;         // log-space spread: p90 ~ 1.9x, p99 ~ 3.2x the median
    double error_rate = 0.001;  // 5xx etc.
    double tail_fraction = 0;   // this share of successes is slower by tail_add_ms
    double tail_add_ms = 0;
};

struct Traffic {
    double rps = 200;  // both pools together
    PoolModel baseline;
    PoolModel canary;
    // A slowdown shared by both pools: +spike_ms during [spike_from_s, spike_to_s).
    double spike_ms = 0;
    std::int64_t spike_from_s = -1, spike_to_s = -1;
    // An error burst shared by both pools: this error rate during
    // [burst_from_s, burst_to_s) instead of each pool's own.
    double burst_error_rate = 0;
    std::int64_t burst_from_s = -1, burst_to_s = -1;
};

// Fills `slice` with second `t` (0-based) of traffic split at `canary_share`
// (0..1). Returns the canary's errors in it.
inline std::uint64_t fill_slice(Rng& rng, const Traffic& tr, std::int64_t t, double canary_share, Slice& slice) {
    slice.start_ms = t * 1000;
    slice.baseline.clear();
    slice.canary.clear();
    const std::uint64_t n = rng.poisson(tr.rps);
    const bool spiking = t >= tr.spike_from_s && t < tr.spike_to_s;
    const bool bursting = t >= tr.burst_from_s && t < tr.burst_to_s;
    for (std::uint64_t i = 0; i < n; ++i) {
        const bool to_canary = rng.uniform() < canary_share;
        const PoolModel& m = to_canary ? tr.canary : tr.baseline;
        PoolSlice& ps = to_canary ? slice.canary : slice.baseline;
        const double error_rate = bursting ? tr.burst_error_rate : m.error_rate;
        if (error_rate > 0 && rng.uniform() < error_rate) {
            ++ps.errors;
            continue;
        }
        double ms = m.median_ms * std::exp(m.sigma * rng.normal());
        if (m.tail_fraction > 0 && rng.uniform() < m.tail_fraction) ms += m.tail_add_ms;
        if (spiking) ms += tr.spike_ms;
        ps.latency.add(static_cast<std::uint64_t>(ms * 1000));
    }
    return slice.canary.errors;
}

// The configuration every scenario uses (see simulation_test.cpp).
inline RolloutSpec scenario_spec() {
    RolloutSpec s;
    s.canary = "canary";
    s.baseline = "stable";
    s.steps = {1, 5, 10, 25, 50, 100};
    s.step_min_duration = std::chrono::seconds(30);
    s.step_max_duration = std::chrono::minutes(10);
    s.min_samples = 500;
    s.max_latency_ratio = 1.10;
    s.max_error_rate_increase = 0.01;
    s.on_inconclusive = OnInconclusive::hold;
    return s;
}

struct Outcome {
    Phase phase = Phase::idle;
    int step = 0;                    // at the end
    double max_percent = 0;          // the most the canary ever had
    std::int64_t seconds = 0;        // simulated seconds until promoted / rolled back / the end
    std::uint64_t canary_errors = 0;    // canary errors the judge saw until the end
    std::uint64_t canary_requests = 0;
    std::string last_reason;
    std::string last_trigger;
};

// Runs one rollout from start to promotion, rollback or max_seconds.
// One slice by hand: `n` successes of `micros` each and some errors.
inline void add_successes(PoolSlice& p, std::uint64_t micros, std::uint32_t n) { p.latency.add(micros, n); }

inline Outcome simulate(RolloutRun& run, const Traffic& tr, std::uint64_t seed, std::int64_t max_seconds) {
    Rng rng(seed);
    Slice slice;
    Outcome o;
    run.start(0);
    o.max_percent = run.canary_percent();
    for (std::int64_t t = 0; t < max_seconds; ++t) {
        const double share = run.canary_percent() / 100;
        o.canary_errors += fill_slice(rng, tr, t, share, slice);
        o.canary_requests += slice.canary.requests();
        run.look((t + 1) * 1000, slice);
        o.max_percent = std::max(o.max_percent, run.canary_percent());
        o.seconds = t + 1;
        if (run.phase() == Phase::promoted || run.phase() == Phase::rolled_back) break;
    }
    o.phase = run.phase();
    o.step = run.step_index();
    if (!run.decisions().empty()) {
        const DecisionRecord& d = run.decisions().back();
        o.last_reason = d.reason;
        if (const auto* tv = d.evidence.if_contains("trigger"); tv && tv->is_string())
            o.last_trigger = std::string(tv->get_string());
    }
    return o;
}

}  // namespace weir::rollout::testing
