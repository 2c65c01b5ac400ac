// The judge's statistics against values known in closed form and against
// brute force on small cases.
#include "rollout/histogram.hpp"
#include "rollout/judge.hpp"
#include "rollout/stats.hpp"

#include "traffic.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace weir::rollout::stats {
namespace {

// P(X = k), X ~ Binomial(n, p), in log space.
double binom_pmf(std::uint64_t k, std::uint64_t n, double p) {
    const double nd = static_cast<double>(n), kd = static_cast<double>(k);
    return std::exp(std::lgamma(nd + 1) - std::lgamma(kd + 1) - std::lgamma(nd - kd + 1) + kd * std::log(p) +
                    (nd - kd) * std::log1p(-p));
}

double brute_cdf(std::uint64_t k, std::uint64_t n, double p) {
    double s = 0;
    for (std::uint64_t i = 0; i <= std::min(k, n); ++i) s += binom_pmf(i, n, p);
    return std::min(1.0, s);
}

TEST(RolloutStats, NormalDistribution) {
    EXPECT_DOUBLE_EQ(normal_cdf(0), 0.5);
    EXPECT_NEAR(normal_cdf(1.959963984540054), 0.975, 1e-12);
    EXPECT_NEAR(normal_cdf(-1.6448536269514722), 0.05, 1e-12);
    EXPECT_NEAR(normal_sf(5) / 2.866515718791939e-07, 1, 1e-9);
    EXPECT_NEAR(normal_sf(10) / 7.619853024160527e-24, 1, 1e-9);
    EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-9);
    EXPECT_NEAR(normal_quantile(0.5), 0, 1e-12);
    EXPECT_NEAR(normal_quantile(0.001), -3.090232306167813, 1e-9);
    EXPECT_NEAR(normal_quantile(1e-10), -6.361340902404056, 1e-7);
    for (double p : {1e-12, 1e-6, 0.01, 0.02425, 0.1, 0.3, 0.7, 0.9, 0.97575, 0.999, 1 - 1e-9})
        EXPECT_NEAR(normal_cdf(normal_quantile(p)) / p, 1, 1e-8) << p;
    EXPECT_TRUE(std::isinf(normal_quantile(0)));
    EXPECT_TRUE(std::isinf(normal_quantile(1)));
}

TEST(RolloutStats, BinomialTailsExact) {
    // 10 fair coins: P(X >= 8) = (45 + 10 + 1) / 1024.
    EXPECT_NEAR(binomial_sf(8, 10, 0.5), 56.0 / 1024, 1e-14);
    EXPECT_NEAR(binomial_cdf(2, 10, 0.5), 56.0 / 1024, 1e-14);
    EXPECT_DOUBLE_EQ(binomial_sf(0, 10, 0.3), 1);
    EXPECT_DOUBLE_EQ(binomial_sf(11, 10, 0.3), 0);
    EXPECT_DOUBLE_EQ(binomial_cdf(10, 10, 0.3), 1);
    // 3 of 15 errors on a pool with a 1% share: ~4.2e-4.
    const double p3 = 1 - brute_cdf(2, 15, 0.01);
    EXPECT_NEAR(binomial_sf(3, 15, 0.01) / p3, 1, 1e-9);
    EXPECT_NEAR(p3, 4.158e-4, 0.001e-4);
    for (std::uint64_t n : {1u, 7u, 40u, 333u, 5000u})
        for (double p : {0.001, 0.05, 0.5, 0.93})
            for (std::uint64_t k : {0ul, 1ul, n / 3, n / 2, n - 1, n}) {
                const double want = brute_cdf(k, n, p);
                EXPECT_NEAR(binomial_cdf(k, n, p), want, 1e-10 + 1e-8 * want) << n << " " << p << " " << k;
            }
}

