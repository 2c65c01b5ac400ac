// Per-request pool and endpoint decisions (docs/config.md, routes): weighted shares of the
// split, rules and every matcher kind, on_pool_unhealthy (shift / fail),
// panic mode, endpoint choice among eligible endpoints.
//
// Every draw comes from a seeded routing::Random; share checks are Pearson
// chi-square tests against the 99.9% quantile (p = 0.001) for their degrees
// of freedom, tabulated below.
#include "routing/decision.hpp"
#include "routing/random.hpp"
#include "routing/snapshot.hpp"
#include "routing/sticky.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace weir::routing {
namespace {

// ------------------------------------------------------------------ helpers

// Chi-square 99.9% quantiles (upper tail p = 0.001), degrees of freedom 1..6.
double chi_critical_p001(std::size_t df) {
    static const double table[] = {0, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458};
    if (df == 0 || df >= std::size(table)) throw std::invalid_argument("df out of the table");
    return table[df];
}

// Pearson's statistic of `counts` against `weights` (zero weights skipped,
// their counts must be 0 and are checked separately). Returns the statistic
// and sets `df` to (number of positive weights - 1).
double chi_square(const std::vector<double>& weights, const std::vector<std::uint64_t>& counts, std::size_t& df) {
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

std::string show(const std::vector<std::uint64_t>& counts) {
    std::string s;
    for (auto c : counts) s += std::to_string(c) + " ";
    return s;
}

::testing::AssertionResult shares_match(const std::vector<double>& weights, const std::vector<std::uint64_t>& counts) {
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

Pool make_pool(const std::string& name, std::vector<double> endpoint_weights = {1}) {
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
Snapshot make_snapshot(const std::vector<std::string>& pool_names,
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

std::size_t pool_index(const Snapshot& s, const std::string& name) {
    for (std::size_t i = 0; i < s.pools.size(); ++i) {
        if (s.pools[i].name == name) return i;
    }
    throw std::invalid_argument("no pool " + name);
}

MatcherPtr matcher(Source source, std::string name, MatchSpec spec) {
    return std::make_shared<const ValueMatcher>(source, std::move(name), spec);
}

MatchSpec exact(std::string v) { return {MatchKind::exact, std::move(v), {}, true}; }
MatchSpec prefix(std::string v) { return {MatchKind::prefix, std::move(v), {}, true}; }
MatchSpec regex(std::string v) { return {MatchKind::regex, std::move(v), {}, true}; }
MatchSpec present(bool p) { return {MatchKind::present, {}, {}, p}; }
MatchSpec in(std::vector<std::string> vs) { return {MatchKind::in, {}, std::move(vs), true}; }

void add_rule(Snapshot& s, Source source, std::string name, MatchSpec spec, const std::string& pool) {
    s.routes[0].rules.push_back({matcher(source, std::move(name), std::move(spec)), pool_index(s, pool)});
}

void set_pool_down(Snapshot& s, const std::string& pool, bool down) {
    for (Endpoint& e : s.pools[pool_index(s, pool)].endpoints) e.healthy = !down;
}

PoolDecision decide(const Snapshot& s, const Req& req, Random& rng) {
    std::string id;
    return choose_pool(s, s.routes[0], req.view(), rng, id);
}

// Counts decisions per route entry (index into route.pools); the extra last
// entry counts PoolDecision::none.
std::vector<std::uint64_t> draw(const Snapshot& s, const Req& req, std::uint64_t seed, std::uint64_t n) {
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

// ------------------------------------------------------------------ shares

struct ShareCase {
    std::vector<std::string> pools;
    std::vector<double> weights;
    std::uint64_t seed;
};

TEST(RoutingShares, PerRequestSharesFollowTheWeights) {
    constexpr std::uint64_t kDraws = 200000;
    const ShareCase cases[] = {
        {{"stable", "canary"}, {90, 10}, 11},
        {{"stable", "canary"}, {99, 1}, 12},
        {{"stable", "canary"}, {99.9, 0.1}, 13},
        {{"stable", "canary"}, {10, 90}, 14},
        {{"stable", "canary", "green"}, {50, 30, 20}, 15},
        {{"stable", "canary"}, {33.3, 66.7}, 16},
        {{"a", "b", "c", "d"}, {0.25, 0.25, 0.4, 0.1}, 17},
    };
    for (const ShareCase& c : cases) {
        std::vector<std::pair<std::string, double>> split;
        for (std::size_t i = 0; i < c.pools.size(); ++i) split.emplace_back(c.pools[i], c.weights[i]);
        Snapshot s = make_snapshot(c.pools, split);
        s.finalize();
        Req req({});
        auto counts = draw(s, req, c.seed, kDraws);
        EXPECT_EQ(counts.back(), 0u) << "503s without any unhealthy pool";
        counts.pop_back();
        EXPECT_TRUE(shares_match(c.weights, counts)) << "weights " << ::testing::PrintToString(c.weights);
    }
}

TEST(RoutingShares, TheChiSquareCheckDetectsASmallBias) {
    // The check has teeth: 90/10 draws judged against 89/11 must fail.
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.finalize();
    Req req({});
    auto counts = draw(s, req, 21, 200000);
    counts.pop_back();
    EXPECT_TRUE(shares_match({90, 10}, counts));
    EXPECT_FALSE(shares_match({89, 11}, counts));
    EXPECT_FALSE(shares_match({10, 90}, counts));
}

TEST(RoutingShares, WeightZeroIsNeverChosen) {
    for (auto weights : std::vector<std::vector<double>>{{100, 0}, {0, 100}, {50, 0, 50}, {0, 0, 1}, {1e-6, 0, 0}}) {
        std::vector<std::string> names = {"p0", "p1", "p2"};
        names.resize(weights.size());
        std::vector<std::pair<std::string, double>> split;
        for (std::size_t i = 0; i < weights.size(); ++i) split.emplace_back(names[i], weights[i]);
        Snapshot s = make_snapshot(names, split);
        s.finalize();
        Req req({});
        auto counts = draw(s, req, 31, 100000);
        EXPECT_EQ(counts.back(), 0u);
        for (std::size_t i = 0; i < weights.size(); ++i) {
            if (weights[i] == 0) EXPECT_EQ(counts[i], 0u) << "pool " << i << " of " << ::testing::PrintToString(weights);
        }
    }
}

TEST(RoutingShares, AllWeightsZeroAnswersNone) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 0}, {"canary", 0}});
    s.finalize();
    Req req({});
    Random rng(1);
    for (int i = 0; i < 100; ++i) {
        PoolDecision d = decide(s, req, rng);
        EXPECT_EQ(d.pool, PoolDecision::none);
        EXPECT_FALSE(d.why.empty());
    }
}

TEST(RoutingShares, ResolutionOfOneMillionth) {
    // The table itself: weight 1 against 999999 owns exactly [0, 1e-6) of u.
    const WeightedChoice c({1, 999999});
    EXPECT_EQ(c.pick(0.0), 0u);
    EXPECT_EQ(c.pick(0.999e-6), 0u);
    EXPECT_EQ(c.pick(1.001e-6), 1u);
    EXPECT_EQ(c.pick(0.5), 1u);
    const WeightedChoice d({0.999999, 0.000001});  // the same as decimals, the small one last
    EXPECT_EQ(d.pick(0.999998), 0u);
    EXPECT_EQ(d.pick(0.9999989), 0u);
    EXPECT_EQ(d.pick(0.9999991), 1u);

    // Through choose_pool: 10M draws, expected 10 hits of the 1e-6 pool
    // (Poisson(10): P(0) = 4.5e-5, P(> 30) < 1e-7).
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 999999}, {"canary", 1}});
    s.finalize();
    Req req({});
    constexpr std::uint64_t kDraws = 10'000'000;
    auto counts = draw(s, req, 41, kDraws);
    EXPECT_GT(counts[1], 0u) << "a 1e-6 share never drew traffic";
    EXPECT_LT(static_cast<double>(counts[1]) / kDraws, 3e-6) << counts[1] << " hits";
    EXPECT_EQ(counts[0] + counts[1], kDraws);
}

