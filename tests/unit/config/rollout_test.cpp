// The `rollout` block of a route (docs/config.md, §6): its keys and defaults, the
// absolute latency tolerance, and the errors — step_min_duration longer
// than step_max_duration is refused whether each was written or defaulted.
#include "config/config.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace weir::config {
namespace {

using namespace std::chrono_literals;
using namespace config_test;

// The rollout's keys go on line 9, indented for the rollout map.
//   1 listeners: [{name: public, address: 127.0.0.1:8080}]
//   2 pools:
//   3   - {name: stable, endpoints: [{address: 127.0.0.1:9001}]}
//   4   - {name: canary, endpoints: [{address: 127.0.0.1:9002}]}
//   5 routes:
//   6   - name: web
//   7     split: {stable: 100, canary: 0}
//   8     rollout:
//   9       <rollout_lines...>
LoadResult load_rollout(const std::string& rollout_lines) {
    std::string yaml =
        "listeners: [{name: public, address: 127.0.0.1:8080}]\n"
        "pools:\n"
        "  - {name: stable, endpoints: [{address: 127.0.0.1:9001}]}\n"
        "  - {name: canary, endpoints: [{address: 127.0.0.1:9002}]}\n"
        "routes:\n"
        "  - name: web\n"
        "    split: {stable: 100, canary: 0}\n"
        "    rollout:\n";
    yaml += rollout_lines;
    return load_config_text(yaml, "test.yaml");
}

RolloutConfig loaded(const LoadResult& r) { return *ok(r).routes.at(0).rollout; }

TEST(ConfigRollout, DefaultsAreTheSpecs) {
    const RolloutConfig r = loaded(load_rollout("      canary: canary\n      baseline: stable\n"));
    EXPECT_EQ(r.steps, (std::vector<double>{1, 5, 10, 25, 50, 100}));
    EXPECT_EQ(r.step_min_duration, 30s);
    EXPECT_EQ(r.step_max_duration, 10min);
    EXPECT_EQ(r.min_samples, 500u);
    EXPECT_EQ(r.max_latency_ratio, 1.10);
    EXPECT_EQ(r.max_error_rate_increase, 0.001);
    EXPECT_EQ(r.min_latency_difference.count(), 0) << "no absolute tolerance unless written";
    EXPECT_EQ(r.on_inconclusive, rollout::OnInconclusive::hold);
}

TEST(ConfigRollout, EveryKeyParses) {
    const RolloutConfig r = loaded(load_rollout(
        "      canary: canary\n      baseline: stable\n      steps: [2, 20, 100]\n"
        "      step_min_duration: 1m\n      step_max_duration: 1h\n      min_samples: 1000\n"
        "      max_latency_ratio: 1.2\n      max_error_rate_increase: 0.01\n"
        "      min_latency_difference: 1ms\n      on_inconclusive: rollback\n"));
    EXPECT_EQ(r.steps, (std::vector<double>{2, 20, 100}));
    EXPECT_EQ(r.step_min_duration, 1min);
    EXPECT_EQ(r.step_max_duration, 1h);
    EXPECT_EQ(r.min_samples, 1000u);
    EXPECT_EQ(r.max_latency_ratio, 1.2);
    EXPECT_EQ(r.max_error_rate_increase, 0.01);
    EXPECT_EQ(r.min_latency_difference, 1ms);
    EXPECT_EQ(r.on_inconclusive, rollout::OnInconclusive::rollback);
}

TEST(ConfigRollout, MinLatencyDifferenceTakesMicrosecondsAndFractions) {
    const auto tolerance = [](const std::string& text) {
        return loaded(load_rollout("      canary: canary\n      baseline: stable\n      min_latency_difference: " +
                                   text + "\n"))
            .min_latency_difference;
    };
    EXPECT_EQ(tolerance("200us"), 200us);
    EXPECT_EQ(tolerance("0.5ms"), 500us);
    EXPECT_EQ(tolerance("2ms"), 2ms);
    EXPECT_EQ(tolerance("0.01s"), 10ms);
    EXPECT_EQ(tolerance("0ms"), 0us);
    for (const char* bad : {"2", "1.2.3ms", "-1ms", "1 m", "fast", "2min"}) {
        const LoadResult r =
            load_rollout(std::string("      canary: canary\n      baseline: stable\n      min_latency_difference: ") +
                         bad + "\n");
        EXPECT_TRUE(only_error(r, 11, 31, "invalid latency")) << bad;
    }
    EXPECT_TRUE(only_error(
        load_rollout("      canary: canary\n      baseline: stable\n      min_latency_difference: 61s\n"), 11, 31,
        "at most 60s"));
}

TEST(ConfigRollout, StepMinLongerThanAWrittenStepMaxIsRefused) {
    EXPECT_TRUE(only_error(load_rollout("      canary: canary\n      baseline: stable\n"
                                        "      step_min_duration: 5m\n      step_max_duration: 2m\n"),
                           12, 26, "step_max_duration (2m) is shorter than step_min_duration (5m)"));
}

TEST(ConfigRollout, StepMinLongerThanTheDefaultStepMaxIsRefused) {
    // step_max_duration not written: its default (10m) is still checked.
    EXPECT_TRUE(only_error(load_rollout("      canary: canary\n      baseline: stable\n"
                                        "      step_min_duration: 15m\n"),
                           11, 26, "step_max_duration (10m, the default) is shorter than step_min_duration (15m)"));
}

TEST(ConfigRollout, StepMaxShorterThanTheDefaultStepMinIsRefused) {
    EXPECT_TRUE(only_error(load_rollout("      canary: canary\n      baseline: stable\n"
                                        "      step_max_duration: 20s\n"),
                           11, 26, "step_max_duration (20s) is shorter than step_min_duration (30s, the default)"));
}

TEST(ConfigRollout, EqualStepDurationsAreFine) {
    const RolloutConfig r = loaded(load_rollout("      canary: canary\n      baseline: stable\n"
                                                 "      step_min_duration: 1m\n      step_max_duration: 1m\n"));
    EXPECT_EQ(r.step_min_duration, r.step_max_duration);
}

TEST(ConfigRollout, UnknownKeysAndBadValuesAreLocated) {
    EXPECT_TRUE(only_error(load_rollout("      canary: canary\n      baseline: stable\n      latency_floor: 2ms\n"), 11,
                           7, "latency_floor"));
    EXPECT_TRUE(has_error(load_rollout("      canary: canary\n      baseline: stable\n      steps: [5, 1]\n"), 11, 18,
                          "steps must increase"));
    EXPECT_TRUE(has_error(load_rollout("      canary: stable\n      baseline: stable\n"), 9, 7, "different pools"));
}

}  // namespace
}  // namespace weir::config
