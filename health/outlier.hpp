// Passive ejection of one endpoint after consecutive failures (docs/config.md
// `outlier`). Pure: times come in as arguments.
#pragma once

#include <chrono>
#include <cstdint>

namespace weir::health {

using Clock = std::chrono::steady_clock;

class OutlierState {
public:
    // The default cap (outlier.max_ejection_time).
    static constexpr std::chrono::milliseconds max_ejection{5 * 60 * 1000};

    // Ejects for `base` doubled per earlier ejection, capped at `max`.
    // Returns the time it comes back.
    Clock::time_point eject(Clock::time_point now, std::chrono::milliseconds base,
                            std::chrono::milliseconds max = max_ejection);
    // True when an ejection has just ended (the endpoint comes back).
    bool expire(Clock::time_point now);
    // Ends an ejection before its time (the endpoint proved itself otherwise).
    void end_early(Clock::time_point now);

    bool ejected() const { return ejected_; }
    Clock::time_point until() const { return until_; }
    int ejections() const { return ejections_; }
    // The ejection `eject` would apply now.
    std::chrono::milliseconds next_duration(std::chrono::milliseconds base,
                                            std::chrono::milliseconds max = max_ejection) const;

private:
    bool ejected_ = false;
    Clock::time_point until_{};
    Clock::time_point last_return_{};
    int ejections_ = 0;  // counts toward doubling; forgotten after a long quiet spell
};

// Never more than half of a pool's serving endpoints ejected at once: the
// rest must carry the traffic, and a pool-wide failure is a health problem,
// not an outlier. `serving` counts endpoints that could take traffic (not
// draining, passing their checks, accepting connections), ejected ones
// included; `ejected_now` those of them ejected.
bool may_eject(std::size_t ejected_now, std::size_t serving);

}  // namespace weir::health
