// A fixed-interval event counter for the codecs' abuse bounds (control-frame
// floods, rapid reset): the interval starts at its first event and a new one
// starts with the first event after it has passed. Kept apart so both
// connection sides count the same way against the owner's simulated clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace weir::http2 {

struct RateWindow {
    std::chrono::steady_clock::time_point start{};
    std::uint32_t count = 0;

    // Counts one event at `now`; returns the count within the current window.
    std::uint32_t add(std::chrono::steady_clock::time_point now, std::chrono::milliseconds length) {
        if (count == 0 || now - start >= length) {
            start = now;
            count = 0;
        }
        return ++count;
    }
};

}  // namespace weir::http2
