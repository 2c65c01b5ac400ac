// common/log_limiter under simulated time: a burst passes, then the rate
// holds; every refused line is counted and reported exactly once, by the
// next admitted line or by take_suppressed().
#include "common/log_limiter.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace weir::log {
namespace {

TEST(LogLimiter, ABurstPassesThenLinesAreCounted) {
    Limiter l(20, 40);
    std::uint64_t suppressed = 99;
    for (int i = 0; i < 40; ++i) {
        ASSERT_TRUE(l.admit(1000, suppressed)) << i;
        EXPECT_EQ(suppressed, 0u);
    }
    for (int i = 0; i < 500; ++i) EXPECT_FALSE(l.admit(1000, suppressed));
    // One token comes back every 50 ms; the line it admits says what was lost.
    EXPECT_FALSE(l.admit(1049, suppressed));
    ASSERT_TRUE(l.admit(1050, suppressed));
    EXPECT_EQ(suppressed, 501u);
    EXPECT_FALSE(l.admit(1050, suppressed));
    EXPECT_EQ(l.take_suppressed(), 1u);
    EXPECT_EQ(l.take_suppressed(), 0u);
}

TEST(LogLimiter, AFloodIsHeldToTheRateAndNothingIsUncounted) {
    Limiter l(20, 40);
    std::uint64_t admitted = 0, reported = 0, suppressed = 0;
    const std::uint64_t attempts = 10'000;  // one line a millisecond for ten seconds
    for (std::uint64_t t = 0; t < attempts; ++t) {
        if (l.admit(5000 + t, suppressed)) {
            ++admitted;
            reported += suppressed;
        }
    }
    reported += l.take_suppressed();
    EXPECT_LE(admitted, 40u + 20u * 10u);
    EXPECT_GE(admitted, 20u * 10u);
    EXPECT_EQ(admitted + reported, attempts);
}

TEST(LogLimiter, QuietTimeRefillsNoMoreThanTheBurst) {
    Limiter l(20, 40);
    std::uint64_t suppressed = 0;
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(l.admit(0, suppressed));
    ASSERT_FALSE(l.admit(0, suppressed));
    int admitted = 0;
    for (int i = 0; i < 100; ++i) admitted += l.admit(3'600'000, suppressed) ? 1 : 0;
    EXPECT_EQ(admitted, 40);
}

TEST(LogLimiter, AClockThatStepsBackAddsNoTokens) {
    Limiter l(20, 2);
    std::uint64_t suppressed = 0;
    ASSERT_TRUE(l.admit(10'000, suppressed));
    ASSERT_TRUE(l.admit(10'000, suppressed));
    EXPECT_FALSE(l.admit(5'000, suppressed));
    EXPECT_FALSE(l.admit(10'000, suppressed));
    EXPECT_TRUE(l.admit(10'050, suppressed));
    EXPECT_EQ(suppressed, 2u);
}

TEST(LogLimiter, TheNoteSaysHowManyLinesWereSuppressed) {
    EXPECT_EQ(suppressed_note(0), "");
    EXPECT_EQ(suppressed_note(1), " (suppressed 1 similar line)");
    EXPECT_EQ(suppressed_note(1234), " (suppressed 1234 similar lines)");
}

}  // namespace
}  // namespace weir::log
