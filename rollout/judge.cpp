#include "rollout/judge.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <tuple>

namespace weir::rollout {

namespace json = boost::json;

namespace {

constexpr int kOctaves = Histogram::max_exponent - Histogram::min_exponent;

double lower_value(int bucket) { return bucket == 0 ? 0.0 : Histogram::lower_bound(bucket); }
double upper_value(int bucket) {
    return bucket == Histogram::bucket_count - 1 ? std::numeric_limits<double>::infinity()
                                                 : Histogram::upper_bound(bucket);
}

void add_record(Scope& s, const SliceRecord& r) {
    s.canary.add(r.canary);
    s.baseline.add(r.baseline);
    s.canary_errors += r.canary_errors;
    s.baseline_errors += r.baseline_errors;
    s.slices += 1;
}

void remove_record(Scope& s, const SliceRecord& r) {
    s.canary.remove(r.canary);
    s.baseline.remove(r.baseline);
    s.canary_errors -= r.canary_errors;
    s.baseline_errors -= r.baseline_errors;
    s.slices -= 1;
}

json::value opt_ms(const std::optional<double>& us) {
    if (!us || !std::isfinite(*us)) return nullptr;
    return round_to(*us / 1000, 0.001);
}

json::value opt_ratio(const std::optional<double>& r) {
    if (!r || !std::isfinite(*r)) return nullptr;
    return round_to(*r, 0.0001);
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string percent(double rate) {
    if (rate != 0 && std::fabs(rate) < 0.001) return fmt("%.3f%%", rate * 100);
    return fmt("%.2f%%", rate * 100);
}

std::string qname(double q) {
    if (q == 0.5) return "p50";
    if (q == 0.9) return "p90";
    if (q == 0.99) return "p99";
    return fmt("p%g", q * 100);
}

json::object bounds_json(const QuantileView& v) {
    json::object o;
    o["confidence"] = v.confidence;
    o["canary_ms"] = json::array{opt_ms(v.canary_lo), opt_ms(v.canary_hi)};
    o["baseline_ms"] = json::array{opt_ms(v.baseline_lo), opt_ms(v.baseline_hi)};
    o["ratio"] = json::array{opt_ratio(v.ratio_lower()), opt_ratio(v.ratio_upper())};
    return o;
}

}  // namespace

double round_to(double x, double unit) {
    // Dividing by an exact power of ten gives the double nearest the short
    // decimal, which prints short.
    const double scale = std::round(1 / unit);
    return std::round(x * scale) / scale;
}

std::string format_ms(double us) {
    if (!std::isfinite(us)) return "inf";
    const double ms = us / 1000;
    if (ms < 10) return fmt("%.2f ms", ms);
    if (ms < 1000) return fmt("%.1f ms", ms);
    return fmt("%.0f ms", ms);
}

// ---- counts ---------------------------------------------------------------

stats::Counts sparse_counts(const Histogram& h) {
    stats::Counts out;
    std::uint64_t left = h.count();
    out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(left, 256)));
    const std::uint32_t* c = h.data();
    // Most buckets are empty: skip them eight at a time.
    static_assert(Histogram::bucket_count % 8 == 0);
    for (int b = 0; left > 0 && b < Histogram::bucket_count; b += 8) {
        if ((c[b] | c[b + 1] | c[b + 2] | c[b + 3] | c[b + 4] | c[b + 5] | c[b + 6] | c[b + 7]) == 0) continue;
        for (int i = b; i < b + 8; ++i) {
            if (c[i] == 0) continue;
            out.emplace_back(static_cast<std::uint32_t>(i), c[i]);
            left -= std::min<std::uint64_t>(left, c[i]);
        }
    }
    return out;
}

BucketCounts::BucketCounts() : counts_(Histogram::bucket_count, 0), octaves_(kOctaves, 0) {}

void BucketCounts::add(const stats::Counts& c) {
    for (const auto& [b, n] : c) {
        counts_[b] += n;
        octaves_[b / Histogram::sub_buckets] += n;
        total_ += n;
    }
}

