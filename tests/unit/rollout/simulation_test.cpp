// The canary judge under synthetic traffic: 1000 seeds per
// scenario in Release builds (100 otherwise), simulated 1-second slices with
// per-request latencies and errors drawn from the test's own generators.
//
// Configuration of every scenario (traffic.hpp, scenario_spec):
//   steps [1, 5, 10, 25, 50, 100], step_min_duration 30s,
//   step_max_duration 10m, min_samples 500, max_latency_ratio 1.10,
//   max_error_rate_increase 0.01, on_inconclusive hold.
// Traffic: 200 requests/s in total (Poisson per second), each sent to the
// canary with its current share. Baseline: lognormal latency with median
// 50 ms and sigma 0.5 (p90 ~95 ms, p99 ~160 ms), 0.1% errors.
//
// Why max_error_rate_increase 0.01 and not the contract's example 0.001: advancing
// needs the 95% upper bound of (canary - baseline error rate) below the
// limit. With both pools at 0.1%, the bound is about
// 0.001 + 1.645 sqrt(0.001 / n) above the canary's estimate, which stays
// above 0.001 until n is over 3000 canary requests per step (more like
// 5000 with the Agresti-Caffo correction, see
// RolloutStats.ErrorIncreaseOfOneTenthPercentNeedsOverThreeThousandSamples)
// — 40 minutes at 1% of 200 requests/s, beyond step_max_duration. With
// 0.01, 500 samples suffice.
//
// Each scenario prints one "[rollout-sim]" summary line with its measured
// rates.
#include "traffic.hpp"

#include "rollout/run.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace weir::rollout {
namespace {

using testing::kSeeds;
using testing::Outcome;
using testing::PoolModel;
using testing::Traffic;

struct Results : testing::Outcomes {
    double wall_s = 0;
    // The q-quantile of some number over the runs that match.
    template <class Get, class Pred>
    double quantile(double q, Get get, Pred pred) const {
        std::vector<double> v;
        for (const Outcome& o : runs)
            if (pred(o)) v.push_back(static_cast<double>(get(o)));
        if (v.empty()) return 0;
        std::sort(v.begin(), v.end());
        const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size()))) - (q > 0 ? 1 : 0);
        return v[std::min(i, v.size() - 1)];
    }
};

// kSeeds runs of `spec` for max_seconds each; run s sees traffic_for(s) and seed_for(s).
template <class TrafficFor, class SeedFor>
Results run_seeds(TrafficFor traffic_for, SeedFor seed_for, std::int64_t max_seconds, const RolloutSpec& spec,
                  std::int64_t warmup = 0) {
    Results r;
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < kSeeds; ++s) {
        const Traffic tr = traffic_for(s);
        RolloutRun run(spec);
        r.runs.push_back(testing::simulate(run, tr, seed_for(s), max_seconds, warmup));
    }
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

// Prints every run that rolled back although it should not have.
void print_false_rollbacks(const Results& r) {
    for (const Outcome& o : r.runs)
        if (o.phase == Phase::rolled_back) std::printf("  false rollback at step %d: %s\n", o.step, o.last_reason.c_str());
}

Results run_scenario(const char* name, const Traffic& tr, std::int64_t max_seconds, RolloutSpec spec,
                     std::int64_t warmup = 0) {
    const std::uint64_t name_salt = std::hash<std::string>{}(name) % 1000;
    return run_seeds([&](int) { return tr; },
                     [&](int s) { return 0x5EED0000ULL + static_cast<std::uint64_t>(s) * 7919 + name_salt; },
                     max_seconds, spec, warmup);
}

Results run_scenario(const char* name, const Traffic& tr, std::int64_t max_seconds) {
    return run_scenario(name, tr, max_seconds, testing::scenario_spec());
}

const auto all = [](const Outcome&) { return true; };
const auto promoted = [](const Outcome& o) { return o.phase == Phase::promoted; };
const auto rolled_back = [](const Outcome& o) { return o.phase == Phase::rolled_back; };