TEST(RolloutStats, BinomialQuantileMatchesBruteForce) {
    // Exact below a mean of 200 on the rare side, approximate (off by at
    // most one) above.
    for (std::uint64_t n : {5u, 20u, 120u, 500u, 3000u, 20000u})
        for (double p : {0.01, 0.1, 0.5, 0.9, 0.99})
            for (double level : {0.001, 0.025, 0.6, 0.975, 0.999})  // no exact ties
                for (bool strict : {false, true}) {
                    std::uint64_t want = 0;
                    double c = 0;
                    for (std::uint64_t j = 0; j <= n; ++j) {
                        c += binom_pmf(j, n, p);
                        want = j;
                        if (strict ? c > level : c >= level) break;
                    }
                    const std::uint64_t got = binomial_quantile(n, p, level, strict);
                    const bool exact = std::min(p, 1 - p) * static_cast<double>(n) <= 200;
                    if (exact)
                        EXPECT_EQ(got, want) << n << " " << p << " " << level << " " << strict;
                    else
                        EXPECT_LE(got > want ? got - want : want - got, 1u) << n << " " << p << " " << level;
                }
}

TEST(RolloutStats, QuantileRankBoundsAreTheClassicalOrderStatistics) {
    // The 95% two-sided confidence interval for the median of 100 samples
    // runs from the 40th to the 61st order statistic (1-based).
    const RankBounds m = quantile_rank_bounds(100, 0.5, 0.975);
    ASSERT_TRUE(m.has_lower && m.has_upper);
    EXPECT_EQ(m.lower, 39u);
    EXPECT_EQ(m.upper, 60u);
    EXPECT_EQ(m.point, 49u);
    // Ten samples cannot bound p99 from above at 95%: even their maximum is
    // below p99 with probability 0.99^10 ~ 0.90.
    const RankBounds t = quantile_rank_bounds(10, 0.99, 0.95);
    EXPECT_FALSE(t.has_upper);
    EXPECT_TRUE(t.has_lower);
    EXPECT_EQ(quantile_rank_bounds(0, 0.5, 0.95).has_lower, false);
    // The definition, on many sizes: coverage holds and the bound is the
    // tightest that does.
    for (std::uint64_t n : {10u, 37u, 200u, 1000u})
        for (double q : {0.5, 0.9, 0.99})
            for (double conf : {0.975, 0.999}) {
                const RankBounds b = quantile_rank_bounds(n, q, conf);
                EXPECT_EQ(b.point, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n))) - 1);
                // B = #samples <= the quantile ~ Binomial(n, q).
                if (b.has_lower) {
                    // X(lower+1) <= xi  <=>  B >= lower + 1.
                    EXPECT_GE(1 - brute_cdf(b.lower, n, q), conf - 1e-9) << n << " " << q;
                    EXPECT_LT(1 - brute_cdf(b.lower + 1, n, q), conf + 1e-9) << n << " " << q;
                }
                if (b.has_upper) {
                    // X(upper+1) >= xi  <=>  B <= upper.
                    EXPECT_GE(brute_cdf(b.upper, n, q), conf - 1e-9) << n << " " << q;
                    if (b.upper > 0) {
                        EXPECT_LT(brute_cdf(b.upper - 1, n, q), conf + 1e-9) << n << " " << q;
                    }
                }
            }
}

TEST(RolloutStats, QuantileBoundsCoverTheTruthInSimulation) {
    // Lognormal samples: the 97.5% one-sided bounds of p90 miss the true p90
    // about 2.5% of the time each, not more.
    const double true_p90 = std::exp(0.5 * 1.2815515655446004);
    testing::Rng rng(7);
    int below = 0, above = 0;
    const int trials = 4000;
    std::vector<double> xs(300);
    for (int t = 0; t < trials; ++t) {
        for (double& x : xs) x = std::exp(0.5 * rng.normal());
        std::sort(xs.begin(), xs.end());
        const RankBounds b = quantile_rank_bounds(xs.size(), 0.9, 0.975);
        ASSERT_TRUE(b.has_lower && b.has_upper);
        if (xs[b.lower] > true_p90) ++below;
        if (xs[b.upper] < true_p90) ++above;
    }
    EXPECT_LE(below, trials * 0.035);
    EXPECT_LE(above, trials * 0.035);
    EXPECT_GE(below + above, trials * 0.02) << "not absurdly conservative either";
}

