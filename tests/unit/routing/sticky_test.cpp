// Sticky routing by weighted rendezvous hashing (docs/config.md, routes): over >= 100k keys,
// raising a pool's weight only moves keys into it, lowering only moves them
// out, by about the change in share; pool order, weight scale and process do
// not matter; weight 0 gets no keys; shares follow the weights. A golden file
// pins (key -> pool) so a change of hash is caught; cookie assignment gives
// anonymous users an id they then stick by.
//
// Regenerate the golden file (only when the hash is changed on purpose, which
// moves users in production):
//   WEIR_REGENERATE_GOLDEN=1 build/weir_unit_tests --gtest_filter='RoutingStickyGolden.*'
#include "routing/decision.hpp"
#include "routing/random.hpp"
#include "routing/snapshot.hpp"
#include "routing/sticky.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#ifndef WEIR_SOURCE_DIR
#error "WEIR_SOURCE_DIR must be defined by the build"
#endif

namespace weir::routing {
namespace {

constexpr int kKeys = 100000;
using Split = std::vector<std::pair<std::string, double>>;

// Chi-square 99.9% quantiles (p = 0.001), degrees of freedom 1..4.
double chi_critical_p001(std::size_t df) {
    static const double table[] = {0, 10.828, 13.816, 16.266, 18.467};
    if (df == 0 || df >= std::size(table)) throw std::invalid_argument("df out of the table");
    return table[df];
}

// Keys per pool name against the split's weights.
::testing::AssertionResult shares_match(const Split& split, const std::map<std::string, std::uint64_t>& counts) {
    double total = 0;
    std::uint64_t n = 0;
    std::size_t cells = 0;
    std::string shown;
    for (const auto& [name, c] : counts) {
        n += c;
        shown += name + "=" + std::to_string(c) + " ";
    }
    for (const auto& [name, w] : split) {
        if (w > 0) {
            total += w;
            ++cells;
        } else if (counts.count(name) && counts.at(name) > 0) {
            return ::testing::AssertionFailure() << "weight-0 pool " << name << " got keys: " << shown;
        }
    }
    if (cells == 1) return ::testing::AssertionSuccess();  // one pool with weight: nothing to compare
    double chi = 0;
    for (const auto& [name, w] : split) {
        if (!(w > 0)) continue;
        const double expected = static_cast<double>(n) * w / total;
        const double got = counts.count(name) ? static_cast<double>(counts.at(name)) : 0.0;
        chi += (got - expected) * (got - expected) / expected;
    }
    const double critical = chi_critical_p001(cells - 1);
    if (chi < critical) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "chi-square " << chi << " >= " << critical << "; " << shown;
}

// One route over pools; the snapshot lists the pools in `snapshot_order`
// (default: split order), so index-based mistakes show up when the orders differ.
Snapshot sticky_snapshot(const std::string& route, const Split& split, std::vector<std::string> snapshot_order = {},
                         StickySpec sticky = StickySpec{Source::header, "x-user-id", false, {}}) {
    Snapshot s;
    if (snapshot_order.empty()) {
        for (const auto& [name, w] : split) snapshot_order.push_back(name);
    }
    for (const auto& name : snapshot_order) {
        Pool p;
        p.name = name;
        Endpoint e;
        e.name = name + ":80";
        p.endpoints.push_back(e);
        s.pools.push_back(std::move(p));
    }
    Route r;
    r.name = route;
    for (const auto& [name, w] : split) {
        std::size_t index = s.pools.size();
        for (std::size_t i = 0; i < s.pools.size(); ++i) {
            if (s.pools[i].name == name) index = i;
        }
        if (index == s.pools.size()) throw std::invalid_argument("no pool " + name);
        r.pools.push_back(index);
        r.weights.push_back(w);
    }
    r.sticky = std::move(sticky);
    s.routes.push_back(std::move(r));
    s.finalize();
    return s;
}

std::string hex64_(std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
    return buf;
}

std::string key_of(int i) { return "user-" + std::to_string(i); }

// The pool name (or "" for none) choose_pool gives one request.
std::string pick(const Snapshot& s, const std::vector<http::Header>& headers, const std::string& target,
                 PoolDecision* out = nullptr) {
    Random rng(1);
    std::string id;
    RequestView view(headers, target);
    PoolDecision d = choose_pool(s, s.routes[0], view, rng, id);
    if (out) *out = d;
    return d.pool == PoolDecision::none ? std::string() : s.pools[d.pool].name;
}

// Pool names for keys 0..n-1 sent in the x-user-id header, checked to be sticky decisions.
std::vector<std::string> assign(const Snapshot& s, int n = kKeys) {
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(n));
    Random rng(1);
    std::string id;
    for (int i = 0; i < n; ++i) {
        const std::string key = key_of(i);
        std::vector<http::Header> headers{{"x-user-id", key}};
        RequestView view(headers, "/");
        PoolDecision d = choose_pool(s, s.routes[0], view, rng, id);
        if (d.by != PoolDecision::By::sticky) throw std::logic_error("not a sticky decision for " + key);
        out.push_back(d.pool == PoolDecision::none ? std::string() : s.pools[d.pool].name);
    }
    return out;
}

std::map<std::string, std::uint64_t> tally(const std::vector<std::string>& pools) {
    std::map<std::string, std::uint64_t> counts;
    for (const auto& p : pools) ++counts[p];
    return counts;
}

// (from, to) -> number of keys that moved.
std::map<std::pair<std::string, std::string>, int> moves(const std::vector<std::string>& a,
                                                         const std::vector<std::string>& b) {
    std::map<std::pair<std::string, std::string>, int> m;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) ++m[{a[i], b[i]}];
    }
    return m;
}

