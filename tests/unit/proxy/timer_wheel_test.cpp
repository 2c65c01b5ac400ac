// proxy/timer_wheel under simulated time: a timer never fires before its due
// time, fires within one granularity after it, survives whole turns of the
// wheel, and can be re-armed or cancelled from any callback.
#include "proxy/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace weir::proxy {
namespace {

constexpr std::uint64_t g = TimerWheel::granularity_ms;

struct Probe : Timer {
    std::uint64_t* clock = nullptr;
    std::vector<std::uint64_t> fired_at;
    std::function<void()> then;
    void on_timer() override {
        fired_at.push_back(*clock);
        if (then) then();
    }
};

// Advances a simulated clock 1 ms at a time, as a loop woken every millisecond would.
void run_until(TimerWheel& w, std::uint64_t& now, std::uint64_t end) {
    while (now < end) {
        ++now;
        w.advance(now);
    }
}

TEST(TimerWheelTest, NeverEarlyAndAtMostOneGranularityLateForSubSecondTimeouts) {
    std::uint64_t now = 1'000'003;  // not aligned to the granularity
    TimerWheel w(now);
    // Every timeout from 10 ms to 500 ms, armed at every phase within a slot.
    std::vector<std::unique_ptr<Probe>> probes;
    std::vector<std::uint64_t> due;
    for (std::uint64_t timeout = 10; timeout <= 500; timeout += 7) {
        for (std::uint64_t phase = 0; phase < g; ++phase) {
            auto p = std::make_unique<Probe>();
            p->clock = &now;
            probes.push_back(std::move(p));
            due.push_back(now + phase + timeout);
        }
    }
    // Arm each at its own start time (start = due - timeout), as sessions do.
    std::size_t next = 0;
    const std::uint64_t start = now;
    while (now < start + 600) {
        for (std::size_t i = 0; i < probes.size(); ++i) {
            const std::uint64_t phase = i % g;
            if (start + phase == now && !probes[i]->armed() && probes[i]->fired_at.empty()) {
                w.arm(*probes[i], due[i]);
                ++next;
            }
        }
        ++now;
        w.advance(now);
    }
    EXPECT_EQ(next, probes.size());
    std::size_t early = 0, late = 0;
    for (std::size_t i = 0; i < probes.size(); ++i) {
        ASSERT_EQ(probes[i]->fired_at.size(), 1u) << "timer " << i;
        if (probes[i]->fired_at[0] < due[i]) ++early;
        if (probes[i]->fired_at[0] > due[i] + g) ++late;
    }
    EXPECT_EQ(early, 0u);
    EXPECT_EQ(late, 0u);
    EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheelTest, DeadlinesBeyondOneTurnWaitForTheirTurn) {
    std::uint64_t now = 5;
    TimerWheel w(now);
    Probe a, b;
    a.clock = b.clock = &now;
    const std::uint64_t turn = g * TimerWheel::slot_count;
    w.arm(a, now + 3 * turn + 17);  // same slot as a near timer, three turns later
    w.arm(b, now + 17);
    run_until(w, now, now + 3 * turn + 17 + g);
    ASSERT_EQ(b.fired_at.size(), 1u);
    ASSERT_EQ(a.fired_at.size(), 1u);
    EXPECT_GE(a.fired_at[0], 5 + 3 * turn + 17);
    EXPECT_LE(a.fired_at[0], 5 + 3 * turn + 17 + g);
}

TEST(TimerWheelTest, AStalledLoopFiresEverythingDueAtOnceAndNothingElse) {
    std::uint64_t now = 100;
    TimerWheel w(now);
    Probe due_soon, due_later, far;
    due_soon.clock = due_later.clock = far.clock = &now;
    w.arm(due_soon, 150);
    w.arm(due_later, 9'000);
    w.arm(far, 20'000);
    now = 10'000;  // the loop was blocked for ~10 s (more than a turn)
    w.advance(now);
    EXPECT_EQ(due_soon.fired_at.size(), 1u);
    EXPECT_EQ(due_later.fired_at.size(), 1u);
    EXPECT_TRUE(far.fired_at.empty());
    EXPECT_TRUE(far.armed());
    run_until(w, now, 20'000 + g);
    EXPECT_EQ(far.fired_at.size(), 1u);
    EXPECT_GE(far.fired_at[0], 20'000u);
}

TEST(TimerWheelTest, CallbacksMayRearmThemselvesAndCancelOthers) {
    std::uint64_t now = 0;
    TimerWheel w(now);
    Probe a, b, c;
    a.clock = b.clock = c.clock = &now;
    // a and b share a slot; a cancels b when it fires, then re-arms itself.
    int rearms = 0;
    a.then = [&] {
        b.cancel();
        if (++rearms < 3) w.arm(a, now + 25);
    };
    w.arm(a, 31);
    w.arm(b, 32);
    w.arm(c, 33);
    run_until(w, now, 200);
    EXPECT_EQ(a.fired_at.size(), 3u);
    EXPECT_TRUE(b.fired_at.empty());
    EXPECT_EQ(c.fired_at.size(), 1u);
    for (std::size_t i = 1; i < a.fired_at.size(); ++i) EXPECT_GE(a.fired_at[i], a.fired_at[i - 1] + 25);
}

TEST(TimerWheelTest, SleepEndsAtTheNearestOccupiedSlotAndNeverBeforeItCanFire) {
    std::uint64_t now = 1'000;
    TimerWheel w(now);
    EXPECT_EQ(w.sleep_ms(now, 100), 100u);  // nothing armed: the cap
    Probe a;
    a.clock = &now;
    w.arm(a, now + 42);
    const std::uint64_t sleep = w.sleep_ms(now, 100);
    EXPECT_GE(now + sleep, now + 42);       // waking earlier would only find it not yet due
    EXPECT_LE(sleep, 42 + g);
    now += sleep;
    w.advance(now);
    EXPECT_EQ(a.fired_at.size(), 1u);
    // A timer armed when already due fires within one granularity.
    const std::uint64_t armed_at = now;
    w.arm(a, now - 5);
    EXPECT_LE(w.sleep_ms(now, 100), g);
    run_until(w, now, armed_at + g);
    ASSERT_EQ(a.fired_at.size(), 2u);
    EXPECT_LE(a.fired_at[1], armed_at + g);
}

TEST(TimerWheelTest, DestroyingATimerCancelsIt) {
    std::uint64_t now = 0;
    TimerWheel w(now);
    {
        Probe gone;
        gone.clock = &now;
        w.arm(gone, 50);
        EXPECT_EQ(w.size(), 1u);
    }
    EXPECT_EQ(w.size(), 0u);
    run_until(w, now, 100);
}

TEST(TimerWheelTest, FarDeadlinesDoNotWakeTheLoopBeforeTheyAreNear) {
    // 2000 idle connections with 60 s timeouts spread over 10 s of arming:
    // a loop that sleeps as told (at most 100 ms) must not wake more often
    // than its 100 ms cap until they are due, and each fires on time.
    std::uint64_t now = 50'000;
    TimerWheel w(now);
    std::vector<std::unique_ptr<Probe>> idle;
    std::vector<std::uint64_t> due;
    for (int i = 0; i < 2000; ++i) {
        idle.push_back(std::make_unique<Probe>());
        idle.back()->clock = &now;
        due.push_back(now + 60'000 + static_cast<std::uint64_t>(i) * 5);
        w.arm(*idle.back(), due.back());
    }
    int wakeups = 0;
    const std::uint64_t quiet_until = 50'000 + 59'000;
    while (now < quiet_until) {
        const std::uint64_t sleep = w.sleep_ms(now, 100);
        ASSERT_EQ(sleep, 100u) << "woken early at " << now;
        now += sleep;
        w.advance(now);
        ++wakeups;
    }
    EXPECT_EQ(wakeups, 590);
    while (now < 50'000 + 71'000) {
        now += std::max<std::uint64_t>(1, w.sleep_ms(now, 100));
        w.advance(now);
    }
    for (std::size_t i = 0; i < idle.size(); ++i) {
        ASSERT_EQ(idle[i]->fired_at.size(), 1u) << i;
        EXPECT_GE(idle[i]->fired_at[0], due[i]);
        EXPECT_LE(idle[i]->fired_at[0], due[i] + g);
    }
}

}  // namespace
}  // namespace weir::proxy