TEST(RoutingShares, RequestsWithoutTheStickyKeyAreSplitPerRequest) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.routes[0].sticky = StickySpec{Source::header, "x-user-id", false, {}};
    s.finalize();
    Req req({{"x-other", "u1"}});
    Random rng(5);
    EXPECT_EQ(decide(s, req, rng).by, PoolDecision::By::split);
    auto counts = draw(s, req, 51, 200000);
    counts.pop_back();
    EXPECT_TRUE(shares_match({90, 10}, counts));

    // An empty key is no key: split per request too (the id would be shared by everyone).
    Req empty({{"x-user-id", ""}});
    EXPECT_EQ(decide(s, empty, rng).by, PoolDecision::By::split);
}

// ------------------------------------------------------------------ matchers

struct MatchCase {
    const char* what;
    Source source;
    const char* name;
    MatchSpec spec;
    bool expected;
};

// Every matcher kind for every source, against one request carrying headers,
// several cookies (one quoted, across two Cookie fields) and query parameters.
TEST(RoutingMatcher, EveryKindForEverySource) {
    Req req({{"Host", "example.com"},
             {"X-Canary", "always"},
             {"X-User", "alice"},
             {"x-user", "mallory"},  // a second field of the same name: the first one counts
             {"X-Empty", ""},
             {"Cookie", "session=abc123; tester=yes; xgroup=beta"},
             {"cookie", "theme=\"dark mode\";group=\"beta-2\" ; lang=en"}},
            "/path/x?user=bob&flag&plan=gold%20plus&empty=&dup=1&dup=2#user=frag");
    const RequestView v = req.view();

    const MatchCase cases[] = {
        // header: names are case-insensitive, values are not
        {"h exact", Source::header, "x-canary", exact("always"), true},
        {"h exact upper name", Source::header, "X-CANARY", exact("always"), true},
        {"h exact other value", Source::header, "x-canary", exact("Always"), false},
        {"h exact is not prefix", Source::header, "x-canary", exact("alway"), false},
        {"h exact first field", Source::header, "x-user", exact("alice"), true},
        {"h exact second field", Source::header, "x-user", exact("mallory"), false},
        {"h exact empty value", Source::header, "x-empty", exact(""), true},
        {"h exact missing", Source::header, "x-missing", exact(""), false},
        {"h prefix", Source::header, "x-user", prefix("ali"), true},
        {"h prefix whole", Source::header, "x-user", prefix("alice"), true},
        {"h prefix longer", Source::header, "x-user", prefix("alice2"), false},
        {"h prefix empty", Source::header, "x-user", prefix(""), true},
        {"h prefix missing", Source::header, "x-missing", prefix(""), false},
        {"h regex full", Source::header, "x-user", regex("a[a-z]+e"), true},
        {"h regex partial is no match", Source::header, "x-user", regex("lic"), false},
        {"h regex alternation anchored", Source::header, "x-user", regex("alice|bob"), true},
        {"h regex prefix only", Source::header, "x-user", regex("ali"), false},
        {"h regex case", Source::header, "x-user", regex("ALICE"), false},
        {"h regex case flag", Source::header, "x-user", regex("(?i)ALICE"), true},
        {"h regex missing", Source::header, "x-missing", regex(".*"), false},
        {"h present", Source::header, "x-canary", present(true), true},
        {"h present empty", Source::header, "x-empty", present(true), true},
        {"h present missing", Source::header, "x-missing", present(true), false},
        {"h absent", Source::header, "x-missing", present(false), true},
        {"h absent but there", Source::header, "x-canary", present(false), false},
        {"h in", Source::header, "x-user", in({"bob", "alice"}), true},
        {"h in no", Source::header, "x-user", in({"bob", "carol"}), false},
        {"h in second field not used", Source::header, "x-user", in({"mallory"}), false},
        {"h in missing", Source::header, "x-missing", in({""}), false},

        // cookie: several cookies, several Cookie fields, quoted values, no substring hits
        {"c exact", Source::cookie, "tester", exact("yes"), true},
        {"c exact first", Source::cookie, "session", exact("abc123"), true},
        {"c exact last of first field", Source::cookie, "xgroup", exact("beta"), true},
        {"c second field", Source::cookie, "lang", exact("en"), true},
        {"c quoted", Source::cookie, "theme", exact("dark mode"), true},
        {"c quoted keeps no quotes", Source::cookie, "theme", exact("\"dark mode\""), false},
        {"c quoted no space before", Source::cookie, "group", exact("beta-2"), true},
        {"c name is not a suffix match", Source::cookie, "group", exact("beta"), false},
        {"c name is not a prefix match", Source::cookie, "test", present(true), false},
        {"c prefix", Source::cookie, "session", prefix("abc"), true},
        {"c prefix no", Source::cookie, "session", prefix("abd"), false},
        {"c regex", Source::cookie, "session", regex("[a-z]+[0-9]+"), true},
        {"c regex partial", Source::cookie, "session", regex("[a-z]+"), false},
        {"c regex quoted", Source::cookie, "theme", regex("dark .*"), true},
        {"c present", Source::cookie, "tester", present(true), true},
        {"c present missing", Source::cookie, "nope", present(true), false},
        {"c absent", Source::cookie, "nope", present(false), true},
        {"c absent but there", Source::cookie, "lang", present(false), false},
        {"c in", Source::cookie, "lang", in({"de", "en"}), true},
        {"c in quoted", Source::cookie, "group", in({"beta-2"}), true},
        {"c in no", Source::cookie, "lang", in({"de", "fr"}), false},
        {"c exact missing", Source::cookie, "nope", exact(""), false},

        // query: raw values, flags without '=', fragment ignored, first of duplicates
        {"q exact", Source::query, "user", exact("bob"), true},
        {"q exact no", Source::query, "user", exact("frag"), false},
        {"q raw not decoded", Source::query, "plan", exact("gold%20plus"), true},
        {"q decoded is not used", Source::query, "plan", exact("gold plus"), false},
        {"q flag present", Source::query, "flag", present(true), true},
        {"q flag empty value", Source::query, "flag", exact(""), true},
        {"q empty value", Source::query, "empty", exact(""), true},
        {"q first duplicate", Source::query, "dup", exact("1"), true},
        {"q second duplicate", Source::query, "dup", exact("2"), false},
        {"q name not substring", Source::query, "use", present(true), false},
        {"q prefix", Source::query, "plan", prefix("gold"), true},
        {"q prefix no", Source::query, "plan", prefix("silver"), false},
        {"q regex", Source::query, "user", regex("b.b"), true},
        {"q regex partial", Source::query, "user", regex("b"), false},
        {"q present missing", Source::query, "nope", present(true), false},
        {"q absent", Source::query, "nope", present(false), true},
        {"q absent but there", Source::query, "user", present(false), false},
        {"q in", Source::query, "user", in({"alice", "bob"}), true},
        {"q in no", Source::query, "user", in({"alice"}), false},
        {"q query is not a header", Source::query, "x-canary", present(true), false},
        {"h header is not a query", Source::header, "user", present(true), false},
        {"c cookie is not a header", Source::cookie, "x-canary", present(true), false},
    };
    for (const MatchCase& c : cases) {
        ValueMatcher m(c.source, c.name, c.spec);
        EXPECT_EQ(m.matches(v), c.expected) << c.what;
    }
}

