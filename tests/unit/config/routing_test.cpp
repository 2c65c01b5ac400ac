// The routing parts of weir.yaml (docs/config.md): rules, sticky, on_pool_unhealthy
// and match.headers parse to the expected values and reach the snapshot; each
// mistake is one error at its exact line:col.
#include "config/config.hpp"
#include "test_support.hpp"
#include "control/snapshot_builder.hpp"
#include "routing/decision.hpp"
#include "routing/random.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace weir::config {
namespace {

using namespace std::chrono_literals;
using routing::MatchKind;
using routing::Source;

// Lines 1-6; a test's routes start on line 7.
constexpr const char* kHead = R"(listeners: [{name: public, address: 127.0.0.1:0}]
pools:
  - {name: stable, endpoints: [{address: 127.0.0.1:9001}]}
  - {name: canary, endpoints: [{address: 127.0.0.1:9002}]}
  - {name: green, endpoints: [{address: 127.0.0.1:9003}]}
routes:
)";

using namespace config_test;

// `routes` is the text after "routes:"; a leading newline is dropped so line 7 is its first line.
LoadResult load_routes(const std::string& routes) {
    return load_config_text(std::string(kHead) + without_leading_newline(routes), "test.yaml");
}

// ---------------------------------------------------------------- values

constexpr const char* kRouting = R"(
  - name: web
    match:
      host: "*"
      path_prefix: /
      headers:
        - {name: X-Tenant, exact: acme}
        - {name: x-beta, present: false}
        - {name: x-ver, regex: "v[0-9]+"}
    split: {stable: 90, canary: 10}
    rules:
      - {header: x-canary, exact: "always", pool: canary}
      - {cookie: tester, present: true, pool: canary}
      - {header: x-user, in: [alice, bob], pool: canary}
      - {query: preview, prefix: "v2", pool: green}
      - {header: x-build, regex: "qa-[0-9]+", pool: green}
      - {cookie: optout, present: false, pool: stable}
    sticky: {header: x-user-id}
    on_pool_unhealthy: fail
  - name: anon
    match: {path_prefix: /anon}
    split: {stable: 1, canary: 0}
    sticky: {cookie: weir_uid, assign: true}
    on_pool_unhealthy: shift
  - name: short
    match: {path_prefix: /short}
    split: {stable: 33.3, canary: 66.7}
    sticky: {cookie: sid, assign: true, max_age: 12h}
  - name: q
    match: {path_prefix: /q}
    split: {green: 1}
    sticky: {query: uid}
  - name: plain
    split: {stable: 0.000001, canary: 0.999999}
)";

