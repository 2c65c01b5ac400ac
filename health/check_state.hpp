// The active health-check state machine of one endpoint, and the check
// schedule. Pure: time and randomness come in as arguments, so tests run it
// under simulated time.
#pragma once

#include <chrono>

namespace weir::health {

class CheckState {
public:
    // `start_healthy`: endpoints present at start begin healthy; endpoints
    // added at runtime begin unhealthy and become healthy on their first pass
    // (a not-yet-ready instance gets no traffic, a ready one waits one check).
    CheckState(int healthy_threshold, int unhealthy_threshold, bool start_healthy);

    // Records one check result; true when the healthy state flipped.
    bool record(bool passed);

    bool healthy() const { return healthy_; }
    int passes_in_row() const { return passes_; }
    int failures_in_row() const { return failures_; }

private:
    int healthy_threshold_;
    int unhealthy_threshold_;
    bool healthy_;
    bool never_passed_;  // added at runtime and not yet checked good
    int passes_ = 0;
    int failures_ = 0;
};

// Time to the next check: `interval` with +-10% jitter, for u in [0, 1), so
// checks of many endpoints do not fall into lockstep.
std::chrono::milliseconds jittered_interval(std::chrono::milliseconds interval, double u);

// Time to the first check: a random offset in [0, interval).
std::chrono::milliseconds initial_offset(std::chrono::milliseconds interval, double u);

}  // namespace weir::health
