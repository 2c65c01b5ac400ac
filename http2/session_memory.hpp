// The memory one nghttp2 session allocates, through nghttp2_mem, with its
// page-sized blocks tracked so an idle connection can give their pages back.
//
// Why: every nghttp2 session keeps a ~16 KiB frame buffer for the frames it
// serialises (NGHTTP2_FRAMEBUF_CHUNKLEN, allocated at creation, never
// shrunk). Written once by a large frame, its pages stay resident for the
// connection's life, though an idle connection has nothing in it: it would
// be most of what an idle HTTP/2 connection costs. Such blocks are allocated
// as whole pages of their own, and release_idle() hands all their pages back
// to the kernel (MADV_DONTNEED: they read as zeros when touched again, which
// is fine for a buffer with nothing pending in it); the allocator keeps the
// blocks themselves.
//
// Blocks of exactly a page (or a few) below that size are allocated the same
// way, at no cost in rounding: the session's stream map is a 4 KiB table of
// empty buckets on an idle connection. Their contents matter, so only pages
// that are all zeros go back: they read as zeros afterwards just the same,
// and take no memory until written again.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace weir::http2 {

class SessionMemory {
public:
    SessionMemory();
    ~SessionMemory();
    SessionMemory(const SessionMemory&) = delete;
    SessionMemory& operator=(const SessionMemory&) = delete;

    // The nghttp2_mem for nghttp2_session_*_new3 (void*: nghttp2's header
    // stays out of this one); valid as long as this object.
    void* mem();
    // Gives back the pages of the large blocks, and the pages of the smaller
    // tracked ones that hold only zeros. Only when the session holds no frame
    // being serialised or sent (nothing pending either way).
    void release_idle();

    // Blocks at least this large are scratch buffers, all of whose pages go
    // back (the frame buffer is 16394 bytes).
    static constexpr std::size_t large_block = 8192;
    // Whether a block of this size is allocated as whole pages and tracked:
    // large blocks, and smaller ones that are a whole number of pages.
    static bool tracked_size(std::size_t size);

private:
    static void* do_malloc(std::size_t size, void* self);
    static void do_free(void* ptr, void* self);
    static void* do_calloc(std::size_t n, std::size_t size, void* self);
    static void* do_realloc(void* ptr, std::size_t size, void* self);
    // Stops tracking a block; its size, or 0 if it was not a large one.
    std::size_t forget(void* ptr);
    void track(void* ptr, std::size_t size);

    std::vector<std::pair<void*, std::size_t>> large_;  // (block, size): the frame buffer, the stream map
    struct Allocator;  // holds the nghttp2_mem
    std::unique_ptr<Allocator> allocator_;
};

}  // namespace weir::http2