TEST(RolloutStats, PoissonBinomialTail) {
    // Equal probabilities: the binomial.
    EXPECT_NEAR(poisson_binomial_sf({{0.01, 15}}, 3), binomial_sf(3, 15, 0.01), 1e-15);
    EXPECT_NEAR(poisson_binomial_sf({{0.3, 4}, {0.3, 6}}, 4), binomial_sf(4, 10, 0.3), 1e-14);
    // By hand: p = 0.1, 0.5, 0.9; P(S >= 2) = P(2) + P(3).
    const double p3 = 0.1 * 0.5 * 0.9;
    const double p2 = 0.1 * 0.5 * 0.1 + 0.1 * 0.5 * 0.9 + 0.9 * 0.5 * 0.9;
    EXPECT_NEAR(poisson_binomial_sf({{0.1, 1}, {0.5, 1}, {0.9, 1}}, 2), p2 + p3, 1e-15);
    EXPECT_DOUBLE_EQ(poisson_binomial_sf({{0.5, 3}}, 0), 1);
    EXPECT_DOUBLE_EQ(poisson_binomial_sf({{0.5, 3}}, 4), 0);
    EXPECT_DOUBLE_EQ(poisson_binomial_sf({}, 1), 0);
    // Large: the approximation (2000 trials x 651 > 200000 cells) stays
    // within 10% of the exact binomial tail at p ~ 1e-3.
    const double exact = binomial_sf(650, 2000, 0.3);
    EXPECT_GT(exact, 1e-4);
    EXPECT_LT(exact, 1e-2);
    EXPECT_NEAR(poisson_binomial_sf({{0.3, 2000}}, 650) / exact, 1, 0.1);
}

TEST(RolloutStats, MannWhitneySmallExamples) {
    // x entirely below y: U = 0, mean 3, variance n1 n2 (N+1) / 12 = 3.
    MannWhitney a = mann_whitney({{1, 1}, {2, 1}, {3, 1}}, {{4, 1}, {5, 1}});
    EXPECT_DOUBLE_EQ(a.u, 0);
    EXPECT_DOUBLE_EQ(a.mean, 3);
    EXPECT_DOUBLE_EQ(a.var, 3);
    // Reversed: U = n1 n2.
    MannWhitney b = mann_whitney({{4, 1}, {5, 1}}, {{1, 1}, {2, 1}, {3, 1}});
    EXPECT_DOUBLE_EQ(b.u, 6);
    // Ties: x = {1, 2, 2}, y = {2, 3}: the two (2, 2) pairs count half
    // each; tie groups 1, 3, 1 give sum(t^3 - t) = 24 and
    // var = 6/12 * (6 - 24/20) = 2.4.
    MannWhitney c = mann_whitney({{1, 1}, {2, 2}}, {{2, 1}, {3, 1}});
    EXPECT_DOUBLE_EQ(c.u, 1);
    EXPECT_DOUBLE_EQ(c.mean, 3);
    EXPECT_NEAR(c.var, 2.4, 1e-12);
    // Nothing to compare.
    EXPECT_DOUBLE_EQ(mann_whitney({}, {{1, 3}}).var, 0);
    EXPECT_DOUBLE_EQ(mann_whitney({}, {{1, 3}}).z(), 0);
}

