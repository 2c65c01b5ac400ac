// Rules pin a request to a pool (docs/config.md, route rules): a matching
// rule beats the split and sticky assignment (also an assigning sticky
// cookie), the first matching rule wins, every matcher kind and source pins
// through choose_pool while a near miss follows the split, and a rule may pin
// to a pool outside the split.
#include "decision_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace weir::routing::decision_tests {
namespace {

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

}  // namespace
}  // namespace weir::routing::decision_tests
