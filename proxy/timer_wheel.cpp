#include "proxy/timer_wheel.hpp"

#include <algorithm>

namespace weir::proxy {

TimerWheel::TimerWheel(std::uint64_t now_ms)
    : next_slot_(now_ms / granularity_ms), far_check_slot_(next_slot_ + slot_count / 2) {}

void TimerWheel::file(Timer& t, std::uint64_t from) {
    const std::uint64_t slot = slot_of(t.due_ms_);
    if (slot >= from + slot_count) {
        far_.push_back(t);
        return;
    }
    // A slot already processed would only be seen a whole turn later: file a
    // past (or current) due time in the next slot to process instead.
    list(std::max(slot, from)).push_back(t);
}

void TimerWheel::arm(Timer& t, std::uint64_t due_ms) {
    t.cancel();
    t.due_ms_ = due_ms;
    file(t, next_slot_);
}

void TimerWheel::refile_far(std::uint64_t last) {
    List pending;
    pending.splice(pending.end(), far_);
    while (!pending.empty()) {
        Timer& t = pending.front();
        pending.pop_front();
        // Measured from the first slot after this pass: within a turn of it
        // goes to the wheel (slots of this pass included), the rest waits.
        if (slot_of(t.due_ms_) < last + 1 + slot_count) list(std::max(slot_of(t.due_ms_), next_slot_)).push_back(t);
        else far_.push_back(t);
    }
    // Every far timer is at least a turn away when filed, so checking every
    // half turn moves each into the wheel well before it is due.
    far_check_slot_ = last + 1 + slot_count / 2;
}

void TimerWheel::advance(std::uint64_t now_ms) {
    // Slot s holds due times in ((s-1)*g, s*g]: all of them are due once now >= s*g.
    const std::uint64_t last = now_ms / granularity_ms;
    if (last < next_slot_) return;
    if (last >= far_check_slot_) refile_far(last);
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
            if (t.due_ms_ <= now_ms) t.on_timer();
            else file(t, next_slot_);
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
    std::size_t n = far_.size();
    for (const auto& l : slots_) n += l.size();
    return n;
}

}  // namespace weir::proxy
