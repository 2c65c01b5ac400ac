// Passive ejection of one endpoint after consecutive failures (SPEC §3
// `outlier`). Pure: times come in as arguments.
#pragma once

#include <chrono>
#include <cstdint>

namespace weir::health {

using Clock = std::chrono::steady_clock;

class OutlierState {
public:
    static constexpr std::chrono::milliseconds max_ejection{5 * 60 * 1000};

    // Ejects for `base` doubled per earlier ejection, capped at 5 minutes.
    // Returns the time it comes back.
    Clock::time_point eject(Clock::time_point now, std::chrono::milliseconds base);
    // True when an ejection has just ended (the endpoint comes back).
    bool expire(Clock::time_point now);

    bool ejected() const { return ejected_; }
    Clock::time_point until() const { return until_; }
    int ejections() const { return ejections_; }
    // The ejection `eject` would apply now.
    std::chrono::milliseconds next_duration(std::chrono::milliseconds base) const;

private:
    bool ejected_ = false;
    Clock::time_point until_{};
    Clock::time_point last_return_{};
    int ejections_ = 0;  // counts toward doubling; forgotten after a long quiet spell
};

// Never more than half of a pool's endpoints ejected at once: the rest must
// carry the traffic, and a pool-wide failure is a health problem, not an
// outlier.
bool may_eject(std::size_t ejected_now, std::size_t pool_size);

}  // namespace weir::health
