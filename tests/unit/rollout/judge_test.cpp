// The judge's building blocks on hand-made slices: bucket counts, the
// slice-stratified error test and failure streak, the stratified rank test,
// the absolute latency floor and the advance gates.
#include "rollout/judge.hpp"

#include "traffic.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace weir::rollout {
namespace {

Slice slice_of(std::int64_t t, std::uint64_t canary_us, std::uint32_t canary_ok, std::uint64_t canary_errors,
               std::uint64_t baseline_us, std::uint32_t baseline_ok, std::uint64_t baseline_errors) {
    Slice s;
    s.start_ms = t * 1000;
    if (canary_ok) s.canary.latency.add(canary_us, canary_ok);
    s.canary.errors = canary_errors;
    if (baseline_ok) s.baseline.latency.add(baseline_us, baseline_ok);
    s.baseline.errors = baseline_errors;
    return s;
}

TEST(RolloutJudge, BucketCountsRankLikeTheHistogram) {
    testing::Rng rng(3);
    Histogram h;
    for (int i = 0; i < 5000; ++i) h.add(static_cast<std::uint64_t>(50000 * std::exp(0.7 * rng.normal())));
    const stats::Counts c = sparse_counts(h);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < c.size(); ++i) {
        total += c[i].second;
        if (i > 0) {
            EXPECT_LT(c[i - 1].first, c[i].first);
        }
        EXPECT_EQ(h.at(static_cast<int>(c[i].first)), c[i].second);
    }
    EXPECT_EQ(total, h.count());
    BucketCounts b;
    b.add(c);
    b.add(c);
    b.remove(c);
    ASSERT_EQ(b.total(), h.count());
    for (std::uint64_t r : {0ul, 1ul, 2499ul, 4500ul, 4950ul, 4999ul})
        EXPECT_EQ(Histogram::midpoint(b.bucket_at_rank(r)), h.value_at_rank(r)) << r;
    b.clear();
    EXPECT_EQ(b.total(), 0u);
}

TEST(RolloutJudge, ErrorsLandingOnASmallCanaryAreSignificant) {
    JudgeLimits lim;
    Evidence e;
    // The canary has ~1% of requests; 5 of the 7 errors are its.
    for (int t = 0; t < 10; ++t) e.add(slice_of(t, 50000, 2, t < 5 ? 1 : 0, 50000, 198, t == 7 ? 2 : 0));
    const ErrorFinding f = judge_errors(e, lim);
    EXPECT_EQ(f.canary_errors, 5u);
    EXPECT_EQ(f.baseline_errors, 2u);
    EXPECT_LT(f.tail_p, judge::error_tail_p);
    EXPECT_TRUE(f.significant);
    EXPECT_NEAR(f.canary_share, 25.0 / 2007, 1e-12);
    EXPECT_NE(f.reason().find("landed on the canary"), std::string::npos) << f.reason();
    const auto j = f.to_json();
    EXPECT_TRUE(j.contains("binomial_tail_p"));
    EXPECT_TRUE(j.contains("canary_error_rate_95"));
}

TEST(RolloutJudge, ErrorTestIsStratifiedBySlice) {
    // 59 slices where the canary has 1% of requests and nothing fails, then
    // one slice where it has half and both pools fail alike: pooled over
    // the window the canary "has" ~1.8% of requests and half the errors,
    // slice by slice it has exactly its share.
    JudgeLimits lim;
    Evidence e;
    for (int t = 0; t < 59; ++t) e.add(slice_of(t, 50000, 1, 0, 50000, 99, 0));
    e.add(slice_of(59, 50000, 30, 20, 50000, 30, 20));
    const ErrorFinding f = judge_errors(e, lim);
    EXPECT_EQ(f.canary_errors, 20u);
    EXPECT_NEAR(f.expected_canary_errors, 20, 1e-9);
    EXPECT_GT(f.tail_p, 0.3);
    EXPECT_FALSE(f.significant);
    // An unstratified binomial with the pooled share would have screamed.
    EXPECT_LT(stats::binomial_sf(20, 40, f.canary_share), 1e-20);
}

TEST(RolloutJudge, SmallExcessOfErrorsBelowTheLimitIsNotARollback) {
    // Significant but within max_error_rate_increase: 2% vs 0.1% with a 5%
    // limit.
    JudgeLimits lim;
    lim.max_error_rate_increase = 0.05;
    Evidence e;
    for (int t = 0; t < 60; ++t) e.add(slice_of(t, 50000, 98, 2, 50000, 999, t % 2));
    const ErrorFinding f = judge_errors(e, lim);
    EXPECT_LT(f.tail_p, 1e-20);
    EXPECT_FALSE(f.significant);
    lim.max_error_rate_increase = 0.01;
    EXPECT_TRUE(judge_errors(e, lim).significant);
}

