// Request statistics grow with use, not with routes x pools: 300 routes each
// with its own pool cost almost nothing until used, renaming every route on
// reload does not accumulate slots, and a byte budget bounds the total.
#include "harness.hpp"

#include <sstream>
#include <string>

namespace weir_it {
namespace {

// `routes` routes, each with its own pool (all on one upstream), route i
// under /r<i>/ named "<prefix><i>"; optional limits lines.
std::string many_routes_yaml(int routes, const std::string& upstream, const std::string& prefix = "r",
                             const std::string& limits = "") {
    std::ostringstream y;
    y << "workers: 2\n"
      << "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n"
      << "admin: {address: \"127.0.0.1:0\"}\n";
    if (!limits.empty()) y << "limits: {" << limits << "}\n";
    y << "pools:\n";
    for (int i = 0; i < routes; ++i) y << "  - {name: p" << i << ", endpoints: [{address: \"" << upstream << "\"}]}\n";
    y << "routes:\n";
    for (int i = 0; i < routes; ++i)
        y << "  - {name: " << prefix << i << ", match: {host: \"*\", path_prefix: /r" << i << "/}, split: {p" << i
          << ": 100}}\n";
    return y.str();
}

double metric_of(const WeirProcess& weir, const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto v = metric_value(admin_request(weir.admin_port(), "GET", "/metrics").body, name, labels);
    return v ? *v : -1;
}

TEST(StatisticsMemoryTest, ThreeHundredRoutesTimesThreeHundredPoolsGrowOnlyWithUse) {
    FakeUpstream up("up");
    WeirProcess weir(many_routes_yaml(300, up.address()));
    ASSERT_TRUE(fetch(weir.port(), "/r0/warm").status == 200);
    const long before = weir.rss_kib();
    ASSERT_GT(before, 0);
    // Traffic on a few routes, the last one most (it used to size every
    // worker's table to routes x pools: ~1 GiB).
    for (int i = 0; i < 40; ++i) ASSERT_EQ(fetch(weir.port(), "/r299/x").status, 200);
    for (int r : {0, 1, 2, 150}) ASSERT_EQ(fetch(weir.port(), "/r" + std::to_string(r) + "/x").status, 200);
    const long after = weir.rss_kib();
    EXPECT_LT(after - before, 64 * 1024) << "RSS grew from " << before << " KiB to " << after << " KiB";
    // Reported, and small: a handful of slots, not 90 000.
    const double bytes = metric_of(weir, "weir_statistics_bytes");
    const double slots = metric_of(weir, "weir_statistics_slots");
    EXPECT_GT(bytes, 0);
    EXPECT_LT(bytes, 1 << 20);
    EXPECT_GE(slots, 5);
    EXPECT_LE(slots, 20);
    EXPECT_EQ(metric_of(weir, "weir_requests_total", {{"route", "r299"}, {"pool", "p299"}, {"code", "200"}}), 40);
}

TEST(StatisticsMemoryTest, RenamingEveryRouteOnReloadDoesNotAccumulateSlots) {
    FakeUpstream up("up");
    WeirProcess weir(many_routes_yaml(300, up.address(), "a"));
    auto use_all = [&] {
        for (int i = 0; i < 300; i += 3) ASSERT_EQ(fetch(weir.port(), "/r" + std::to_string(i) + "/x").status, 200);
    };
    use_all();
    const double first = metric_of(weir, "weir_statistics_slots");
    ASSERT_GE(first, 100);
    for (int round = 1; round <= 4; ++round) {
        const std::string prefix = std::string(1, static_cast<char>('a' + round));
        write_file(weir.config_path(), many_routes_yaml(300, up.address(), prefix));
        ASSERT_EQ(admin_request(weir.admin_port(), "POST", "/reload").status, 200);
        use_all();
        // The renamed routes' counters start over under their new names; the
        // old names are gone from /metrics.
        const std::string metrics = admin_request(weir.admin_port(), "GET", "/metrics").body;
        EXPECT_EQ(metrics.find("route=\"" + std::string(1, static_cast<char>('a' + round - 1)) + "3\""),
                  std::string::npos);
        EXPECT_EQ(metric_value(metrics, "weir_requests_total", {{"route", prefix + "3"}, {"pool", "p3"}, {"code", "200"}}),
                  1.0);
    }
    // As many slots as one generation of names needs, not five.
    EXPECT_LE(metric_of(weir, "weir_statistics_slots"), first * 1.5);
}

TEST(StatisticsMemoryTest, ABudgetBoundsStatisticsMemoryAndCountsWhatItTurnsAway) {
    FakeUpstream up("up");
    // 1 MiB holds about a thousand slots; 1500 used routes need more.
    WeirProcess weir(many_routes_yaml(1500, up.address(), "r", "max_statistics_bytes: 1048576"));
    for (int i = 0; i < 1500; ++i) ASSERT_EQ(fetch(weir.port(), "/r" + std::to_string(i) + "/x").status, 200);
    const double bytes = metric_of(weir, "weir_statistics_bytes");
    EXPECT_LE(bytes, 1048576);
    EXPECT_GT(bytes, 1048576 / 2);
    EXPECT_EQ(metric_of(weir, "weir_statistics_limit_bytes"), 1048576);
    const double dropped = metric_of(weir, "weir_statistics_dropped_total");
    EXPECT_GT(dropped, 0);
    EXPECT_TRUE(weir.wait_log("max_statistics_bytes"));
}

}  // namespace
}  // namespace weir_it
