#include "health/check_state.hpp"

#include <algorithm>

namespace weir::health {

CheckState::CheckState(int healthy_threshold, int unhealthy_threshold, bool start_healthy)
    : healthy_threshold_(std::max(1, healthy_threshold)),
      unhealthy_threshold_(std::max(1, unhealthy_threshold)),
      healthy_(start_healthy),
      never_passed_(!start_healthy) {}

bool CheckState::record(bool passed) {
    if (passed) {
        ++passes_;
        failures_ = 0;
        if (!healthy_ && (never_passed_ || passes_ >= healthy_threshold_)) {
            healthy_ = true;
            never_passed_ = false;
            return true;
        }
        never_passed_ = false;
        return false;
    }
    ++failures_;
    passes_ = 0;
    if (healthy_ && failures_ >= unhealthy_threshold_) {
        healthy_ = false;
        return true;
    }
    return false;
}

std::chrono::milliseconds jittered_interval(std::chrono::milliseconds interval, double u) {
    const double factor = 0.9 + 0.2 * std::clamp(u, 0.0, 1.0);
    auto ms = static_cast<long long>(static_cast<double>(interval.count()) * factor);
    return std::chrono::milliseconds(std::max(1LL, ms));
}

std::chrono::milliseconds initial_offset(std::chrono::milliseconds interval, double u) {
    return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(interval.count()) * std::clamp(u, 0.0, 0.999999)));
}

}  // namespace weir::health