TEST(RolloutJudge, FailureStreakNeedsAHealthyBaseline) {
    JudgeLimits lim;
    {
        Evidence e;
        for (int t = 0; t < 5; ++t) e.add(slice_of(t, 0, 0, 1, 50000, 1000, 1));
        const ErrorFinding f = judge_errors(e, lim);
        EXPECT_EQ(f.streak, 5u);
        EXPECT_TRUE(f.hard_limit);
        EXPECT_TRUE(f.significant) << "here the tail test fires as well";
    }
    {
        // A baseline with 10% errors: where the errors land is not
        // conclusive yet, five canary failures in a row are.
        Evidence e;
        for (int t = 0; t < 5; ++t) e.add(slice_of(t, 0, 0, 1, 50000, 900, 100));
        const ErrorFinding f = judge_errors(e, lim);
        EXPECT_FALSE(f.significant) << f.tail_p;
        EXPECT_TRUE(f.hard_limit);
        EXPECT_NEAR(f.streak_baseline_error_rate, 0.1, 1e-12);
        EXPECT_NE(f.reason().find("in a row"), std::string::npos) << f.reason();
    }
    {
        // The baseline fails too (a shared outage): no hard limit.
        Evidence e;
        for (int t = 0; t < 5; ++t) e.add(slice_of(t, 0, 0, 1, 50000, 500, 500));
        EXPECT_FALSE(judge_errors(e, lim).hard_limit);
        EXPECT_FALSE(judge_errors(e, lim).significant);
    }
    {
        // A canary success ends the streak.
        Evidence e;
        for (int t = 0; t < 4; ++t) e.add(slice_of(t, 0, 0, 1, 50000, 1000, 0));
        e.add(slice_of(4, 50000, 1, 1, 50000, 1000, 0));
        EXPECT_EQ(judge_errors(e, lim).streak, 0u);
        e.add(slice_of(5, 0, 0, 2, 50000, 1000, 0));
        EXPECT_EQ(judge_errors(e, lim).streak, 2u);
    }
}

TEST(RolloutJudge, WindowKeepsTheLastSixtySlices) {
    JudgeLimits lim;
    Evidence e;
    for (int t = 0; t < 100; ++t) e.add(slice_of(t, 50000, 10, t < 40 ? 1 : 0, 50000, 10, 0));
    EXPECT_EQ(e.window().size(), judge::window_slices);
    EXPECT_EQ(judge_errors(e, lim).canary_errors, 0u);
    EXPECT_EQ(e.step().slices, 100u);
    EXPECT_EQ(e.step().canary_errors, 40u);
    EXPECT_EQ(e.recent().slices, 60u);
    EXPECT_EQ(e.recent().canary.total(), 600u);
    e.begin_step();
    EXPECT_EQ(e.step().slices, 0u);
    EXPECT_EQ(e.recent().slices, 0u);
    EXPECT_EQ(e.window().size(), judge::window_slices) << "errors still see the window across steps";
    e.add(slice_of(100, 50000, 10, 0, 50000, 10, 0));
    EXPECT_EQ(e.recent().slices, 1u);
    EXPECT_EQ(e.recent().canary.total(), 10u);
}

TEST(RolloutJudge, RankTestIsStratifiedBySlice) {
    // Every other slice both pools are slow (a shared spike); the canary
    // happens to get more of its requests in the slow slices. Within each
    // slice the pools are identical: z = 0. Pooled, it would look slower.
    Evidence e;
    for (int t = 0; t < 60; ++t) {
        const bool slow = t % 2 == 0;
        e.add(slice_of(t, slow ? 250000 : 50000, slow ? 8 : 2, 0, slow ? 250000 : 50000, 100, 0));
    }
    EXPECT_NEAR(e.recent().mw.z(), 0, 1e-9);
    EXPECT_EQ(e.recent().mw.strata, 60u);
    stats::Counts c, b;
    for (const SliceRecord& r : e.window()) {
        c.insert(c.end(), r.canary.begin(), r.canary.end());
        b.insert(b.end(), r.baseline.begin(), r.baseline.end());
    }
    // Merge equal keys for the pooled test.
    auto merged = [](stats::Counts v) {
        std::sort(v.begin(), v.end());
        stats::Counts out;
        for (auto& [k, n] : v) {
            if (!out.empty() && out.back().first == k)
                out.back().second += n;
            else
                out.emplace_back(k, n);
        }
        return out;
    };
    EXPECT_GT(stats::mann_whitney(merged(c), merged(b)).z(), 5);
}