TEST(RolloutStats, MannWhitneyMatchesBruteForceAndMidranks) {
    testing::Rng rng(11);
    for (int t = 0; t < 200; ++t) {
        std::vector<std::uint32_t> xs, ys;
        const int n1 = 1 + static_cast<int>(rng.next() % 12), n2 = 1 + static_cast<int>(rng.next() % 12);
        for (int i = 0; i < n1; ++i) xs.push_back(static_cast<std::uint32_t>(rng.next() % 6));
        for (int i = 0; i < n2; ++i) ys.push_back(static_cast<std::uint32_t>(rng.next() % 6));
        auto counts = [](std::vector<std::uint32_t> v) {
            std::sort(v.begin(), v.end());
            Counts c;
            for (auto x : v) {
                if (!c.empty() && c.back().first == x)
                    ++c.back().second;
                else
                    c.emplace_back(x, 1);
            }
            return c;
        };
        double u = 0;
        for (auto x : xs)
            for (auto y : ys) u += x > y ? 1 : x == y ? 0.5 : 0;
        // Midranks: U = R1 - n1 (n1 + 1) / 2.
        std::vector<std::pair<std::uint32_t, int>> all;
        for (auto x : xs) all.emplace_back(x, 0);
        for (auto y : ys) all.emplace_back(y, 1);
        std::sort(all.begin(), all.end());
        double r1 = 0;
        for (std::size_t i = 0; i < all.size();) {
            std::size_t j = i;
            while (j < all.size() && all[j].first == all[i].first) ++j;
            const double midrank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
            for (std::size_t k = i; k < j; ++k)
                if (all[k].second == 0) r1 += midrank;
            i = j;
        }
        const MannWhitney m = mann_whitney(counts(xs), counts(ys));
        EXPECT_DOUBLE_EQ(m.u, u);
        EXPECT_DOUBLE_EQ(m.u, r1 - n1 * (n1 + 1) / 2.0);
        EXPECT_EQ(m.n1, static_cast<std::uint64_t>(n1));
        EXPECT_GE(m.var, 0);
    }
}

TEST(RolloutStats, MannWhitneyStrataAdd) {
    MannWhitney s;
    s.add(mann_whitney({{5, 2}}, {{1, 2}}));
    s.add(mann_whitney({{5, 2}}, {{1, 2}}));
    EXPECT_DOUBLE_EQ(s.u, 8);
    EXPECT_DOUBLE_EQ(s.mean, 4);
    EXPECT_EQ(s.strata, 2u);
    EXPECT_GT(s.z(), 0);
    // z has a continuity correction of 1/2 toward 0.
    EXPECT_NEAR(s.z(), (8 - 4 - 0.5) / std::sqrt(s.var), 1e-12);
}

TEST(RolloutStats, ProportionBounds) {
    // Wilson: 0 of 100 at 95% -> [0, 0.037].
    const Interval w = wilson(0, 100, 1.959963984540054);
    EXPECT_NEAR(w.lo, 0, 1e-12);
    EXPECT_NEAR(w.hi, 0.0370, 0.0002);
    const Interval h = wilson(50, 100, 1.959963984540054);
    EXPECT_NEAR(h.lo, 0.4038, 0.0005);
    EXPECT_NEAR(h.hi, 0.5962, 0.0005);
    // Agresti-Caffo: equal rates, large samples -> a small positive bound.
    const double u = agresti_caffo_upper(10, 10000, 100, 100000, 1.6448536269514722);
    EXPECT_GT(u, 0);
    EXPECT_LT(u, 0.001);
    EXPECT_GT(agresti_caffo_upper(200, 1000, 1, 1000, 1.645), 0.15);
}

TEST(RolloutStats, ErrorIncreaseOfOneTenthPercentNeedsOverThreeThousandSamples) {
    // Why the scenarios use max_error_rate_increase 0.01: with both pools at
    // 0.1% errors (and a large baseline), the 95% upper bound of the
    // increase falls below 0.001 only beyond 3000 canary requests per step;
    // below 0.01 it does from about 100.
    auto needed = [](double limit) {
        for (std::uint64_t n = 10; n < 1000000; n += 10) {
            const auto x = static_cast<std::uint64_t>(std::llround(0.001 * static_cast<double>(n)));
            if (agresti_caffo_upper(x, n, 1000, 1000000, 1.6448536269514722) < limit) return n;
        }
        return std::uint64_t{0};
    };
    EXPECT_GT(needed(0.001), 3000u);
    EXPECT_LT(needed(0.01), 500u);
    std::printf("[rollout-sim] canary requests per step needed for error-rate increase bound < 0.001: %llu, < 0.01: %llu\n",
                static_cast<unsigned long long>(needed(0.001)), static_cast<unsigned long long>(needed(0.01)));
}