std::string show(const std::map<std::pair<std::string, std::string>, int>& m) {
    std::string s;
    for (const auto& [k, v] : m) s += k.first + "->" + k.second + ": " + std::to_string(v) + "  ";
    return s.empty() ? "(none)" : s;
}

// |observed - expected| fraction within 5 binomial sigmas (plus a hair).
::testing::AssertionResult fraction_near(int count, int n, double expected) {
    const double got = static_cast<double>(count) / n;
    const double sigma = std::sqrt(expected * (1 - expected) / n);
    if (std::abs(got - expected) <= 5 * sigma + 1e-4) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "fraction " << got << " (" << count << "/" << n << "), expected "
                                         << expected << " +- " << 5 * sigma;
}

// ------------------------------------------------------------------ monotonicity

TEST(RoutingSticky, RaisingTheCanaryOnlyMovesKeysIntoIt) {
    const double steps[] = {10, 20, 50};
    std::vector<std::string> prev;
    double prev_share = 0;
    for (double canary : steps) {
        const Split split = {{"stable", 100 - canary}, {"canary", canary}};
        const auto now = assign(sticky_snapshot("web", split));
        EXPECT_TRUE(shares_match(split, tally(now))) << "canary " << canary;
        if (!prev.empty()) {
            const auto m = moves(prev, now);
            EXPECT_EQ(m.count({"canary", "stable"}), 0u) << canary << "%: " << show(m);
            const int moved = m.count({"stable", "canary"}) ? m.at({"stable", "canary"}) : 0;
            EXPECT_TRUE(fraction_near(moved, kKeys, canary / 100 - prev_share)) << prev_share << " -> " << canary;
        }
        prev = now;
        prev_share = canary / 100;
    }
}

