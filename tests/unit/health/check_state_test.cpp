// The active health-check state machine: thresholds both ways,
// the flip exactly at the threshold, endpoints added at runtime, counters
// that reset each other; and the check schedule (jitter, initial offset).
// Pure: no clock, no sockets; randomness from a seeded generator.
#include "health/check_state.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace weir::health {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

// Feeds `results` ("P" pass, "F" fail) and returns the healthy state after
// each one as a string of 'H' / 'u', and the flips as '^' positions.
struct Trace {
    std::string states;
    std::string flips;
};

Trace feed(CheckState& s, const std::string& results) {
    Trace t;
    for (char c : results) {
        bool flipped = s.record(c == 'P');
        t.states += s.healthy() ? 'H' : 'u';
        t.flips += flipped ? '^' : '.';
    }
    return t;
}

// ---------------------------------------------------------------- CheckState

TEST(HealthCheckState, StartsHealthyAndFlipsExactlyAtTheUnhealthyThreshold) {
    CheckState s(/*healthy_threshold=*/2, /*unhealthy_threshold=*/3, /*start_healthy=*/true);
    EXPECT_TRUE(s.healthy());
    auto t = feed(s, "FFFFF");
    EXPECT_EQ(t.states, "HHuuu");
    EXPECT_EQ(t.flips, "..^..") << "the flip is reported once, on the third failure";
    EXPECT_EQ(s.failures_in_row(), 5);
    EXPECT_EQ(s.passes_in_row(), 0);
}

TEST(HealthCheckState, ComesBackExactlyAtTheHealthyThreshold) {
    CheckState s(3, 2, true);
    ASSERT_EQ(feed(s, "FF").states, "Hu");
    auto t = feed(s, "PPPP");
    EXPECT_EQ(t.states, "uuHH");
    EXPECT_EQ(t.flips, "..^.");
    EXPECT_EQ(s.passes_in_row(), 4);
    EXPECT_EQ(s.failures_in_row(), 0);
}

TEST(HealthCheckState, APassResetsTheFailureCount) {
    CheckState s(2, 3, true);
    // Two failures, a pass, two failures: never three in a row.
    auto t = feed(s, "FFPFFPFF");
    EXPECT_EQ(t.states, "HHHHHHHH");
    EXPECT_EQ(t.flips, "........");
    EXPECT_EQ(s.failures_in_row(), 2);
    // The third in a row flips it.
    t = feed(s, "F");
    EXPECT_EQ(t.states, "u");
    EXPECT_EQ(t.flips, "^");
}

TEST(HealthCheckState, AFailureResetsThePassCount) {
    CheckState s(3, 1, true);
    ASSERT_EQ(feed(s, "F").flips, "^");
    auto t = feed(s, "PPFPPFPP");
    EXPECT_EQ(t.states, "uuuuuuuu") << "an unhealthy endpoint needs 3 passes in a row";
    EXPECT_EQ(s.passes_in_row(), 2);
    t = feed(s, "P");
    EXPECT_EQ(t.states, "H");
    EXPECT_EQ(t.flips, "^");
}

TEST(HealthCheckState, PassesWhileHealthyAndFailuresWhileUnhealthyNeverFlip) {
    CheckState s(2, 2, true);
    EXPECT_EQ(feed(s, "PPPPPP").flips, "......");
    EXPECT_EQ(feed(s, "FF").flips, ".^");
    EXPECT_EQ(feed(s, "FFFFFF").flips, "......");
    EXPECT_EQ(feed(s, "PP").flips, ".^");
    EXPECT_TRUE(s.healthy());
}

TEST(HealthCheckState, ThresholdsOfOneFlipOnEveryChange) {
    CheckState s(1, 1, true);
    auto t = feed(s, "FPFFPPF");
    EXPECT_EQ(t.states, "uHuuHHu");
    EXPECT_EQ(t.flips, "^^^.^.^");
}

TEST(HealthCheckState, ThresholdsBelowOneActAsOne) {
    CheckState s(0, 0, true);
    EXPECT_EQ(feed(s, "FP").flips, "^^");
    CheckState neg(-5, -5, true);
    EXPECT_EQ(feed(neg, "FP").flips, "^^");
}

