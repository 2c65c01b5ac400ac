// The allocator nghttp2 sessions use: large blocks page-aligned and whole
// pages, so an idle connection gives all of their pages back.
#include "http2/session_memory.hpp"

#include <nghttp2/nghttp2.h>
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
