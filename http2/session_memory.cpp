#include "http2/session_memory.hpp"

#include <nghttp2/nghttp2.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace weir::http2 {

struct SessionMemory::Allocator {
    nghttp2_mem mem;
};

SessionMemory::SessionMemory()
    : allocator_(new Allocator{{this, &SessionMemory::do_malloc, &SessionMemory::do_free, &SessionMemory::do_calloc,
                                &SessionMemory::do_realloc}}) {}

SessionMemory::~SessionMemory() = default;

void* SessionMemory::mem() { return &allocator_->mem; }

void SessionMemory::track(void* ptr, std::size_t size) {
    if (ptr != nullptr && size >= large_block) large_.emplace_back(ptr, size);
}

void SessionMemory::forget(void* ptr) {
    if (large_.empty() || ptr == nullptr) return;
    auto it = std::find_if(large_.begin(), large_.end(), [ptr](const auto& b) { return b.first == ptr; });
    if (it != large_.end()) large_.erase(it);
}

void* SessionMemory::do_malloc(std::size_t size, void* self) {
    void* p = std::malloc(size);
    static_cast<SessionMemory*>(self)->track(p, size);
    return p;
}

void SessionMemory::do_free(void* ptr, void* self) {
    static_cast<SessionMemory*>(self)->forget(ptr);
    std::free(ptr);
}

void* SessionMemory::do_calloc(std::size_t n, std::size_t size, void* self) {
    void* p = std::calloc(n, size);
    static_cast<SessionMemory*>(self)->track(p, n * size);
    return p;
}

void* SessionMemory::do_realloc(void* ptr, std::size_t size, void* self) {
    auto* me = static_cast<SessionMemory*>(self);
    // Untracked first (a failed realloc leaves the block as it was: tracked
    // again below), so nothing reads the old pointer once realloc freed it.
    std::size_t old_size = 0;
    for (const auto& [block, size_of] : me->large_)
        if (block == ptr) old_size = size_of;
    me->forget(ptr);
    void* p = std::realloc(ptr, size);
    if (p != nullptr || size == 0) me->track(p, size);
    else me->track(ptr, old_size);
    return p;
}

void SessionMemory::release_idle() {
    static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    for (const auto& [ptr, size] : large_) {
        // Only pages wholly inside the block: the allocator's own bookkeeping
        // (and neighbouring blocks) sit on the pages at either end.
        const auto begin = (reinterpret_cast<std::uintptr_t>(ptr) + page - 1) & ~(page - 1);
        const auto end = (reinterpret_cast<std::uintptr_t>(ptr) + size) & ~(page - 1);
        if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }
}

}  // namespace weir::http2
