#include "rollout/judge.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

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

int BucketCounts::bucket_at_rank(std::uint64_t rank) const {
    if (total_ == 0) return 0;
    rank = std::min(rank, total_ - 1);
    std::uint64_t seen = 0;
    int o = 0;
    for (; o < kOctaves; ++o) {
        if (seen + octaves_[static_cast<std::size_t>(o)] > rank) break;
        seen += octaves_[static_cast<std::size_t>(o)];
    }
    if (o == kOctaves) return Histogram::bucket_count - 1;
    for (int b = o * Histogram::sub_buckets; b < (o + 1) * Histogram::sub_buckets; ++b) {
        seen += counts_[static_cast<std::size_t>(b)];
        if (seen > rank) return b;
    }
    return (o + 1) * Histogram::sub_buckets - 1;
}

void Scope::clear() {
    canary.clear();
    baseline.clear();
    mw = {};
    canary_errors = baseline_errors = 0;
    slices = 0;
}

// ---- evidence windows ------------------------------------------------------

void Evidence::add(const Slice& s) {
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
    if (confidence <= 0) {
        v.canary_us = Histogram::midpoint(s.canary.bucket_at_rank(stats::quantile_point_rank(nc, q)));
        v.baseline_us = Histogram::midpoint(s.baseline.bucket_at_rank(stats::quantile_point_rank(nb, q)));
        return v;
    }
    const auto pc = stats::quantile_rank_bounds(nc, q, confidence);
    const auto pb = stats::quantile_rank_bounds(nb, q, confidence);
    v.canary_us = Histogram::midpoint(s.canary.bucket_at_rank(pc.point));
    v.baseline_us = Histogram::midpoint(s.baseline.bucket_at_rank(pb.point));
    v.confidence = confidence;
    if (pc.has_lower) v.canary_lo = lower_value(s.canary.bucket_at_rank(pc.lower));
    if (pc.has_upper) v.canary_hi = upper_value(s.canary.bucket_at_rank(pc.upper));
    if (pb.has_lower) v.baseline_lo = lower_value(s.baseline.bucket_at_rank(pb.lower));
    if (pb.has_upper) v.baseline_hi = upper_value(s.baseline.bucket_at_rank(pb.upper));
    return v;
}

// ---- errors -------------------------------------------------------------------

ErrorFinding judge_errors(const Evidence& e, const JudgeLimits& limits) {
    ErrorFinding f;
    for (const SliceRecord& r : e.window()) {
        f.canary_requests += r.canary_requests();
        f.canary_errors += r.canary_errors;
        f.baseline_requests += r.baseline_requests();
        f.baseline_errors += r.baseline_errors;
    }
    const std::uint64_t all = f.canary_requests + f.baseline_requests;
    if (all > 0) f.canary_share = static_cast<double>(f.canary_requests) / static_cast<double>(all);
    if (f.canary_errors > 0) {
        // Under "the canary is no worse", each error of a slice is the
        // canary's with the canary's share of that slice's requests.
        std::vector<std::pair<double, std::uint64_t>> groups;
        for (const SliceRecord& r : e.window()) {
            const std::uint64_t errors = r.canary_errors + r.baseline_errors;
            if (errors == 0) continue;
            const double p = static_cast<double>(r.canary_requests()) /
                             static_cast<double>(r.canary_requests() + r.baseline_requests());
            f.expected_canary_errors += p * static_cast<double>(errors);
            groups.emplace_back(p, errors);
        }
        f.tail_p = stats::poisson_binomial_sf(groups, f.canary_errors);
    } else {
        for (const SliceRecord& r : e.window()) {
            const std::uint64_t errors = r.baseline_errors;
            if (errors == 0) continue;
            f.expected_canary_errors += static_cast<double>(r.canary_requests()) /
                                        static_cast<double>(r.canary_requests() + r.baseline_requests()) *
                                        static_cast<double>(errors);
        }
    }
    const double canary_rate =
        f.canary_requests ? static_cast<double>(f.canary_errors) / static_cast<double>(f.canary_requests) : 0;
    const double baseline_rate =
        f.baseline_requests ? static_cast<double>(f.baseline_errors) / static_cast<double>(f.baseline_requests)
                            : 0;
    f.rate_increase = canary_rate - baseline_rate;
    f.significant = f.canary_errors >= judge::min_canary_errors && f.tail_p < judge::error_tail_p &&
                    f.rate_increase > limits.max_error_rate_increase;

    f.streak = e.failure_streak();
    if (e.streak_baseline_requests() > 0)
        f.streak_baseline_error_rate =
            static_cast<double>(e.streak_baseline_errors()) / static_cast<double>(e.streak_baseline_requests());
    f.hard_limit = f.streak >= judge::failure_streak && e.streak_baseline_requests() > 0 &&
                   f.streak_baseline_error_rate <= judge::streak_baseline_max_error_rate;
    return f;
}

std::string ErrorFinding::reason() const {
    const double cr = canary_requests ? static_cast<double>(canary_errors) / static_cast<double>(canary_requests) : 0;
    const double br =
        baseline_requests ? static_cast<double>(baseline_errors) / static_cast<double>(baseline_requests) : 0;
    if (hard_limit && !significant)
        return "canary failed " + std::to_string(streak) +
               " requests in a row without a success while the baseline's error rate was " +
               percent(streak_baseline_error_rate);
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "canary errors: %llu of %llu errors in the last %zu s landed on the canary, %.1f expected from its "
                  "%s share of requests (p = %.2g < %g); error rate %s vs baseline %s",
                  static_cast<unsigned long long>(canary_errors),
                  static_cast<unsigned long long>(canary_errors + baseline_errors), judge::window_slices,
                  expected_canary_errors, percent(canary_share).c_str(), tail_p, judge::error_tail_p,
                  percent(cr).c_str(), percent(br).c_str());
    return buf;
}