void BucketCounts::remove(const stats::Counts& c) {
    for (const auto& [b, n] : c) {
        counts_[b] -= n;
        octaves_[b / Histogram::sub_buckets] -= n;
        total_ -= n;
    }
}

void BucketCounts::clear() {
    if (total_ == 0) return;
    std::fill(counts_.begin(), counts_.end(), 0);
    std::fill(octaves_.begin(), octaves_.end(), 0);
    total_ = 0;
}

std::pair<int, std::uint64_t> BucketCounts::locate(std::uint64_t rank) const {
    rank = std::min(rank, total_ - 1);
    std::uint64_t seen = 0;
    int o = 0;
    for (; o < kOctaves; ++o) {
        if (seen + octaves_[static_cast<std::size_t>(o)] > rank) break;
        seen += octaves_[static_cast<std::size_t>(o)];
    }
    if (o == kOctaves) return {Histogram::bucket_count - 1, seen};
    for (int b = o * Histogram::sub_buckets; b < (o + 1) * Histogram::sub_buckets; ++b) {
        const std::uint64_t c = counts_[static_cast<std::size_t>(b)];
        if (seen + c > rank) return {b, seen};
        seen += c;
    }
    return {(o + 1) * Histogram::sub_buckets - 1, seen};
}

int BucketCounts::bucket_at_rank(std::uint64_t rank) const {
    if (total_ == 0) return 0;
    return locate(rank).first;
}

double BucketCounts::value_at_rank(std::uint64_t rank, bool upper) const {
    if (total_ == 0) return 0;
    rank = std::min(rank, total_ - 1);
    const auto [b, before] = locate(rank);
    if (b == Histogram::bucket_count - 1) return upper ? std::numeric_limits<double>::infinity() : lower_value(b);
    const double in_bucket = static_cast<double>(counts_[static_cast<std::size_t>(b)]);
    const double lo = lower_value(b), hi = upper_value(b);
    const double f = (static_cast<double>(rank - before) + 0.5) / std::max(1.0, in_bucket);
    return lo + std::min(1.0, f) * (hi - lo);
}

void Scope::clear() {
    canary.clear();
    baseline.clear();
    mw = {};
    canary_errors = baseline_errors = 0;
    slices = 0;
}

// ---- evidence windows ------------------------------------------------------

void Evidence::observe_baseline(const Slice& s) {
    baseline_history_.emplace_back(s.baseline.requests(), s.baseline.errors);
    while (baseline_history_.size() > judge::baseline_history_slices) baseline_history_.pop_front();
}

std::pair<std::uint64_t, std::uint64_t> Evidence::baseline_history_before(std::uint64_t newest_slices) const {
    std::pair<std::uint64_t, std::uint64_t> sum{0, 0};
    if (newest_slices >= baseline_history_.size()) return sum;
    const auto end = baseline_history_.end() - static_cast<std::ptrdiff_t>(newest_slices);
    for (auto it = baseline_history_.begin(); it != end; ++it) {
        sum.first += it->first;
        sum.second += it->second;
    }
    return sum;
}

void Evidence::add(const Slice& s) {
    observe_baseline(s);
    SliceRecord r;
    r.start_ms = s.start_ms;
    r.canary_ok = s.canary.successes();
    r.canary_errors = s.canary.errors;
    r.baseline_ok = s.baseline.successes();
    r.baseline_errors = s.baseline.errors;
    if (r.canary_ok > 0) r.canary = sparse_counts(s.canary.latency);
    if (r.baseline_ok > 0) r.baseline = sparse_counts(s.baseline.latency);
    if (r.canary_ok > 0 && r.baseline_ok > 0) r.mw = stats::mann_whitney(r.canary, r.baseline);
    r.in_step = true;

    // Failure streak: canary errors in slices without any canary success.
    // Order within a slice is unknown, so a slice with a success ends it.
    if (r.canary_ok > 0) {
        streak_ = 0;
        streak_baseline_requests_ = streak_baseline_errors_ = 0;
    } else if (r.canary_errors > 0 || streak_ > 0) {
        streak_ += r.canary_errors;
        streak_baseline_requests_ += r.baseline_requests();
        streak_baseline_errors_ += r.baseline_errors;
    }

    add_record(step_, r);
    step_.mw.add(r.mw);
    add_record(recent_, r);
    window_.push_back(std::move(r));
    while (window_.size() > judge::window_slices) {
        if (window_.front().in_step) remove_record(recent_, window_.front());
        window_.pop_front();
    }
    // The rank statistic of the recent scope is re-summed (at most 60
    // terms) rather than subtracted, so no rounding drift builds up.
    recent_.mw = {};
    for (const SliceRecord& w : window_)
        if (w.in_step) recent_.mw.add(w.mw);
}

