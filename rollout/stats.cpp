#include "rollout/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace weir::rollout::stats {

namespace {

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kSqrt2Pi = 2.50662827463100050242;

// Above this many expected "rare side" outcomes the binomial quantile uses
// the corrected normal approximation instead of summing the pmf.
constexpr double kExactBinomialMean = 200;
// Above this many DP cells the Poisson-binomial tail is approximated.
constexpr double kExactPoissonBinomialCells = 200000;

double normal_pdf(double x) { return std::exp(-0.5 * x * x) / kSqrt2Pi; }

// Continued fraction for the incomplete beta (modified Lentz).
double beta_cf(double a, double b, double x) {
    constexpr int max_iter = 10000;
    constexpr double eps = 1e-15;
    constexpr double tiny = 1e-300;
    const double qab = a + b;
    const double qap = a + 1;
    const double qam = a - 1;
    double c = 1;
    double d = 1 - qab * x / qap;
    if (std::fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= max_iter; ++m) {
        const double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (std::fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (std::fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1 / d;
        const double del = d * c;
        h *= del;
        if (std::fabs(del - 1) < eps) break;
    }
    return h;
}

}  // namespace

double normal_cdf(double x) { return 0.5 * std::erfc(-x / kSqrt2); }

double normal_sf(double x) { return 0.5 * std::erfc(x / kSqrt2); }

double normal_quantile(double p) {
    if (p <= 0) return -std::numeric_limits<double>::infinity();
    if (p >= 1) return std::numeric_limits<double>::infinity();
    // Acklam's rational approximation, then one Halley step on erfc.
    static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                   1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                   6.680131188771972e+01,  -1.328068155288572e+01};
    static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                   -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                   3.754408661907416e+00};
    constexpr double p_low = 0.02425;
    double x;
    if (p < p_low) {
        const double q = std::sqrt(-2 * std::log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - p_low) {
        const double q = p - 0.5;
        const double r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        const double q = std::sqrt(-2 * std::log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    // Halley refinement; the error is computed on the smaller tail.
    const double e = x < 0 ? normal_cdf(x) - p : (1 - p) - normal_sf(x);
    const double u = e * kSqrt2Pi * std::exp(x * x / 2);
    x = x - u / (1 + x * u / 2);
    return x;
}

double incomplete_beta(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    const double ln_front =
        std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
    const double front = std::exp(ln_front);
    if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

double binomial_cdf(std::uint64_t k, std::uint64_t n, double p) {
    if (k >= n) return 1;
    if (p <= 0) return 1;
    if (p >= 1) return 0;
    return incomplete_beta(static_cast<double>(n - k), static_cast<double>(k) + 1, 1 - p);
}

double binomial_sf(std::uint64_t k, std::uint64_t n, double p) {
    if (k == 0) return 1;
    if (k > n) return 0;
    if (p <= 0) return 0;
    if (p >= 1) return 1;
    return incomplete_beta(static_cast<double>(k), static_cast<double>(n - k) + 1, p);
}

std::uint64_t binomial_quantile(std::uint64_t n, double p, double level, bool strict) {
    if (n == 0 || p <= 0) return 0;
    if (p >= 1) return n;
    const double nd = static_cast<double>(n);
    if (std::min(p, 1 - p) * nd <= kExactBinomialMean) {
        if (p > 0.5) {
            // X = n - Y with Y ~ Binomial(n, 1 - p): P(X <= j) >= level
            // exactly when P(Y <= n - j - 1) <= 1 - level.
            const std::uint64_t m = binomial_quantile(n, 1 - p, 1 - level, !strict);
            return n - m;
        }
        // Sum the pmf from 0; (1-p)^n does not underflow as n p <= 200.
        double pmf = std::exp(nd * std::log1p(-p));
        double cdf = pmf;
        const double odds = p / (1 - p);
        std::uint64_t j = 0;
        while (j < n && (strict ? cdf <= level : cdf < level)) {
            pmf *= static_cast<double>(n - j) / static_cast<double>(j + 1) * odds;
            ++j;
            cdf += pmf;
        }
        return j;
    }
    const double mean = nd * p;
    const double sd = std::sqrt(nd * p * (1 - p));
    const double z = normal_quantile(level);
    const double skew = (1 - 2 * p) / sd;
    const double w = z + skew * (z * z - 1) / 6;
    const double j = std::ceil(mean + sd * w - 0.5);
    if (j <= 0) return 0;
    if (j >= nd) return n;
    return static_cast<std::uint64_t>(j);
}

std::uint64_t quantile_point_rank(std::uint64_t n, double q) {
    if (n == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    const auto ceil_rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
    return ceil_rank == 0 ? 0 : std::min(ceil_rank - 1, n - 1);
}

RankBounds quantile_rank_bounds(std::uint64_t n, double q, double confidence) {
    RankBounds r;
    if (n == 0) return r;
    q = std::clamp(q, 0.0, 1.0);
    r.point = quantile_point_rank(n, q);
    // B = #samples <= the true quantile ~ Binomial(n, q).
    // X(r) (1-based) <= xi  <=>  B >= r: the largest r with P(B <= r-1) <=
    // 1 - confidence is the smallest j with P(B <= j) > 1 - confidence.
    const std::uint64_t lo = binomial_quantile(n, q, 1 - confidence, /*strict=*/true);
    if (lo >= 1) {
        r.has_lower = true;
        r.lower = lo - 1;
    }
    // X(s) >= xi  <=>  B <= s-1: the smallest s with P(B <= s-1) >= confidence.
    const std::uint64_t hi = binomial_quantile(n, q, confidence, /*strict=*/false);
    if (hi <= n - 1) {
        r.has_upper = true;
        r.upper = hi;
    }
    return r;
}

double poisson_binomial_sf(const std::vector<std::pair<double, std::uint64_t>>& groups, std::uint64_t k) {
    if (k == 0) return 1;
    double trials = 0;
    double mean = 0, var = 0, third = 0;
    for (const auto& [p, count] : groups) {
        const double c = static_cast<double>(count);
        trials += c;
        mean += c * p;
        var += c * p * (1 - p);
        third += c * p * (1 - p) * (1 - 2 * p);
    }
    if (static_cast<double>(k) > trials) return 0;
    if (trials * static_cast<double>(k + 1) <= kExactPoissonBinomialCells) {
        // dp[s] = P(s successes so far), s < k; dp[k] = P(at least k).
        std::vector<double> dp(k + 1, 0.0);
        dp[0] = 1;
        std::uint64_t reach = 0;  // the highest s < k that can be non-zero so far
        for (const auto& [p, count] : groups) {
            const double pc = std::clamp(p, 0.0, 1.0);
            for (std::uint64_t t = 0; t < count; ++t) {
                dp[k] += dp[k - 1] * pc;
                const std::uint64_t top = std::min(reach + 1, k - 1);
                for (std::uint64_t s = top; s >= 1; --s) dp[s] = dp[s] * (1 - pc) + dp[s - 1] * pc;
                dp[0] *= 1 - pc;
                reach = top;
            }
        }
        return std::clamp(dp[k], 0.0, 1.0);
    }
    if (var <= 0) return static_cast<double>(k) <= mean ? 1 : 0;
    const double sd = std::sqrt(var);
    const double z = (static_cast<double>(k) - 0.5 - mean) / sd;
    const double gamma = third / (var * sd);
    const double sf = normal_sf(z) + normal_pdf(z) * gamma * (z * z - 1) / 6;
    return std::clamp(sf, 0.0, 1.0);
}

double MannWhitney::z() const {
    if (var <= 0) return 0;
    double d = u - mean;
    if (d > 0.5)
        d -= 0.5;
    else if (d < -0.5)
        d += 0.5;
    else
        d = 0;
    return d / std::sqrt(var);
}

MannWhitney mann_whitney(const Counts& x, const Counts& y) {
    MannWhitney r;
    std::uint64_t n1 = 0, n2 = 0;
    for (const auto& e : x) n1 += e.second;
    for (const auto& e : y) n2 += e.second;
    if (n1 == 0 || n2 == 0) return r;
    double u = 0;
    double ties = 0;
    double y_below = 0;
    std::size_t i = 0, j = 0;
    while (i < x.size() || j < y.size()) {
        std::uint32_t key;
        if (j >= y.size() || (i < x.size() && x[i].first < y[j].first))
            key = x[i].first;
        else
            key = y[j].first;
        double cx = 0, cy = 0;
        if (i < x.size() && x[i].first == key) cx = x[i++].second;
        if (j < y.size() && y[j].first == key) cy = y[j++].second;
        u += cx * (y_below + 0.5 * cy);
        const double t = cx + cy;
        ties += t * t * t - t;
        y_below += cy;
    }
    const double a = static_cast<double>(n1), b = static_cast<double>(n2);
    const double total = a + b;
    r.u = u;
    r.mean = a * b / 2;
    r.var = a * b / 12 * ((total + 1) - ties / (total * (total - 1)));
    r.n1 = n1;
    r.n2 = n2;
    r.strata = 1;
    return r;
}

double agresti_caffo_upper(std::uint64_t x1, std::uint64_t n1, std::uint64_t x2, std::uint64_t n2, double z) {
    const double t1 = static_cast<double>(n1) + 2, t2 = static_cast<double>(n2) + 2;
    const double p1 = (static_cast<double>(x1) + 1) / t1;
    const double p2 = (static_cast<double>(x2) + 1) / t2;
    const double se = std::sqrt(p1 * (1 - p1) / t1 + p2 * (1 - p2) / t2);
    return p1 - p2 + z * se;
}

namespace {

// x ln(p), with 0 ln(0) = 0 (a count of zero contributes nothing).
double xlogp(double x, double p) { return x == 0 ? 0.0 : x * std::log(p); }

// Binomial log-likelihood of x failures in n at rate p (without the constant).
double binomial_ll(double x, double n, double p) { return xlogp(x, p) + xlogp(n - x, 1 - p); }

}  // namespace

double rate_increase_lr_z(std::uint64_t x1, std::uint64_t n1, std::uint64_t x2, std::uint64_t n2, double delta) {
    if (n1 == 0 || n2 == 0 || delta < 0 || delta >= 1) return 0;
    const double c = static_cast<double>(x1), nc = static_cast<double>(n1);
    const double b = static_cast<double>(x2), nb = static_cast<double>(n2);
    const double p1 = c / nc, p2 = b / nb;
    if (p1 - p2 <= delta) return 0;
    const double free_ll = binomial_ll(c, nc, p1) + binomial_ll(b, nb, p2);
    // Under the null's boundary p1 = p + delta, p2 = p: the log-likelihood
    // is concave in p on [0, 1 - delta]; find where its slope changes sign.
    const auto slope = [&](double p) {
        double s = 0;
        if (c > 0) s += c / (p + delta);
        if (nc > c) s -= (nc - c) / (1 - p - delta);
        if (b > 0) s += b / p;
        if (nb > b) s -= (nb - b) / (1 - p);
        return s;
    };
    double lo = 0, hi = 1 - delta;
    for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
        const double mid = (lo + hi) / 2;
        if (slope(mid) > 0) lo = mid;
        else hi = mid;
    }
    const double p = (lo + hi) / 2;
    const double null_ll = binomial_ll(c, nc, p + delta) + binomial_ll(b, nb, p);
    return std::sqrt(std::max(0.0, 2 * (free_ll - null_ll)));
}

Interval wilson(std::uint64_t x, std::uint64_t n, double z) {
    if (n == 0) return {0, 1};
    const double nd = static_cast<double>(n);
    const double p = static_cast<double>(x) / nd;
    const double z2 = z * z;
    const double denom = 1 + z2 / nd;
    const double centre = (p + z2 / (2 * nd)) / denom;
    const double half = z * std::sqrt(p * (1 - p) / nd + z2 / (4 * nd * nd)) / denom;
    return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

}  // namespace weir::rollout::stats