TEST(RoutingSticky, LoweringTheCanaryOnlyMovesKeysOutOfIt) {
    const double steps[] = {50, 20, 10, 1, 0};
    std::vector<std::string> prev;
    double prev_share = 0;
    for (double canary : steps) {
        const Split split = {{"stable", 100 - canary}, {"canary", canary}};
        const auto now = assign(sticky_snapshot("web", split));
        EXPECT_TRUE(shares_match(split, tally(now))) << "canary " << canary;
        if (!prev.empty()) {
            const auto m = moves(prev, now);
            EXPECT_EQ(m.count({"stable", "canary"}), 0u) << canary << "%: " << show(m);
            const int moved = m.count({"canary", "stable"}) ? m.at({"canary", "stable"}) : 0;
            EXPECT_TRUE(fraction_near(moved, kKeys, prev_share - canary / 100)) << prev_share << " -> " << canary;
        }
        prev = now;
        prev_share = canary / 100;
    }
}

TEST(RoutingSticky, ThreePoolsRaisingOneOnlyMovesKeysIntoIt) {
    const Split before = {{"stable", 60}, {"canary", 30}, {"green", 10}};
    const Split after = {{"stable", 60}, {"canary", 30}, {"green", 40}};
    const auto a = assign(sticky_snapshot("web", before));
    const auto b = assign(sticky_snapshot("web", after));
    EXPECT_TRUE(shares_match(before, tally(a)));
    EXPECT_TRUE(shares_match(after, tally(b)));
    const auto m = moves(a, b);
    int into_green = 0;
    for (const auto& [k, v] : m) {
        EXPECT_EQ(k.second, "green") << "a key moved " << k.first << " -> " << k.second << ": " << show(m);
        into_green += v;
    }
    // green: 10% -> 40/130.
    EXPECT_TRUE(fraction_near(into_green, kKeys, 40.0 / 130 - 0.10));
    // Taken from the others in proportion to their shares (60:30).
    const int from_stable = m.count({"stable", "green"}) ? m.at({"stable", "green"}) : 0;
    EXPECT_TRUE(fraction_near(from_stable, into_green, 60.0 / 90));

    // And lowering it back only moves keys out of green, exactly back.
    const auto m2 = moves(b, a);
    for (const auto& [k, v] : m2) EXPECT_EQ(k.first, "green") << show(m2);
}

TEST(RoutingSticky, ThreePoolsLoweringOneOnlyMovesKeysOutOfIt) {
    const auto a = assign(sticky_snapshot("web", {{"stable", 50}, {"canary", 30}, {"green", 20}}));
    const auto b = assign(sticky_snapshot("web", {{"stable", 50}, {"canary", 5}, {"green", 20}}));
    const auto m = moves(a, b);
    int out = 0;
    for (const auto& [k, v] : m) {
        EXPECT_EQ(k.first, "canary") << show(m);
        out += v;
    }
    EXPECT_TRUE(fraction_near(out, kKeys, 0.30 - 5.0 / 75));
}

TEST(RoutingSticky, PoolOrderDoesNotMatter) {
    const Split split = {{"stable", 60}, {"canary", 30}, {"green", 10}};
    const auto base = assign(sticky_snapshot("web", split));
    const Split shuffled = {{"green", 10}, {"stable", 60}, {"canary", 30}};
    const std::vector<std::vector<std::string>> snapshot_orders = {
        {"stable", "canary", "green"}, {"green", "canary", "stable"}, {"canary", "green", "stable"}};
    for (const auto& order : snapshot_orders) {
        for (const Split* sp : {&split, &shuffled}) {
            const auto other = assign(sticky_snapshot("web", *sp, order));
            const auto m = moves(base, other);
            EXPECT_TRUE(m.empty()) << show(m);
        }
    }
    // Extra pools with weight 0, anywhere, change nothing either.
    const auto padded = assign(
        sticky_snapshot("web", {{"zero-a", 0}, {"green", 10}, {"stable", 60}, {"zero-b", 0}, {"canary", 30}}));
    EXPECT_TRUE(moves(base, padded).empty()) << show(moves(base, padded));
}

TEST(RoutingSticky, OnlyRelativeWeightsMatter) {
    const auto a = assign(sticky_snapshot("web", {{"stable", 90}, {"canary", 10}}));
    const auto b = assign(sticky_snapshot("web", {{"stable", 9}, {"canary", 1}}));
    const auto c = assign(sticky_snapshot("web", {{"stable", 0.9}, {"canary", 0.1}}));
    EXPECT_TRUE(moves(a, b).empty()) << show(moves(a, b));
    EXPECT_TRUE(moves(a, c).empty()) << show(moves(a, c));
}

