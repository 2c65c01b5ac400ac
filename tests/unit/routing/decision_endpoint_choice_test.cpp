// Endpoint choice within a pool (choose_endpoint): by weight among eligible
// endpoints only (panic readmits failing and ejected ones, never draining
// ones), tried endpoints are excluded in pools of any size, and retries walk
// every eligible endpoint once.
#include "decision_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace weir::routing::decision_tests {
namespace {

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

}  // namespace
}  // namespace weir::routing::decision_tests