TEST(RolloutSimulation, EqualCanaryIsPromotedWithoutFalseRollbacks) {
    Traffic tr;
    const Results r = run_scenario("equal", tr, 3600);
    const auto secs = [](const Outcome& o) { return o.seconds; };
    std::printf("[rollout-sim] equal canary: seeds=%zu promoted=%.1f%% rolled_back=%.2f%% still_running=%.1f%% "
                "time_to_100%%: median=%.0fs p99=%.0fs max=%.0fs (wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::promoted), 100 * r.rate(Phase::rolled_back),
                100 * r.rate(Phase::running), r.quantile(0.5, secs, promoted), r.quantile(0.99, secs, promoted),
                r.quantile(1, secs, promoted), r.wall_s);
    for (const Outcome& o : r.runs)
        if (o.phase != Phase::promoted)
            std::printf("  %s at step %d: %s\n", phase_name(o.phase), o.step, o.last_reason.c_str());
    EXPECT_LE(r.rate(Phase::rolled_back), 0.005);
    EXPECT_EQ(r.count(Phase::promoted) + r.count(Phase::rolled_back), static_cast<int>(r.runs.size()))
        << "every equal canary that was not (falsely) rolled back reaches 100% within an hour";
}

TEST(RolloutSimulation, MedianPlus25PercentIsRolledBackBeforeFivePercent) {
    Traffic tr;
    tr.canary.median_ms = 50 * 1.25;
    const Results r = run_scenario("median+25", tr, 3600);
    const auto secs = [](const Outcome& o) { return o.seconds; };
    int beyond5 = 0, at_step0 = 0;
    for (const Outcome& o : r.runs) {
        if (o.max_percent > 5) ++beyond5;
        if (o.phase == Phase::rolled_back && o.step == 0) ++at_step0;
    }
    std::printf("[rollout-sim] canary median +25%%: seeds=%zu rolled_back=%.1f%% (at step 0: %.1f%%) weight>5%%: %d "
                "time_to_rollback: median=%.0fs p99=%.0fs max=%.0fs (wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::rolled_back), 100.0 * at_step0 / static_cast<double>(r.runs.size()),
                beyond5, r.quantile(0.5, secs, rolled_back), r.quantile(0.99, secs, rolled_back),
                r.quantile(1, secs, rolled_back), r.wall_s);
    EXPECT_EQ(r.count(Phase::rolled_back), static_cast<int>(r.runs.size()));
    EXPECT_EQ(beyond5, 0) << "the canary's weight exceeded 5% before the rollback";
    for (const Outcome& o : r.runs) EXPECT_EQ(o.last_trigger, "latency") << o.last_reason;
}

TEST(RolloutSimulation, SlowTwoPercentTailIsCaughtByTheTailCheck) {
    Traffic tr;
    tr.canary.tail_fraction = 0.02;
    tr.canary.tail_add_ms = 300;
    const Results r = run_scenario("tail2%+300ms", tr, 3600);
    const auto secs = [](const Outcome& o) { return o.seconds; };
    int by_latency = 0, by_tail_rule = 0, promoted_n = 0, p99 = 0;
    for (const Outcome& o : r.runs) {
        if (o.phase == Phase::promoted) ++promoted_n;
        if (o.phase != Phase::rolled_back || o.last_trigger != "latency") continue;
        ++by_latency;
        if (o.last_reason.find("rank test") == std::string::npos) ++by_tail_rule;
        if (o.last_reason.find("p99") != std::string::npos) ++p99;
    }
    const double n = static_cast<double>(r.runs.size());
    std::printf("[rollout-sim] 2%% of canary requests +300 ms: seeds=%zu rolled_back=%.1f%% (latency %.1f%%, tail rule "
                "alone %.1f%%, on p99 %.1f%%) promoted=%d max_step_at_rollback=%.0f time_to_rollback: median=%.0fs "
                "p99=%.0fs (wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::rolled_back), 100 * by_latency / n, 100 * by_tail_rule / n,
                100 * p99 / n, promoted_n, r.quantile(1, [](const Outcome& o) { return o.step; }, rolled_back),
                r.quantile(0.5, secs, rolled_back), r.quantile(0.99, secs, rolled_back), r.wall_s);
    EXPECT_EQ(promoted_n, 0);
    EXPECT_GE(by_latency, static_cast<int>(0.99 * n));
    EXPECT_GE(p99, static_cast<int>(0.99 * n)) << "the tail is what gives it away";
}

TEST(RolloutSimulation, TwentyPercentErrorsAreRolledBackWithinAFewErrors) {
    Traffic tr;
    tr.canary.error_rate = 0.20;
    const Results r = run_scenario("errors20%", tr, 3600);
    const auto errs = [](const Outcome& o) { return o.canary_errors; };
    int within10 = 0;
    for (const Outcome& o : r.runs)
        if (o.phase == Phase::rolled_back && o.canary_errors <= 10) ++within10;
    std::printf("[rollout-sim] canary with 20%% errors: seeds=%zu rolled_back=%.1f%% canary errors until rollback: "
                "median=%.0f p99=%.0f max=%.0f; <=10 errors: %.1f%% time: median=%.0fs (wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::rolled_back), r.quantile(0.5, errs, all),
                r.quantile(0.99, errs, all), r.quantile(1, errs, all),
                100.0 * within10 / static_cast<double>(r.runs.size()),
                r.quantile(0.5, [](const Outcome& o) { return o.seconds; }, all), r.wall_s);
    EXPECT_EQ(r.count(Phase::rolled_back), static_cast<int>(r.runs.size()));
    EXPECT_GE(within10, static_cast<int>(0.99 * static_cast<double>(r.runs.size())));
    EXPECT_LE(r.quantile(0.5, errs, all), 8);
}