TEST(RoutingMatcher, RequestViewReadsEachSource) {
    Req req({{"X-A", "1"}, {"Cookie", "a=1; b=\"2\"; c="}, {"COOKIE", "d=4"}}, "/p?x=1&y&z=&w=a=b");
    const RequestView v = req.view();
    EXPECT_EQ(v.header("x-a"), "1");
    EXPECT_EQ(v.header("X-A"), "1");
    EXPECT_FALSE(v.header("x-b"));
    EXPECT_EQ(v.cookie("a"), "1");
    EXPECT_EQ(v.cookie("b"), "2");
    EXPECT_EQ(v.cookie("c"), "");
    EXPECT_EQ(v.cookie("d"), "4");
    EXPECT_FALSE(v.cookie("e"));
    EXPECT_EQ(v.query("x"), "1");
    EXPECT_EQ(v.query("y"), "");
    EXPECT_EQ(v.query("z"), "");
    EXPECT_EQ(v.query("w"), "a=b");
    EXPECT_FALSE(v.query("v"));
    EXPECT_EQ(v.get(Source::header, "x-a"), "1");
    EXPECT_EQ(v.get(Source::cookie, "d"), "4");
    EXPECT_EQ(v.get(Source::query, "x"), "1");

    Req no_query({{"Cookie", "a=1"}}, "/p");
    EXPECT_FALSE(no_query.view().query("a"));
    Req no_cookie({{"X-A", "a=1"}}, "/p?");
    EXPECT_FALSE(no_cookie.view().cookie("a"));
    EXPECT_FALSE(no_cookie.view().query("a"));
}

