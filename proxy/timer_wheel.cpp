#include "proxy/timer_wheel.hpp"

#include <algorithm>

namespace weir::proxy {

TimerWheel::TimerWheel(std::uint64_t now_ms) : next_slot_(now_ms / granularity_ms) {}

void TimerWheel::arm(Timer& t, std::uint64_t due_ms) {
    t.cancel();
    t.due_ms_ = due_ms;
    // A slot already processed would only be seen a whole turn later: file a
    // past (or current) due time in the next slot to process instead.
    list(std::max(slot_of(due_ms), next_slot_)).push_back(t);
}

void TimerWheel::advance(std::uint64_t now_ms) {
    // Slot s holds due times in ((s-1)*g, s*g]: all of them are due once now >= s*g.
    const std::uint64_t last = now_ms / granularity_ms;
    if (last < next_slot_) return;
    // After a stall longer than a turn, one pass over every slot sees every timer.
    const std::uint64_t first = last - next_slot_ >= slot_count ? last - slot_count + 1 : next_slot_;
    for (std::uint64_t s = first; s <= last; ++s) {
        // The slot's timers move to a local list first: callbacks may arm
        // timers into this very slot (for a later turn) or cancel others.
        List pending;
        pending.splice(pending.end(), list(s));
        next_slot_ = s + 1;
        while (!pending.empty()) {
            Timer& t = pending.front();
            pending.pop_front();
            if (t.due_ms_ <= now_ms) {
                t.on_timer();
            } else {
                list(slot_of(t.due_ms_) > s ? slot_of(t.due_ms_) : next_slot_).push_back(t);
            }
        }
    }
    next_slot_ = last + 1;
}

std::uint64_t TimerWheel::sleep_ms(std::uint64_t now_ms, std::uint64_t cap) const {
    // Only the slots that end within `cap` matter; a timer further out waits
    // for a later call.
    for (std::uint64_t s = next_slot_;; ++s) {
        const std::uint64_t end = s * granularity_ms;
        const std::uint64_t wait = end > now_ms ? end - now_ms : 0;
        if (wait >= cap || s - next_slot_ >= slot_count) return cap;
        if (!slots_[s % slot_count].empty()) return wait;
    }
}

std::size_t TimerWheel::size() const {
    std::size_t n = 0;
    for (const auto& l : slots_) n += l.size();
    return n;
}

}  // namespace weir::proxy
