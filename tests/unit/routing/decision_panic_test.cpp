// Panic mode (docs/config.md, routes): when every pool of a route is down the
// route splits by the configured weights over failing endpoints (never
// draining ones) and sticky users keep their pool; with on_pool_unhealthy
// fail it answers none instead; all endpoints draining gives no endpoint.
#include "decision_support.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace weir::routing::decision_tests {
namespace {

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

}  // namespace
}  // namespace weir::routing::decision_tests
