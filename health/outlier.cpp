#include "health/outlier.hpp"

#include <algorithm>

namespace weir::health {

std::chrono::milliseconds OutlierState::next_duration(std::chrono::milliseconds base,
                                                      std::chrono::milliseconds max) const {
    auto d = base;
    for (int i = 0; i < ejections_ && d < max; ++i) d *= 2;
    return std::min(d, max);
}

Clock::time_point OutlierState::eject(Clock::time_point now, std::chrono::milliseconds base,
                                      std::chrono::milliseconds max) {
    // An endpoint that behaved for the longest ejection since it came back
    // starts over at the base time.
    if (ejections_ > 0 && now - last_return_ > max) ejections_ = 0;
    until_ = now + next_duration(base, max);
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

void OutlierState::end_early(Clock::time_point now) {
    if (!ejected_) return;
    ejected_ = false;
    last_return_ = now;
}

bool may_eject(std::size_t ejected_now, std::size_t serving) { return (ejected_now + 1) * 2 <= serving; }

}  // namespace weir::health
