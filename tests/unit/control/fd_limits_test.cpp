#include "control/fd_limits.hpp"

#include <gtest/gtest.h>

namespace weir::control {
namespace {

TEST(FdLimits, NeedCountsBothSidesOfEveryConnectionAndEveryWorkersIdlePool) {
    const auto r = config::load_config_text(
        "listeners: [{name: a, address: 127.0.0.1:8080}, {name: b, address: 127.0.0.1:8081}]\n"
        "limits: {max_connections: 1000}\n"
        "pools:\n"
        "  - {name: stable, endpoints: [{address: 127.0.0.1:9001}, {address: 127.0.0.1:9002}],"
        " upstream: {max_idle_per_endpoint: 10}}\n"
        "  - {name: canary, endpoints: [{address: 127.0.0.1:9003}]}\n"
        "routes: [{name: web, split: {stable: 1, canary: 1}}]\n",
        "test.yaml");
    ASSERT_TRUE(r.config);
    const FdNeed need = estimate_fd_need(*r.config, 4);
    EXPECT_EQ(need.connections, 2000u);
    EXPECT_EQ(need.idle_pools, (10u * 2 + 64u * 1) * 4);  // canary keeps the default 64
    EXPECT_EQ(need.reserve, 4u * (2 + 2) + 64);
    EXPECT_EQ(need.total(), need.connections + need.idle_pools + need.reserve);
    EXPECT_GT(estimate_fd_need(*r.config, 8).total(), need.total());
}

}  // namespace
}  // namespace weir::control