TEST(ConfigRouting, RulesStickyPolicyAndHeaderMatchersParse) {
    const auto r = load_routes(kRouting);
    const Config& c = ok(r);
    ASSERT_EQ(c.routes.size(), 5u);

    const RouteConfig& web = c.routes[0];
    ASSERT_EQ(web.match.headers.size(), 3u);
    EXPECT_EQ(web.match.headers[0].source, Source::header);
    EXPECT_EQ(web.match.headers[0].name, "X-Tenant");
    EXPECT_EQ(web.match.headers[0].match.kind, MatchKind::exact);
    EXPECT_EQ(web.match.headers[0].match.value, "acme");
    EXPECT_EQ(web.match.headers[1].name, "x-beta");
    EXPECT_EQ(web.match.headers[1].match.kind, MatchKind::present);
    EXPECT_FALSE(web.match.headers[1].match.present);
    EXPECT_EQ(web.match.headers[2].match.kind, MatchKind::regex);
    EXPECT_EQ(web.match.headers[2].match.value, "v[0-9]+");

    ASSERT_EQ(web.rules.size(), 6u);
    const auto& r0 = web.rules[0];
    EXPECT_EQ(r0.when.source, Source::header);
    EXPECT_EQ(r0.when.name, "x-canary");
    EXPECT_EQ(r0.when.match.kind, MatchKind::exact);
    EXPECT_EQ(r0.when.match.value, "always");
    EXPECT_EQ(r0.pool, "canary");
    const auto& r1 = web.rules[1];
    EXPECT_EQ(r1.when.source, Source::cookie);
    EXPECT_EQ(r1.when.name, "tester");
    EXPECT_EQ(r1.when.match.kind, MatchKind::present);
    EXPECT_TRUE(r1.when.match.present);
    const auto& r2 = web.rules[2];
    EXPECT_EQ(r2.when.match.kind, MatchKind::in);
    EXPECT_EQ(r2.when.match.values, (std::vector<std::string>{"alice", "bob"}));
    const auto& r3 = web.rules[3];
    EXPECT_EQ(r3.when.source, Source::query);
    EXPECT_EQ(r3.when.name, "preview");
    EXPECT_EQ(r3.when.match.kind, MatchKind::prefix);
    EXPECT_EQ(r3.when.match.value, "v2");
    EXPECT_EQ(r3.pool, "green");
    const auto& r4 = web.rules[4];
    EXPECT_EQ(r4.when.match.kind, MatchKind::regex);
    EXPECT_EQ(r4.when.match.value, "qa-[0-9]+");
    const auto& r5 = web.rules[5];
    EXPECT_EQ(r5.when.source, Source::cookie);
    EXPECT_EQ(r5.when.match.kind, MatchKind::present);
    EXPECT_FALSE(r5.when.match.present);
    EXPECT_EQ(r5.pool, "stable");

    ASSERT_TRUE(web.sticky);
    EXPECT_EQ(web.sticky->source, Source::header);
    EXPECT_EQ(web.sticky->name, "x-user-id");
    EXPECT_FALSE(web.sticky->assign);
    EXPECT_EQ(web.on_pool_unhealthy, OnPoolUnhealthy::fail);

    const RouteConfig& anon = c.routes[1];
    EXPECT_TRUE(anon.rules.empty());
    ASSERT_TRUE(anon.sticky);
    EXPECT_EQ(anon.sticky->source, Source::cookie);
    EXPECT_EQ(anon.sticky->name, "weir_uid");
    EXPECT_TRUE(anon.sticky->assign);
    EXPECT_EQ(anon.sticky->max_age, std::chrono::hours(24 * 30));  // default: 30 days
    EXPECT_EQ(anon.on_pool_unhealthy, OnPoolUnhealthy::shift);
    ASSERT_EQ(anon.split.size(), 2u);
    EXPECT_EQ(anon.split[1].first, "canary");
    EXPECT_EQ(anon.split[1].second, 0.0);

    const RouteConfig& shrt = c.routes[2];
    ASSERT_TRUE(shrt.sticky);
    EXPECT_EQ(shrt.sticky->max_age, 12h);
    EXPECT_DOUBLE_EQ(shrt.split[0].second, 33.3);
    EXPECT_DOUBLE_EQ(shrt.split[1].second, 66.7);

    const RouteConfig& q = c.routes[3];
    ASSERT_TRUE(q.sticky);
    EXPECT_EQ(q.sticky->source, Source::query);
    EXPECT_EQ(q.sticky->name, "uid");

    const RouteConfig& plain = c.routes[4];
    EXPECT_FALSE(plain.sticky);
    EXPECT_TRUE(plain.rules.empty());
    EXPECT_TRUE(plain.match.headers.empty());
    EXPECT_EQ(plain.on_pool_unhealthy, OnPoolUnhealthy::shift);  // default
    EXPECT_DOUBLE_EQ(plain.split[0].second, 0.000001);
}

