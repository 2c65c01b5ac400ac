// Passive ejection timing under simulated time: the ejection time
// doubles on repeat ejections up to 5 minutes, an ejection ends exactly at
// its `until`, the doubling is forgotten after a long quiet spell, and never
// more than half of a pool is ejected at once.
#include "health/outlier.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <vector>

namespace weir::health {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

// A fixed, arbitrary origin for simulated time.
const Clock::time_point t0 = Clock::time_point{} + 1000h;

ms since(Clock::time_point t, Clock::time_point origin) { return std::chrono::duration_cast<ms>(t - origin); }

// Ejects at `now` and returns the ejection's length; then lets it run out
// (expire exactly at `until`) and returns that moment through `back`.
ms eject_and_return(OutlierState& o, Clock::time_point now, ms base, Clock::time_point& back) {
    const Clock::time_point until = o.eject(now, base);
    EXPECT_TRUE(o.ejected());
    EXPECT_EQ(o.until(), until);
    EXPECT_FALSE(o.expire(until - 1ms)) << "came back before its time";
    EXPECT_TRUE(o.ejected());
    EXPECT_TRUE(o.expire(until)) << "did not come back exactly at until";
    EXPECT_FALSE(o.ejected());
    back = until;
    return since(until, now);
}

TEST(HealthOutlier, FirstEjectionLastsTheBaseTime) {
    OutlierState o;
    EXPECT_FALSE(o.ejected());
    EXPECT_EQ(o.next_duration(30s), 30s);
    const auto until = o.eject(t0, 30s);
    EXPECT_EQ(until, t0 + 30s);
    EXPECT_TRUE(o.ejected());
    EXPECT_EQ(o.ejections(), 1);
}

TEST(HealthOutlier, ExpiresExactlyAtUntilAndOnlyOnce) {
    OutlierState o;
    const auto until = o.eject(t0, 30s);
    EXPECT_FALSE(o.expire(t0));
    EXPECT_FALSE(o.expire(t0 + 29999ms));
    EXPECT_FALSE(o.expire(until - 1ns));
    EXPECT_TRUE(o.ejected());
    EXPECT_TRUE(o.expire(until));
    EXPECT_FALSE(o.ejected());
    EXPECT_FALSE(o.expire(until)) << "the return is reported once";
    EXPECT_FALSE(o.expire(until + 1h));
}

TEST(HealthOutlier, ExpireWithoutAnEjectionDoesNothing) {
    OutlierState o;
    EXPECT_FALSE(o.expire(t0));
    EXPECT_FALSE(o.ejected());
}

TEST(HealthOutlier, RepeatEjectionsDoubleUpToFiveMinutes) {
    OutlierState o;
    Clock::time_point now = t0;
    std::vector<ms> got;
    for (int i = 0; i < 7; ++i) {
        Clock::time_point back;
        got.push_back(eject_and_return(o, now, 30s, back));
        now = back + 10s;  // misbehaves again soon after coming back
    }
    const std::vector<ms> expected = {30s, 60s, 120s, 240s, 300s, 300s, 300s};
    EXPECT_EQ(got, expected);
}

TEST(HealthOutlier, NextDurationPredictsEject) {
    OutlierState o;
    Clock::time_point now = t0;
    for (int i = 0; i < 6; ++i) {
        const ms predicted = o.next_duration(30s);
        const auto until = o.eject(now, 30s);
        EXPECT_EQ(since(until, now), predicted) << "ejection " << i;
        ASSERT_TRUE(o.expire(until));
        now = until + 1s;
    }
}

TEST(HealthOutlier, AShortBaseDoublesToo) {
    OutlierState o;
    Clock::time_point now = t0;
    std::vector<ms> got;
    for (int i = 0; i < 4; ++i) {
        Clock::time_point back;
        got.push_back(eject_and_return(o, now, 1s, back));
        now = back;  // again at once
    }
    EXPECT_EQ(got, (std::vector<ms>{1s, 2s, 4s, 8s}));
}

TEST(HealthOutlier, ABaseAboveTheCapIsCapped) {
    OutlierState o;
    EXPECT_EQ(o.next_duration(10min), 5min);
    EXPECT_EQ(o.eject(t0, 10min), t0 + 5min);
    EXPECT_EQ(OutlierState::max_ejection, 5min);
}

TEST(HealthOutlier, DoublingIsForgottenAfterAQuietSpellLongerThanFiveMinutes) {
    OutlierState o;
    Clock::time_point back;
    ASSERT_EQ(eject_and_return(o, t0, 30s, back), 30s);
    ASSERT_EQ(eject_and_return(o, back + 1s, 30s, back), 60s);
    ASSERT_EQ(eject_and_return(o, back + 1s, 30s, back), 120s);
    // Quiet for more than 5 minutes since the return: back to the base time.
    EXPECT_EQ(eject_and_return(o, back + 5min + 1ms, 30s, back), 30s);
    // And doubling starts over from there.
    EXPECT_EQ(eject_and_return(o, back + 1s, 30s, back), 60s);
}

TEST(HealthOutlier, AQuietSpellOfExactlyFiveMinutesStillDoubles) {
    OutlierState o;
    Clock::time_point back;
    ASSERT_EQ(eject_and_return(o, t0, 30s, back), 30s);
    EXPECT_EQ(eject_and_return(o, back + 5min, 30s, back), 60s);
    EXPECT_EQ(eject_and_return(o, back + 4min + 59s, 30s, back), 120s);
}

TEST(HealthOutlier, TheQuietSpellCountsFromTheReturnNotFromTheEjection) {
    OutlierState o;
    Clock::time_point back;
    // A 4-minute ejection (after 3 doublings), then 2 minutes of quiet: 6
    // minutes since it was ejected, but only 2 since it came back.
    ASSERT_EQ(eject_and_return(o, t0, 30s, back), 30s);
    ASSERT_EQ(eject_and_return(o, back, 30s, back), 60s);
    ASSERT_EQ(eject_and_return(o, back, 30s, back), 120s);
    ASSERT_EQ(eject_and_return(o, back, 30s, back), 240s);
    EXPECT_EQ(eject_and_return(o, back + 2min, 30s, back), 300s);
}

// ---------------------------------------------------------------- half-pool cap

// How many endpoints of a pool of `size` can be ejected one after another.
std::size_t max_ejected(std::size_t size) {
    std::size_t ejected = 0;
    while (ejected < size && may_eject(ejected, size)) ++ejected;
    return ejected;
}

TEST(HealthOutlier, NeverMoreThanHalfOfAPool) {
    EXPECT_EQ(max_ejected(1), 0u) << "a single endpoint is never ejected";
    EXPECT_EQ(max_ejected(2), 1u);
    EXPECT_EQ(max_ejected(3), 1u);
    EXPECT_EQ(max_ejected(4), 2u);
    EXPECT_EQ(max_ejected(5), 2u);
    EXPECT_EQ(max_ejected(6), 3u);
    for (std::size_t n = 1; n <= 64; ++n) EXPECT_EQ(max_ejected(n), n / 2) << "pool of " << n;
}

TEST(HealthOutlier, MayEjectTable) {
    struct Case {
        std::size_t ejected, size;
        bool may;
    };
    const Case cases[] = {
        {0, 0, false}, {0, 1, false}, {0, 2, true},  {1, 2, false}, {0, 3, true},  {1, 3, false},
        {2, 3, false}, {0, 4, true},  {1, 4, true},  {2, 4, false}, {3, 4, false}, {1, 5, true},
        {2, 5, false}, {2, 6, true},  {3, 6, false}, {4, 6, false},
    };
    for (const Case& c : cases)
        EXPECT_EQ(may_eject(c.ejected, c.size), c.may) << c.ejected << " of " << c.size << " ejected";
}

TEST(HealthOutlier, AConfiguredMaximumCapsTheDoublingAndTheQuietSpell) {
    // outlier.max_ejection_time: 20 s instead of 5 minutes.
    OutlierState o;
    std::vector<ms> got;
    Clock::time_point now = t0;
    for (int i = 0; i < 4; ++i) {
        const Clock::time_point until = o.eject(now, 10s, 20s);
        got.push_back(since(until, now));
        ASSERT_TRUE(o.expire(until));
        now = until + 1s;
    }
    EXPECT_EQ(got, (std::vector<ms>{10s, 20s, 20s, 20s}));
    // Quiet for longer than the configured maximum: back to the base time.
    const Clock::time_point until = o.eject(now + 21s, 10s, 20s);
    EXPECT_EQ(since(until, now + 21s), 10s);
    // And a longer maximum lets it double past 5 minutes.
    OutlierState longer;
    now = t0;
    for (int i = 0; i < 3; ++i) {
        const Clock::time_point u = longer.eject(now, 4min, 20min);
        ASSERT_TRUE(longer.expire(u));
        now = u;
    }
    EXPECT_EQ(longer.next_duration(4min, 20min), 20min);
}

TEST(HealthOutlier, EndingEarlyBringsItBackAndKeepsTheDoubling) {
    OutlierState o;
    o.eject(t0, 1s, 10s);
    o.end_early(t0 + 100ms);
    EXPECT_FALSE(o.ejected());
    EXPECT_EQ(o.next_duration(1s, 10s), 2s);
}

}  // namespace
}  // namespace weir::health
