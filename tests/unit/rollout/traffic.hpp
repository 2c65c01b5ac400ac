// Synthetic traffic for the rollout tests, deterministic on every platform:
// splitmix64, Marsaglia's polar method for normals, Poisson by inversion —
// no std::*_distribution (their output differs between standard libraries).
#pragma once

#include "rollout/run.hpp"
#include "rollout/slice.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

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

// ---- fast traffic for the scale grid ------------------------------------------
//
// The judge sees latencies only as histogram buckets, so a pool's latency
// can be drawn straight as a bucket: an alias table over the buckets of
// the lognormal (plus its slow tail) turns one uniform draw into one sample
// — thousands of requests a second for an hour of simulated time, per
// seed, in milliseconds.

inline double normal_cdf_for_tests(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

class BucketSampler {
public:
    explicit BucketSampler(const PoolModel& m) {
        const int n = Histogram::bucket_count;
        std::vector<double> p(static_cast<std::size_t>(n), 0.0);
        const auto cdf = [&](double us) {
            if (us <= 0) return 0.0;
            const double mu = std::log(m.median_ms * 1000);
            const double base = normal_cdf_for_tests((std::log(us) - mu) / m.sigma);
            if (m.tail_fraction <= 0) return base;
            const double shifted = us - m.tail_add_ms * 1000;
            const double tail = shifted <= 0 ? 0.0 : normal_cdf_for_tests((std::log(shifted) - mu) / m.sigma);
            return (1 - m.tail_fraction) * base + m.tail_fraction * tail;
        };
        double prev = 0;
        for (int b = 0; b < n; ++b) {
            const double hi = b == n - 1 ? std::numeric_limits<double>::infinity() : Histogram::upper_bound(b);
            const double c = std::isfinite(hi) ? cdf(hi) : 1.0;
            p[static_cast<std::size_t>(b)] = std::max(0.0, c - prev);
            prev = std::max(prev, c);
        }
        // Vose's alias method.
        prob_.assign(static_cast<std::size_t>(n), 0.0);
        alias_.assign(static_cast<std::size_t>(n), 0);
        std::vector<double> scaled(static_cast<std::size_t>(n));
        double total = 0;
        for (double x : p) total += x;
        std::vector<int> small, large;
        for (int b = 0; b < n; ++b) {
            scaled[static_cast<std::size_t>(b)] = p[static_cast<std::size_t>(b)] / total * n;
            (scaled[static_cast<std::size_t>(b)] < 1 ? small : large).push_back(b);
        }
        while (!small.empty() && !large.empty()) {
            const int s = small.back(), l = large.back();
            small.pop_back();
            prob_[static_cast<std::size_t>(s)] = scaled[static_cast<std::size_t>(s)];
            alias_[static_cast<std::size_t>(s)] = l;
            scaled[static_cast<std::size_t>(l)] -= 1 - scaled[static_cast<std::size_t>(s)];
            if (scaled[static_cast<std::size_t>(l)] < 1) {
                large.pop_back();
                small.push_back(l);
            }
        }
        for (int b : large) prob_[static_cast<std::size_t>(b)] = 1;
        for (int b : small) prob_[static_cast<std::size_t>(b)] = 1;
    }

    int draw(Rng& rng) const {
        const std::uint64_t r = rng.next();
        const auto b = static_cast<std::size_t>((r >> 32) * prob_.size() >> 32);
        const double u = static_cast<double>(r & 0xFFFFFFFFULL) * 0x1.0p-32;
        return u < prob_[b] ? static_cast<int>(b) : alias_[b];
    }

private:
    std::vector<double> prob_;
    std::vector<int> alias_;
};

// Poisson: inversion for small means, a rounded normal beyond (the count
// of a second's requests; its exact shape there does not matter).
inline std::uint64_t poisson_fast(Rng& rng, double mean) {
    if (mean < 200) return rng.poisson(mean);
    const double x = std::round(mean + std::sqrt(mean) * rng.normal());
    return x <= 0 ? 0 : static_cast<std::uint64_t>(x);
}

struct FastTraffic {
    double rps = 100;
    PoolModel baseline, canary;
    BucketSampler baseline_sampler, canary_sampler;
    FastTraffic(double rps_, const PoolModel& b, const PoolModel& c)
        : rps(rps_), baseline(b), canary(c), baseline_sampler(b), canary_sampler(c) {}
};

// Second `t` of traffic split at `canary_share`; returns the canary's errors.
inline std::uint64_t fill_slice_fast(Rng& rng, const FastTraffic& tr, std::int64_t t, double canary_share,
                                     Slice& slice) {
    slice.start_ms = t * 1000;
    slice.baseline.clear();
    slice.canary.clear();
    const std::uint64_t n = poisson_fast(rng, tr.rps);
    for (std::uint64_t i = 0; i < n; ++i) {
        const bool to_canary = rng.uniform() < canary_share;
        const PoolModel& m = to_canary ? tr.canary : tr.baseline;
        PoolSlice& ps = to_canary ? slice.canary : slice.baseline;
        if (m.error_rate > 0 && rng.uniform() < m.error_rate) {
            ++ps.errors;
            continue;
        }
        ps.latency.add_to_bucket((to_canary ? tr.canary_sampler : tr.baseline_sampler).draw(rng));
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
    double percent_at_decision = 0;  // its share when promoted or rolled back
    std::int64_t seconds = 0;        // simulated seconds until promoted / rolled back / the end
    std::uint64_t canary_errors = 0;    // canary errors the judge saw until the end
    std::uint64_t canary_requests = 0;
    std::string last_reason;
    std::string last_trigger;
};

// Many seeds' outcomes of one scenario.
#ifdef NDEBUG
inline constexpr int kSeeds = 1000;
#else
inline constexpr int kSeeds = 100;
#endif

struct Outcomes {
    std::vector<Outcome> runs;

    int count(Phase p) const {
        return static_cast<int>(std::count_if(runs.begin(), runs.end(), [p](const Outcome& o) { return o.phase == p; }));
    }
    double rate(Phase p) const { return static_cast<double>(count(p)) / static_cast<double>(runs.size()); }
};

// Runs one rollout from start to promotion, rollback or max_seconds.
// One slice by hand: `n` successes of `micros` each and some errors.
inline void add_successes(PoolSlice& p, std::uint64_t micros, std::uint32_t n) { p.latency.add(micros, n); }

// `fill(t, share, slice)` fills second t and returns the canary's errors in
// it. `warmup` seconds of traffic all to the baseline come before the start
// (the route in production before the rollout).
template <class Fill>
Outcome simulate_with(RolloutRun& run, Fill fill, std::int64_t max_seconds, std::int64_t warmup = 0) {
    Slice slice;
    Outcome o;
    for (std::int64_t t = -warmup; t < 0; ++t) {
        fill(t, 0.0, slice);
        run.look((t + 1) * 1000, slice);
    }
    run.start(0);
    o.max_percent = run.canary_percent();
    for (std::int64_t t = 0; t < max_seconds; ++t) {
        const double percent = run.canary_percent();
        o.canary_errors += fill(t, percent / 100, slice);
        o.canary_requests += slice.canary.requests();
        run.look((t + 1) * 1000, slice);
        o.max_percent = std::max(o.max_percent, run.canary_percent());
        o.seconds = t + 1;
        if (run.phase() == Phase::promoted || run.phase() == Phase::rolled_back) {
            o.percent_at_decision = percent;
            break;
        }
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

inline Outcome simulate(RolloutRun& run, const Traffic& tr, std::uint64_t seed, std::int64_t max_seconds,
                        std::int64_t warmup = 0) {
    Rng rng(seed);
    return simulate_with(
        run, [&](std::int64_t t, double share, Slice& s) { return fill_slice(rng, tr, t, share, s); }, max_seconds,
        warmup);
}

inline Outcome simulate_fast(RolloutRun& run, const FastTraffic& tr, std::uint64_t seed, std::int64_t max_seconds) {
    Rng rng(seed);
    return simulate_with(
        run, [&](std::int64_t t, double share, Slice& s) { return fill_slice_fast(rng, tr, t, share, s); },
        max_seconds);
}

}  // namespace weir::rollout::testing