TEST(HealthCheckState, AnEndpointAddedAtRuntimeIsHealthyAfterItsFirstPass) {
    // healthy_threshold 3: a runtime-added endpoint still needs only one pass.
    CheckState s(3, 2, /*start_healthy=*/false);
    EXPECT_FALSE(s.healthy()) << "added at runtime: no traffic before the first check";
    auto t = feed(s, "P");
    EXPECT_EQ(t.states, "H");
    EXPECT_EQ(t.flips, "^");
}

TEST(HealthCheckState, AnEndpointAddedAtRuntimeStaysOutWhileItFailsThenNeedsOnePass) {
    CheckState s(3, 2, false);
    auto t = feed(s, "FFFFF");
    EXPECT_EQ(t.states, "uuuuu");
    EXPECT_EQ(t.flips, ".....") << "it never was healthy: nothing flips";
    t = feed(s, "P");
    EXPECT_EQ(t.states, "H") << "not yet ready, then ready: the first pass admits it";
    EXPECT_EQ(t.flips, "^");
}

TEST(HealthCheckState, AfterItsFirstPassARuntimeEndpointFollowsTheNormalThresholds) {
    CheckState s(3, 2, false);
    ASSERT_EQ(feed(s, "P").flips, "^");
    auto t = feed(s, "FF");
    EXPECT_EQ(t.states, "Hu");
    t = feed(s, "PPP");
    EXPECT_EQ(t.states, "uuH") << "once it has passed, coming back takes healthy_threshold passes";
    EXPECT_EQ(t.flips, "..^");
}

TEST(HealthCheckState, ARuntimeEndpointThatPassedOnceAndWasNotYetFlippedBack) {
    // Pass (admitted), fail once (below threshold 2): still healthy, and one
    // pass later the counters are right.
    CheckState s(2, 2, false);
    auto t = feed(s, "PFP");
    EXPECT_EQ(t.states, "HHH");
    EXPECT_EQ(t.flips, "^..");
    EXPECT_EQ(s.passes_in_row(), 1);
    EXPECT_EQ(s.failures_in_row(), 0);
}

// A seeded random walk against a straightforward reference model.
TEST(HealthCheckState, MatchesAReferenceModelOnRandomSequences) {
    std::mt19937_64 rng(0x5eed5);
    for (int round = 0; round < 200; ++round) {
        const int ht = 1 + static_cast<int>(rng() % 4);
        const int ut = 1 + static_cast<int>(rng() % 4);
        const bool start = rng() % 2 == 0;
        CheckState s(ht, ut, start);
        bool healthy = start;
        bool ever_passed = start;
        int passes = 0, fails = 0;
        for (int i = 0; i < 60; ++i) {
            const bool pass = rng() % 3 != 0;
            bool flip = false;
            if (pass) {
                ++passes;
                fails = 0;
                if (!healthy && (!ever_passed || passes >= ht)) {
                    healthy = true;
                    flip = true;
                }
                ever_passed = true;
            } else {
                ++fails;
                passes = 0;
                if (healthy && fails >= ut) {
                    healthy = false;
                    flip = true;
                }
            }
            ASSERT_EQ(s.record(pass), flip) << "round " << round << " step " << i;
            ASSERT_EQ(s.healthy(), healthy) << "round " << round << " step " << i;
            ASSERT_EQ(s.passes_in_row(), passes);
            ASSERT_EQ(s.failures_in_row(), fails);
        }
    }
}

// ---------------------------------------------------------------- schedule

// u values in [0, 1): the edges, and a seeded sample.
std::vector<double> unit_samples() {
    std::vector<double> u = {0.0, 1e-12, 0.25, 0.5, 0.75, 0.999, std::nextafter(1.0, 0.0)};
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> d(0.0, 1.0);
    for (int i = 0; i < 2000; ++i) u.push_back(d(rng));
    return u;
}

TEST(HealthSchedule, JitteredIntervalStaysWithinTenPercent) {
    // Intervals whose 90% and 110% are whole milliseconds: the bounds are exact.
    for (ms interval : {10ms, 100ms, 200ms, 250ms, 1000ms, 2000ms, 30000ms, 600000ms}) {
        for (double u : unit_samples()) {
            const ms j = jittered_interval(interval, u);
            EXPECT_GE(j.count() * 10, interval.count() * 9) << interval.count() << "ms, u=" << u;
            EXPECT_LE(j.count() * 10, interval.count() * 11) << interval.count() << "ms, u=" << u;
        }
    }
}