TEST(RolloutJudge, SlowerCanaryIsSeenByBothRules) {
    JudgeLimits lim;
    Evidence e;
    testing::Rng rng(5);
    for (int t = 0; t < 60; ++t) {
        Slice s;
        for (int i = 0; i < 20; ++i) s.canary.latency.add(static_cast<std::uint64_t>(80000 * std::exp(0.3 * rng.normal())));
        for (int i = 0; i < 100; ++i) s.baseline.latency.add(static_cast<std::uint64_t>(50000 * std::exp(0.3 * rng.normal())));
        e.add(s);
    }
    const LatencyFinding f = judge_latency(e.recent(), lim, "recent");
    EXPECT_GT(f.mw_z, judge::rank_z);
    EXPECT_TRUE(f.shift);
    EXPECT_TRUE(f.tail);
    EXPECT_TRUE(f.slower());
    EXPECT_NE(f.why.find("p50"), std::string::npos) << f.why;
    const auto j = latency_evidence(e.recent(), f);
    ASSERT_TRUE(j.contains("quantiles"));
    EXPECT_EQ(j.at("quantiles").as_array().size(), 3u);
    EXPECT_TRUE(j.at("mann_whitney").as_object().contains("z"));
}

TEST(RolloutJudge, TinyAbsoluteDifferencesAreNotSlower) {
    // 1.5 ms vs 1.0 ms is 50% slower but below the 2 ms floor.
    JudgeLimits lim;
    Evidence e;
    for (int t = 0; t < 60; ++t) e.add(slice_of(t, 1500, 50, 0, 1000, 100, 0));
    const LatencyFinding f = judge_latency(e.recent(), lim, "recent");
    EXPECT_GT(f.mw_z, judge::rank_z);
    EXPECT_FALSE(f.slower());
}

TEST(RolloutJudge, TooFewSamplesAreNeverSlower) {
    JudgeLimits lim;
    Evidence e;
    for (int t = 0; t < 49; ++t) e.add(slice_of(t, 900000, 1, 0, 50000, 100, 0));
    EXPECT_FALSE(judge_latency(e.recent(), lim, "recent").slower()) << "49 canary samples";
    e.add(slice_of(49, 900000, 1, 0, 50000, 100, 0));
    EXPECT_TRUE(judge_latency(e.recent(), lim, "recent").slower()) << "50 canary samples";
}

TEST(RolloutJudge, AdvanceNeedsTimeSamplesAndBounds) {
    JudgeLimits lim;
    lim.min_samples = 500;
    lim.max_error_rate_increase = 0.01;
    Evidence e;
    testing::Rng rng(9);
    auto add_second = [&](std::int64_t t, int canary, int baseline) {
        Slice s;
        s.start_ms = t * 1000;
        for (int i = 0; i < canary; ++i) s.canary.latency.add(static_cast<std::uint64_t>(50000 * std::exp(0.5 * rng.normal())));
        for (int i = 0; i < baseline; ++i)
            s.baseline.latency.add(static_cast<std::uint64_t>(50000 * std::exp(0.5 * rng.normal())));
        e.add(s);
    };
    for (int t = 0; t < 10; ++t) add_second(t, 20, 180);
    AdvanceFinding a = judge_advance(e, lim, 10, 30);
    EXPECT_FALSE(a.ready);
    EXPECT_FALSE(a.enough_time);
    EXPECT_FALSE(a.enough_samples);
    EXPECT_NE(a.why.find("of 30 s"), std::string::npos) << a.why;
    EXPECT_NE(a.why.find("of 500 canary samples"), std::string::npos) << a.why;
    for (int t = 10; t < 200; ++t) add_second(t, 20, 180);
    a = judge_advance(e, lim, 200, 30);
    EXPECT_TRUE(a.enough_time && a.enough_samples);
    EXPECT_TRUE(a.error_ok);
    EXPECT_TRUE(a.ready) << a.why;
    EXPECT_EQ(a.latency[0].mode, AdvanceFinding::Check::bound);
    EXPECT_EQ(a.latency[1].mode, AdvanceFinding::Check::bound);
    EXPECT_EQ(a.latency[2].mode, AdvanceFinding::Check::point) << "4000 samples: 40 beyond p99, a bound needs 50";
    const auto j = a.to_json(lim);
    EXPECT_TRUE(j.at("ready").as_bool());
    EXPECT_EQ(j.at("latency").as_array().size(), 3u);
}

TEST(RolloutJudge, NoBaselineTrafficIsNeverReady) {
    JudgeLimits lim;
    lim.min_samples = 100;
    Evidence e;
    for (int t = 0; t < 100; ++t) e.add(slice_of(t, 50000, 20, 0, 0, 0, 0));
    const AdvanceFinding a = judge_advance(e, lim, 100, 30);
    EXPECT_TRUE(a.enough_time && a.enough_samples);
    EXPECT_TRUE(a.insufficient);
    EXPECT_FALSE(a.ready);
    EXPECT_NE(a.why.find("no baseline traffic"), std::string::npos) << a.why;
}

}  // namespace
}  // namespace weir::rollout
