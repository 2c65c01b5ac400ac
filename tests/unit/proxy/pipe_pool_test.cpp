// The worker's pipe pool: reuse, its bound, and housekeeping closing what a
// period did not need (descriptors counted in /proc/self/fd).
#include "proxy/pipe_pool.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace weir::proxy {
namespace {

std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

TEST(PipePool, AReturnedPipeIsReusedNotRemade) {
    PipePool pool;
    Pipe a = pool.take();
    ASSERT_TRUE(a);
    pool.give_back(a);
    const std::size_t fds = open_fds();
    Pipe b = pool.take();
    EXPECT_EQ(b.read_fd, a.read_fd);
    EXPECT_EQ(b.write_fd, a.write_fd);
    EXPECT_EQ(open_fds(), fds);
    pool.give_back(b);
}

TEST(PipePool, BytesWrittenComeOutTheOtherEnd) {
    PipePool pool;
    Pipe p = pool.take();
    ASSERT_TRUE(p);
    ASSERT_EQ(::write(p.write_fd, "abc", 3), 3);
    char buf[8];
    ASSERT_EQ(::read(p.read_fd, buf, sizeof buf), 3);
    EXPECT_EQ(std::string_view(buf, 3), "abc");
    pool.give_back(p);
}

TEST(PipePool, KeepsAtMostMaxCached) {
    PipePool pool;
    std::vector<Pipe> taken;
    for (std::size_t i = 0; i < PipePool::max_cached + 5; ++i) taken.push_back(pool.take());
    const std::size_t fds = open_fds();
    for (Pipe p : taken) pool.give_back(p);
    EXPECT_EQ(pool.cached(), PipePool::max_cached);
    EXPECT_EQ(open_fds(), fds - 2 * 5);  // the extra ones were closed
}

TEST(PipePool, HousekeepingClosesWhatAPeriodDidNotNeed) {
    const std::size_t before = open_fds();
    PipePool pool;
    Pipe a = pool.take();
    Pipe b = pool.take();
    pool.give_back(a);
    pool.give_back(b);
    pool.housekeeping();  // both were taken during this period: kept
    EXPECT_EQ(pool.cached(), 2u);
    Pipe c = pool.take();  // one needed during the next period
    pool.give_back(c);
    pool.housekeeping();  // the other stayed unused the whole period
    EXPECT_EQ(pool.cached(), 1u);
    pool.housekeeping();  // and now the last one
    EXPECT_EQ(pool.cached(), 0u);
    EXPECT_EQ(open_fds(), before);
}

}  // namespace
}  // namespace weir::proxy
