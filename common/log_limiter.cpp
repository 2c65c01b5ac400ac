#include "common/log_limiter.hpp"

#include <algorithm>

namespace weir::log {

bool Limiter::admit(std::uint64_t now_ms, std::uint64_t& suppressed) {
    if (!started_) {
        started_ = true;
        last_ms_ = now_ms;
    } else if (now_ms > last_ms_) {
        tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - last_ms_) * per_ms_);
        last_ms_ = now_ms;
    }
    if (tokens_ < 1.0) {
        ++suppressed_;
        return false;
    }
    tokens_ -= 1.0;
    suppressed = std::exchange(suppressed_, 0);
    return true;
}

std::string suppressed_note(std::uint64_t suppressed) {
    if (suppressed == 0) return {};
    return fmt::format(" (suppressed {} similar line{})", suppressed, suppressed == 1 ? "" : "s");
}

}  // namespace weir::log