TEST(RoutingMatcher, BadRegexThrowsAndIsReported) {
    for (const char* bad : {"(", "a[", "*a", "a{2,1}", "(?P<n>a", "\\"}) {
        EXPECT_FALSE(regex_error(bad).empty()) << bad;
        EXPECT_THROW(ValueMatcher(Source::header, "x", regex(bad)), std::invalid_argument) << bad;
    }
    for (const char* good : {"", "a+", "(?i)abc", "[0-9]{1,3}", "a|b|c"}) {
        EXPECT_TRUE(regex_error(good).empty()) << good << ": " << regex_error(good);
        EXPECT_NO_THROW(ValueMatcher(Source::header, "x", regex(good))) << good;
    }
}

// ------------------------------------------------------------------ rules

Snapshot rules_snapshot() {
    // The split and sticky would never send anything to canary or green.
    Snapshot s = make_snapshot({"stable", "canary", "green"}, {{"stable", 100}, {"canary", 0}});
    s.routes[0].sticky = StickySpec{Source::header, "x-user-id", false, {}};
    return s;
}

TEST(RoutingRules, MatchingRuleBeatsSplitAndSticky) {
    Snapshot s = rules_snapshot();
    add_rule(s, Source::header, "x-canary", exact("always"), "canary");
    s.finalize();
    Random rng(7);
    const std::size_t canary = pool_index(s, "canary"), stable = pool_index(s, "stable");

    Req pinned({{"x-canary", "always"}, {"x-user-id", "u-1"}});
    Req plain_sticky({{"x-user-id", "u-1"}});
    Req plain({{"x-canary", "sometimes"}});
    for (int i = 0; i < 1000; ++i) {
        PoolDecision d = decide(s, pinned, rng);
        ASSERT_EQ(d.pool, canary);
        EXPECT_EQ(d.by, PoolDecision::By::rule);
        EXPECT_FALSE(d.panic);
        EXPECT_FALSE(d.assign_cookie);

        d = decide(s, plain_sticky, rng);
        ASSERT_EQ(d.pool, stable);
        EXPECT_EQ(d.by, PoolDecision::By::sticky);

        d = decide(s, plain, rng);
        ASSERT_EQ(d.pool, stable);
        EXPECT_EQ(d.by, PoolDecision::By::split);
    }
}

TEST(RoutingRules, RuleBeatsAnAssigningStickyCookie) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 100}, {"canary", 0}});
    s.routes[0].sticky = StickySpec{Source::cookie, "weir_uid", true, std::chrono::seconds(60)};
    add_rule(s, Source::cookie, "tester", present(true), "canary");
    s.finalize();
    Random rng(8);
    Req tester({{"Cookie", "tester=1"}});
    std::string id;
    PoolDecision d = choose_pool(s, s.routes[0], tester.view(), rng, id);
    EXPECT_EQ(d.pool, pool_index(s, "canary"));
    EXPECT_EQ(d.by, PoolDecision::By::rule);
    EXPECT_FALSE(d.assign_cookie);
    EXPECT_TRUE(id.empty());
}

TEST(RoutingRules, FirstMatchingRuleWins) {
    Snapshot s = rules_snapshot();
    add_rule(s, Source::header, "x-a", present(true), "canary");
    add_rule(s, Source::header, "x-b", present(true), "green");
    add_rule(s, Source::header, "x-a", present(true), "stable");  // shadowed
    s.finalize();
    Random rng(9);
    Req both({{"x-b", "1"}, {"x-a", "1"}});  // header order does not matter, rule order does
    Req only_b({{"x-b", "1"}});
    Req none({{"x-c", "1"}});
    EXPECT_EQ(decide(s, both, rng).pool, pool_index(s, "canary"));
    EXPECT_EQ(decide(s, only_b, rng).pool, pool_index(s, "green"));
    PoolDecision d = decide(s, none, rng);
    EXPECT_EQ(d.pool, pool_index(s, "stable"));
    EXPECT_EQ(d.by, PoolDecision::By::split);

    // Reversed order, reversed answer.
    Snapshot r = rules_snapshot();
    add_rule(r, Source::header, "x-b", present(true), "green");
    add_rule(r, Source::header, "x-a", present(true), "canary");
    r.finalize();
    EXPECT_EQ(decide(r, both, rng).pool, pool_index(r, "green"));
}

struct RuleCase {
    const char* what;
    Source source;
    const char* name;
    MatchSpec spec;
};

