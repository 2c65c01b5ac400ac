// Helpers shared by the per-request decision tests (decision_*_test.cpp):
// requests that own their bytes, snapshots with one route "web" over a split,
// rules and matchers, pools going down, counting choose_pool's draws, sticky
// keys over a route, and share checks.
//
// Every draw comes from a seeded routing::Random; share checks are Pearson
// chi-square tests against the 99.9% quantile (p = 0.001) for their degrees
// of freedom, tabulated below.
#pragma once

#include "routing/decision.hpp"
#include "routing/random.hpp"
#include "routing/snapshot.hpp"
#include "routing/sticky.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace weir::routing::decision_tests {

// Chi-square 99.9% quantiles (upper tail p = 0.001), degrees of freedom 1..6.
inline double chi_critical_p001(std::size_t df) {
    static const double table[] = {0, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458};
    if (df == 0 || df >= std::size(table)) throw std::invalid_argument("df out of the table");
    return table[df];
}

// Pearson's statistic of `counts` against `weights` (zero weights skipped,
// their counts must be 0 and are checked separately). Returns the statistic
// and sets `df` to (number of positive weights - 1).
inline double chi_square(const std::vector<double>& weights, const std::vector<std::uint64_t>& counts,
                         std::size_t& df) {
    double total = 0;
    std::uint64_t n = 0;
    std::size_t cells = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        if (weights[i] > 0) {
            total += weights[i];
            ++cells;
        }
        n += counts[i];
    }
    double chi = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        if (!(weights[i] > 0)) continue;
        const double expected = static_cast<double>(n) * weights[i] / total;
        const double d = static_cast<double>(counts[i]) - expected;
        chi += d * d / expected;
    }
    df = cells - 1;
    return chi;
}

inline std::string show(const std::vector<std::uint64_t>& counts) {
    std::string s;
    for (auto c : counts) s += std::to_string(c) + " ";
    return s;
}

inline ::testing::AssertionResult shares_match(const std::vector<double>& weights,
                                               const std::vector<std::uint64_t>& counts) {
    for (std::size_t i = 0; i < weights.size(); ++i) {
        if (!(weights[i] > 0) && counts[i] != 0)
            return ::testing::AssertionFailure() << "entry " << i << " has weight 0 but got " << counts[i]
                                                 << "; counts " << show(counts);
    }
    std::size_t df = 0;
    const double chi = chi_square(weights, counts, df);
    const double critical = chi_critical_p001(df);
    if (chi < critical) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "chi-square " << chi << " >= " << critical << " (df " << df
                                         << "); counts " << show(counts);
}

// Owns the bytes a RequestView looks at.
class Req {
public:
    Req(std::initializer_list<std::pair<std::string, std::string>> headers, std::string target = "/")
        : owned_(headers), target_(std::move(target)) {
        for (const auto& [n, v] : owned_) headers_.push_back({n, v});
    }
    Req(const Req&) = delete;
    Req& operator=(const Req&) = delete;
    RequestView view() const { return RequestView(headers_, target_); }

private:
    std::vector<std::pair<std::string, std::string>> owned_;
    std::vector<http::Header> headers_;
    std::string target_;
};

inline Pool make_pool(const std::string& name, std::vector<double> endpoint_weights = {1}) {
    Pool p;
    p.name = name;
    for (std::size_t i = 0; i < endpoint_weights.size(); ++i) {
        Endpoint e;
        e.name = name + "-" + std::to_string(i) + ":80";
        e.weight = endpoint_weights[i];
        e.key = static_cast<std::uint32_t>(i);
        p.endpoints.push_back(e);
    }
    return p;
}

// Pools `pool_names` (one endpoint each) and one route "web" over `split`
// (pool name -> weight, in this order). Not finalized: callers add rules,
// sticky and states, then finalize().
inline Snapshot make_snapshot(const std::vector<std::string>& pool_names,
                       const std::vector<std::pair<std::string, double>>& split) {
    Snapshot s;
    for (const auto& n : pool_names) s.pools.push_back(make_pool(n));
    Route r;
    r.name = "web";
    for (const auto& [name, w] : split) {
        bool found = false;
        for (std::size_t i = 0; i < s.pools.size(); ++i) {
            if (s.pools[i].name == name) {
                r.pools.push_back(i);
                r.weights.push_back(w);
                found = true;
            }
        }
        if (!found) throw std::invalid_argument("no pool " + name);
    }
    s.routes.push_back(std::move(r));
    return s;
}

inline std::size_t pool_index(const Snapshot& s, const std::string& name) {
    for (std::size_t i = 0; i < s.pools.size(); ++i) {
        if (s.pools[i].name == name) return i;
    }
    throw std::invalid_argument("no pool " + name);
}

inline MatcherPtr matcher(Source source, std::string name, MatchSpec spec) {
    return std::make_shared<const ValueMatcher>(source, std::move(name), spec);
}

inline MatchSpec exact(std::string v) { return {MatchKind::exact, std::move(v), {}, true}; }
inline MatchSpec prefix(std::string v) { return {MatchKind::prefix, std::move(v), {}, true}; }
inline MatchSpec regex(std::string v) { return {MatchKind::regex, std::move(v), {}, true}; }
inline MatchSpec present(bool p) { return {MatchKind::present, {}, {}, p}; }
inline MatchSpec in(std::vector<std::string> vs) { return {MatchKind::in, {}, std::move(vs), true}; }

inline void add_rule(Snapshot& s, Source source, std::string name, MatchSpec spec, const std::string& pool) {
    s.routes[0].rules.push_back({matcher(source, std::move(name), std::move(spec)), pool_index(s, pool)});
}

inline void set_pool_down(Snapshot& s, const std::string& pool, bool down) {
    for (Endpoint& e : s.pools[pool_index(s, pool)].endpoints) e.healthy = !down;
}

inline PoolDecision decide(const Snapshot& s, const Req& req, Random& rng) {
    std::string id;
    return choose_pool(s, s.routes[0], req.view(), rng, id);
}

// Counts decisions per route entry (index into route.pools); the extra last
// entry counts PoolDecision::none.
inline std::vector<std::uint64_t> draw(const Snapshot& s, const Req& req, std::uint64_t seed, std::uint64_t n) {
    const Route& route = s.routes[0];
    std::vector<std::uint64_t> counts(route.pools.size() + 1, 0);
    Random rng(seed);
    std::string id;
    const RequestView view = req.view();
    for (std::uint64_t k = 0; k < n; ++k) {
        PoolDecision d = choose_pool(s, route, view, rng, id);
        if (d.pool == PoolDecision::none) {
            ++counts.back();
            continue;
        }
        std::size_t entry = route.pools.size();
        for (std::size_t i = 0; i < route.pools.size(); ++i) {
            if (route.pools[i] == d.pool) entry = i;
        }
        if (entry == route.pools.size()) throw std::logic_error("decision outside the route's pools");
        ++counts[entry];
    }
    return counts;
}

// Sticky keys over a route whose pools go down and up.
inline std::vector<std::size_t> sticky_assignment(const Snapshot& s, int keys,
                                                  std::vector<PoolDecision>* decisions = nullptr) {
    std::vector<std::size_t> out;
    Random rng(1);
    for (int k = 0; k < keys; ++k) {
        Req req({{"x-user-id", "user-" + std::to_string(k)}});
        PoolDecision d = decide(s, req, rng);
        out.push_back(d.pool);
        if (decisions) decisions->push_back(d);
    }
    return out;
}

inline int differences(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
    if (a.size() != b.size()) return -1;
    int n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
    return n;
}

}  // namespace weir::routing::decision_tests