// The parsed routing reaches the snapshot the workers use.
TEST(ConfigRouting, SnapshotCarriesRulesStickyAndPolicy) {
    const auto r = load_routes(kRouting);
    const Config& c = ok(r);
    control::StableKeys keys;
    control::StatKeys stats;
    control::AddressBook book;
    control::BuildResult b = control::build_snapshot(c, 7, keys, stats, book, true);
    ASSERT_TRUE(b.errors.empty()) << b.errors.front();
    ASSERT_TRUE(b.snapshot);
    b.snapshot->finalize();  // as the control plane does after giving endpoint states (all healthy here)
    const routing::Snapshot& s = *b.snapshot;
    ASSERT_EQ(s.routes.size(), 5u);
    const routing::Route& web = s.routes[0];
    EXPECT_EQ(web.rules.size(), 6u);
    EXPECT_EQ(web.header_matchers.size(), 3u);
    EXPECT_EQ(web.on_unhealthy, routing::OnUnhealthy::fail);
    ASSERT_TRUE(web.sticky);
    EXPECT_EQ(web.sticky->name, "x-user-id");
    const routing::Route& anon = s.routes[1];
    ASSERT_TRUE(anon.sticky);
    EXPECT_TRUE(anon.sticky->assign);
    EXPECT_EQ(anon.sticky->max_age, std::chrono::seconds(2592000));
    EXPECT_EQ(s.routes[2].sticky->max_age, std::chrono::seconds(43200));
    EXPECT_EQ(anon.on_unhealthy, routing::OnUnhealthy::shift);

    auto pool_of = [&](const std::vector<http::Header>& headers, const std::string& target,
                       std::uint64_t seed = 1) -> std::string {
        routing::RequestView view(headers, target);
        const routing::Route* route = s.match("example.com", target.substr(0, target.find('?')), view);
        if (!route) return "(no route)";
        routing::Random rng(seed);
        std::string id;
        routing::PoolDecision d = routing::choose_pool(s, *route, view, rng, id);
        return route->name + ":" + (d.pool == routing::PoolDecision::none ? "none" : s.pools[d.pool].name);
    };
    // Header matchers gate the route: all three must hold for "web".
    std::vector<http::Header> web_base{{"x-tenant", "acme"}, {"x-ver", "v2"}};
    std::vector<http::Header> pinned{{"x-tenant", "acme"}, {"x-ver", "v2"}, {"x-canary", "always"}};
    std::vector<http::Header> by_in{{"x-tenant", "acme"}, {"x-ver", "v2"}, {"x-user", "bob"}};
    std::vector<http::Header> by_regex{{"x-tenant", "acme"}, {"x-ver", "v2"}, {"x-build", "qa-12"}};
    std::vector<http::Header> by_cookie{{"x-tenant", "acme"}, {"x-ver", "v2"}, {"cookie", "a=1; tester=x"}};
    std::vector<http::Header> opted_out{{"x-tenant", "acme"}, {"x-ver", "v2"}, {"cookie", "optout=1"}};
    std::vector<http::Header> beta{{"x-tenant", "acme"}, {"x-ver", "v2"}, {"x-beta", "1"}};
    std::vector<http::Header> bad_ver{{"x-tenant", "acme"}, {"x-ver", "v2x"}};
    EXPECT_EQ(pool_of(pinned, "/"), "web:canary");
    EXPECT_EQ(pool_of(by_in, "/"), "web:canary");
    EXPECT_EQ(pool_of(by_regex, "/"), "web:green");
    EXPECT_EQ(pool_of(web_base, "/?preview=v2.1"), "web:green");
    EXPECT_EQ(pool_of(by_cookie, "/"), "web:canary");
    // No rule but the last one (optout absent) matches every plain request: pinned to stable.
    EXPECT_EQ(pool_of(web_base, "/"), "web:stable");
    // With the last rule not matching either, the 90/10 split decides.
    std::map<std::string, int> split_seen;
    for (std::uint64_t seed = 0; seed < 2000; ++seed) ++split_seen[pool_of(opted_out, "/", seed)];
    EXPECT_EQ(split_seen.size(), 2u);
    EXPECT_GT(split_seen["web:canary"], 100);
    EXPECT_GT(split_seen["web:stable"], 1600);
    // Route gates: x-beta must be absent, x-ver a full regex match, else the catch-all "plain".
    EXPECT_EQ(pool_of(beta, "/").substr(0, 6), "plain:");
    EXPECT_EQ(pool_of(bad_ver, "/").substr(0, 6), "plain:");
}