// Each kind and source through choose_pool: the matching request is pinned,
// a near miss follows the split (100% stable).
TEST(RoutingRules, EveryKindAndSourcePinsThroughChoosePool) {
    struct Case {
        RuleCase rule;
        std::vector<std::pair<std::string, std::string>> hit_headers;
        std::string hit_target;
        std::vector<std::pair<std::string, std::string>> miss_headers;
        std::string miss_target;
    };
    const Case cases[] = {
        {{"header exact", Source::header, "x-canary", exact("always")},
         {{"X-Canary", "always"}}, "/", {{"X-Canary", "always "}}, "/"},
        {{"header prefix", Source::header, "x-build", prefix("2024-")},
         {{"x-build", "2024-05"}}, "/", {{"x-build", "2023-05"}}, "/"},
        {{"header regex", Source::header, "x-user", regex("qa-[0-9]+")},
         {{"x-user", "qa-17"}}, "/", {{"x-user", "qa-17x"}}, "/"},
        {{"header present", Source::header, "x-debug", present(true)},
         {{"x-debug", ""}}, "/", {{"x-debugger", "1"}}, "/"},
        {{"header absent", Source::header, "x-stable-only", present(false)},
         {}, "/", {{"x-stable-only", "1"}}, "/"},
        {{"header in", Source::header, "x-user", in({"alice", "bob"})},
         {{"x-user", "bob"}}, "/", {{"x-user", "bobby"}}, "/"},
        {{"cookie exact", Source::cookie, "tester", exact("yes")},
         {{"Cookie", "a=1; tester=yes; b=2"}}, "/", {{"Cookie", "a=1; mytester=yes"}}, "/"},
        {{"cookie prefix", Source::cookie, "grp", prefix("beta")},
         {{"Cookie", "grp=\"beta-3\""}}, "/", {{"Cookie", "grp=alpha"}}, "/"},
        {{"cookie regex", Source::cookie, "grp", regex("beta-[0-9]")},
         {{"Cookie", "x=1"}, {"Cookie", "grp=beta-3"}}, "/", {{"Cookie", "grp=beta-33"}}, "/"},
        {{"cookie present", Source::cookie, "tester", present(true)},
         {{"Cookie", "tester="}}, "/", {{"Cookie", "tester2=1"}}, "/"},
        {{"cookie absent", Source::cookie, "optout", present(false)},
         {{"Cookie", "a=1"}}, "/", {{"Cookie", "a=1; optout=1"}}, "/"},
        {{"cookie in", Source::cookie, "grp", in({"a", "b"})},
         {{"Cookie", "grp=b"}}, "/", {{"Cookie", "grp=c"}}, "/"},
        {{"query exact", Source::query, "canary", exact("1")}, {}, "/x?canary=1", {}, "/x?canary=10"},
        {{"query prefix", Source::query, "v", prefix("2.")}, {}, "/x?a=b&v=2.1", {}, "/x?v=1.2"},
        {{"query regex", Source::query, "v", regex("2\\.[0-9]")}, {}, "/x?v=2.1", {}, "/x?v=2.1.1"},
        {{"query present", Source::query, "preview", present(true)}, {}, "/x?preview", {}, "/x?previews"},
        {{"query absent", Source::query, "legacy", present(false)}, {}, "/x", {}, "/x?legacy=0"},
        {{"query in", Source::query, "tier", in({"gold", "beta"})}, {}, "/x?tier=beta", {}, "/x?tier=Beta"},
    };
    for (const Case& c : cases) {
        Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 100}, {"canary", 0}});
        s.routes[0].rules.push_back({matcher(c.rule.source, c.rule.name, c.rule.spec), pool_index(s, "canary")});
        s.finalize();
        Random rng(10);
        using Headers = std::vector<std::pair<std::string, std::string>>;
        auto run = [&](const Headers& owned, const std::string& target) {
            std::vector<http::Header> hs;
            for (const auto& [n, v] : owned) hs.push_back({n, v});
            RequestView view(hs, target);
            std::string id;
            return choose_pool(s, s.routes[0], view, rng, id);
        };
        PoolDecision h = run(c.hit_headers, c.hit_target);
        EXPECT_EQ(h.pool, pool_index(s, "canary")) << c.rule.what;
        EXPECT_EQ(h.by, PoolDecision::By::rule) << c.rule.what;
        PoolDecision m = run(c.miss_headers, c.miss_target);
        EXPECT_EQ(m.pool, pool_index(s, "stable")) << c.rule.what << " (near miss)";
        EXPECT_EQ(m.by, PoolDecision::By::split) << c.rule.what << " (near miss)";
    }
}

TEST(RoutingRules, RuleMayPinToAPoolOutsideTheSplit) {
    Snapshot s = rules_snapshot();
    add_rule(s, Source::header, "x-green", present(true), "green");
    s.finalize();
    Random rng(11);
    Req req({{"x-green", "1"}});
    EXPECT_EQ(decide(s, req, rng).pool, pool_index(s, "green"));
}

// ------------------------------------------------------------------ on_pool_unhealthy

TEST(RoutingUnhealthy, ShiftGivesADeadPoolsShareToTheOthersInProportion) {
    Snapshot s = make_snapshot({"stable", "canary", "green"}, {{"stable", 50}, {"canary", 30}, {"green", 20}});
    s.finalize();
    Req req({});
    auto before = draw(s, req, 61, 200000);
    before.pop_back();
    EXPECT_TRUE(shares_match({50, 30, 20}, before));

    set_pool_down(s, "canary", true);
    s.finalize();
    EXPECT_FALSE(s.pools[pool_index(s, "canary")].available);
    EXPECT_FALSE(s.routes[0].all_down);
    auto after = draw(s, req, 62, 200000);
    EXPECT_EQ(after.back(), 0u) << "shift must not answer 503 while pools are left";
    after.pop_back();
    EXPECT_EQ(after[1], 0u) << "traffic to a dead pool";
    EXPECT_TRUE(shares_match({50, 0, 20}, after));

    Random rng(63);
    EXPECT_FALSE(decide(s, req, rng).panic);

    set_pool_down(s, "canary", false);
    s.finalize();
    auto back = draw(s, req, 64, 200000);
    back.pop_back();
    EXPECT_TRUE(shares_match({50, 30, 20}, back));
}

TEST(RoutingUnhealthy, DrainedOrEjectedEndpointsMakeAPoolUnavailableToo) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.pools[1].endpoints = make_pool("canary", {1, 1, 0}).endpoints;
    s.pools[1].endpoints[0].draining = true;
    s.pools[1].endpoints[1].ejected = true;  // endpoint 2 has weight 0
    s.finalize();
    EXPECT_FALSE(s.pools[1].available);
    Req req({});
    auto counts = draw(s, req, 65, 20000);
    EXPECT_EQ(counts[1], 0u);
    EXPECT_EQ(counts[2], 0u);
    EXPECT_EQ(counts[0], 20000u);
}

