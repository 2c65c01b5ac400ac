// The judge across scales: 1000 seeds per cell (100 in debug builds) under
// simulated time, over
//   - baseline latencies 0.2, 1, 10 and 100 ms (lognormal, sigma 0.5: p90
//     ~1.9x and p99 ~3.2x the median) x canary/baseline ratios 1.00, 1.05,
//     1.15, 1.3 and 2.0 against a 1.10 limit, at 100 and 1000 requests/s;
//   - traffic of 1, 10, 100, 1000 and 5000 requests/s x canary error rates
//     0, 0.5x, 2x and 20x the allowed increase above the baseline's 0.1%.
// Every cell uses the scenario configuration (traffic.hpp: steps 1, 5, 10,
// 25, 50, 100; 30 s / 10 min; min_samples 500; max_latency_ratio 1.10;
// max_error_rate_increase 0.01; on_inconclusive hold) and runs until
// promotion, rollback or its time cap; what is neither is "held".
//
// Each cell prints one "[rollout-grid]" table row: promoted / rolled back /
// held, the time to the decision (median, p99), the canary's share when it
// was decided (most seeds), and the highest share any seed reached.
#include "traffic.hpp"

#include "rollout/run.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace weir::rollout {
namespace {

using testing::FastTraffic;
using testing::kSeeds;
using testing::Outcome;
using testing::PoolModel;

struct Cell : testing::Outcomes {
    int decided() const { return count(Phase::promoted) + count(Phase::rolled_back); }
    // Seeds rolled back while the canary never had more than `percent`.
    int rolled_back_by(double percent) const {
        return static_cast<int>(std::count_if(runs.begin(), runs.end(), [&](const Outcome& o) {
            return o.phase == Phase::rolled_back && o.max_percent <= percent;
        }));
    }
    double max_percent() const {
        double m = 0;
        for (const Outcome& o : runs) m = std::max(m, o.max_percent);
        return m;
    }
    // q-quantile of the seconds to a decision, over the decided seeds.
    double seconds(double q) const {
        std::vector<double> v;
        for (const Outcome& o : runs)
            if (o.phase == Phase::promoted || o.phase == Phase::rolled_back) v.push_back(static_cast<double>(o.seconds));
        if (v.empty()) return 0;
        std::sort(v.begin(), v.end());
        const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
        return v[std::min(i, v.size() - 1)];
    }
    // The share at which most decided seeds were decided.
    double typical_share() const {
        std::vector<double> v;
        for (const Outcome& o : runs)
            if (o.phase == Phase::promoted || o.phase == Phase::rolled_back) v.push_back(o.percent_at_decision);
        if (v.empty()) return 0;
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    }
};

Cell run_cell(const FastTraffic& tr, std::int64_t max_seconds, std::uint64_t salt) {
    Cell c;
    c.runs.reserve(kSeeds);
    for (int s = 0; s < kSeeds; ++s) {
        RolloutRun run(testing::scenario_spec());
        c.runs.push_back(testing::simulate_fast(run, tr, 0x6A1D0000ULL + salt * 1000003ULL + static_cast<std::uint64_t>(s),
                                                max_seconds));
    }
    return c;
}

std::string duration_words(double s) {
    char buf[32];
    if (s < 120) std::snprintf(buf, sizeof buf, "%.0f s", s);
    else if (s < 7200) std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
    else std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
    return buf;
}

void print_row(const std::string& label, const Cell& c) {
    const double n = static_cast<double>(c.runs.size());
    std::printf("[rollout-grid] | %s | %.1f%% | %.1f%% | %.1f%% | %s | %s | %g%% | %g%% |\n", label.c_str(),
                100 * c.count(Phase::promoted) / n, 100 * c.count(Phase::rolled_back) / n,
                100 * (n - c.decided()) / n, c.decided() ? duration_words(c.seconds(0.5)).c_str() : "-",
                c.decided() ? duration_words(c.seconds(0.99)).c_str() : "-", c.typical_share(), c.max_percent());
}

// ---- latency x ratio -----------------------------------------------------------------

PoolModel pool(double median_ms, double error_rate) {
    PoolModel m;
    m.median_ms = median_ms;
    m.sigma = 0.5;
    m.error_rate = error_rate;
    return m;
}

// One row of the latency grid: every ratio at one baseline latency and rate.
void latency_row(double median_ms, double rps) {
    const std::vector<double> ratios{1.00, 1.05, 1.15, 1.3, 2.0};
    // Long enough for a 1.05 canary to be shown under 1.10 at 1% of 100
    // requests/s, which takes thousands of canary samples at every step.
    const std::int64_t cap = rps >= 1000 ? 3600 : 4 * 3600;
    for (double ratio : ratios) {
        const FastTraffic tr(rps, pool(median_ms, 0.001), pool(median_ms * ratio, 0.001));
        const Cell c = run_cell(tr, cap, static_cast<std::uint64_t>(median_ms * 1000 + ratio * 100 + rps));
        char label[96];
        std::snprintf(label, sizeof label, "%g ms | %g req/s | x%.2f", median_ms, rps, ratio);
        print_row(label, c);
        const double n = static_cast<double>(c.runs.size());
        if (ratio >= 1.15) {
            EXPECT_EQ(c.count(Phase::promoted), 0) << label << ": a canary above the limit was promoted";
            EXPECT_GE(c.rolled_back_by(5), static_cast<int>(0.99 * n))
                << label << ": rolled back before the canary's weight passed 5%";
        }
        if (ratio <= 1.05) {
            int shown = 0;
            for (const Outcome& o : c.runs)
                if (o.phase == Phase::rolled_back && shown++ < 5)
                    std::printf("  false rollback at %g%%: %s\n", o.percent_at_decision, o.last_reason.c_str());
            EXPECT_LE(c.rate(Phase::rolled_back), 0.005) << label << ": false rollbacks";
            EXPECT_GE(c.rate(Phase::promoted), ratio == 1.0 ? 0.995 : 0.95) << label << ": promoted";
        }
    }
}

TEST(RolloutScaleGrid, Latency0_2msAt100rps) { latency_row(0.2, 100); }
TEST(RolloutScaleGrid, Latency1msAt100rps) { latency_row(1, 100); }
TEST(RolloutScaleGrid, Latency10msAt100rps) { latency_row(10, 100); }
TEST(RolloutScaleGrid, Latency100msAt100rps) { latency_row(100, 100); }
TEST(RolloutScaleGrid, Latency0_2msAt1000rps) { latency_row(0.2, 1000); }
TEST(RolloutScaleGrid, Latency1msAt1000rps) { latency_row(1, 1000); }
TEST(RolloutScaleGrid, Latency10msAt1000rps) { latency_row(10, 1000); }
TEST(RolloutScaleGrid, Latency100msAt1000rps) { latency_row(100, 1000); }

// ---- traffic x errors -----------------------------------------------------------------

// One row of the error grid: every error multiple at one request rate.
void error_row(double rps) {
    const double baseline_rate = 0.001;
    const double limit = testing::scenario_spec().max_error_rate_increase;
    const std::vector<double> multiples{0, 0.5, 2, 20};
    // A few requests a second need hours per step at a 1% share; at most
    // two simulated hours per seed are spent on them.
    const std::int64_t cap = rps >= 100 ? 3600 : 2 * 3600;
    for (double k : multiples) {
        const FastTraffic tr(rps, pool(10, baseline_rate), pool(10, baseline_rate + k * limit));
        const Cell c = run_cell(tr, cap, static_cast<std::uint64_t>(rps * 10 + k * 7 + 99));
        char label[96];
        std::snprintf(label, sizeof label, "%g req/s | errors +%gx limit", rps, k);
        print_row(label, c);
        if (k <= 0.5) EXPECT_LE(c.rate(Phase::rolled_back), 0.005) << label << ": false rollbacks";
        if (k >= 2) EXPECT_EQ(c.count(Phase::promoted), 0) << label << ": a canary above the limit was promoted";
        if (k >= 20 && rps >= 100)
            EXPECT_GE(c.rolled_back_by(5), static_cast<int>(0.99 * static_cast<double>(c.runs.size()))) << label;
    }
}

TEST(RolloutScaleGrid, Errors1rps) { error_row(1); }
TEST(RolloutScaleGrid, Errors10rps) { error_row(10); }
TEST(RolloutScaleGrid, Errors100rps) { error_row(100); }
TEST(RolloutScaleGrid, Errors1000rps) { error_row(1000); }
TEST(RolloutScaleGrid, Errors5000rps) { error_row(5000); }

}  // namespace
}  // namespace weir::rollout