void Evidence::begin_step() {
    step_.clear();
    recent_.clear();
    for (SliceRecord& r : window_) r.in_step = false;
}

void Evidence::clear() {
    // The baseline's error history is not evidence about the canary: kept.
    window_.clear();
    recent_.clear();
    step_.clear();
    streak_ = streak_baseline_requests_ = streak_baseline_errors_ = 0;
}

// ---- quantiles ---------------------------------------------------------------

std::optional<double> QuantileView::ratio_upper() const {
    if (!canary_hi || !baseline_lo || *baseline_lo <= 0) return std::nullopt;
    return *canary_hi / *baseline_lo;
}

std::optional<double> QuantileView::ratio_lower() const {
    if (!canary_lo || !baseline_hi || !std::isfinite(*baseline_hi) || *baseline_hi <= 0) return std::nullopt;
    return *canary_lo / *baseline_hi;
}

QuantileView view_quantile(const Scope& s, double q, double confidence) {
    QuantileView v;
    v.q = q;
    const std::uint64_t nc = s.canary.total(), nb = s.baseline.total();
    v.usable = static_cast<double>(nc) * (1 - q) >= judge::min_tail_count &&
               static_cast<double>(nb) * (1 - q) >= judge::min_tail_count;
    if (nc == 0 || nb == 0) return v;
    v.canary_us = s.canary.value_at_rank(stats::quantile_point_rank(nc, q));
    v.baseline_us = s.baseline.value_at_rank(stats::quantile_point_rank(nb, q));
    if (confidence <= 0) return v;
    const auto pc = stats::quantile_rank_bounds(nc, q, confidence);
    const auto pb = stats::quantile_rank_bounds(nb, q, confidence);
    v.confidence = confidence;
    if (pc.has_lower) v.canary_lo = s.canary.value_at_rank(pc.lower);
    if (pc.has_upper) v.canary_hi = s.canary.value_at_rank(pc.upper, /*upper=*/true);
    if (pb.has_lower) v.baseline_lo = s.baseline.value_at_rank(pb.lower);
    if (pb.has_upper) v.baseline_hi = s.baseline.value_at_rank(pb.upper, /*upper=*/true);
    return v;
}

// ---- errors -------------------------------------------------------------------

namespace {

ErrorTest error_test(const Evidence& e, const Scope& s, ScopeKind kind, const JudgeLimits& limits) {
    ErrorTest t;
    t.scope = scope_name(kind);
    t.slices = s.slices;
    t.canary_requests = s.canary_requests();
    t.canary_errors = s.canary_errors;
    t.baseline_requests = s.baseline_requests();
    t.baseline_errors = s.baseline_errors;
    t.rate_increase = t.canary_rate() - t.baseline_rate();
    t.z = stats::rate_increase_lr_z(t.canary_errors, t.canary_requests, t.baseline_errors, t.baseline_requests,
                                    limits.max_error_rate_increase);
    const double delta = limits.max_error_rate_increase;
    t.threshold_z = kind == ScopeKind::recent ? judge::error_z_recent : judge::error_z_step;
    bool fires = t.z >= t.threshold_z && t.rate_increase > delta;
    // The baseline's longer history: used when the scope's baseline fails
    // no more than it did before (else errors are shared, e.g. a common
    // dependency failing, and only the scope compares like with like).
    std::tie(t.history_requests, t.history_errors) = e.baseline_history_before(s.slices);
    if (t.history_requests > 0 && t.canary_requests > 0) {
        t.baseline_shift_z =
            stats::rate_increase_lr_z(t.baseline_errors, t.baseline_requests, t.history_errors, t.history_requests, 0);
        t.history_used = t.baseline_shift_z < judge::baseline_shift_z;
        if (t.history_used) {
            const std::uint64_t bn = t.baseline_requests + t.history_requests;
            const std::uint64_t be = t.baseline_errors + t.history_errors;
            t.history_rate_increase = t.canary_rate() - static_cast<double>(be) / static_cast<double>(bn);
            t.history_z = stats::rate_increase_lr_z(t.canary_errors, t.canary_requests, be, bn, delta);
            fires = fires || (t.history_z >= t.threshold_z && t.history_rate_increase > delta);
        }
    }
    t.significant = t.canary_errors >= judge::min_canary_errors && fires;
    return t;
}

}  // namespace