// Sticky keys over a route whose pools go down and up.
std::vector<std::size_t> sticky_assignment(const Snapshot& s, int keys, std::vector<PoolDecision>* decisions = nullptr) {
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

int differences(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
    if (a.size() != b.size()) return -1;
    int n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
    return n;
}

TEST(RoutingUnhealthy, ShiftRehashesOnlyTheDeadPoolsStickyUsersAndTheyReturn) {
    constexpr int kKeys = 100000;
    Snapshot s = make_snapshot({"stable", "canary", "green"}, {{"stable", 50}, {"canary", 30}, {"green", 20}});
    s.routes[0].sticky = StickySpec{Source::header, "x-user-id", false, {}};
    s.finalize();
    const std::size_t canary = pool_index(s, "canary");
    const auto healthy = sticky_assignment(s, kKeys);

    set_pool_down(s, "canary", true);
    s.finalize();
    std::vector<PoolDecision> ds;
    const auto shifted = sticky_assignment(s, kKeys, &ds);
    std::vector<std::uint64_t> rehomed(3, 0);
    int moved_others = 0, on_dead = 0;
    for (int k = 0; k < kKeys; ++k) {
        ASSERT_NE(shifted[k], PoolDecision::none) << k;
        EXPECT_EQ(ds[k].by, PoolDecision::By::sticky);
        if (shifted[k] == canary) ++on_dead;
        if (healthy[k] != canary) {
            if (shifted[k] != healthy[k]) ++moved_others;
        } else {
            ++rehomed[shifted[k]];
        }
    }
    EXPECT_EQ(on_dead, 0) << "sticky users still sent to the dead pool";
    EXPECT_EQ(moved_others, 0) << "users of healthy pools moved";
    // The dead pool's users spread over the others in proportion (50:20).
    EXPECT_TRUE(shares_match({50, 0, 20}, rehomed));

    set_pool_down(s, "canary", false);
    s.finalize();
    const auto restored = sticky_assignment(s, kKeys);
    int differ = 0;
    for (int k = 0; k < kKeys; ++k) differ += restored[k] != healthy[k];
    EXPECT_EQ(differ, 0) << "users did not return when the pool came back";
}

TEST(RoutingUnhealthy, FailAnswersNoneForTheDeadPoolsShareOnly) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.routes[0].on_unhealthy = OnUnhealthy::fail;
    set_pool_down(s, "canary", true);
    s.finalize();
    Req req({});
    auto counts = draw(s, req, 71, 200000);
    EXPECT_EQ(counts[1], 0u);
    // stable keeps its 90%, the dead pool's 10% is answered with 503.
    EXPECT_TRUE(shares_match({90, 0, 10}, counts)) << "stable / canary / 503";
    Random rng(72);
    for (int i = 0; i < 200; ++i) {
        PoolDecision d = decide(s, req, rng);
        EXPECT_FALSE(d.panic);
        if (d.pool == PoolDecision::none) EXPECT_FALSE(d.why.empty());
    }
}

TEST(RoutingUnhealthy, FailGivesStickyUsersOfTheDeadPool503AndKeepsTheOthers) {
    constexpr int kKeys = 100000;
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 80}, {"canary", 20}});
    s.routes[0].sticky = StickySpec{Source::header, "x-user-id", false, {}};
    s.routes[0].on_unhealthy = OnUnhealthy::fail;
    s.finalize();
    const std::size_t canary = pool_index(s, "canary");
    const auto healthy = sticky_assignment(s, kKeys);
    set_pool_down(s, "canary", true);
    s.finalize();
    const auto failed = sticky_assignment(s, kKeys);
    int wrong = 0;
    for (int k = 0; k < kKeys; ++k) {
        const std::size_t expected = healthy[k] == canary ? PoolDecision::none : healthy[k];
        wrong += failed[k] != expected;
    }
    EXPECT_EQ(wrong, 0);
    set_pool_down(s, "canary", false);
    s.finalize();
    EXPECT_EQ(differences(sticky_assignment(s, kKeys), healthy), 0) << "users did not return";
}

TEST(RoutingUnhealthy, RulePinnedToADeadPool) {
    for (OnUnhealthy mode : {OnUnhealthy::shift, OnUnhealthy::fail}) {
        Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
        s.routes[0].on_unhealthy = mode;
        add_rule(s, Source::header, "x-canary", exact("always"), "canary");
        set_pool_down(s, "canary", true);
        s.finalize();
        Req req({{"x-canary", "always"}});
        Random rng(81);
        std::vector<std::uint64_t> counts(3, 0);
        for (int i = 0; i < 20000; ++i) {
            PoolDecision d = decide(s, req, rng);
            if (mode == OnUnhealthy::shift) {
                // Falls through to the (shifted) split: all to stable.
                ASSERT_EQ(d.pool, pool_index(s, "stable"));
                EXPECT_EQ(d.by, PoolDecision::By::split);
                EXPECT_FALSE(d.panic);
            } else {
                ASSERT_EQ(d.pool, PoolDecision::none);
                EXPECT_FALSE(d.why.empty());
            }
        }
        // And when it comes back the rule pins again.
        set_pool_down(s, "canary", false);
        s.finalize();
        PoolDecision d = decide(s, req, rng);
        EXPECT_EQ(d.pool, pool_index(s, "canary"));
        EXPECT_EQ(d.by, PoolDecision::By::rule);
    }
}

TEST(RoutingUnhealthy, AllPoolsDownIsPanicWithTheConfiguredWeights) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.pools[0].endpoints = make_pool("stable", {1, 1}).endpoints;
    s.pools[0].endpoints[0].healthy = false;   // failing: usable in panic
    s.pools[0].endpoints[1].draining = true;   // draining: never
    s.pools[1].endpoints = make_pool("canary", {1, 1}).endpoints;
    s.pools[1].endpoints[0].draining = true;
    s.pools[1].endpoints[1].healthy = false;
    s.finalize();
    ASSERT_TRUE(s.routes[0].all_down);
    Req req({});
    Random rng(91);
    std::vector<std::uint64_t> counts(2, 0);
    for (int i = 0; i < 200000; ++i) {
        PoolDecision d = decide(s, req, rng);
        ASSERT_NE(d.pool, PoolDecision::none);
        ASSERT_TRUE(d.panic);
        ++counts[d.pool];
        const Pool& p = s.pools[d.pool];
        std::size_t e = choose_endpoint(p, d.panic, rng, {});
        ASSERT_LT(e, p.endpoints.size());
        ASSERT_FALSE(p.endpoints[e].draining) << "panic picked a draining endpoint";
        // Outside panic nothing is eligible.
        EXPECT_EQ(choose_endpoint(p, false, rng, {}), WeightedChoice::npos);
    }
    EXPECT_TRUE(shares_match({90, 10}, counts));
}