TEST(RolloutSimulation, FastFailingCanaryIsRolledBack) {
    // Every canary request is a 503 answered in 1 ms: errors never enter the
    // latency histograms, so the canary cannot look fast.
    Traffic tr;
    tr.canary.error_rate = 1.0;
    const Results r = run_scenario("fastfail", tr, 3600);
    const auto errs = [](const Outcome& o) { return o.canary_errors; };
    std::printf("[rollout-sim] canary failing fast (503 in 1 ms): seeds=%zu rolled_back=%.1f%% canary errors until "
                "rollback: median=%.0f p99=%.0f max=%.0f time: median=%.0fs max=%.0fs (wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::rolled_back), r.quantile(0.5, errs, all),
                r.quantile(0.99, errs, all), r.quantile(1, errs, all),
                r.quantile(0.5, [](const Outcome& o) { return o.seconds; }, all),
                r.quantile(1, [](const Outcome& o) { return o.seconds; }, all), r.wall_s);
    EXPECT_EQ(r.count(Phase::rolled_back), static_cast<int>(r.runs.size()));
    // Slices are judged whole: a slice may bring several failures at once.
    EXPECT_LE(r.quantile(0.99, errs, all), 10);
    EXPECT_LE(r.quantile(1, [](const Outcome& o) { return o.seconds; }, all), 15);
}

TEST(RolloutSimulation, TwentyPercentErrorsAtOneRequestPerSecondAreRolledBackWithinTwoMinutes) {
    // One request a second in all, the canary at half of them and failing
    // one in five: a minute holds ~30 canary requests, so the test must
    // pool the step and weigh the baseline's history (with the the contract's
    // default max_error_rate_increase 0.001).
    RolloutSpec spec = testing::scenario_spec();
    spec.steps = {50, 100};
    spec.max_error_rate_increase = 0.001;
    Traffic tr;
    tr.rps = 1;
    tr.canary.error_rate = 0.20;
    // The route served its baseline for ten minutes before the start.
    const Results r = run_scenario("1rps-errors20%", tr, 15 * 60, spec, 600);
    const auto secs = [](const Outcome& o) { return o.seconds; };
    const auto errs = [](const Outcome& o) { return o.canary_errors; };
    int within2min = 0;
    for (const Outcome& o : r.runs)
        if (o.phase == Phase::rolled_back && o.seconds <= 120) ++within2min;
    const double n = static_cast<double>(r.runs.size());
    std::printf("[rollout-sim] 1 request/s, canary at 50%% failing 20%%: seeds=%zu rolled_back=%.1f%% within 2 min: "
                "%.1f%% time: median=%.0fs p99=%.0fs max=%.0fs canary errors until rollback: median=%.0f p99=%.0f "
                "(wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::rolled_back), 100 * within2min / n, r.quantile(0.5, secs, all),
                r.quantile(0.99, secs, all), r.quantile(1, secs, all), r.quantile(0.5, errs, all),
                r.quantile(0.99, errs, all), r.wall_s);
    EXPECT_EQ(r.count(Phase::rolled_back), static_cast<int>(n));
    EXPECT_GE(within2min, static_cast<int>(0.99 * n));
}

TEST(RolloutSimulation, EqualErrorsOfAFlakyServiceAtLowTrafficAreNotARollback) {
    // Both pools fail 5% of requests, at 1 and at 20 requests/s, the canary
    // at half of them for an hour after ten minutes of the baseline alone:
    // a few errors close together must not look like a failing canary.
    RolloutSpec spec = testing::scenario_spec();
    spec.steps = {50, 100};
    spec.max_error_rate_increase = 0.001;
    spec.min_samples = 100000;  // keep judging for the whole hour
    for (double rps : {1.0, 20.0}) {
        Traffic tr;
        tr.rps = rps;
        tr.baseline.error_rate = tr.canary.error_rate = 0.05;
        const Results r = run_scenario(rps < 2 ? "flaky-1rps" : "flaky-20rps", tr, 3600, spec, 600);
        std::printf("[rollout-sim] both pools 5%% errors, %g requests/s, canary at 50%% for 1 h: seeds=%zu "
                    "rolled_back=%.2f%% (wall %.1fs)\n",
                    rps, r.runs.size(), 100 * r.rate(Phase::rolled_back), r.wall_s);
        print_false_rollbacks(r);
        EXPECT_LE(r.rate(Phase::rolled_back), 0.005) << rps << " requests/s";
    }
}

