// Per-worker deadlines: a hashed timer wheel with a fixed granularity.
//
// Arming, re-arming and cancelling are O(1) list operations with no system
// call, so every exchange step can carry its own exact deadline. A timer is
// filed in the slot that ends at or after its due time and fires only when
// the worker's clock has reached the due time itself: never early, and late
// by at most one granularity plus the loop's own latency. The event loop
// sleeps until the nearest occupied slot, so a deadline does not wait for a
// coarse periodic tick. Deadlines beyond one turn of the wheel (idle
// keep-alive connections) wait in a separate list that is moved into the
// wheel every half turn, so they never wake the loop before they are near.
#pragma once

#include <boost/intrusive/list.hpp>

#include <array>
#include <cstdint>

namespace weir::proxy {

struct TimerTag;
using TimerHook = boost::intrusive::list_base_hook<boost::intrusive::tag<TimerTag>,
                                                   boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

// Something with one deadline. Destroying it cancels it (auto-unlink).
class Timer : public TimerHook {
public:
    virtual ~Timer() = default;
    // Called once when the deadline has passed; the timer is no longer armed.
    virtual void on_timer() = 0;

    bool armed() const { return TimerHook::is_linked(); }
    void cancel() { TimerHook::unlink(); }
    std::uint64_t due_ms() const { return due_ms_; }

private:
    friend class TimerWheel;
    std::uint64_t due_ms_ = 0;
};

class TimerWheel {
public:
    // Timers fire no earlier than due and at most this much later (plus loop latency).
    static constexpr std::uint64_t granularity_ms = 10;
    // Slots of one turn of the wheel (5.12 s).
    static constexpr std::size_t slot_count = 512;

    explicit TimerWheel(std::uint64_t now_ms);
    TimerWheel(const TimerWheel&) = delete;
    TimerWheel& operator=(const TimerWheel&) = delete;

    // (Re-)arms `t` to fire at `due_ms` (a time of the same clock as `advance`).
    void arm(Timer& t, std::uint64_t due_ms);
    // Fires every timer whose due time is <= now_ms. Callbacks may arm and
    // cancel any timer, including themselves and timers due in this pass.
    void advance(std::uint64_t now_ms);
    // How long the loop may sleep (ms) before the next slot that holds a
    // timer ends, at most `cap`. 0 when a timer may already be due.
    std::uint64_t sleep_ms(std::uint64_t now_ms, std::uint64_t cap) const;
    // Armed timers (tests).
    std::size_t size() const;

private:
    using List = boost::intrusive::list<Timer, boost::intrusive::base_hook<TimerHook>,
                                        boost::intrusive::constant_time_size<false>>;
    static std::uint64_t slot_of(std::uint64_t due_ms) { return (due_ms + granularity_ms - 1) / granularity_ms; }
    List& list(std::uint64_t slot) { return slots_[slot % slot_count]; }
    // Files `t` in its slot, or in far_ when its slot is a turn or more ahead of `from`.
    void file(Timer& t, std::uint64_t from);
    // Moves the far timers due within a turn after `last` into the wheel.
    void refile_far(std::uint64_t last);

    std::array<List, slot_count> slots_;
    List far_;                   // due a turn or more ahead
    std::uint64_t next_slot_;    // the first slot not yet processed (absolute slot number)
    std::uint64_t far_check_slot_;  // refile_far when processing reaches this slot
};

}  // namespace weir::proxy