TEST(RoutingUnhealthy, AllPoolsDownWithFailAnswersNone) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.routes[0].on_unhealthy = OnUnhealthy::fail;
    set_pool_down(s, "stable", true);
    set_pool_down(s, "canary", true);
    s.finalize();
    Req req({});
    Random rng(92);
    for (int i = 0; i < 1000; ++i) {
        PoolDecision d = decide(s, req, rng);
        ASSERT_EQ(d.pool, PoolDecision::none);
        EXPECT_FALSE(d.panic);
    }
}

TEST(RoutingUnhealthy, AllPoolsDownAndAllEndpointsDrainingGivesNoEndpoint) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 50}, {"canary", 50}});
    for (Pool& p : s.pools) {
        p.endpoints = make_pool(p.name, {1, 2}).endpoints;
        for (Endpoint& e : p.endpoints) e.draining = true;
    }
    s.finalize();
    Req req({});
    Random rng(93);
    for (int i = 0; i < 1000; ++i) {
        PoolDecision d = decide(s, req, rng);
        ASSERT_NE(d.pool, PoolDecision::none);
        EXPECT_TRUE(d.panic);
        EXPECT_EQ(choose_endpoint(s.pools[d.pool], d.panic, rng, {}), WeightedChoice::npos);
    }
}

TEST(RoutingUnhealthy, AllPoolsDownStickyUsersKeepTheirPoolInPanic) {
    constexpr int kKeys = 20000;
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 70}, {"canary", 30}});
    s.routes[0].sticky = StickySpec{Source::header, "x-user-id", false, {}};
    s.finalize();
    const auto healthy = sticky_assignment(s, kKeys);
    set_pool_down(s, "stable", true);
    set_pool_down(s, "canary", true);
    s.finalize();
    std::vector<PoolDecision> ds;
    EXPECT_EQ(differences(sticky_assignment(s, kKeys, &ds), healthy), 0);
    for (const auto& d : ds) ASSERT_TRUE(d.panic);
}

// ------------------------------------------------------------------ endpoints

// The endpoint indexes of a bit mask, as the session lists what it tried.
std::vector<std::size_t> tried_of(std::uint32_t mask) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < 32; ++i) {
        if (mask & (1u << i)) out.push_back(i);
    }
    return out;
}

std::vector<std::uint64_t> endpoint_draws(const Pool& p, bool panic, std::uint32_t exclude, std::uint64_t seed,
                                          int n) {
    std::vector<std::uint64_t> counts(p.endpoints.size(), 0);
    Random rng(seed);
    for (int i = 0; i < n; ++i) {
        std::size_t e = choose_endpoint(p, panic, rng, tried_of(exclude));
        if (e == WeightedChoice::npos) throw std::logic_error("npos");
        ++counts.at(e);
    }
    return counts;
}

TEST(RoutingEndpoint, ChosenByWeightAmongEligibleOnly) {
    Snapshot s = make_snapshot({"stable"}, {{"stable", 1}});
    s.pools[0].endpoints = make_pool("stable", {1, 2, 3, 4, 5, 6, 0}).endpoints;
    s.finalize();
    auto all = endpoint_draws(s.pools[0], false, 0, 101, 200000);
    EXPECT_TRUE(shares_match({1, 2, 3, 4, 5, 6, 0}, all));

    auto& eps = s.pools[0].endpoints;
    eps[1].healthy = false;
    eps[3].draining = true;
    eps[5].ejected = true;
    s.finalize();
    EXPECT_TRUE(s.pools[0].available);
    auto some = endpoint_draws(s.pools[0], false, 0, 102, 200000);
    EXPECT_TRUE(shares_match({1, 0, 3, 0, 5, 0, 0}, some));

    // Panic: failing and ejected ones count again, draining ones never.
    auto panic = endpoint_draws(s.pools[0], true, 0, 103, 200000);
    EXPECT_TRUE(shares_match({1, 2, 3, 0, 5, 6, 0}, panic));
}

TEST(RoutingEndpoint, ExcludeMaskIsHonoured) {
    Snapshot s = make_snapshot({"stable"}, {{"stable", 1}});
    s.pools[0].endpoints = make_pool("stable", {1, 1, 1, 1, 1}).endpoints;
    s.pools[0].endpoints[4].healthy = false;
    s.finalize();
    const Pool& p = s.pools[0];
    Random rng(111);
    for (std::uint32_t mask = 0; mask < 32; ++mask) {
        bool any_left = false;
        for (std::size_t i = 0; i < 4; ++i) any_left = any_left || !(mask & (1u << i));
        for (int k = 0; k < 2000; ++k) {
            std::size_t e = choose_endpoint(p, false, rng, tried_of(mask));
            if (!any_left) {
                ASSERT_EQ(e, WeightedChoice::npos) << "mask " << mask;
                continue;
            }
            ASSERT_LT(e, 4u) << "mask " << mask << ": the failing endpoint or nothing";
            ASSERT_FALSE(mask & (1u << e)) << "mask " << mask << " gave excluded endpoint " << e;
        }
        // Panic honours the mask too, and may use the failing endpoint.
        for (int k = 0; k < 2000; ++k) {
            std::size_t e = choose_endpoint(p, true, rng, tried_of(mask));
            if (mask == 31) {
                ASSERT_EQ(e, WeightedChoice::npos);
                continue;
            }
            ASSERT_LT(e, 5u);
            ASSERT_FALSE(mask & (1u << e)) << "panic, mask " << mask << " gave excluded endpoint " << e;
        }
    }
}

