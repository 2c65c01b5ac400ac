// The settings of one route's rollout (docs/config.md `routes[].rollout`),
// with their defaults. The defaults are written only here: RolloutSpec and
// the judge's JudgeLimits take them from `defaults`, and so does
// config/config.hpp (control/snapshot_builder.cpp translates the config
// into a RolloutSpec).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace weir::rollout {

namespace defaults {
inline constexpr std::array<double, 6> steps{1, 5, 10, 25, 50, 100};
inline constexpr std::chrono::milliseconds step_min_duration{30000};
inline constexpr std::chrono::milliseconds step_max_duration{600000};
inline constexpr std::uint64_t min_samples = 500;
inline constexpr double max_latency_ratio = 1.10;
inline constexpr double max_error_rate_increase = 0.001;
inline constexpr std::chrono::microseconds min_latency_difference{0};  // 0: the ratio alone decides

inline std::vector<double> step_list() { return {steps.begin(), steps.end()}; }
}  // namespace defaults

enum class OnInconclusive { hold, rollback };

struct RolloutSpec {
    std::string canary;    // pool names
    std::string baseline;
    std::vector<double> steps = defaults::step_list();  // percent of traffic to the canary, increasing
    std::chrono::milliseconds step_min_duration = defaults::step_min_duration;
    std::chrono::milliseconds step_max_duration = defaults::step_max_duration;
    std::uint64_t min_samples = defaults::min_samples;  // canary successes at a step before it may advance
    double max_latency_ratio = defaults::max_latency_ratio;  // canary/baseline at p50, p90 (p99 when samples allow)
    double max_error_rate_increase = defaults::max_error_rate_increase;  // canary error rate minus baseline's
    // Absolute latency tolerance: a quantile closer than this to the
    // baseline's passes whatever its ratio. 0 = the ratio alone decides.
    std::chrono::microseconds min_latency_difference = defaults::min_latency_difference;
    OnInconclusive on_inconclusive = OnInconclusive::hold;
};

}  // namespace weir::rollout