double ErrorTest::canary_rate() const {
    return canary_requests ? static_cast<double>(canary_errors) / static_cast<double>(canary_requests) : 0;
}

double ErrorTest::baseline_rate() const {
    return baseline_requests ? static_cast<double>(baseline_errors) / static_cast<double>(baseline_requests) : 0;
}

const char* scope_name(ScopeKind k) { return k == ScopeKind::recent ? "recent" : "step"; }

ErrorFinding judge_errors(const Evidence& e, const JudgeLimits& limits) {
    ErrorFinding f;
    f.max_error_rate_increase = limits.max_error_rate_increase;
    // Both scopes lie within the current step, where the canary's share is
    // constant: an error burst both pools share raises both rates alike.
    // The recent minute sees a sudden failure at high traffic; the step sees
    // the same at a few requests a second, where a minute holds too few.
    f.recent = error_test(e, e.recent(), ScopeKind::recent, limits);
    f.step = e.step().slices > e.recent().slices ? error_test(e, e.step(), ScopeKind::step, limits) : f.recent;
    f.step.scope = "step";
    f.significant = f.recent.significant || f.step.significant;

    f.streak = e.failure_streak();
    if (e.streak_baseline_requests() > 0)
        f.streak_baseline_error_rate =
            static_cast<double>(e.streak_baseline_errors()) / static_cast<double>(e.streak_baseline_requests());
    f.hard_limit = f.streak >= judge::failure_streak && e.streak_baseline_requests() > 0 &&
                   f.streak_baseline_error_rate <= judge::streak_baseline_max_error_rate;
    return f;
}

std::string ErrorFinding::reason() const {
    if (hard_limit && !significant)
        return "canary failed " + std::to_string(streak) +
               " requests in a row without a success while the baseline's error rate was " +
               percent(streak_baseline_error_rate);
    const ErrorTest& t = fired();
    const std::string where = t.scope == "recent" ? "in the last " + std::to_string(t.slices) + " s"
                                                  : "since the step began (" + std::to_string(t.slices) + " s)";
    char buf[400];
    if (t.z < t.threshold_z && t.history_used) {
        const std::uint64_t bn = t.baseline_requests + t.history_requests;
        const std::uint64_t be = t.baseline_errors + t.history_errors;
        std::snprintf(buf, sizeof buf,
                      "canary errors %s: %llu of %llu canary requests failed (%s) vs %llu of %llu baseline requests "
                      "over the last %llu s (%s), an increase of %s over the limit of %s (likelihood-ratio z = %.2f "
                      ">= %.1f)",
                      where.c_str(), static_cast<unsigned long long>(t.canary_errors),
                      static_cast<unsigned long long>(t.canary_requests), percent(t.canary_rate()).c_str(),
                      static_cast<unsigned long long>(be), static_cast<unsigned long long>(bn),
                      static_cast<unsigned long long>(std::max<std::uint64_t>(t.slices, judge::baseline_history_slices)),
                      percent(static_cast<double>(be) / static_cast<double>(bn)).c_str(),
                      percent(t.history_rate_increase).c_str(), percent(max_error_rate_increase).c_str(), t.history_z,
                      t.threshold_z);
        return buf;
    }
    std::snprintf(buf, sizeof buf,
                  "canary errors %s: %llu of %llu canary requests failed (%s) vs %llu of %llu baseline (%s), "
                  "an increase of %s over the limit of %s (likelihood-ratio z = %.2f >= %.1f)",
                  where.c_str(), static_cast<unsigned long long>(t.canary_errors),
                  static_cast<unsigned long long>(t.canary_requests), percent(t.canary_rate()).c_str(),
                  static_cast<unsigned long long>(t.baseline_errors),
                  static_cast<unsigned long long>(t.baseline_requests), percent(t.baseline_rate()).c_str(),
                  percent(t.rate_increase).c_str(), percent(max_error_rate_increase).c_str(), t.z, t.threshold_z);
    return buf;
}