TEST(RoutingSticky, WeightZeroGetsNoKeys) {
    for (const Split& split : std::vector<Split>{{{"stable", 100}, {"canary", 0}},
                                                  {{"stable", 0}, {"canary", 100}},
                                                  {{"stable", 50}, {"canary", 0}, {"green", 50}},
                                                  {{"stable", 0}, {"canary", 0}, {"green", 1e-6}}}) {
        const auto t = tally(assign(sticky_snapshot("web", split)));
        for (const auto& [name, w] : split) {
            if (w == 0) EXPECT_EQ(t.count(name), 0u) << name << " got " << (t.count(name) ? t.at(name) : 0);
        }
        EXPECT_EQ(t.count(""), 0u) << "keys without a pool";
    }
    // Every weight 0: nobody gets a pool (503), sticky or not.
    PoolDecision d;
    std::vector<http::Header> h{{"x-user-id", "u"}};
    EXPECT_EQ(pick(sticky_snapshot("web", {{"stable", 0}, {"canary", 0}}), h, "/", &d), "");
    EXPECT_EQ(d.pool, PoolDecision::none);
}

TEST(RoutingSticky, SharesOfKeysFollowTheWeights) {
    for (const Split& split : std::vector<Split>{{{"stable", 90}, {"canary", 10}},
                                                  {{"stable", 99}, {"canary", 1}},
                                                  {{"stable", 50}, {"canary", 30}, {"green", 20}},
                                                  {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}},
                                                  {{"stable", 33.3}, {"canary", 66.7}}}) {
        EXPECT_TRUE(shares_match(split, tally(assign(sticky_snapshot("web", split)))));
    }
}

TEST(RoutingSticky, TheSameKeyAlwaysGetsTheSamePool) {
    const Snapshot s = sticky_snapshot("web", {{"stable", 50}, {"canary", 50}});
    const auto a = assign(s, 10000);
    // Another snapshot built the same way (a reload, a replica) and other generators.
    const Snapshot t = sticky_snapshot("web", {{"stable", 50}, {"canary", 50}});
    Random rng(12345);
    std::string id;
    for (int i = 0; i < 10000; ++i) {
        const std::string key = key_of(i);
        std::vector<http::Header> headers{{"X-User-Id", key}};  // header names case-insensitive
        RequestView view(headers, "/");
        for (int rep = 0; rep < 3; ++rep) {
            PoolDecision d = choose_pool(t, t.routes[0], view, rng, id);
            ASSERT_EQ(t.pools[d.pool].name, a[static_cast<std::size_t>(i)]) << key;
        }
    }
}

