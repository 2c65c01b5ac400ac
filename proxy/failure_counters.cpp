#include "proxy/failure_counters.hpp"

namespace weir::proxy {

FailureCounters::~FailureCounters() {
    for (auto& c : chunks_) delete c.load(std::memory_order_relaxed);
}

void FailureCounters::ensure(std::uint32_t limit) {
    const std::uint32_t needed = (limit + chunk_size - 1) / chunk_size;
    for (std::uint32_t i = 0; i < needed && i < max_chunks; ++i) {
        if (!chunks_[i].load(std::memory_order_relaxed)) chunks_[i].store(new Chunk(), std::memory_order_release);
    }
}

std::atomic<std::uint32_t>* FailureCounters::cell(std::uint32_t key) const {
    const std::uint32_t c = key / chunk_size;
    if (c >= max_chunks) return nullptr;
    Chunk* chunk = chunks_[c].load(std::memory_order_acquire);
    return chunk ? &(*chunk)[key % chunk_size].n : nullptr;
}

std::uint32_t FailureCounters::failed(std::uint32_t key) {
    auto* n = cell(key);
    return n ? n->fetch_add(1, std::memory_order_relaxed) + 1 : 0;
}

void FailureCounters::reset(std::uint32_t key) {
    auto* n = cell(key);
    if (n && n->load(std::memory_order_relaxed) != 0) n->store(0, std::memory_order_relaxed);
}

std::uint32_t FailureCounters::count(std::uint32_t key) const {
    auto* n = cell(key);
    return n ? n->load(std::memory_order_relaxed) : 0;
}

}  // namespace weir::proxy
