#include "http2/session_memory.hpp"

#include <nghttp2/nghttp2.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <malloc.h>

namespace weir::http2 {

struct SessionMemory::Allocator {
    nghttp2_mem mem;
};

SessionMemory::SessionMemory()
    : allocator_(new Allocator{{this, &SessionMemory::do_malloc, &SessionMemory::do_free, &SessionMemory::do_calloc,
                                &SessionMemory::do_realloc}}) {}

SessionMemory::~SessionMemory() = default;

void* SessionMemory::mem() { return &allocator_->mem; }

namespace {

std::size_t page_size() {
    static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return page;
}

// Large blocks are whole pages of their own: release_idle() can then give
// back every page of one, not only those that happen to lie wholly inside it
// (a 16 KiB frame buffer at a random address kept two partial pages, with
// its neighbours', resident: about a sixth of an idle connection).
void* alloc_large(std::size_t& size) {
    const std::size_t page = page_size();
    size = (size + page - 1) & ~(page - 1);
    return std::aligned_alloc(page, size);
}

}  // namespace

bool SessionMemory::tracked_size(std::size_t size) {
    if (size >= large_block) return true;
    const std::size_t page = page_size();
    return size >= page && size % page == 0;
}

void SessionMemory::track(void* ptr, std::size_t size) {
    if (ptr != nullptr && tracked_size(size)) large_.emplace_back(ptr, size);
}

std::size_t SessionMemory::forget(void* ptr) {
    if (large_.empty() || ptr == nullptr) return 0;
    auto it = std::find_if(large_.begin(), large_.end(), [ptr](const auto& b) { return b.first == ptr; });
    if (it == large_.end()) return 0;
    const std::size_t size = it->second;
    large_.erase(it);
    return size;
}

void* SessionMemory::do_malloc(std::size_t size, void* self) {
    if (!tracked_size(size)) return std::malloc(size);
    void* p = alloc_large(size);
    static_cast<SessionMemory*>(self)->track(p, size);
    return p;
}

void SessionMemory::do_free(void* ptr, void* self) {
    static_cast<SessionMemory*>(self)->forget(ptr);
    std::free(ptr);
}

void* SessionMemory::do_calloc(std::size_t n, std::size_t size, void* self) {
    if (size != 0 && n > static_cast<std::size_t>(-1) / size) return nullptr;
    const std::size_t total = n * size;
    if (!tracked_size(total)) return std::calloc(n, size);
    void* p = do_malloc(total, self);
    if (p != nullptr) std::memset(p, 0, total);
    return p;
}

void* SessionMemory::do_realloc(void* ptr, std::size_t size, void* self) {
    auto* me = static_cast<SessionMemory*>(self);
    const auto tracked = std::find_if(me->large_.begin(), me->large_.end(), [ptr](const auto& b) { return b.first == ptr; });
    const std::size_t old_size = tracked != me->large_.end() ? tracked->second : 0;  // read now: large_ may grow below
    if (old_size == 0 && !tracked_size(size)) return std::realloc(ptr, size);
    // To or from a large block: moved by hand, so the new one is page-aligned
    // and the old one's size (for the copy) is known.
    if (size == 0) {
        do_free(ptr, self);
        return nullptr;
    }
    void* p = do_malloc(size, self);
    if (p == nullptr) return nullptr;  // the old block stays, as realloc leaves it
    if (ptr != nullptr) {
        const std::size_t old = old_size != 0 ? old_size : ::malloc_usable_size(ptr);
        std::memcpy(p, ptr, std::min(old, size));
        do_free(ptr, self);
    }
    return p;
}

namespace {

bool all_zero(const unsigned char* p, std::size_t n) {
    // Word by word (the block is page-aligned and n a multiple of the page).
    const auto* w = reinterpret_cast<const std::uint64_t*>(p);
    std::uint64_t any = 0;
    for (std::size_t i = 0; i < n / sizeof(std::uint64_t); ++i) any |= w[i];
    return any == 0;
}

}  // namespace

void SessionMemory::release_idle() {
    // Every block is whole pages (alloc_large). Large ones hold nothing an
    // idle session needs: all their pages go back. Smaller ones keep what
    // they hold: only pages of zeros go back, which lose nothing since they
    // read as zeros again (and take no memory until written).
    const std::size_t page = page_size();
    for (const auto& [ptr, size] : large_) {
        if (size >= large_block) {
            ::madvise(ptr, size, MADV_DONTNEED);
            continue;
        }
        auto* p = static_cast<unsigned char*>(ptr);
        for (std::size_t off = 0; off < size; off += page)
            if (all_zero(p + off, page)) ::madvise(p + off, page, MADV_DONTNEED);
    }
}

}  // namespace weir::http2
