// The limits that are settings: upstream idle_timeout and response head
// limits, outlier.max_ejection_time, limits.max_statistics_bytes, and the
// timer granularity floor of data-path timeouts; their defaults, GET /config,
// and every error at FILE:LINE:COL.
#include "config/config.hpp"
#include "config/to_json.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace weir::config {
namespace {

using namespace std::chrono_literals;
using namespace config_test;

// Line 1 is the listener; `top_lines` (one line, or none) come next as line
// 2; then pools, and with no top line `pool_lines` start at line 5.
LoadResult load_with(const std::string& pool_lines, const std::string& top_lines = "") {
    std::string yaml = "listeners: [{name: public, address: 127.0.0.1:8080}]\n" + top_lines +
                       "pools:\n"
                       "  - name: p\n"
                       "    endpoints: [{address: 127.0.0.1:9001}]\n" +
                       pool_lines + "routes: [{name: r, split: {p: 1}}]\n";
    return load_config_text(yaml, "test.yaml");
}

TEST(ConfigLimits, DefaultsOfTheNewSettings) {
    const auto r = load_with("    outlier: {}\n");
    const Config& c = ok(r);
    const PoolConfig& p = c.pools.at(0);
    EXPECT_EQ(p.upstream.idle_timeout, 4s);
    EXPECT_EQ(p.upstream.max_response_header_bytes, 65536u);
    EXPECT_EQ(p.upstream.max_response_headers, 128u);
    EXPECT_EQ(p.upstream.max_idle_per_endpoint, 64u);
    ASSERT_TRUE(p.outlier);
    EXPECT_EQ(p.outlier->max_ejection_time, 5min);
    EXPECT_EQ(c.limits.max_statistics_bytes, 64u << 20);
}

TEST(ConfigLimits, EverySettingParsesAndShowsInTheEffectiveConfig) {
    const auto r = load_with(
        "    upstream:\n"
        "      idle_timeout: 1500ms\n"
        "      max_response_header_bytes: 262144\n"
        "      max_response_headers: 1000\n"
        "    outlier: {ejection_time: 10m, max_ejection_time: 1h}\n",
        "limits: {max_statistics_bytes: 16777216}\n");
    const Config& c = ok(r);
    const PoolConfig& p = c.pools.at(0);
    EXPECT_EQ(p.upstream.idle_timeout, 1500ms);
    EXPECT_EQ(p.upstream.max_response_header_bytes, 262144u);
    EXPECT_EQ(p.upstream.max_response_headers, 1000u);
    EXPECT_EQ(p.outlier->ejection_time, 10min);
    EXPECT_EQ(p.outlier->max_ejection_time, 1h);
    EXPECT_EQ(c.limits.max_statistics_bytes, 16777216u);

    const auto v = boost::json::parse(to_json(c, 1));
    const auto& up = v.at("pools").at(0).at("upstream").as_object();
    EXPECT_EQ(up.at("idle_timeout").as_string(), "1500ms");
    EXPECT_EQ(up.at("max_response_header_bytes").to_number<int>(), 262144);
    EXPECT_EQ(up.at("max_response_headers").to_number<int>(), 1000);
    EXPECT_EQ(v.at("pools").at(0).at("outlier").at("max_ejection_time").as_string(), "1h");
    EXPECT_EQ(v.at("limits").at("max_statistics_bytes").to_number<std::uint64_t>(), 16777216u);
}

TEST(ConfigLimitsErrors, EjectionTimeAboveItsMaximumIsRefusedNotCapped) {
    EXPECT_TRUE(only_error(load_with("    outlier: {ejection_time: 10m}\n"), 5, 30,
                           "pools[0].outlier.ejection_time: 10m is longer than max_ejection_time (5m)"));
    EXPECT_TRUE(only_error(load_with("    outlier: {ejection_time: 30s, max_ejection_time: 10s}\n"), 5, 30,
                           "longer than max_ejection_time (10s)"));
    EXPECT_TRUE(only_error(load_with("    outlier: {max_ejection_time: 0s}\n"), 5, 34,
                           "pools[0].outlier.max_ejection_time: a timeout must be greater than zero"));
}

TEST(ConfigLimitsErrors, DataPathTimeoutsBelowTheTimerGranularity) {
    EXPECT_TRUE(only_error(load_with("    upstream: {response_timeout: 5ms}\n"), 5, 34,
                           "pools[0].upstream.response_timeout: must be at least 10ms"));
    EXPECT_TRUE(only_error(load_with("    upstream: {connect_timeout: 1ms}\n"), 5, 33,
                           "pools[0].upstream.connect_timeout: must be at least 10ms"));
    EXPECT_TRUE(only_error(load_with("", "limits: {header_timeout: 9ms}\n"), 2, 26,
                           "limits.header_timeout: must be at least 10ms"));
    EXPECT_TRUE(only_error(load_with("", "limits: {idle_timeout: 2ms}\n"), 2, 24,
                           "limits.idle_timeout: must be at least 10ms"));
    // 10ms itself is fine.
    ok(load_with("    upstream: {response_timeout: 10ms, connect_timeout: 10ms}\n"));
}

TEST(ConfigLimitsErrors, OutOfRangeValues) {
    EXPECT_TRUE(only_error(load_with("    upstream: {max_response_headers: 2}\n"), 5, 38,
                           "pools[0].upstream.max_response_headers: expected an integer from 8"));
    EXPECT_TRUE(only_error(load_with("    upstream: {max_response_header_bytes: 100}\n"), 5, 43,
                           "pools[0].upstream.max_response_header_bytes: expected an integer from 1024"));
    EXPECT_TRUE(only_error(load_with("    upstream: {idle_timeout: forever}\n"), 5, 30,
                           "pools[0].upstream.idle_timeout"));
    EXPECT_TRUE(only_error(load_with("", "limits: {max_statistics_bytes: 1000}\n"), 2, 32,
                           "limits.max_statistics_bytes: expected an integer from 1048576"));
}

TEST(ConfigLimitsErrors, UnknownKeysNextToTheNewOnesAreStillErrors) {
    EXPECT_TRUE(has_error(load_with("    upstream: {idle_timeouts: 4s}\n"), 5, 16, "did you mean 'idle_timeout'"));
}

}  // namespace
}  // namespace weir::config
