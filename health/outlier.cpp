#include "health/outlier.hpp"

#include <algorithm>

namespace weir::health {

std::chrono::milliseconds OutlierState::next_duration(std::chrono::milliseconds base) const {
    auto d = base;
    for (int i = 0; i < ejections_ && d < max_ejection; ++i) d *= 2;
    return std::min(d, max_ejection);
}

Clock::time_point OutlierState::eject(Clock::time_point now, std::chrono::milliseconds base) {
    // An endpoint that behaved for the longest ejection since it came back
    // starts over at the base time.
    if (ejections_ > 0 && now - last_return_ > max_ejection) ejections_ = 0;
    until_ = now + next_duration(base);
    ejected_ = true;
    ++ejections_;
    return until_;
}

bool OutlierState::expire(Clock::time_point now) {
    if (!ejected_ || now < until_) return false;
    ejected_ = false;
    last_return_ = now;
    return true;
}

bool may_eject(std::size_t ejected_now, std::size_t pool_size) { return (ejected_now + 1) * 2 <= pool_size; }

}  // namespace weir::health
