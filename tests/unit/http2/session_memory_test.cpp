// The allocator nghttp2 sessions use: large blocks page-aligned and whole
// pages, so an idle connection gives all of their pages back.
#include "http2/session_memory.hpp"

#include <nghttp2/nghttp2.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

namespace weir::http2 {
namespace {

const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));

TEST(Http2SessionMemory, LargeBlocksArePageAligned) {
    SessionMemory m;
    auto* mem = static_cast<nghttp2_mem*>(m.mem());
    void* big = mem->malloc(16394, mem->mem_user_data);  // nghttp2's frame buffer size
    void* small = mem->malloc(100, mem->mem_user_data);
    ASSERT_NE(big, nullptr);
    ASSERT_NE(small, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big) % page, 0u);
    std::memset(big, 0xab, 16394);
    mem->free(small, mem->mem_user_data);
    mem->free(big, mem->mem_user_data);
}

TEST(Http2SessionMemory, IdleReleaseZeroesLargeBlocksOnly) {
    SessionMemory m;
    auto* mem = static_cast<nghttp2_mem*>(m.mem());
    auto* big = static_cast<unsigned char*>(mem->malloc(20000, mem->mem_user_data));
    auto* small = static_cast<unsigned char*>(mem->malloc(64, mem->mem_user_data));
    std::memset(big, 0xcd, 20000);
    std::memset(small, 0xcd, 64);
    m.release_idle();
    // Every page of the large block went back (reads as zeros), the last
    // byte included; the small block is untouched.
    EXPECT_EQ(big[0], 0);
    EXPECT_EQ(big[19999], 0);
    EXPECT_EQ(small[63], 0xcd);
    mem->free(big, mem->mem_user_data);
    mem->free(small, mem->mem_user_data);
}

// Whether the page at p is in memory (mincore).
bool resident(const void* p) {
    unsigned char vec = 0;
    if (::mincore(const_cast<void*>(p), static_cast<std::size_t>(page), &vec) != 0) return true;
    return (vec & 1) != 0;
}

TEST(Http2SessionMemory, PageSizedBlocksGiveBackOnlyPagesOfZeros) {
    // Such as the session's stream map: a page of empty buckets when idle.
    SessionMemory m;
    auto* mem = static_cast<nghttp2_mem*>(m.mem());
    const std::size_t size = static_cast<std::size_t>(page);
    ASSERT_LT(size, SessionMemory::large_block);
    auto* empty = static_cast<unsigned char*>(mem->calloc(1, size, mem->mem_user_data));
    auto* used = static_cast<unsigned char*>(mem->malloc(size, mem->mem_user_data));
    ASSERT_NE(empty, nullptr);
    ASSERT_NE(used, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(empty) % page, 0u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(used) % page, 0u);
    std::memset(used, 0, size);
    used[size / 2] = 0x5a;
    ASSERT_TRUE(resident(empty));
    ASSERT_TRUE(resident(used));
    m.release_idle();
    // The page of zeros went back and still reads as zeros; the other one
    // kept its contents (and its page).
    EXPECT_FALSE(resident(empty));
    bool zero = true;
    for (std::size_t i = 0; i < size; ++i) zero = zero && empty[i] == 0;
    EXPECT_TRUE(zero);
    EXPECT_TRUE(resident(used));
    EXPECT_EQ(used[size / 2], 0x5a);
    EXPECT_EQ(used[0], 0);
    // Written again after the release: an ordinary page.
    empty[10] = 7;
    EXPECT_EQ(empty[10], 7);
    m.release_idle();
    EXPECT_EQ(empty[10], 7);
    mem->free(empty, mem->mem_user_data);
    mem->free(used, mem->mem_user_data);
}

TEST(Http2SessionMemory, OtherSmallBlocksAreLeftToMalloc) {
    SessionMemory m;
    EXPECT_FALSE(SessionMemory::tracked_size(static_cast<std::size_t>(page) - 1));
    EXPECT_FALSE(SessionMemory::tracked_size(static_cast<std::size_t>(page) + 16));
    EXPECT_TRUE(SessionMemory::tracked_size(static_cast<std::size_t>(page)));
    EXPECT_TRUE(SessionMemory::tracked_size(SessionMemory::large_block + 1));
}

TEST(Http2SessionMemory, ReallocAcrossTheLargeSizeKeepsTheContents) {
    SessionMemory m;
    auto* mem = static_cast<nghttp2_mem*>(m.mem());
    auto* p = static_cast<char*>(mem->malloc(100, mem->mem_user_data));
    std::memcpy(p, "0123456789", 10);
    p = static_cast<char*>(mem->realloc(p, 40000, mem->mem_user_data));  // to a large block
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % page, 0u);
    EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
    p[39999] = 'z';
    p = static_cast<char*>(mem->realloc(p, 50000, mem->mem_user_data));  // large to large
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p[39999], 'z');
    p = static_cast<char*>(mem->realloc(p, 20, mem->mem_user_data));  // back to small
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
    m.release_idle();  // nothing large is left: nothing to zero
    EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
    mem->free(p, mem->mem_user_data);
}

TEST(Http2SessionMemory, CallocZeroesLargeBlocks) {
    SessionMemory m;
    auto* mem = static_cast<nghttp2_mem*>(m.mem());
    auto* p = static_cast<unsigned char*>(mem->calloc(3, 10000, mem->mem_user_data));
    ASSERT_NE(p, nullptr);
    bool zero = true;
    for (int i = 0; i < 30000; ++i) zero = zero && p[i] == 0;
    EXPECT_TRUE(zero);
    mem->free(p, mem->mem_user_data);
}

}  // namespace
}  // namespace weir::http2
