// Statistics the canary judge needs, written out so results are the same on
// every standard library: the normal distribution, exact binomial tails,
// distribution-free confidence bounds for quantiles (order statistics), the
// tail of a sum of unequal Bernoulli trials (where errors land, slice by
// slice), Mann-Whitney U from counts with ties, and a bound on the
// difference of two proportions. Pure functions, no allocation on the hot
// paths except where noted.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace weir::rollout::stats {

// Standard normal: Phi(x), 1 - Phi(x) (accurate far in the upper tail) and
// the inverse Phi^-1(p) for 0 < p < 1 (relative error < 1e-9).
double normal_cdf(double x);
double normal_sf(double x);
double normal_quantile(double p);

// Regularized incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1.
double incomplete_beta(double a, double b, double x);

// X ~ Binomial(n, p), exact: P(X <= k) and P(X >= k).
double binomial_cdf(std::uint64_t k, std::uint64_t n, double p);
double binomial_sf(std::uint64_t k, std::uint64_t n, double p);

// The smallest j in [0, n] with P(X <= j) >= level (strict: > level), X ~
// Binomial(n, p). Exact summation while min(p, 1-p) * n <= 200, beyond that
// a normal approximation with continuity and skewness (Cornish-Fisher)
// corrections, off by at most one near the boundary; O(1) or O(~300).
std::uint64_t binomial_quantile(std::uint64_t n, double p, double level, bool strict = false);

// Distribution-free confidence bounds for the q-quantile of a sample of n
// (order statistics): the sample value of 0-based rank `lower` is <= the
// true quantile with probability >= confidence, the one at `upper` is >= it
// with probability >= confidence (one-sided each). `point` is the
// nearest-rank estimate, ceil(q n) - 1. has_lower/has_upper are false when n
// is too small for that confidence.
struct RankBounds {
    std::uint64_t point = 0;
    bool has_lower = false;
    std::uint64_t lower = 0;
    bool has_upper = false;
    std::uint64_t upper = 0;
};
RankBounds quantile_rank_bounds(std::uint64_t n, double q, double confidence);
// Just the nearest-rank point estimate's 0-based rank, ceil(q n) - 1.
std::uint64_t quantile_point_rank(std::uint64_t n, double q);

// S = sum of independent Bernoulli trials, given as groups (p, how many
// trials share that p). Returns P(S >= k): exact (dynamic programming over
// the trials, truncated at k) while trials * k <= 200000, else a normal
// approximation with continuity and skewness (Edgeworth) corrections.
double poisson_binomial_sf(const std::vector<std::pair<double, std::uint64_t>>& groups, std::uint64_t k);

// Sorted (value key, count) pairs: a histogram's non-empty buckets in
// ascending order, or small integer samples in tests.
using Counts = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

// Mann-Whitney U for "x is larger than y": the number of (x, y) pairs with
// x > y plus half the pairs that tie (equal keys, i.e. the same bucket), its
// mean n1 n2 / 2 under the null and its variance with the tie correction.
// Sums of these over strata (time slices) give the stratified test.
struct MannWhitney {
    double u = 0;
    double mean = 0;
    double var = 0;
    std::uint64_t n1 = 0, n2 = 0;   // sample sizes (summed over strata)
    std::uint64_t strata = 0;       // strata that had both samples

    void add(const MannWhitney& o) {
        u += o.u;
        mean += o.mean;
        var += o.var;
        n1 += o.n1;
        n2 += o.n2;
        strata += o.strata;
    }
    // Standardized (U - mean) / sd with a continuity correction of 1/2
    // toward zero; 0 when there is nothing to compare.
    double z() const;
};
MannWhitney mann_whitney(const Counts& x, const Counts& y);

// Agresti-Caffo upper confidence bound of p1 - p2 (x errors in n trials
// each) at one-sided normal quantile z (1.645 for 95%).
double agresti_caffo_upper(std::uint64_t x1, std::uint64_t n1, std::uint64_t x2, std::uint64_t n2, double z);

// Signed root of the likelihood-ratio statistic for "p1 - p2 <= delta"
// (x1 failures in n1 trials against x2 in n2; two binomials): positive when
// the data say p1 exceeds p2 by more than delta, about standard normal at
// the boundary. Unlike a normal approximation it stays sensible with a
// handful of failures and with x2 = 0, so it can be used on a few requests
// as on millions. 0 when p1's estimate does not exceed p2's by delta.
double rate_increase_lr_z(std::uint64_t x1, std::uint64_t n1, std::uint64_t x2, std::uint64_t n2, double delta);

// Wilson score interval for a proportion (two-sided at normal quantile z).
struct Interval {
    double lo = 0;
    double hi = 1;
};
Interval wilson(std::uint64_t x, std::uint64_t n, double z);

}  // namespace weir::rollout::stats
