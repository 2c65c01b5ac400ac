// The health parts of weir.yaml (docs/config.md): `health_check` and `outlier` per
// pool, their defaults, and every error located at FILE:LINE:COL.
#include "config/config.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace weir::config {
namespace {

using namespace std::chrono_literals;
using namespace config_test;

// The pool's lines go after line 4; `pool_lines` starts at line 5 and is
// indented by 4 spaces (keys of the pool).
//   1 listeners: [{name: public, address: 127.0.0.1:8080}]
//   2 pools:
//   3   - name: p
//   4     endpoints: [{address: 127.0.0.1:9001}]
//   5 <pool_lines...>
//   . routes: [{name: r, split: {p: 1}}]
LoadResult load_pool(const std::string& pool_lines) {
    std::string yaml =
        "listeners: [{name: public, address: 127.0.0.1:8080}]\n"
        "pools:\n"
        "  - name: p\n"
        "    endpoints: [{address: 127.0.0.1:9001}]\n";
    yaml += pool_lines;
    yaml += "routes: [{name: r, split: {p: 1}}]\n";
    return load_config_text(yaml, "test.yaml");
}

const PoolConfig& loaded_pool(const LoadResult& r) { return ok(r).pools.at(0); }

// ---------------------------------------------------------------- valid

TEST(ConfigHealth, FullHealthCheckAndOutlierParse) {
    const auto r = load_pool(
        "    health_check:\n"
        "      path: /ready\n"
        "      interval: 500ms\n"
        "      timeout: 250ms\n"
        "      healthy_threshold: 4\n"
        "      unhealthy_threshold: 6\n"
        "      expect_status: [200, 204]\n"
        "    outlier:\n"
        "      consecutive_failures: 7\n"
        "      ejection_time: 45s\n");
    const PoolConfig& p = loaded_pool(r);
    ASSERT_TRUE(p.health_check);
    EXPECT_EQ(p.health_check->path, "/ready");
    EXPECT_EQ(p.health_check->interval, 500ms);
    EXPECT_EQ(p.health_check->timeout, 250ms);
    EXPECT_EQ(p.health_check->healthy_threshold, 4);
    EXPECT_EQ(p.health_check->unhealthy_threshold, 6);
    EXPECT_EQ(p.health_check->expect_min, 200);
    EXPECT_EQ(p.health_check->expect_max, 204);
    ASSERT_TRUE(p.outlier);
    EXPECT_EQ(p.outlier->consecutive_failures, 7);
    EXPECT_EQ(p.outlier->ejection_time, 45s);
}

TEST(ConfigHealth, TheSpecExampleParses) {
    // docs/config.md, verbatim values.
    const auto r = load_pool(
        "    health_check:\n"
        "      path: /healthz\n"
        "      interval: 2s\n"
        "      timeout: 1s\n"
        "      healthy_threshold: 2\n"
        "      unhealthy_threshold: 3\n"
        "      expect_status: [200, 399]      # inclusive range\n"
        "    outlier:\n"
        "      consecutive_failures: 5\n"
        "      ejection_time: 30s\n");
    const PoolConfig& p = loaded_pool(r);
    ASSERT_TRUE(p.health_check && p.outlier);
    EXPECT_EQ(p.health_check->interval, 2s);
    EXPECT_EQ(p.health_check->expect_max, 399);
    EXPECT_EQ(p.outlier->consecutive_failures, 5);
}

TEST(ConfigHealth, EmptyBlocksTakeTheDefaults) {
    for (const char* lines : {"    health_check: {}\n    outlier: {}\n", "    health_check:\n    outlier:\n"}) {
        SCOPED_TRACE(lines);
        const auto r = load_pool(lines);
        const PoolConfig& p = loaded_pool(r);
        ASSERT_TRUE(p.health_check) << "an empty health_check still turns checks on";
        EXPECT_EQ(p.health_check->path, "/healthz");
        EXPECT_EQ(p.health_check->interval, 2s);
        EXPECT_EQ(p.health_check->timeout, 1s);
        EXPECT_EQ(p.health_check->healthy_threshold, 2);
        EXPECT_EQ(p.health_check->unhealthy_threshold, 3);
        EXPECT_EQ(p.health_check->expect_min, 200);
        EXPECT_EQ(p.health_check->expect_max, 399);
        ASSERT_TRUE(p.outlier);
        EXPECT_EQ(p.outlier->consecutive_failures, 5);
        EXPECT_EQ(p.outlier->ejection_time, 30s);
    }
}

TEST(ConfigHealth, WithoutTheBlocksThereAreNoChecksAndNoEjection) {
    const auto r = load_pool("");
    const PoolConfig& p = loaded_pool(r);
    EXPECT_FALSE(p.health_check);
    EXPECT_FALSE(p.outlier);
}

TEST(ConfigHealth, FlowStyleAndEdgeValues) {
    const auto r = load_pool(
        "    health_check: {path: \"/h?x=1\", interval: 1s, timeout: 1s, healthy_threshold: 1, "
        "unhealthy_threshold: 100, expect_status: [100, 599]}\n"
        "    outlier: {consecutive_failures: 1, ejection_time: 1ms}\n");
    const PoolConfig& p = loaded_pool(r);
    ASSERT_TRUE(p.health_check && p.outlier);
    EXPECT_EQ(p.health_check->path, "/h?x=1");
    EXPECT_EQ(p.health_check->timeout, p.health_check->interval) << "timeout equal to the interval is allowed";
    EXPECT_EQ(p.health_check->healthy_threshold, 1);
    EXPECT_EQ(p.health_check->unhealthy_threshold, 100);
    EXPECT_EQ(p.health_check->expect_min, 100);
    EXPECT_EQ(p.health_check->expect_max, 599);
    EXPECT_EQ(p.outlier->consecutive_failures, 1);
    EXPECT_EQ(p.outlier->ejection_time, 1ms);
}

TEST(ConfigHealth, ASingleStatusRangeIsAllowed) {
    const auto r = load_pool("    health_check: {expect_status: [204, 204]}\n");
    const PoolConfig& p = loaded_pool(r);
    EXPECT_EQ(p.health_check->expect_min, 204);
    EXPECT_EQ(p.health_check->expect_max, 204);
}

// ---------------------------------------------------------------- errors
// Line 5 is the first pool line; columns are 1-based.

TEST(ConfigHealthErrors, PathWithoutLeadingSlash) {
    const auto r = load_pool(
        "    health_check:\n"
        "      path: healthz\n");
    EXPECT_TRUE(only_error(r, 6, 13, "pools[0].health_check.path: must start with '/'"));
}

TEST(ConfigHealthErrors, PathEmptyOrWithSpaces) {
    EXPECT_TRUE(only_error(load_pool("    health_check: {path: \"\"}\n"), 5, 26, "health_check.path: must start with '/'"));
    EXPECT_TRUE(only_error(load_pool("    health_check: {path: \"/a b\"}\n"), 5, 26,
                           "health_check.path: must start with '/' and contain no spaces"));
}

TEST(ConfigHealthErrors, TimeoutLongerThanTheInterval) {
    const auto r = load_pool(
        "    health_check:\n"
        "      interval: 1s\n"
        "      timeout: 2s\n");
    EXPECT_TRUE(only_error(r, 7, 16, "pools[0].health_check.timeout: must not be longer than the interval (1s)"));
}

TEST(ConfigHealthErrors, IntervalBelowTheDefaultTimeout) {
    // No timeout given: the default 1s is longer than a 500ms interval.
    const auto r = load_pool("    health_check: {interval: 500ms}\n");
    ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
    EXPECT_EQ(r.errors[0].line, 5) << dump(r.errors);
    EXPECT_NE(r.errors[0].message.find("must not be longer than the interval (500ms)"), std::string::npos)
        << dump(r.errors);
    EXPECT_FALSE(r.config);
}

TEST(ConfigHealthErrors, ThresholdsOfZero) {
    const auto r = load_pool(
        "    health_check:\n"
        "      healthy_threshold: 0\n"
        "      unhealthy_threshold: 0\n");
    ASSERT_EQ(r.errors.size(), 2u) << dump(r.errors);
    EXPECT_TRUE(has_error(r, 6, 26, "pools[0].health_check.healthy_threshold: expected an integer from 1 to 100, got '0'"));
    EXPECT_TRUE(has_error(r, 7, 28, "pools[0].health_check.unhealthy_threshold: expected an integer from 1 to 100, got '0'"));
    EXPECT_FALSE(r.config);
}

TEST(ConfigHealthErrors, ThresholdsThatAreNotIntegers) {
    EXPECT_TRUE(only_error(load_pool("    health_check: {healthy_threshold: -1}\n"), 5, 39,
                           "healthy_threshold: expected an integer from 1 to 100, got '-1'"));
    EXPECT_TRUE(only_error(load_pool("    health_check: {unhealthy_threshold: 2.5}\n"), 5, 41,
                           "unhealthy_threshold: expected an integer from 1 to 100"));
    EXPECT_TRUE(only_error(load_pool("    health_check: {healthy_threshold: 101}\n"), 5, 39,
                           "healthy_threshold: expected an integer from 1 to 100, got '101'"));
}

TEST(ConfigHealthErrors, ExpectStatusNotAPair) {
    EXPECT_TRUE(only_error(load_pool("    health_check: {expect_status: [200]}\n"), 5, 35,
                           "pools[0].health_check.expect_status: expected [min, max]"));
    EXPECT_TRUE(only_error(load_pool("    health_check: {expect_status: [200, 299, 399]}\n"), 5, 35,
                           "pools[0].health_check.expect_status: expected [min, max]"));
    EXPECT_TRUE(only_error(load_pool("    health_check: {expect_status: []}\n"), 5, 35,
                           "pools[0].health_check.expect_status: expected [min, max]"));
}

TEST(ConfigHealthErrors, ExpectStatusNotASequence) {
    EXPECT_TRUE(only_error(load_pool("    health_check: {expect_status: 200}\n"), 5, 35,
                           "pools[0].health_check.expect_status: expected a sequence"));
}

TEST(ConfigHealthErrors, ExpectStatusMinAboveMax) {
    const auto r = load_pool(
        "    health_check:\n"
        "      expect_status: [500, 200]\n");
    EXPECT_TRUE(only_error(r, 6, 22, "pools[0].health_check.expect_status: the range is empty (min > max)"));
}

TEST(ConfigHealthErrors, ExpectStatusOutsideHttpStatuses) {
    const auto r = load_pool(
        "    health_check:\n"
        "      expect_status: [99, 600]\n");
    ASSERT_EQ(r.errors.size(), 2u) << dump(r.errors);
    EXPECT_TRUE(has_error(r, 6, 23, "pools[0].health_check.expect_status[0]: expected an integer from 100 to 599, got '99'"));
    EXPECT_TRUE(has_error(r, 6, 27, "pools[0].health_check.expect_status[1]: expected an integer from 100 to 599, got '600'"));
    EXPECT_TRUE(only_error(load_pool("    health_check: {expect_status: [ok, 299]}\n"), 5, 36,
                           "expect_status[0]: expected an integer from 100 to 599"));
}

TEST(ConfigHealthErrors, BadDurations) {
    EXPECT_TRUE(only_error(load_pool("    health_check: {interval: 0s}\n"), 5, 30,
                           "pools[0].health_check.interval: a timeout must be greater than zero"));
    EXPECT_TRUE(has_error(load_pool("    health_check: {interval: 2}\n"), 5, 30, "pools[0].health_check.interval"));
    EXPECT_TRUE(has_error(load_pool("    health_check: {timeout: soon}\n"), 5, 29, "pools[0].health_check.timeout"));
    EXPECT_TRUE(only_error(load_pool("    outlier: {ejection_time: 0ms}\n"), 5, 30,
                           "pools[0].outlier.ejection_time: a timeout must be greater than zero"));
    EXPECT_TRUE(has_error(load_pool("    outlier: {ejection_time: 30}\n"), 5, 30, "pools[0].outlier.ejection_time"));
}

TEST(ConfigHealthErrors, ConsecutiveFailuresOutOfRange) {
    const auto r = load_pool(
        "    outlier:\n"
        "      consecutive_failures: 0\n");
    EXPECT_TRUE(only_error(r, 6, 29, "pools[0].outlier.consecutive_failures: expected an integer from 1"));
    EXPECT_TRUE(only_error(load_pool("    outlier: {consecutive_failures: many}\n"), 5, 37,
                           "pools[0].outlier.consecutive_failures: expected an integer"));
}

TEST(ConfigHealthErrors, UnknownKeysAreErrorsWithASuggestion) {
    const auto r = load_pool(
        "    health_check:\n"
        "      pth: /healthz\n"
        "    outlier:\n"
        "      ejection: 30s\n");
    ASSERT_EQ(r.errors.size(), 2u) << dump(r.errors);
    EXPECT_TRUE(has_error(r, 6, 7, "unknown key 'pth'"));
    EXPECT_TRUE(has_error(r, 6, 7, "did you mean 'path'?"));
    EXPECT_TRUE(has_error(r, 8, 7, "unknown key 'ejection'"));
    EXPECT_FALSE(r.config);
}

TEST(ConfigHealthErrors, BlocksThatAreNotMappings) {
    auto r = load_pool("    health_check: /healthz\n");
    ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
    EXPECT_EQ(r.errors[0].line, 5);
    EXPECT_EQ(r.errors[0].col, 19) << dump(r.errors);
    EXPECT_NE(r.errors[0].message.find("pools[0].health_check"), std::string::npos) << dump(r.errors);
    r = load_pool("    outlier: [5, 30s]\n");
    ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
    EXPECT_EQ(r.errors[0].line, 5);
    EXPECT_EQ(r.errors[0].col, 14) << dump(r.errors);
}

TEST(ConfigHealthErrors, EveryProblemOfABlockIsReported) {
    const auto r = load_pool(
        "    health_check:\n"
        "      path: nope\n"
        "      interval: 1s\n"
        "      timeout: 5s\n"
        "      healthy_threshold: 0\n"
        "      expect_status: [300, 200]\n"
        "    outlier:\n"
        "      consecutive_failures: 0\n");
    std::vector<std::string> texts;
    for (const auto& e : r.errors) texts.push_back(e.text());
    const std::vector<std::string> expected = {
        "test.yaml:6:13: pools[0].health_check.path: must start with '/' and contain no spaces or controls",
        "test.yaml:9:26: pools[0].health_check.healthy_threshold: expected an integer from 1 to 100, got '0'",
        "test.yaml:10:22: pools[0].health_check.expect_status: the range is empty (min > max)",
        "test.yaml:8:16: pools[0].health_check.timeout: must not be longer than the interval (1s)",
        "test.yaml:12:29: pools[0].outlier.consecutive_failures: expected an integer from 1 to 1000, got '0'",
    };
    // Every error is there with its location; the order is the loader's.
    for (const auto& e : expected) {
        EXPECT_NE(std::find(texts.begin(), texts.end(), e), texts.end()) << "missing: " << e << "\ngot:\n"
                                                                         << dump(r.errors);
    }
    EXPECT_EQ(texts.size(), expected.size()) << dump(r.errors);
    EXPECT_FALSE(r.config);
}

}  // namespace
}  // namespace weir::config