json::object ErrorTest::to_json() const {
    json::object o;
    o["scope"] = scope;
    o["slices"] = slices;
    o["canary_requests"] = canary_requests;
    o["canary_errors"] = canary_errors;
    o["baseline_requests"] = baseline_requests;
    o["baseline_errors"] = baseline_errors;
    const auto ci = [](std::uint64_t x, std::uint64_t n) {
        const stats::Interval w = stats::wilson(x, n, 1.959963984540054);
        return json::array{round_to(w.lo, 1e-6), round_to(w.hi, 1e-6)};
    };
    o["canary_error_rate"] = round_to(canary_rate(), 1e-6);
    o["canary_error_rate_95"] = ci(canary_errors, canary_requests);
    o["baseline_error_rate"] = round_to(baseline_rate(), 1e-6);
    o["baseline_error_rate_95"] = ci(baseline_errors, baseline_requests);
    o["rate_increase"] = round_to(rate_increase, 1e-6);
    o["likelihood_ratio_z"] = round_to(z, 0.001);
    o["threshold_z"] = threshold_z;
    o["baseline_history"] = json::object{
        {"requests", history_requests},
        {"errors", history_errors},
        {"scope_vs_history_z", round_to(baseline_shift_z, 0.001)},
        {"used", history_used},
        {"rate_increase", round_to(history_rate_increase, 1e-6)},
        {"likelihood_ratio_z", round_to(history_z, 0.001)}};
    o["significant"] = significant;
    return o;
}

json::object ErrorFinding::to_json() const {
    json::object o;
    o["window_s"] = judge::window_slices;
    o["max_error_rate_increase"] = max_error_rate_increase;
    o["min_canary_errors"] = judge::min_canary_errors;
    o["tests"] = json::array{recent.to_json(), step.to_json()};
    o["failure_streak"] = streak;
    o["streak_baseline_error_rate"] = round_to(streak_baseline_error_rate, 1e-6);
    o["significant"] = significant;
    o["hard_limit"] = hard_limit;
    return o;
}

std::uint64_t requests_to_prove_error_limit(double max_error_rate_increase) {
    // The advance bound with no errors anywhere and a baseline much larger
    // than the canary: Agresti-Caffo's upper bound falls with n; find the
    // first n below the limit by doubling, then bisection.
    if (max_error_rate_increase <= 0) return UINT64_MAX;
    const auto upper = [](std::uint64_t n) {
        return stats::agresti_caffo_upper(0, n, 0, n * 1000, judge::error_bound_z);
    };
    std::uint64_t hi = 1;
    while (upper(hi) >= max_error_rate_increase) {
        if (hi > (1ULL << 40)) return UINT64_MAX;
        hi *= 2;
    }
    std::uint64_t lo = hi / 2;
    while (hi - lo > 1) {
        const std::uint64_t mid = lo + (hi - lo) / 2;
        if (upper(mid) < max_error_rate_increase) hi = mid;
        else lo = mid;
    }
    return hi;
}

// ---- latency ------------------------------------------------------------------

