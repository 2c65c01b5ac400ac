// on_pool_unhealthy (docs/config.md, routes): with shift a dead pool's share
// goes to the others in proportion and only its sticky users are rehashed
// (they return when it comes back); with fail its share and its sticky users
// get none (503) while the others keep theirs; drained or ejected endpoints
// make a pool unavailable too; a rule pinned to a dead pool.
#include "decision_support.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace weir::routing::decision_tests {
namespace {

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

}  // namespace
}  // namespace weir::routing::decision_tests