TEST(RoutingSticky, TheRouteNameIsPartOfTheHash) {
    const Split split = {{"stable", 50}, {"canary", 50}};
    const auto a = assign(sticky_snapshot("web", split));
    const auto b = assign(sticky_snapshot("api", split));
    int differ = 0;
    for (std::size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
    // Independent routes: half of the keys differ at 50/50.
    EXPECT_TRUE(fraction_near(differ, kKeys, 0.5));
}

TEST(RoutingSticky, HeaderCookieAndQueryKeysHashTheSame) {
    const Split split = {{"stable", 70}, {"canary", 30}};
    const Snapshot by_header = sticky_snapshot("web", split);
    const Snapshot by_cookie = sticky_snapshot("web", split, {}, StickySpec{Source::cookie, "uid", false, {}});
    const Snapshot by_query = sticky_snapshot("web", split, {}, StickySpec{Source::query, "uid", false, {}});
    const auto expected = assign(by_header, 5000);
    for (int i = 0; i < 5000; ++i) {
        const std::string key = key_of(i);
        const std::string cookie_value = "theme=dark; uid=" + key + "; lang=en";
        const std::string quoted_value = "uid=\"" + key + "\"";
        std::vector<http::Header> cookie{{"Cookie", cookie_value}};
        std::vector<http::Header> quoted{{"Cookie", quoted_value}};
        std::vector<http::Header> none;
        PoolDecision d;
        ASSERT_EQ(pick(by_cookie, cookie, "/", &d), expected[static_cast<std::size_t>(i)]) << key;
        ASSERT_EQ(d.by, PoolDecision::By::sticky);
        ASSERT_EQ(pick(by_cookie, quoted, "/"), expected[static_cast<std::size_t>(i)]) << key << " quoted";
        const std::string target = "/p?a=1&uid=" + key + "&b=2";
        ASSERT_EQ(pick(by_query, none, target, &d), expected[static_cast<std::size_t>(i)])
            << key;
        ASSERT_EQ(d.by, PoolDecision::By::sticky);
    }
}

TEST(RoutingSticky, RendezvousPickAgreesWithChoosePoolAndIgnoresZeroWeights) {
    const std::vector<std::string> pools = {"stable", "canary", "green"};
    const std::vector<double> weights = {50, 30, 20};
    const Snapshot s = sticky_snapshot("web", {{"stable", 50}, {"canary", 30}, {"green", 20}});
    const auto a = assign(s, 10000);
    for (int i = 0; i < 10000; ++i) {
        std::size_t k = rendezvous_pick("web", key_of(i), pools, weights);
        ASSERT_LT(k, pools.size());
        ASSERT_EQ(pools[k], a[static_cast<std::size_t>(i)]);
    }
    EXPECT_EQ(rendezvous_pick("web", "k", pools, {0, 0, 0}), static_cast<std::size_t>(-1));
    EXPECT_EQ(rendezvous_pick("web", "k", {}, {}), static_cast<std::size_t>(-1));
    EXPECT_EQ(rendezvous_pick("web", "k", pools, {0, 1, 0}), 1u);
}

// ------------------------------------------------------------------ the hash, as documented

// sticky.hpp documents the hash: XXH3-64 (seed 0) of  route '\n' key '\n' pool,
// u = ((h >> 12) + 0.5) / 2^52, score -w / ln(u), highest wins. Recomputed
// here independently so a silent change of any part is caught.
TEST(RoutingSticky, HashIsTheDocumentedXxh3Scheme) {
    for (int i = 0; i < 2000; ++i) {
        const std::string key = key_of(i);
        for (const char* pool : {"stable", "canary", "green"}) {
            const std::string bytes = std::string("web\n") + key + "\n" + pool;
            ASSERT_EQ(sticky_hash("web", key, pool), XXH3_64bits(bytes.data(), bytes.size())) << key << " " << pool;
        }
    }
    // Long inputs (past any on-stack buffer) hash the same way.
    const std::string long_key(5000, 'k');
    const std::string bytes = "web\n" + long_key + "\nstable";
    EXPECT_EQ(sticky_hash("web", long_key, "stable"), XXH3_64bits(bytes.data(), bytes.size()));

    EXPECT_EQ(unit_interval(0), 0.5 * 0x1.0p-52);
    EXPECT_EQ(unit_interval(4095), 0.5 * 0x1.0p-52);  // the low 12 bits are dropped
    EXPECT_EQ(unit_interval(1ULL << 12), 1.5 * 0x1.0p-52);
    EXPECT_EQ(unit_interval(1ULL << 63), 0.5 + 0.5 * 0x1.0p-52);
    EXPECT_EQ(unit_interval(~0ULL), 1.0 - 0.5 * 0x1.0p-52);

    // The winner by the documented formula.
    const std::vector<std::string> pools = {"stable", "canary", "green"};
    const std::vector<double> weights = {5, 3, 2};
    for (int i = 0; i < 2000; ++i) {
        const std::string key = key_of(i);
        std::size_t best = 0;
        double best_score = -1;
        for (std::size_t p = 0; p < pools.size(); ++p) {
            const std::string b = "web\n" + key + "\n" + pools[p];
            const std::uint64_t h = XXH3_64bits(b.data(), b.size());
            const double u = (static_cast<double>(h >> 12) + 0.5) / 4503599627370496.0;  // 2^52
            const double score = -weights[p] / std::log(u);
            if (score > best_score) {
                best = p;
                best_score = score;
            }
        }
        ASSERT_EQ(rendezvous_pick("web", key, pools, weights), best) << key;
    }
}

// sticky.hpp promises u in (0, 1): ln(u) < 0, so every score is positive and
// finite. (With 53 bits, (2^53 - 1) + 0.5 is not a double and rounded to 2^53:
// u was exactly 1, ln(u) = 0, the score -inf, and that pool lost although u
// near 1 should make it win.)
TEST(RoutingSticky, UnitIntervalStaysStrictlyInsideZeroOne) {
    const std::uint64_t hashes[] = {0,          1,          2047,       1ULL << 11, 1ULL << 63,
                                    ~0ULL >> 1, ~0ULL - 4096, ~0ULL - 2048, ~0ULL - 2047, ~0ULL};
    for (std::uint64_t h : hashes) {
        const double u = unit_interval(h);
        EXPECT_GT(u, 0.0) << "hash " << hex64_(h);
        EXPECT_LT(u, 1.0) << "hash " << hex64_(h);
        const double score = -1.0 / std::log(u);
        EXPECT_TRUE(std::isfinite(score) && score > 0) << "hash " << hex64_(h) << ": score " << score;
    }
    // Monotone: a larger hash never gives a smaller u.
    for (std::uint64_t h : hashes) {
        for (std::uint64_t g : hashes) {
            if (g < h) EXPECT_LE(unit_interval(g), unit_interval(h));
        }
    }
}

// ------------------------------------------------------------------ golden file

struct GoldenCase {
    const char* name;
    const char* route;
    Split split;
};

const GoldenCase kGoldenCases[] = {
    {"two", "web", {{"stable", 90}, {"canary", 10}}},
    {"three", "web", {{"stable", 60}, {"canary", 30}, {"green", 10}}},
};
constexpr int kGoldenKeys = 1000;
const char* const kGoldenHashKeys[] = {"user-0", "user-1", "user-999", "", "ünïcödé", "a b;c=d"};

std::string golden_path() { return std::string(WEIR_SOURCE_DIR) + "/tests/unit/routing/sticky_golden.txt"; }

std::string hex64(std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
    return buf;
}

// The golden lines as the implementation computes them now:
//   pool CASE KEY POOL       (choose_pool with the key in x-user-id)
//   hash ROUTE "KEY" POOL HEX u=U  (sticky_hash and unit_interval, U in hex-float)
std::vector<std::string> compute_golden() {
    std::vector<std::string> lines;
    for (const GoldenCase& c : kGoldenCases) {
        const auto pools = assign(sticky_snapshot(c.route, c.split), kGoldenKeys);
        for (int i = 0; i < kGoldenKeys; ++i)
            lines.push_back(std::string("pool ") + c.name + " " + key_of(i) + " " + pools[static_cast<std::size_t>(i)]);
    }
    for (const char* key : kGoldenHashKeys) {
        for (const char* pool : {"stable", "canary"}) {
            const std::uint64_t h = sticky_hash("web", key, pool);
            char u[64];
            std::snprintf(u, sizeof u, "%a", unit_interval(h));
            lines.push_back(std::string("hash web \"") + key + "\" " + pool + " " + hex64(h) + " u=" + u);
        }
    }
    return lines;
}

std::string golden_header() {
    std::string h =
        "# Sticky assignments pinned by tests/unit/routing/sticky_test.cpp (RoutingStickyGolden).\n"
        "# A change here means every sticky user of every deployment moves: do it only on purpose.\n"
        "# Regenerate: WEIR_REGENERATE_GOLDEN=1 build/weir_unit_tests --gtest_filter='RoutingStickyGolden.*'\n";
    for (const GoldenCase& c : kGoldenCases) {
        h += std::string("# case ") + c.name + ": route " + c.route + ", split";
        for (const auto& [name, w] : c.split) {
            std::ostringstream o;
            o << w;
            h += " " + name + "=" + o.str();
        }
        h += ", keys user-0..user-" + std::to_string(kGoldenKeys - 1) + " in header x-user-id\n";
    }
    h += "# hash lines: XXH3-64 (seed 0) of route '\\n' key '\\n' pool, and u = unit_interval(hash)\n";
    return h;
}

TEST(RoutingStickyGolden, EveryLineMatchesTheCurrentImplementation) {
    const std::vector<std::string> now = compute_golden();
    const char* regen = std::getenv("WEIR_REGENERATE_GOLDEN");
    if (regen && std::string(regen) == "1") {
        std::ofstream out(golden_path(), std::ios::binary | std::ios::trunc);
        out << golden_header();
        for (const auto& l : now) out << l << "\n";
        ASSERT_TRUE(out.good()) << "cannot write " << golden_path();
        out.close();
        std::fprintf(stderr, "wrote %zu lines to %s\n", now.size(), golden_path().c_str());
    }
    std::ifstream in(golden_path(), std::ios::binary);
    ASSERT_TRUE(in) << "missing " << golden_path();
    std::vector<std::string> golden;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        golden.push_back(line);
    }
    ASSERT_EQ(golden.size(), now.size()) << "the golden file has a different number of lines";
    int mismatches = 0;
    for (std::size_t i = 0; i < now.size(); ++i) {
        if (golden[i] != now[i]) {
            if (++mismatches <= 20) ADD_FAILURE() << "golden: " << golden[i] << "\n   now: " << now[i];
        }
    }
    EXPECT_EQ(mismatches, 0) << "sticky assignments changed for " << mismatches << " lines";
}

