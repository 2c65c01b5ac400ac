// A token bucket for log lines that a client or a failing upstream can cause
// at request rate (a scanner sending garbage, a dead backend under load):
// at most `per_second` lines a second after a `burst`, and the lines it
// refuses are counted, never lost from view: the next line written says how
// many were suppressed, and the owner reports what is left periodically.
// Not thread-safe: one per worker. Time comes from the caller (simulated in
// the unit tests).
#pragma once

#include "common/log.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace weir::log {

class Limiter {
public:
    Limiter(double per_second, double burst) : per_ms_(per_second / 1000.0), burst_(burst), tokens_(burst) {}

    // Whether a line may be written at `now_ms`. When it may, `suppressed`
    // is the number of lines refused since the last one written (then the
    // count starts over); when it may not, the line is counted.
    bool admit(std::uint64_t now_ms, std::uint64_t& suppressed);
    // Lines refused and not yet reported by an admitted line; starts over.
    std::uint64_t take_suppressed() {
        return std::exchange(suppressed_, 0);
    }

private:
    double per_ms_;
    double burst_;
    double tokens_;
    std::uint64_t last_ms_ = 0;
    bool started_ = false;
    std::uint64_t suppressed_ = 0;
};

// The line suffix that reports suppressed lines ("" for none).
std::string suppressed_note(std::uint64_t suppressed);

// A log line through `limiter`: formatted only when it is written.
template <class... Args>
void limited(Limiter& limiter, std::uint64_t now_ms, Level level, std::string_view component,
             fmt::format_string<Args...> f, Args&&... args) {
    if (!enabled(level)) return;
    std::uint64_t suppressed = 0;
    if (!limiter.admit(now_ms, suppressed)) return;
    std::string message = fmt::format(f, std::forward<Args>(args)...);
    message += suppressed_note(suppressed);
    write(level, component, message);
}

}  // namespace weir::log