TEST(RolloutSimulation, HalfARequestPerSecondHoldsAndNeverDecides) {
    Traffic tr;
    tr.rps = 0.5;
    const Results r = run_scenario("lowtraffic", tr, 30 * 60);
    std::printf("[rollout-sim] 0.5 requests/s for 30 min: seeds=%zu still holding=%.1f%% promoted=%d rolled_back=%d "
                "advanced=%d (wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::running), r.count(Phase::promoted), r.count(Phase::rolled_back),
                static_cast<int>(std::count_if(r.runs.begin(), r.runs.end(),
                                               [](const Outcome& o) { return o.step > 0; })),
                r.wall_s);
    EXPECT_EQ(r.count(Phase::running), static_cast<int>(r.runs.size()));
    for (const Outcome& o : r.runs) EXPECT_EQ(o.step, 0);
}

TEST(RolloutSimulation, HalfARequestPerSecondSaysInconclusive) {
    Traffic tr;
    tr.rps = 0.5;
    RolloutRun run(testing::scenario_spec());
    const Outcome o = testing::simulate(run, tr, 42, 30 * 60);
    EXPECT_EQ(o.phase, Phase::running);
    int timeouts = 0, notes = 0;
    for (const DecisionRecord& d : run.decisions()) {
        if (d.decision == "inconclusive" && d.reason.find("step_max_duration") != std::string::npos) ++timeouts;
        if (d.decision == "hold" || d.decision == "inconclusive") ++notes;
    }
    EXPECT_EQ(timeouts, 1) << "the step_max_duration note is written once";
    EXPECT_LE(notes, 30 * 60 / 30 + 2) << "holds are noted at most every 30 s";
    EXPECT_GE(notes, 30 * 60 / 30 - 2);
}

TEST(RolloutSimulation, SpikeSharedByBothPoolsDoesNotRollBack) {
    // Both pools +200 ms for 30 s, in the same slices, starting anywhere in
    // the first 10 minutes (so at every step, also across step changes).
    const Results r = run_seeds(
        [](int s) {
            Traffic tr;
            tr.spike_ms = 200;
            tr.spike_from_s = 30 + (static_cast<std::int64_t>(s) * 571) % 570;
            tr.spike_to_s = tr.spike_from_s + 30;
            return tr;
        },
        [](int s) { return 0xD15EA5E0000ULL + static_cast<std::uint64_t>(s) * 104729; }, 3600, testing::scenario_spec());
    std::printf("[rollout-sim] both pools +200 ms for 30 s: seeds=%zu rolled_back=%.2f%% promoted=%.1f%% (wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::rolled_back), 100 * r.rate(Phase::promoted), r.wall_s);
    print_false_rollbacks(r);
    EXPECT_LE(r.rate(Phase::rolled_back), 0.005);
    EXPECT_EQ(r.count(Phase::promoted) + r.count(Phase::rolled_back), static_cast<int>(r.runs.size()));
}

TEST(RolloutSimulation, ErrorBurstSharedByBothPoolsDoesNotRollBack) {
    // Both pools answer 30% errors for 20 s (a shared dependency failing),
    // anywhere in the first 10 minutes, also right after a step change:
    // errors land where the requests go, slice by slice, so no rollback.
    const Results r = run_seeds(
        [](int s) {
            Traffic tr;
            tr.burst_error_rate = 0.30;
            tr.burst_from_s = 30 + (static_cast<std::int64_t>(s) * 577) % 570;
            tr.burst_to_s = tr.burst_from_s + 20;
            return tr;
        },
        [](int s) { return 0xB0B0000ULL + static_cast<std::uint64_t>(s) * 15485863; }, 3600, testing::scenario_spec());
    std::printf("[rollout-sim] both pools 30%% errors for 20 s: seeds=%zu rolled_back=%.2f%% promoted=%.1f%% (wall %.1fs)\n",
                r.runs.size(), 100 * r.rate(Phase::rolled_back), 100 * r.rate(Phase::promoted), r.wall_s);
    print_false_rollbacks(r);
    EXPECT_LE(r.rate(Phase::rolled_back), 0.005);
}

}  // namespace
}  // namespace weir::rollout