namespace {

std::string quantile_words(const QuantileView& v, const JudgeLimits& limits) {
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "%s %s vs %s (x%.2f; at %g%% confidence canary >= %s, baseline <= %s: ratio >= x%.3f > limit x%.2f)",
                  qname(v.q).c_str(), format_ms(v.canary_us).c_str(), format_ms(v.baseline_us).c_str(), v.ratio(),
                  v.confidence * 100, format_ms(v.canary_lo.value_or(0)).c_str(),
                  format_ms(v.baseline_hi.value_or(std::numeric_limits<double>::infinity())).c_str(),
                  v.ratio_lower().value_or(0), limits.max_latency_ratio);
    std::string out = buf;
    if (limits.min_latency_difference_us > 0)
        out += ", difference >= " + format_ms(*v.canary_lo - *v.baseline_hi) + " > min_latency_difference " +
               format_ms(limits.min_latency_difference_us);
    return out;
}

}  // namespace

LatencyFinding judge_latency(const Scope& s, const JudgeLimits& limits, ScopeKind kind) {
    LatencyFinding f;
    f.scope = scope_name(kind);
    f.slices = s.slices;
    f.canary_samples = s.canary.total();
    f.baseline_samples = s.baseline.total();
    f.mw_z = s.mw.z();
    f.strata = s.mw.strata;
    f.min_latency_difference_us = limits.min_latency_difference_us;
    const std::uint64_t min_samples =
        kind == ScopeKind::recent ? judge::min_recent_latency_samples : judge::min_latency_samples;
    if (f.canary_samples < min_samples || f.baseline_samples < min_samples) return f;
    const double mld = limits.min_latency_difference_us;
    // Slower than the limit allows: the ratio's lower bound above it (and,
    // where an absolute tolerance is set, the difference's beyond that).
    const auto beyond = [&](const QuantileView& v) {
        const auto lo = v.ratio_lower();
        return lo && *lo > limits.max_latency_ratio && *v.canary_lo - *v.baseline_hi > mld;
    };
    for (double q : judge::quantiles) {
        const QuantileView v = view_quantile(s, q, 0);
        if (!v.usable) continue;
        // Cheap screen: without the point estimate beyond the limits no
        // bound can be.
        if (v.ratio() <= limits.max_latency_ratio || v.canary_us - v.baseline_us <= mld) continue;
        if (!f.shift && f.mw_z >= judge::rank_z) {
            const QuantileView b = view_quantile(s, q, judge::shift_confidence);
            if (beyond(b)) {
                f.shift = true;
                char buf[96];
                std::snprintf(buf, sizeof buf, "rank test z = %.2f >= %.2f and ", f.mw_z, judge::rank_z);
                if (f.why.empty()) f.why = buf + quantile_words(b, limits);
            }
        }
        if (!f.tail) {
            const QuantileView t = view_quantile(s, q, judge::tail_confidence);
            if (beyond(t)) {
                f.tail = true;
                if (f.why.empty()) f.why = quantile_words(t, limits);
            }
        }
        if (f.shift && f.tail) break;
    }
    return f;
}

json::object latency_evidence(const Scope& s, const LatencyFinding& f, const JudgeLimits& limits) {
    json::object o;
    o["scope"] = f.scope;
    o["slices"] = f.slices;
    o["canary_samples"] = f.canary_samples;
    o["baseline_samples"] = f.baseline_samples;
    o["canary_errors"] = s.canary_errors;
    o["baseline_errors"] = s.baseline_errors;
    o["max_latency_ratio"] = limits.max_latency_ratio;
    o["min_latency_difference_ms"] = round_to(limits.min_latency_difference_us / 1000, 0.001);
    o["mann_whitney"] = json::object{{"z", round_to(f.mw_z, 0.001)},
                                     {"u", s.mw.u},
                                     {"expected_u", s.mw.mean},
                                     {"sd_u", round_to(std::sqrt(std::max(0.0, s.mw.var)), 0.001)},
                                     {"strata", f.strata},
                                     {"threshold_z", judge::rank_z}};
    json::array qs;
    for (double q : judge::quantiles) {
        const QuantileView a = view_quantile(s, q, judge::shift_confidence);
        const QuantileView b = view_quantile(s, q, judge::tail_confidence);
        json::object e;
        e["q"] = q;
        e["used"] = a.usable;
        e["canary_ms"] = round_to(a.canary_us / 1000, 0.001);
        e["baseline_ms"] = round_to(a.baseline_us / 1000, 0.001);
        e["ratio"] = round_to(a.ratio(), 0.0001);
        e["bounds"] = json::array{bounds_json(a), bounds_json(b)};
        qs.push_back(std::move(e));
    }
    o["quantiles"] = std::move(qs);
    o["shift"] = f.shift;
    o["tail"] = f.tail;
    if (!f.why.empty()) o["why"] = f.why;
    return o;
}