TEST(RoutingStickyGolden, TheGoldenFileIsPlausible) {
    // Guards against a golden file generated from a broken build: the shares
    // in it follow the weights and keys only differ between cases by moving
    // as weighted rendezvous hashing allows (canary's relative weight rose and
    // green was added, so canary's users may only stay or go to green).
    std::ifstream in(golden_path(), std::ios::binary);
    ASSERT_TRUE(in);
    std::map<std::string, std::map<std::string, std::string>> by_case;
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("pool ", 0) != 0) continue;
        std::istringstream ls(line);
        std::string tag, c, key, pool;
        ls >> tag >> c >> key >> pool;
        by_case[c][key] = pool;
    }
    ASSERT_EQ(by_case["two"].size(), static_cast<std::size_t>(kGoldenKeys));
    ASSERT_EQ(by_case["three"].size(), static_cast<std::size_t>(kGoldenKeys));
    std::map<std::string, std::uint64_t> two, three;
    for (const auto& [k, p] : by_case["two"]) ++two[p];
    for (const auto& [k, p] : by_case["three"]) ++three[p];
    EXPECT_TRUE(shares_match(kGoldenCases[0].split, two));
    EXPECT_TRUE(shares_match(kGoldenCases[1].split, three));
    // 90/10 -> 60/30/10 over {stable, canary, green}: stable loses only.
    for (const auto& [k, p] : by_case["two"]) {
        const std::string& q = by_case["three"][k];
        if (p == "canary") EXPECT_TRUE(q == "canary" || q == "green") << k << ": canary -> " << q;
    }
}