TEST(ConfigRouting, RuleMayNameAPoolOutsideTheSplitAndEmptyRulesAreFine) {
    const auto r = load_routes(R"(
  - name: web
    split: {stable: 1}
    rules:
      - {header: x-green, present: true, pool: green}
  - name: other
    match: {path_prefix: /other}
    split: {stable: 1}
    rules: []
)");
    const Config& c = ok(r);
    EXPECT_EQ(c.routes[0].rules[0].pool, "green");
    EXPECT_TRUE(c.routes[1].rules.empty());
}

// ---------------------------------------------------------------- errors

// Route "web" (line 7, split on line 8) with one rule on line 10: `rule` follows "      - ".
LoadResult load_rule(const std::string& rule) {
    return load_routes("  - name: web\n    split: {stable: 1}\n    rules:\n      - " + rule + "\n");
}

// Route "web" (line 7, split on line 8) with `sticky` on line 9, after "    sticky: ".
LoadResult load_sticky(const std::string& sticky) {
    return load_routes("  - name: web\n    split: {stable: 1}\n    sticky: " + sticky + "\n");
}

TEST(ConfigRoutingErrors, BadRegexIsReportedAtThePattern) {
    const auto r = load_rule(R"({header: x-build, regex: "qa-(", pool: canary})");
    EXPECT_TRUE(only_error(r, 10, 34, "routes[0].rules[0].regex: invalid regular expression"));
    ASSERT_FALSE(r.errors.empty());
    EXPECT_NE(r.errors[0].message.find("missing )"), std::string::npos) << "RE2's reason: " << dump(r.errors);
}

TEST(ConfigRoutingErrors, BadRegexInARouteHeaderMatcher) {
    const auto r = load_routes(R"(
  - name: web
    match:
      headers:
        - {name: x-ver, regex: "v[0-9"}
    split: {stable: 1}
)");
    // "        - {name: x-ver, regex: " is 31 characters.
    EXPECT_TRUE(only_error(r, 10, 32, "routes[0].match.headers[0].regex: invalid regular expression"));
}

TEST(ConfigRoutingErrors, TwoTestsInOneRule) {
    const auto r = load_rule(R"({header: x-canary, exact: a, prefix: b, pool: canary})");
    EXPECT_TRUE(only_error(r, 10, 9,
                           "routes[0].rules[0]: needs exactly one of exact, prefix, regex, present, in (found 2)"));
}

TEST(ConfigRoutingErrors, RuleWithoutATest) {
    const auto r = load_rule(R"({header: x-canary, pool: canary})");
    EXPECT_TRUE(only_error(r, 10, 9, "routes[0].rules[0]: needs exactly one of exact, prefix, regex, present, in"));
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].message.find("(found"), std::string::npos) << dump(r.errors);
}

TEST(ConfigRoutingErrors, RuleWithAnUnknownPool) {
    const auto r = load_rule(R"({header: x-canary, exact: a, pool: canry})");
    EXPECT_TRUE(only_error(r, 10, 44, "routes[0].rules[0].pool: unknown pool 'canry'"));
}

TEST(ConfigRoutingErrors, RuleWithoutAPool) {
    const auto r = load_rule(R"({header: x-canary, exact: a})");
    EXPECT_TRUE(only_error(r, 10, 9, "missing required key 'pool'"));
}

TEST(ConfigRoutingErrors, RuleWithTwoSources) {
    const auto r = load_rule(R"({header: x-a, cookie: b, exact: a, pool: canary})");
    EXPECT_TRUE(only_error(r, 10, 9, "routes[0].rules[0]: needs exactly one of header, cookie, query"));
}

TEST(ConfigRoutingErrors, RuleWithoutASource) {
    const auto r = load_rule(R"({exact: a, pool: canary})");
    EXPECT_TRUE(only_error(r, 10, 9, "routes[0].rules[0]: needs exactly one of header, cookie, query"));
}