// ---- advancing -------------------------------------------------------------------

AdvanceFinding judge_advance(const Evidence& e, const JudgeLimits& limits, double seconds_at_step,
                             double min_seconds) {
    AdvanceFinding f;
    const Scope& s = e.step();
    f.seconds_at_step = seconds_at_step;
    f.canary_ok = s.canary_ok();
    f.baseline_ok = s.baseline_ok();
    f.enough_time = seconds_at_step >= min_seconds;
    f.enough_samples = f.canary_ok >= limits.min_samples && f.canary_ok > 0;

    const std::uint64_t cn = s.canary_requests(), bn = s.baseline_requests();
    const double cr = cn ? static_cast<double>(s.canary_errors) / static_cast<double>(cn) : 0;
    const double br = bn ? static_cast<double>(s.baseline_errors) / static_cast<double>(bn) : 0;
    f.error_increase = cr - br;
    f.error_increase_upper = stats::agresti_caffo_upper(s.canary_errors, cn, s.baseline_errors, bn, judge::error_bound_z);
    if (bn == 0 || cn == 0) f.insufficient = true;
    f.error_ok = bn > 0 && cn > 0 && f.error_increase_upper < limits.max_error_rate_increase;

    bool latency_ok = true;
    for (std::size_t i = 0; i < judge::quantiles.size(); ++i) {
        const double q = judge::quantiles[i];
        AdvanceFinding::Check& c = f.latency[i];
        const double tail_c = static_cast<double>(f.canary_ok) * (1 - q);
        const double tail_b = static_cast<double>(f.baseline_ok) * (1 - q);
        c.view = view_quantile(s, q, judge::advance_confidence);
        const bool mandatory = q < 0.95;  // p50, p90
        if (mandatory || (tail_c >= judge::min_tail_count_bound && tail_b >= judge::min_tail_count_bound)) {
            c.mode = AdvanceFinding::Check::bound;
            const auto ru = c.view.ratio_upper();
            if (!ru || !c.view.canary_hi || !c.view.baseline_lo) {
                f.insufficient = true;
                c.pass = false;
            } else {
                c.pass = *ru < limits.max_latency_ratio ||
                         *c.view.canary_hi - *c.view.baseline_lo < limits.min_latency_difference_us;
            }
        } else if (tail_c >= judge::min_tail_count && tail_b >= judge::min_tail_count) {
            // p99 before samples allow a bound: its point estimate may veto
            // but not approve.
            c.mode = AdvanceFinding::Check::point;
            c.pass = c.view.ratio() < limits.max_latency_ratio ||
                     c.view.canary_us - c.view.baseline_us < limits.min_latency_difference_us;
        } else {
            c.mode = AdvanceFinding::Check::skipped;
            c.pass = true;
        }
        // Whatever the mode: a quantile shown to be beyond the limit never
        // lets the canary advance.
        if (const auto rl = c.view.ratio_lower();
            rl && *rl > limits.max_latency_ratio &&
            *c.view.canary_lo - *c.view.baseline_hi > limits.min_latency_difference_us)
            c.pass = false;
        latency_ok = latency_ok && c.pass;
    }
    f.ready = f.enough_time && f.enough_samples && !f.insufficient && f.error_ok && latency_ok;

    // In words.
    std::string why;
    auto add = [&why](const std::string& s2) {
        if (!why.empty()) why += "; ";
        why += s2;
    };
    if (!f.enough_time) add(fmt("%.0f s", seconds_at_step) + " of " + fmt("%.0f s", min_seconds) + " at this step");
    if (!f.enough_samples)
        add(std::to_string(f.canary_ok) + " of " + std::to_string(limits.min_samples) + " canary samples");
    if (bn == 0) add("no baseline traffic at this step");
    if (!f.error_ok && bn > 0 && cn > 0)
        add("error-rate increase could be up to " + percent(f.error_increase_upper) + " (limit " +
            percent(limits.max_error_rate_increase) + ")");
    for (const auto& c : f.latency) {
        if (c.pass) continue;
        if (c.mode == AdvanceFinding::Check::bound && !c.view.ratio_upper()) {
            add(qname(c.view.q) + " needs more samples for a bound");
        } else if (c.mode == AdvanceFinding::Check::point) {
            add(qname(c.view.q) + " is " + format_ms(c.view.canary_us) + " vs " + format_ms(c.view.baseline_us) +
                fmt(" (x%.2f", c.view.ratio()) + fmt(", limit x%.2f)", limits.max_latency_ratio));
        } else {
            const auto ru = c.view.ratio_upper();
            add(qname(c.view.q) + " could be up to x" + (ru ? fmt("%.2f", *ru) : std::string("?")) +
                " the baseline's (" + format_ms(c.view.canary_us) + " vs " + format_ms(c.view.baseline_us) +
                fmt(", limit x%.2f)", limits.max_latency_ratio));
        }
    }
    if (f.ready) {
        why = "error-rate increase <= " + percent(std::max(0.0, f.error_increase_upper)) + " (95%)";
        for (const auto& c : f.latency) {
            if (c.mode == AdvanceFinding::Check::bound) {
                const auto ru = c.view.ratio_upper();
                why += ", " + qname(c.view.q) + " <= x" + fmt("%.3f", ru.value_or(0));
            } else if (c.mode == AdvanceFinding::Check::point) {
                why += ", " + qname(c.view.q) + " x" + fmt("%.3f", c.view.ratio()) + " (estimate)";
            }
        }
        why += fmt(" with %.0f%% confidence", (1 - 2 * (1 - judge::advance_confidence)) * 100) + " (limit x" +
               fmt("%.2f", limits.max_latency_ratio) + ")";
    }
    f.why = why;
    return f;
}

