// Failover choice after a pool failed a request (choose_failover_pool): it
// moves to another pool by the shifted weights, sticky users go where shift
// would put them, nothing is left once every weighted pool failed, and
// on_pool_unhealthy fail never moves a request.
#include "decision_support.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace weir::routing::decision_tests {
namespace {

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
}  // namespace weir::routing::decision_tests