TEST(ConfigRoutingErrors, StickyWithTwoSources) {
    const auto r = load_sticky(R"({header: x-user-id, query: uid})");
    EXPECT_TRUE(only_error(r, 9, 13, "routes[0].sticky: needs exactly one of header, cookie, query"));
}

TEST(ConfigRoutingErrors, StickyAssignOnAHeader) {
    const auto r = load_sticky(R"({header: x-user-id, assign: true})");
    EXPECT_TRUE(only_error(r, 9, 41, "routes[0].sticky.assign: only a cookie can be assigned"));
}

TEST(ConfigRoutingErrors, StickyAssignOnAQuery) {
    const auto r = load_sticky(R"({query: uid, assign: true})");
    // "    sticky: {query: uid, assign: " is 33 characters.
    EXPECT_TRUE(only_error(r, 9, 34, "routes[0].sticky.assign: only a cookie can be assigned"));
}

TEST(ConfigRoutingErrors, MaxAgeWithoutAssign) {
    const auto r = load_sticky(R"({cookie: uid, max_age: 1h})");
    EXPECT_TRUE(only_error(r, 9, 36, "routes[0].sticky.max_age: max_age applies only with assign: true"));

    const auto r2 = load_sticky(R"({cookie: uid, assign: false, max_age: 1h})");
    EXPECT_TRUE(only_error(r2, 9, 51, "routes[0].sticky.max_age: max_age applies only with assign: true"));

    // Written before assign: true, it is fine.
    const auto r3 = load_sticky(R"({max_age: 1h, cookie: uid, assign: true})");
    EXPECT_EQ(ok(r3).routes[0].sticky->max_age, 1h);
}

TEST(ConfigRoutingErrors, BadOnPoolUnhealthyValue) {
    const auto r = load_routes(R"(
  - name: web
    split: {stable: 1}
    on_pool_unhealthy: retry
)");
    EXPECT_TRUE(only_error(r, 9, 24, "routes[0].on_pool_unhealthy: must be 'shift' or 'fail', got 'retry'"));
}

TEST(ConfigRoutingErrors, EmptyIn) {
    const auto r = load_rule(R"({header: x-user, in: [], pool: canary})");
    EXPECT_TRUE(only_error(r, 10, 30, "routes[0].rules[0].in: needs at least one value"));
}

TEST(ConfigRoutingErrors, UnknownKeyInARuleOrSticky) {
    const auto r = load_routes(R"(
  - name: web
    split: {stable: 1}
    rules:
      - {header: x-user, exact: a, pool: canary, weight: 3}
    sticky: {header: x-user-id, salt: abc}
)");
    ASSERT_EQ(r.errors.size(), 2u) << dump(r.errors);
    EXPECT_EQ(r.errors[0].line, 10) << dump(r.errors);
    EXPECT_NE(r.errors[0].message.find("weight"), std::string::npos) << dump(r.errors);
    EXPECT_EQ(r.errors[1].line, 11) << dump(r.errors);
    EXPECT_NE(r.errors[1].message.find("salt"), std::string::npos) << dump(r.errors);
}

TEST(ConfigRoutingErrors, SeveralMistakesAreAllListedInFileOrder) {
    const auto r = load_routes(R"(
  - name: web
    split: {stable: 1}
    rules:
      - {header: x-build, regex: "qa-(", pool: canary}
      - {header: x-user, in: [], pool: canry}
      - {cookie: t, query: u, present: true, exact: x, pool: canary}
    sticky: {cookie: uid, max_age: 1h}
    on_pool_unhealthy: never
)");
    std::vector<std::string> where;
    for (const auto& e : r.errors) where.push_back(std::to_string(e.line) + ":" + std::to_string(e.col));
    const std::vector<std::string> expected = {"10:34", "11:30", "11:40", "12:9", "12:9", "13:36", "14:24"};
    EXPECT_EQ(where, expected) << dump(r.errors);
    EXPECT_FALSE(r.config);
}

}  // namespace
}  // namespace weir::config
