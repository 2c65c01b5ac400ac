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

// `seconds` slices of lognormal latencies (spread sigma): `nc` canary and
// `nb` baseline samples a second around the given medians.
Evidence lognormal_evidence(std::uint64_t seed, int seconds, double canary_us, int nc, double baseline_us, int nb,
                            double sigma) {
    testing::Rng rng(seed);
    Evidence e;
    for (int t = 0; t < seconds; ++t) {
        Slice s;
        for (int i = 0; i < nc; ++i) s.canary.latency.add(static_cast<std::uint64_t>(canary_us * std::exp(sigma * rng.normal())));
        for (int i = 0; i < nb; ++i)
            s.baseline.latency.add(static_cast<std::uint64_t>(baseline_us * std::exp(sigma * rng.normal())));
        e.add(s);
    }
    return e;
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

TEST(RolloutJudge, ErrorsOfASmallCanaryAreSignificant) {
    JudgeLimits lim;
    Evidence e;
    // The canary has ~1% of requests; 5 of its 25 failed, 2 of the
    // baseline's 1982.
    for (int t = 0; t < 10; ++t) e.add(slice_of(t, 50000, 2, t < 5 ? 1 : 0, 50000, 198, t == 7 ? 2 : 0));
    const ErrorFinding f = judge_errors(e, lim);
    EXPECT_EQ(f.recent.canary_errors, 5u);
    EXPECT_EQ(f.recent.canary_requests, 25u);
    EXPECT_EQ(f.recent.baseline_errors, 2u);
    EXPECT_GE(f.recent.z, judge::error_z_recent);
    EXPECT_TRUE(f.significant);
    EXPECT_EQ(f.fired().scope, "recent");
    EXPECT_NE(f.reason().find("5 of 25 canary requests failed"), std::string::npos) << f.reason();
    EXPECT_NE(f.reason().find("likelihood-ratio z"), std::string::npos) << f.reason();
    const auto j = f.to_json();
    ASSERT_EQ(j.at("tests").as_array().size(), 2u);
    const auto& t0 = j.at("tests").as_array()[0].as_object();
    EXPECT_TRUE(t0.contains("likelihood_ratio_z"));
    EXPECT_TRUE(t0.contains("canary_error_rate_95"));
    EXPECT_EQ(j.at("max_error_rate_increase").as_double(), lim.max_error_rate_increase);
}

TEST(RolloutJudge, AnErrorBurstRightAfterAStepChangeIsNotTheCanarys) {
    // 59 slices with the canary at 1% of requests and nothing failing; the
    // next step gives it half, and in its first slice both pools fail
    // alike. Pooled across the change the canary would "have" ~1.8% of the
    // requests and half the errors; the tests only look within the step,
    // where its share is constant.
    JudgeLimits lim;
    Evidence e;
    for (int t = 0; t < 59; ++t) e.add(slice_of(t, 50000, 1, 0, 50000, 99, 0));
    e.begin_step();
    e.add(slice_of(59, 50000, 30, 20, 50000, 30, 20));
    const ErrorFinding f = judge_errors(e, lim);
    EXPECT_EQ(f.recent.canary_errors, 20u);
    EXPECT_EQ(f.recent.canary_requests, 50u);
    EXPECT_EQ(f.recent.z, 0) << "equal rates";
    EXPECT_FALSE(f.significant);
    // What a pooled window would have said.
    EXPECT_GT(stats::rate_increase_lr_z(20, 50 + 59, 20, 50 + 59 * 99, lim.max_error_rate_increase), 5);
}

TEST(RolloutJudge, SmallExcessOfErrorsBelowTheLimitIsNotARollback) {
    // Clearly more errors but within max_error_rate_increase: 2% vs 0.05%
    // with a 5% limit.
    JudgeLimits lim;
    lim.max_error_rate_increase = 0.05;
    Evidence e;
    for (int t = 0; t < 60; ++t) e.add(slice_of(t, 50000, 98, 2, 50000, 999, t % 2));
    ErrorFinding f = judge_errors(e, lim);
    EXPECT_GT(stats::rate_increase_lr_z(120, 6000, 30, 60000, 0), 10) << "significant without a limit";
    EXPECT_EQ(f.recent.z, 0);
    EXPECT_FALSE(f.significant);
    lim.max_error_rate_increase = 0.01;
    f = judge_errors(e, lim);
    EXPECT_TRUE(f.significant) << f.recent.z;
}

// Two minutes at one request a second, every other one to the canary,
// which fails one in five (12 of 60); the baseline fails `baseline_errors`
// of its 60. Before them, `history` seconds of the baseline alone with one
// error in all.
Evidence low_traffic(int history, int baseline_errors) {
    Evidence e;
    for (int t = 0; t < history; ++t) {
        const bool fail = t == history - 10;
        e.observe_baseline(slice_of(t - history, 0, 0, 0, 50000, fail ? 0 : 1, fail ? 1 : 0));
    }
    for (int t = 0; t < 120; ++t) {
        if (t % 2 == 0) e.add(slice_of(t, 50000, t % 10 == 0 ? 0 : 1, t % 10 == 0 ? 1 : 0, 0, 0, 0));
        else {
            const bool fail = (t / 2) % 5 == 0 && (t / 2) / 5 < baseline_errors;
            e.add(slice_of(t, 0, 0, 0, 50000, fail ? 0 : 1, fail ? 1 : 0));
        }
    }
    return e;
}

TEST(RolloutJudge, ErrorsAtOneRequestPerSecondAreSeenOverTheStepAndTheBaselinesHistory) {
    JudgeLimits lim;
    {
        // Without history: 12 of 60 against 0 of 60 is suggestive, not proof.
        const ErrorFinding f = judge_errors(low_traffic(0, 0), lim);
        EXPECT_EQ(f.recent.canary_requests, 30u);
        EXPECT_EQ(f.recent.canary_errors, 6u);
        EXPECT_EQ(f.step.canary_requests, 60u);
        EXPECT_EQ(f.step.canary_errors, 12u);
        EXPECT_GT(f.step.z, 4.0);
        EXPECT_FALSE(f.fire()) << f.step.z;
    }
    {
        // Ten minutes of the baseline before (1 error): the canary's 20% is
        // far beyond a baseline known to fail ~0.2%. The history holds 600
        // slices in all: 480 before the step's 120.
        const ErrorFinding f = judge_errors(low_traffic(600, 0), lim);
        EXPECT_TRUE(f.step.history_used);
        EXPECT_EQ(f.step.history_requests, 480u);
        EXPECT_EQ(f.step.history_errors, 1u);
        EXPECT_GE(f.step.history_z, judge::error_z_step);
        EXPECT_TRUE(f.fire());
        EXPECT_NE(f.reason().find("baseline requests over the last 600 s"), std::string::npos) << f.reason();
        EXPECT_TRUE(f.to_json().at("tests").as_array()[1].as_object().at("baseline_history").as_object().at("used").as_bool());
    }
    {
        // The baseline fails as much as the canary now (a shared outage),
        // unlike its history: the history is not used and nothing fires.
        const ErrorFinding f = judge_errors(low_traffic(600, 12), lim);
        EXPECT_EQ(f.step.baseline_errors, 12u);
        EXPECT_GE(f.step.baseline_shift_z, judge::baseline_shift_z);
        EXPECT_FALSE(f.step.history_used);
        EXPECT_FALSE(f.fire());
    }
}

TEST(RolloutJudge, FailureStreakNeedsAHealthyBaseline) {
    JudgeLimits lim;
    {
        Evidence e;
        for (int t = 0; t < 5; ++t) e.add(slice_of(t, 0, 0, 1, 50000, 1000, 1));
        const ErrorFinding f = judge_errors(e, lim);
        EXPECT_EQ(f.streak, 5u);
        EXPECT_TRUE(f.hard_limit);
        EXPECT_TRUE(f.significant) << "here the rate test fires as well";
    }
    {
        // A baseline with 15% errors: four canary failures are not
        // conclusive, five in a row are (the hard limit), and so is the
        // rate test then.
        Evidence e;
        for (int t = 0; t < 4; ++t) e.add(slice_of(t, 0, 0, 1, 50000, 850, 150));
        EXPECT_FALSE(judge_errors(e, lim).fire()) << judge_errors(e, lim).recent.z;
        e.add(slice_of(4, 0, 0, 1, 50000, 850, 150));
        const ErrorFinding f = judge_errors(e, lim);
        EXPECT_TRUE(f.hard_limit);
        EXPECT_NEAR(f.streak_baseline_error_rate, 0.15, 1e-12);
        ErrorFinding only_streak = f;
        only_streak.significant = false;
        EXPECT_NE(only_streak.reason().find("in a row"), std::string::npos) << only_streak.reason();
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
    EXPECT_EQ(judge_errors(e, lim).recent.canary_errors, 0u);
    EXPECT_EQ(judge_errors(e, lim).step.canary_errors, 40u);
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
    const Evidence e = lognormal_evidence(5, 60, 80000, 20, 50000, 100, 0.3);
    const LatencyFinding f = judge_latency(e.recent(), lim, ScopeKind::recent);
    EXPECT_GT(f.mw_z, judge::rank_z);
    EXPECT_TRUE(f.shift);
    EXPECT_TRUE(f.tail);
    EXPECT_TRUE(f.slower());
    EXPECT_NE(f.why.find("p50"), std::string::npos) << f.why;
    const auto j = latency_evidence(e.recent(), f, lim);
    ASSERT_TRUE(j.contains("quantiles"));
    EXPECT_EQ(j.at("quantiles").as_array().size(), 3u);
    EXPECT_TRUE(j.at("mann_whitney").as_object().contains("z"));
}


TEST(RolloutJudge, TheRatioHoldsAtSubMillisecondLatencies) {
    // 1.5 ms vs 1.0 ms is 50% slower, whatever the absolute difference.
    JudgeLimits lim;
    Evidence e;
    for (int t = 0; t < 60; ++t) e.add(slice_of(t, 1500, 50, 0, 1000, 100, 0));
    LatencyFinding f = judge_latency(e.recent(), lim, ScopeKind::recent);
    EXPECT_GT(f.mw_z, judge::rank_z);
    EXPECT_TRUE(f.shift);
    EXPECT_TRUE(f.slower());
    EXPECT_FALSE(judge_advance(e, lim, 60, 30).ready);
    // 0.2 ms against 0.1 ms too.
    Evidence tiny;
    for (int t = 0; t < 60; ++t) tiny.add(slice_of(t, 200, 50, 0, 100, 100, 0));
    EXPECT_TRUE(judge_latency(tiny.recent(), lim, ScopeKind::recent).slower());
}

TEST(RolloutJudge, MinLatencyDifferenceIsAnExplicitTolerance) {
    JudgeLimits lim;
    lim.min_latency_difference_us = 1000;
    lim.min_samples = 100;
    lim.max_error_rate_increase = 0.05;
    Evidence e;
    for (int t = 0; t < 60; ++t) e.add(slice_of(t, 1500, 50, 0, 1000, 100, 0));
    const LatencyFinding f = judge_latency(e.recent(), lim, ScopeKind::recent);
    EXPECT_FALSE(f.slower()) << "0.5 ms is within the 1 ms tolerance";
    const AdvanceFinding a = judge_advance(e, lim, 60, 30);
    EXPECT_TRUE(a.latency[0].pass) << a.why;
    const auto j = latency_evidence(e.recent(), f, lim);
    EXPECT_EQ(j.at("min_latency_difference_ms").as_double(), 1.0);
    EXPECT_EQ(a.to_json(lim).at("min_latency_difference_ms").as_double(), 1.0);
    // Beyond the tolerance the ratio rules again.
    Evidence slow;
    for (int t = 0; t < 60; ++t) slow.add(slice_of(t, 3000, 50, 0, 1000, 100, 0));
    EXPECT_TRUE(judge_latency(slow.recent(), lim, ScopeKind::recent).slower());
    EXPECT_FALSE(judge_advance(slow, lim, 60, 30).ready);
}

TEST(RolloutJudge, BoundsEntirelyAboveTheLimitRollBackAndNeverAdvance) {
    // 12.35 ms against 10.43 ms (x1.18) with a 1.10 limit; the canary has
    // a tenth of the traffic, 200 requests a second in all, for a minute.
    JudgeLimits lim;
    lim.min_samples = 200;
    lim.max_error_rate_increase = 0.05;
    const Evidence e = lognormal_evidence(11, 60, 12350, 20, 10430, 180, 0.3);
    const QuantileView p50 = view_quantile(e.step(), 0.5, judge::shift_confidence);
    ASSERT_TRUE(p50.ratio_lower());
    EXPECT_GT(*p50.ratio_lower(), lim.max_latency_ratio) << "the whole interval lies above the limit";
    const LatencyFinding f = judge_latency(e.step(), lim, ScopeKind::step);
    EXPECT_TRUE(f.shift) << f.mw_z;
    EXPECT_NE(f.why.find("> limit x1.10"), std::string::npos) << f.why;
    const AdvanceFinding a = judge_advance(e, lim, 60, 2);
    EXPECT_FALSE(a.ready) << a.why;
    EXPECT_FALSE(a.latency[0].pass);
}

TEST(RolloutJudge, ACanaryTwiceAsSlowAtOneMillisecondIsNeverAdvanced) {
    // 2.6 ms against 1.26 ms, 200 samples of each a second.
    JudgeLimits lim;
    lim.min_samples = 200;
    lim.max_error_rate_increase = 0.05;
    const Evidence e = lognormal_evidence(12, 3, 2600, 200, 1260, 200, 0.2);
    EXPECT_TRUE(judge_latency(e.step(), lim, ScopeKind::step).slower());
    EXPECT_FALSE(judge_advance(e, lim, 3, 2).ready);
}

TEST(RolloutJudge, TooFewSamplesAreNeverSlower) {
    JudgeLimits lim;
    Evidence e;
    for (int t = 0; t < 49; ++t) e.add(slice_of(t, 900000, 1, 0, 50000, 100, 0));
    EXPECT_FALSE(judge_latency(e.step(), lim, ScopeKind::step).slower()) << "49 canary samples";
    e.add(slice_of(49, 900000, 1, 0, 50000, 100, 0));
    EXPECT_TRUE(judge_latency(e.step(), lim, ScopeKind::step).slower()) << "50 canary samples";
    // The sliding recent window needs more: it offers a fresh sample every minute.
    EXPECT_FALSE(judge_latency(e.recent(), lim, ScopeKind::recent).slower()) << "50 canary samples in the recent window";
    Evidence busy;
    for (int t = 0; t < 39; ++t) busy.add(slice_of(t, 900000, 5, 0, 50000, 100, 0));
    EXPECT_FALSE(judge_latency(busy.recent(), lim, ScopeKind::recent).slower()) << "200 - 5 canary samples";
    busy.add(slice_of(39, 900000, 5, 0, 50000, 100, 0));
    EXPECT_TRUE(judge_latency(busy.recent(), lim, ScopeKind::recent).slower()) << "200 canary samples";
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
