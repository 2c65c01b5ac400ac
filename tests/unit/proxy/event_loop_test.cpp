// The worker loop's yielding work (what TLS handshakes wait in): one step per
// turn, I/O handled between two steps, and no sleep while steps are left.
#include "proxy/event_loop.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace weir::proxy {
namespace {

using namespace std::chrono_literals;

// Reads whatever arrived and notes it in the shared trace.
class Reader final : public IoObject {
public:
    Reader(int fd, std::string& trace) : fd_(fd), trace_(trace) {}
    void on_events(std::uint32_t) override {
        char buf[64];
        while (::read(fd_, buf, sizeof buf) > 0) trace_ += 'e';
    }

private:
    int fd_;
    std::string& trace_;
};

TEST(EventLoop, YieldingWorkTakesOneStepPerTurnWithTheIoInBetween) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    EventLoop loop;
    std::string trace;
    Reader reader(fds[0], trace);
    ASSERT_EQ(loop.add(fds[0], &reader), 0);

    constexpr int steps = 5;
    int done = 0;
    loop.post([] {});  // wakes the first turn, as an accepted connection would
    std::thread runner([&] {
        // An hour between ticks and no timers: only the yielding work can keep
        // the loop from sleeping, and it must not sleep while steps are left.
        loop.run([] {}, std::chrono::hours(1), [&] {
            if (done == steps) return false;
            trace += 's';
            ++done;
            // I/O for the next turn: handled before the next step.
            [[maybe_unused]] ssize_t n = ::write(fds[1], "x", 1);
            if (done == steps) loop.stop();
            return true;
        });
    });
    runner.join();
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(done, steps);
    // Step, then the event its write caused, then the next step: never two
    // steps in one turn. (The loop stops right after the last step.)
    std::string expected;
    for (int i = 0; i < steps; ++i) expected += i + 1 < steps ? "se" : "s";
    EXPECT_EQ(trace, expected);
}

TEST(EventLoop, TheLoopDoesNotSleepWhileYieldingStepsAreLeft) {
    EventLoop loop;
    constexpr int steps = 100;
    std::atomic<int> done{0};
    loop.post([] {});
    std::thread runner([&] {
        // No I/O and an hour between ticks: a loop that slept between steps
        // would stay asleep until the watchdog below stops it.
        loop.run([] {}, std::chrono::hours(1), [&] {
            if (done.fetch_add(1) + 1 == steps) loop.stop();
            return true;
        });
    });
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (done.load() < steps && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    loop.stop();  // the watchdog (a no-op when the loop already stopped)
    runner.join();
    EXPECT_EQ(done.load(), steps) << "the loop slept with yielding steps left";
}

TEST(EventLoop, WithoutYieldingWorkTheLoopRunsAsBefore) {
    EventLoop loop;
    int ticks = 0;
    std::thread runner([&] {
        loop.run([&] {
            if (++ticks == 3) loop.stop();
        }, 1ms);
    });
    runner.join();
    EXPECT_EQ(ticks, 3);
}

}  // namespace
}  // namespace weir::proxy
