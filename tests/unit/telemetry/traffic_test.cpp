// telemetry/traffic: the bounds of weir_request_duration_seconds (the same
// for every pool, fine enough to read a p99 within ~10%) and the per-worker
// TrafficCounters (`le` inclusive, +Inf overflow, merge adds everything).
#include "telemetry/traffic.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

namespace weir::telemetry {
namespace {

// Deterministic generator written here (std distributions differ between libraries).
class SplitMix {
public:
    explicit SplitMix(std::uint64_t seed) : s_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // (0, 1)
    double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
    // Standard normal (Box-Muller).
    double normal() {
        double u = uniform(), v = uniform();
        return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
    }

private:
    std::uint64_t s_;
};

std::map<int, std::uint64_t> codes_of(const TrafficCounters& c) {
    std::map<int, std::uint64_t> m;
    for (const auto& [code, n] : c.codes) m[code] += n;
    return m;
}

// histogram_quantile() as Prometheus computes it: linear interpolation in
// the bucket holding the rank; the first bucket starts at 0; a rank in +Inf
// answers the highest finite bound.
double histogram_quantile(double q, const std::vector<double>& bounds, const std::vector<std::uint64_t>& buckets) {
    std::uint64_t total = 0;
    for (auto n : buckets) total += n;
    double rank = q * static_cast<double>(total);
    std::uint64_t cum = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        std::uint64_t prev = cum;
        cum += buckets[i];
        if (static_cast<double>(cum) >= rank) {
            if (i == bounds.size()) return bounds.back();
            double lo = i == 0 ? 0 : bounds[i - 1];
            double hi = bounds[i];
            return lo + (hi - lo) * (rank - static_cast<double>(prev)) / static_cast<double>(buckets[i]);
        }
    }
    return bounds.back();
}

double exact_quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::max<std::size_t>(rank, 1) - 1];
}

// ---------------------------------------------------------------- duration_bounds()

TEST(MetricsDurationBounds, StrictlyIncreasingAndFinite) {
    const auto& b = duration_bounds();
    ASSERT_GE(b.size(), 2u);
    EXPECT_GT(b.front(), 0);
    for (std::size_t i = 0; i < b.size(); ++i) {
        EXPECT_TRUE(std::isfinite(b[i])) << i;  // +Inf is implicit, not a bound
        if (i > 0) EXPECT_GT(b[i], b[i - 1]) << "bound " << i;
    }
}

TEST(MetricsDurationBounds, CoverFiftyMicrosecondsToSixtySeconds) {
    const auto& b = duration_bounds();
    EXPECT_LE(b.front(), 50e-6);
    EXPECT_GE(b.front(), 10e-6) << "wasting buckets far below 50 us";
    EXPECT_GE(b.back(), 60.0);
    EXPECT_LE(b.back(), 120.0);
    EXPECT_LE(b.size(), 120u) << "too many series per pool";
}

TEST(MetricsDurationBounds, AdjacentRatioAtMostOnePointTwo) {
    const auto& b = duration_bounds();
    double worst = 0;
    for (std::size_t i = 1; i < b.size(); ++i) {
        double r = b[i] / b[i - 1];
        worst = std::max(worst, r);
        EXPECT_LE(r, 1.2) << "bounds " << b[i - 1] << " .. " << b[i];
    }
    RecordProperty("worst_ratio", std::to_string(worst));
}

// Any duration in 50 us .. 60 s lies in a bucket whose geometric middle is
// within 10% of it: a quantile read from the buckets is that close.
TEST(MetricsDurationBounds, EveryDurationWithinTenPercentOfItsBucket) {
    const auto& b = duration_bounds();
    for (double v = 50e-6 * 1.001; v <= 60.0; v *= 1.013) {
        auto it = std::lower_bound(b.begin(), b.end(), v);
        ASSERT_NE(it, b.end()) << v;
        ASSERT_NE(it, b.begin()) << v << " falls in the first bucket, which starts at 0";
        double lo = *(it - 1), hi = *it;
        double mid = std::sqrt(lo * hi);
        EXPECT_LE(std::abs(mid - v) / v, 0.10) << v << " in (" << lo << ", " << hi << "]";
    }
}