json::object ErrorFinding::to_json() const {
    json::object o;
    o["window_s"] = judge::window_slices;
    o["canary_requests"] = canary_requests;
    o["canary_errors"] = canary_errors;
    o["baseline_requests"] = baseline_requests;
    o["baseline_errors"] = baseline_errors;
    const auto ci = [](std::uint64_t x, std::uint64_t n) {
        const stats::Interval w = stats::wilson(x, n, 1.959963984540054);
        return json::array{round_to(w.lo, 1e-6), round_to(w.hi, 1e-6)};
    };
    o["canary_error_rate"] =
        canary_requests ? round_to(static_cast<double>(canary_errors) / static_cast<double>(canary_requests), 1e-6)
                        : 0.0;
    o["canary_error_rate_95"] = ci(canary_errors, canary_requests);
    o["baseline_error_rate"] =
        baseline_requests
            ? round_to(static_cast<double>(baseline_errors) / static_cast<double>(baseline_requests), 1e-6)
            : 0.0;
    o["baseline_error_rate_95"] = ci(baseline_errors, baseline_requests);
    o["canary_share"] = round_to(canary_share, 1e-6);
    o["expected_canary_errors"] = round_to(expected_canary_errors, 1e-4);
    o["binomial_tail_p"] = tail_p;
    o["tail_p_threshold"] = judge::error_tail_p;
    o["failure_streak"] = streak;
    o["streak_baseline_error_rate"] = round_to(streak_baseline_error_rate, 1e-6);
    o["significant"] = significant;
    o["hard_limit"] = hard_limit;
    return o;
}

// ---- latency ------------------------------------------------------------------

namespace {

std::string quantile_words(const QuantileView& v) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s %s vs %s (x%.2f; at %g%% confidence canary >= %s, baseline <= %s)",
                  qname(v.q).c_str(), format_ms(v.canary_us).c_str(), format_ms(v.baseline_us).c_str(), v.ratio(),
                  v.confidence * 100, format_ms(v.canary_lo.value_or(0)).c_str(),
                  format_ms(v.baseline_hi.value_or(std::numeric_limits<double>::infinity())).c_str());
    return buf;
}

}  // namespace

LatencyFinding judge_latency(const Scope& s, const JudgeLimits& limits, const char* scope_name) {
    LatencyFinding f;
    f.scope = scope_name;
    f.slices = s.slices;
    f.canary_samples = s.canary.total();
    f.baseline_samples = s.baseline.total();
    f.mw_z = s.mw.z();
    f.strata = s.mw.strata;
    if (f.canary_samples < judge::min_latency_samples || f.baseline_samples < judge::min_latency_samples) return f;
    for (double q : judge::quantiles) {
        const QuantileView v = view_quantile(s, q, 0);
        if (!v.usable) continue;
        // Cheap screen: without the point estimate beyond both limits no
        // bound can be.
        if (v.ratio() < limits.max_latency_ratio || v.canary_us - v.baseline_us < judge::latency_floor_us) continue;
        if (!f.shift && f.mw_z >= judge::rank_z) {
            const QuantileView b = view_quantile(s, q, judge::shift_confidence);
            if (b.canary_lo && b.baseline_hi && *b.canary_lo > *b.baseline_hi) {
                f.shift = true;
                char buf[96];
                std::snprintf(buf, sizeof buf, "rank test z = %.2f >= %.2f and ", f.mw_z, judge::rank_z);
                if (f.why.empty()) f.why = buf + quantile_words(b);
            }
        }
        if (!f.tail) {
            const QuantileView t = view_quantile(s, q, judge::tail_confidence);
            if (t.canary_lo && t.baseline_hi && *t.canary_lo >= limits.max_latency_ratio * *t.baseline_hi &&
                *t.canary_lo - *t.baseline_hi >= judge::latency_floor_us) {
                f.tail = true;
                if (f.why.empty()) f.why = quantile_words(t);
            }
        }
        if (f.shift && f.tail) break;
    }
    return f;
}

json::object latency_evidence(const Scope& s, const LatencyFinding& f) {
    json::object o;
    o["scope"] = f.scope;
    o["slices"] = f.slices;
    o["canary_samples"] = f.canary_samples;
    o["baseline_samples"] = f.baseline_samples;
    o["canary_errors"] = s.canary_errors;
    o["baseline_errors"] = s.baseline_errors;
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
                         *c.view.canary_hi - *c.view.baseline_lo < judge::latency_floor_us;
            }
        } else if (tail_c >= judge::min_tail_count && tail_b >= judge::min_tail_count) {
            // p99 before samples allow a bound: its point estimate may veto
            // but not approve.
            c.mode = AdvanceFinding::Check::point;
            c.pass = c.view.ratio() < limits.max_latency_ratio ||
                     c.view.canary_us - c.view.baseline_us < judge::latency_floor_us;
        } else {
            c.mode = AdvanceFinding::Check::skipped;
            c.pass = true;
        }
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
    o["ready"] = ready;
    o["why"] = why;
    return o;
}

}  // namespace weir::rollout