TEST(HealthSchedule, JitteredIntervalOfOddIntervalsIsWithinAMillisecondOfTheBounds) {
    for (ms interval : {7ms, 33ms, 333ms, 1234ms, 2999ms}) {
        for (double u : unit_samples()) {
            const double j = static_cast<double>(jittered_interval(interval, u).count());
            EXPECT_GE(j, 0.9 * static_cast<double>(interval.count()) - 1.0) << interval.count() << "ms, u=" << u;
            EXPECT_LE(j, 1.1 * static_cast<double>(interval.count())) << interval.count() << "ms, u=" << u;
            EXPECT_GE(j, 1.0);
        }
    }
}

TEST(HealthSchedule, JitteredIntervalSpansTheWholeRange) {
    const ms interval = 2000ms;
    // The ends: u = 0 gives 90%, u close to 1 gives (almost) 110%.
    EXPECT_EQ(jittered_interval(interval, 0.0), 1800ms);
    EXPECT_GE(jittered_interval(interval, std::nextafter(1.0, 0.0)), 2199ms);
    EXPECT_EQ(jittered_interval(interval, 0.5), 2000ms);
    // Monotonic in u, and a seeded sample fills every tenth of the range.
    std::vector<int> bins(10, 0);
    ms prev{0};
    for (int i = 0; i < 1000; ++i) {
        const double u = i / 1000.0;
        const ms j = jittered_interval(interval, u);
        EXPECT_GE(j, prev) << "u=" << u;
        prev = j;
    }
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> d(0.0, 1.0);
    std::set<long long> distinct;
    for (int i = 0; i < 5000; ++i) {
        const ms j = jittered_interval(interval, d(rng));
        distinct.insert(j.count());
        const auto bin = static_cast<std::size_t>((j.count() - 1800) / 40);  // 400ms range in tenths
        ASSERT_LT(bin, bins.size()) << j.count();
        ++bins[bin];
    }
    for (std::size_t b = 0; b < bins.size(); ++b) {
        // Uniform: 500 expected per bin; far below that means the jitter does not span.
        EXPECT_GT(bins[b], 350) << "tenth " << b << " of [1800, 2200) ms is (nearly) never used";
    }
    EXPECT_GT(distinct.size(), 300u) << "the jitter takes only a few values";
}

TEST(HealthSchedule, JitterIsNotTheSameForDifferentDraws) {
    // Two endpoints checked every 2 s drift apart instead of staying in lockstep.
    EXPECT_NE(jittered_interval(2000ms, 0.1), jittered_interval(2000ms, 0.9));
}

TEST(HealthSchedule, OutOfRangeDrawsAreClampedIntoTheBounds) {
    for (double u : {-1.0, -1e-9, 1.0, 1.5, 1e300}) {
        const ms j = jittered_interval(1000ms, u);
        EXPECT_GE(j, 900ms) << u;
        EXPECT_LE(j, 1100ms) << u;
        const ms o = initial_offset(1000ms, u);
        EXPECT_GE(o, 0ms) << u;
        EXPECT_LT(o, 1000ms) << u;
    }
}

TEST(HealthSchedule, JitteredIntervalIsNeverZero) {
    EXPECT_GE(jittered_interval(1ms, 0.0), 1ms);
    EXPECT_GE(jittered_interval(1ms, 0.99), 1ms);
}

TEST(HealthSchedule, InitialOffsetIsWithinTheFirstInterval) {
    for (ms interval : {1ms, 10ms, 200ms, 333ms, 2000ms, 60000ms}) {
        for (double u : unit_samples()) {
            const ms o = initial_offset(interval, u);
            EXPECT_GE(o, 0ms) << interval.count() << "ms, u=" << u;
            EXPECT_LT(o, interval) << interval.count() << "ms, u=" << u;
        }
    }
}

TEST(HealthSchedule, InitialOffsetSpansTheInterval) {
    const ms interval = 2000ms;
    EXPECT_EQ(initial_offset(interval, 0.0), 0ms);
    EXPECT_GE(initial_offset(interval, std::nextafter(1.0, 0.0)), 1990ms);
    std::vector<int> bins(10, 0);
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> d(0.0, 1.0);
    for (int i = 0; i < 5000; ++i) {
        const auto bin = static_cast<std::size_t>(initial_offset(interval, d(rng)).count() / 200);
        ASSERT_LT(bin, bins.size());
        ++bins[bin];
    }
    for (std::size_t b = 0; b < bins.size(); ++b) EXPECT_GT(bins[b], 350) << "tenth " << b << " of the interval";
}

}  // namespace
}  // namespace weir::health