// ------------------------------------------------------------------ assigned ids

Snapshot assign_snapshot(const Split& split) {
    return sticky_snapshot("web", split, {}, StickySpec{Source::cookie, "weir_uid", true, std::chrono::seconds(3600)});
}

bool is_lower_hex32(const std::string& s) {
    if (s.size() != 32) return false;
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

TEST(RoutingStickyAssign, NewVisitorGetsAnIdAndIsRoutedByIt) {
    const Snapshot s = assign_snapshot({{"stable", 80}, {"canary", 20}});
    Random rng(2024);
    std::set<std::string> ids;
    std::map<std::string, std::uint64_t> counts;
    for (int i = 0; i < 100000; ++i) {
        std::vector<http::Header> none{{"Cookie", "other=1"}};
        RequestView view(none, "/");
        std::string id;
        PoolDecision d = choose_pool(s, s.routes[0], view, rng, id);
        ASSERT_TRUE(d.assign_cookie);
        ASSERT_EQ(d.by, PoolDecision::By::sticky);
        ASSERT_TRUE(is_lower_hex32(id)) << "'" << id << "'";
        ASSERT_NE(d.pool, PoolDecision::none);
        ids.insert(id);
        ++counts[s.pools[d.pool].name];
        // The pool is the one the id sticks to.
        if (i < 2000) {
            const std::string value = "a=b; weir_uid=" + id;
            std::vector<http::Header> back{{"Cookie", value}};
            PoolDecision again;
            EXPECT_EQ(pick(s, back, "/", &again), s.pools[d.pool].name);
            EXPECT_FALSE(again.assign_cookie) << "a returning visitor got a new id";
            EXPECT_EQ(again.by, PoolDecision::By::sticky);
        }
    }
    EXPECT_EQ(ids.size(), 100000u) << "ids repeat";
    // 128 random bits: every one of the 32 digits varies (all 16 values appear
    // at each position over 100k ids), not only the first 16.
    for (std::size_t pos = 0; pos < 32; ++pos) {
        std::set<char> digits;
        for (const auto& id : ids) digits.insert(id[pos]);
        EXPECT_EQ(digits.size(), 16u) << "digit " << pos << " of the id barely varies";
    }
    // Anonymous visitors still follow the weights.
    EXPECT_TRUE(shares_match({{"stable", 80}, {"canary", 20}}, counts));
}

TEST(RoutingStickyAssign, EmptyCookieGetsANewIdAndNonAssigningRoutesNone) {
    const Snapshot s = assign_snapshot({{"stable", 50}, {"canary", 50}});
    std::vector<http::Header> empty{{"Cookie", "weir_uid="}};
    PoolDecision d;
    pick(s, empty, "/", &d);
    EXPECT_TRUE(d.assign_cookie);

    // Without assign, a request without the cookie is split per request and gets no id.
    const Snapshot plain = sticky_snapshot("web", {{"stable", 50}, {"canary", 50}}, {},
                                           StickySpec{Source::cookie, "weir_uid", false, {}});
    Random rng(3);
    std::vector<http::Header> none;
    RequestView view(none, "/");
    std::string id;
    d = choose_pool(plain, plain.routes[0], view, rng, id);
    EXPECT_FALSE(d.assign_cookie);
    EXPECT_EQ(d.by, PoolDecision::By::split);
    EXPECT_TRUE(id.empty());
}

TEST(RoutingStickyAssign, AssignedUsersMoveMonotonicallyWithTheWeights) {
    // An assigned id is a user id, not a pool pin: raising canary moves some
    // of them in, none out.
    Random rng(77);
    std::vector<std::string> ids;
    for (int i = 0; i < 50000; ++i) ids.push_back(new_sticky_id(rng));
    const Snapshot s10 = assign_snapshot({{"stable", 90}, {"canary", 10}});
    const Snapshot s30 = assign_snapshot({{"stable", 70}, {"canary", 30}});
    int moved_in = 0;
    for (const auto& id : ids) {
        const std::string value = "weir_uid=" + id;
        std::vector<http::Header> h{{"Cookie", value}};
        const std::string a = pick(s10, h, "/"), b = pick(s30, h, "/");
        ASSERT_FALSE(a == "canary" && b == "stable") << id;
        moved_in += a != b;
    }
    EXPECT_TRUE(fraction_near(moved_in, 50000, 0.2));
}

}  // namespace
}  // namespace weir::routing