json::object AdvanceFinding::to_json(const JudgeLimits& limits) const {
    json::object o;
    o["seconds_at_step"] = round_to(seconds_at_step, 0.001);
    o["canary_samples"] = canary_ok;
    o["baseline_samples"] = baseline_ok;
    o["min_samples"] = limits.min_samples;
    o["error_rate_increase"] = round_to(error_increase, 1e-6);
    o["error_rate_increase_upper_95"] = round_to(error_increase_upper, 1e-6);
    o["max_error_rate_increase"] = limits.max_error_rate_increase;
    json::array qs;
    for (const Check& c : latency) {
        json::object e;
        e["q"] = c.view.q;
        e["mode"] = c.mode == Check::bound ? "bound" : c.mode == Check::point ? "estimate" : "skipped";
        e["pass"] = c.pass;
        e["canary_ms"] = round_to(c.view.canary_us / 1000, 0.001);
        e["baseline_ms"] = round_to(c.view.baseline_us / 1000, 0.001);
        e["ratio"] = round_to(c.view.ratio(), 0.0001);
        e["bounds"] = bounds_json(c.view);
        qs.push_back(std::move(e));
    }
    o["latency"] = std::move(qs);
    o["max_latency_ratio"] = limits.max_latency_ratio;
    o["min_latency_difference_ms"] = round_to(limits.min_latency_difference_us / 1000, 0.001);
    o["ready"] = ready;
    o["why"] = why;
    return o;
}

}  // namespace weir::rollout