// p99 of smooth latency distributions at many scales, read from the buckets
// the way Prometheus does, is within 10% of the exact p99. (A density with a
// hard edge just below the p99 can be off by up to one bucket's width, ~19%:
// interpolation assumes the bucket is filled evenly.)
TEST(MetricsDurationBounds, P99FromBucketsWithinTenPercent) {
    const auto& b = duration_bounds();
    SplitMix rng(42);
    for (double median : {80e-6, 300e-6, 1e-3, 4.7e-3, 22e-3, 40e-3, 130e-3, 0.9, 3.3, 11.0}) {
        for (int shape = 0; shape < 3; ++shape) {
            TrafficCounters c;
            std::vector<double> values;
            for (int i = 0; i < 20000; ++i) {
                double v;
                if (shape == 0) v = median * std::exp(0.4 * rng.normal());        // log-normal
                else if (shape == 1)  // Erlang-4 (a gamma): a skewed, smooth tail
                    v = median / 3.67 * -std::log(rng.uniform() * rng.uniform() * rng.uniform() * rng.uniform());
                else v = median * (0.5 - 0.5 * std::log(rng.uniform()));          // shifted exponential
                values.push_back(v);
                c.record(200, v);
            }
            double exact = exact_quantile(values, 0.99);
            double read = histogram_quantile(0.99, b, c.buckets);
            EXPECT_LE(std::abs(read - exact) / exact, 0.10)
                << "median " << median << " shape " << shape << ": exact p99 " << exact << ", from buckets " << read;
        }
    }
}

// ---------------------------------------------------------------- TrafficCounters::record

TEST(MetricsTrafficCounters, ValueEqualToABoundCountsInThatBucket) {
    const auto& b = duration_bounds();
    for (std::size_t i = 0; i < b.size(); ++i) {
        TrafficCounters c;
        c.record(200, b[i]);
        ASSERT_EQ(c.buckets.size(), b.size() + 1) << "one bucket per bound plus +Inf";
        for (std::size_t j = 0; j < c.buckets.size(); ++j)
            EXPECT_EQ(c.buckets[j], j == i ? 1u : 0u) << "value " << b[i] << " (bound " << i << "), bucket " << j;
    }
}

TEST(MetricsTrafficCounters, ValueJustAboveABoundCountsInTheNext) {
    const auto& b = duration_bounds();
    for (std::size_t i = 0; i < b.size(); ++i) {
        TrafficCounters c;
        c.record(200, std::nextafter(b[i], std::numeric_limits<double>::infinity()));
        ASSERT_EQ(c.buckets.size(), b.size() + 1);
        EXPECT_EQ(c.buckets[i], 0u) << "bound " << i;
        EXPECT_EQ(c.buckets[i + 1], 1u) << "bound " << i;
    }
}

TEST(MetricsTrafficCounters, AboveTheLastBoundGoesToInf) {
    const auto& b = duration_bounds();
    TrafficCounters c;
    c.record(200, b.back() * 1.5);
    c.record(200, 3600);
    c.record(504, std::numeric_limits<double>::max());
    ASSERT_EQ(c.buckets.size(), b.size() + 1);
    EXPECT_EQ(c.buckets.back(), 3u);
    for (std::size_t j = 0; j + 1 < c.buckets.size(); ++j) EXPECT_EQ(c.buckets[j], 0u) << j;
    EXPECT_EQ(c.count, 3u);
}

TEST(MetricsTrafficCounters, ZeroAndTinyDurationsGoToTheFirstBucket) {
    TrafficCounters c;
    c.record(200, 0);
    c.record(200, 1e-9);
    ASSERT_FALSE(c.buckets.empty());
    EXPECT_EQ(c.buckets[0], 2u);
}