TEST(RoutingEndpoint, RetriesWalkEveryEligibleEndpointOnce) {
    // As the session retries: exclude what was tried until nothing is left.
    Snapshot s = make_snapshot({"stable"}, {{"stable", 1}});
    s.pools[0].endpoints = make_pool("stable", {5, 1, 1, 0, 1}).endpoints;
    s.pools[0].endpoints[2].draining = true;
    s.finalize();
    Random rng(121);
    for (int round = 0; round < 1000; ++round) {
        std::uint32_t tried = 0;
        std::vector<std::size_t> order;
        for (;;) {
            std::size_t e = choose_endpoint(s.pools[0], false, rng, tried_of(tried));
            if (e == WeightedChoice::npos) break;
            ASSERT_FALSE(tried & (1u << e));
            tried |= 1u << e;
            order.push_back(e);
            ASSERT_LE(order.size(), 3u);
        }
        EXPECT_EQ(tried, (1u << 0) | (1u << 1) | (1u << 4)) << "round " << round;
    }
}

TEST(RoutingEndpoint, RetriesExcludeTriedEndpointsInPoolsOfAnySize) {
    // 200 endpoints: every tried one stays out, also beyond the first 32.
    Snapshot s = make_snapshot({"stable"}, {{"stable", 1}});
    s.pools[0].endpoints = make_pool("stable", std::vector<double>(200, 1.0)).endpoints;
    s.finalize();
    Random rng(131);
    std::vector<std::size_t> tried;
    for (std::size_t i = 0; i < 200; ++i) tried.push_back(i);
    // Leave out only two high indexes: every draw must land on them.
    tried.erase(std::remove(tried.begin(), tried.end(), 150), tried.end());
    tried.erase(std::remove(tried.begin(), tried.end(), 199), tried.end());
    std::vector<int> got(200, 0);
    for (int k = 0; k < 5000; ++k) {
        std::size_t e = choose_endpoint(s.pools[0], false, rng, tried);
        ASSERT_TRUE(e == 150 || e == 199) << "gave tried endpoint " << e;
        ++got[e];
    }
    EXPECT_GT(got[150], 2000);
    EXPECT_GT(got[199], 2000);
    tried.push_back(150);
    tried.push_back(199);
    EXPECT_EQ(choose_endpoint(s.pools[0], false, rng, tried), WeightedChoice::npos);
}

TEST(RoutingFailover, MovesToAnotherPoolByTheShiftedWeights) {
    Snapshot s = make_snapshot({"stable", "canary", "green"}, {{"stable", 60}, {"canary", 10}, {"green", 30}});
    s.finalize();
    const std::size_t canary = pool_index(s, "canary");
    Random rng(141);
    std::vector<std::uint64_t> counts(3, 0);
    const std::vector<std::size_t> tried{canary};
    for (int k = 0; k < 90000; ++k) {
        std::size_t p = choose_failover_pool(s, s.routes[0], "", rng, tried);
        ASSERT_NE(p, PoolDecision::none);
        ASSERT_NE(p, canary);
        ++counts[p];
    }
    // 60:30 between stable and green.
    EXPECT_NEAR(static_cast<double>(counts[pool_index(s, "stable")]) / 90000, 2.0 / 3, 0.01);
    // Nothing left once every pool with weight failed; a pool that is down is no candidate.
    const std::vector<std::size_t> all{0, 1, 2};
    EXPECT_EQ(choose_failover_pool(s, s.routes[0], "", rng, all), PoolDecision::none);
    set_pool_down(s, "green", true);
    s.finalize();
    for (int k = 0; k < 1000; ++k)
        ASSERT_EQ(choose_failover_pool(s, s.routes[0], "", rng, tried), pool_index(s, "stable"));
}

TEST(RoutingFailover, StickyUsersMoveWhereShiftWouldPutThem) {
    constexpr int kKeys = 20000;
    Snapshot s = make_snapshot({"stable", "canary", "green"}, {{"stable", 50}, {"canary", 30}, {"green", 20}});
    s.routes[0].sticky = StickySpec{Source::header, "x-user-id", false, {}};
    s.finalize();
    const std::size_t canary = pool_index(s, "canary");
    const auto healthy = sticky_assignment(s, kKeys);
    Snapshot down = s;
    set_pool_down(down, "canary", true);
    down.finalize();
    const auto shifted = sticky_assignment(down, kKeys);
    Random rng(151);
    const std::vector<std::size_t> tried{canary};
    int checked = 0;
    for (int k = 0; k < kKeys; ++k) {
        if (healthy[k] != canary) continue;
        // The snapshot still calls the canary available (it has just died):
        // the failover choice equals what shift gives once it is marked down.
        std::size_t p = choose_failover_pool(s, s.routes[0], "user-" + std::to_string(k), rng, tried);
        ASSERT_EQ(p, shifted[k]) << "user " << k;
        ++checked;
    }
    EXPECT_GT(checked, kKeys / 5);
}

TEST(RoutingFailover, OnPoolUnhealthyFailNeverMovesARequest) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.routes[0].on_unhealthy = OnUnhealthy::fail;
    s.finalize();
    Random rng(161);
    const std::vector<std::size_t> tried{pool_index(s, "canary")};
    EXPECT_EQ(choose_failover_pool(s, s.routes[0], "", rng, tried), PoolDecision::none);
}

}  // namespace
}  // namespace weir::routing