TEST(RolloutStats, HistogramResolvesValuesBelow64Microseconds) {
    // Below 2^7 us a sub-bucket is at most 1 us wide: every integer gets
    // its own bucket, in order (below 64 us this used to shift by a
    // negative count).
    int prev = -1;
    for (std::uint64_t us = 8; us < 128; ++us) {
        const int b = Histogram::bucket_of(us);
        EXPECT_GT(b, prev) << us;
        prev = b;
        EXPECT_LE(Histogram::lower_bound(b), static_cast<double>(us));
        EXPECT_GT(Histogram::upper_bound(b), static_cast<double>(us));
    }
    // ... and up to an hour (long downloads, long polls) at the same precision.
    for (std::uint64_t us = 8; us < 3'600'000'000ULL; us = us * 3 / 2 + 1) {
        const int b = Histogram::bucket_of(us);
        EXPECT_LE(Histogram::lower_bound(b), static_cast<double>(us)) << us;
        EXPECT_GT(Histogram::upper_bound(b), static_cast<double>(us)) << us;
        EXPECT_LT(std::fabs(Histogram::midpoint(b) - static_cast<double>(us)) / static_cast<double>(us), 0.01);
    }
}

TEST(RolloutStats, HistogramTopBucketLiesBeyondAnHour) {
    EXPECT_LT(Histogram::bucket_of(3'600'000'000ULL), Histogram::bucket_count - 1);
    EXPECT_GE(Histogram::lower_bound(Histogram::bucket_count - 1), 4.2e9);
}

TEST(RolloutStats, RateIncreaseLikelihoodRatio) {
    // Nothing to test when the increase is within the limit.
    EXPECT_EQ(rate_increase_lr_z(10, 1000, 9, 1000, 0.01), 0);
    EXPECT_EQ(rate_increase_lr_z(0, 0, 0, 10, 0.01), 0);
    // 12 of 60 against 0 of 60 with a 1% limit (worked by hand: the null's
    // best fit puts the baseline at ~9%, 2 (ll1 - ll0) ~ 16.7).
    EXPECT_NEAR(rate_increase_lr_z(12, 60, 0, 60, 0.01), 4.08, 0.03);
    // More failures, more evidence; a larger limit, less.
    EXPECT_GT(rate_increase_lr_z(13, 60, 0, 60, 0.01), rate_increase_lr_z(12, 60, 0, 60, 0.01));
    EXPECT_LT(rate_increase_lr_z(12, 60, 0, 60, 0.05), rate_increase_lr_z(12, 60, 0, 60, 0.01));
    // With large counts it agrees with the normal (Wald) statistic.
    const double wald = (0.10 - 0.05 - 0.01) / std::sqrt(0.10 * 0.90 / 10000 + 0.05 * 0.95 / 10000);
    EXPECT_NEAR(rate_increase_lr_z(1000, 10000, 500, 10000, 0.01), wald, 0.05 * wald);
    // Every canary request failed, the baseline never: finite and large.
    const double all = rate_increase_lr_z(5, 5, 0, 5000, 0.001);
    EXPECT_TRUE(std::isfinite(all));
    EXPECT_GT(all, 5);
    // A limit of zero: plain "more errors than the baseline".
    EXPECT_GT(rate_increase_lr_z(30, 1000, 10, 1000, 0), 3);
}

TEST(RolloutStats, RequestsToProveTheErrorLimit) {
    // ~2 700 error-free canary requests for 0.1%, ten times fewer for 1%.
    const std::uint64_t tenth = requests_to_prove_error_limit(0.001);
    const std::uint64_t one = requests_to_prove_error_limit(0.01);
    EXPECT_GT(tenth, 2400u);
    EXPECT_LT(tenth, 3000u);
    EXPECT_GT(one, 240u);
    EXPECT_LT(one, 300u);
    EXPECT_LT(stats::agresti_caffo_upper(0, tenth, 0, tenth * 1000, judge::error_bound_z), 0.001);
    EXPECT_GE(stats::agresti_caffo_upper(0, tenth - 1, 0, (tenth - 1) * 1000, judge::error_bound_z), 0.001);
}

}  // namespace
}  // namespace weir::rollout::stats