TEST(MetricsTrafficCounters, CountsCodesSumAndCount) {
    TrafficCounters c;
    c.record(200, 0.001);
    c.record(200, 0.002);
    c.record(503, 0.004);
    c.record(404, 0.0005);
    EXPECT_EQ(codes_of(c), (std::map<int, std::uint64_t>{{200, 2}, {404, 1}, {503, 1}}));
    EXPECT_EQ(c.count, 4u);
    EXPECT_NEAR(c.sum_seconds, 0.0075, 1e-12);
    std::uint64_t in_buckets = 0;
    for (auto n : c.buckets) in_buckets += n;
    EXPECT_EQ(in_buckets, 4u);
    // Each code listed once.
    EXPECT_EQ(c.codes.size(), 3u);
}

// ---------------------------------------------------------------- TrafficCounters::merge

TEST(MetricsTrafficCounters, MergeAddsCodesBucketsSumAndCount) {
    const auto& b = duration_bounds();
    TrafficCounters a, c;
    a.record(200, 0.001);
    a.record(200, 0.010);
    a.record(503, 0.002);
    c.record(200, 0.010);
    c.record(404, 100.0);  // +Inf
    c.record(502, b[0]);

    TrafficCounters merged = a;
    merged.merge(c);
    EXPECT_EQ(codes_of(merged), (std::map<int, std::uint64_t>{{200, 3}, {404, 1}, {502, 1}, {503, 1}}));
    EXPECT_EQ(merged.codes.size(), 4u) << "a code listed twice";
    ASSERT_EQ(merged.buckets.size(), b.size() + 1);
    for (std::size_t j = 0; j < merged.buckets.size(); ++j)
        EXPECT_EQ(merged.buckets[j], a.buckets[j] + c.buckets[j]) << "bucket " << j;
    EXPECT_EQ(merged.buckets.back(), 1u);
    EXPECT_EQ(merged.count, 6u);
    EXPECT_NEAR(merged.sum_seconds, a.sum_seconds + c.sum_seconds, 1e-12);

    // Merging is order-independent.
    TrafficCounters other = c;
    other.merge(a);
    EXPECT_EQ(codes_of(other), codes_of(merged));
    EXPECT_EQ(other.buckets, merged.buckets);
    EXPECT_EQ(other.count, merged.count);
}

TEST(MetricsTrafficCounters, MergeWithEmptyCounters) {
    const auto& b = duration_bounds();
    TrafficCounters full;
    full.record(200, 0.003);
    full.record(500, 0.3);

    TrafficCounters into_empty;  // a worker that saw nothing yet
    into_empty.merge(full);
    EXPECT_EQ(codes_of(into_empty), codes_of(full));
    EXPECT_EQ(into_empty.buckets, full.buckets);
    EXPECT_EQ(into_empty.count, 2u);

    TrafficCounters unchanged = full;
    unchanged.merge(TrafficCounters{});
    EXPECT_EQ(codes_of(unchanged), codes_of(full));
    ASSERT_EQ(unchanged.buckets.size(), b.size() + 1);
    EXPECT_EQ(unchanged.buckets, full.buckets);
    EXPECT_EQ(unchanged.count, 2u);
    EXPECT_DOUBLE_EQ(unchanged.sum_seconds, full.sum_seconds);
}

// Many workers' shards merged equal one counter that saw everything.
TEST(MetricsTrafficCounters, MergedShardsEqualOneCounter) {
    SplitMix rng(7);
    TrafficCounters all;
    std::vector<TrafficCounters> shards(4);
    static const int statuses[] = {200, 200, 200, 201, 304, 404, 500, 503};
    for (int i = 0; i < 5000; ++i) {
        int status = statuses[rng.next() % 8];
        double v = 1e-5 * std::exp(16 * rng.uniform());  // 10 us .. ~90 s
        all.record(status, v);
        shards[rng.next() % shards.size()].record(status, v);
    }
    TrafficCounters merged;
    for (const auto& s : shards) merged.merge(s);
    EXPECT_EQ(codes_of(merged), codes_of(all));
    EXPECT_EQ(merged.buckets, all.buckets);
    EXPECT_EQ(merged.count, all.count);
    EXPECT_NEAR(merged.sum_seconds, all.sum_seconds, all.sum_seconds * 1e-12);
}

}  // namespace
}  // namespace weir::telemetry
