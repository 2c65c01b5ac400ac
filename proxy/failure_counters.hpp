// Consecutive upstream failures per endpoint, shared by every worker of the
// process, so passive ejection sees the endpoint's record and not one
// worker's share of it: with N workers a per-worker count would need about
// N times the configured failures before anyone noticed.
//
// Lock-free: a two-level table of cache-line-sized atomic counters indexed
// by endpoint key. Chunks are only ever added (by the control thread, before
// it publishes a snapshot naming the new keys) and never freed while the
// table lives, so a worker reads a chunk pointer without synchronisation
// beyond an acquire load. A success writes only when the count is not
// already 0, so healthy traffic leaves the cache lines shared.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

namespace weir::proxy {

class FailureCounters {
public:
    static constexpr std::uint32_t chunk_size = 1024;
    static constexpr std::uint32_t max_chunks = 4096;  // 4 Mi endpoint keys

    FailureCounters() = default;
    ~FailureCounters();
    FailureCounters(const FailureCounters&) = delete;
    FailureCounters& operator=(const FailureCounters&) = delete;

    // Makes keys below `limit` usable. Control thread, before publishing.
    void ensure(std::uint32_t limit);
    // One more failure in a row; returns the count (0 when the key is out of range).
    std::uint32_t failed(std::uint32_t key);
    // A success ends the run.
    void succeeded(std::uint32_t key) { reset(key); }
    void reset(std::uint32_t key);
    std::uint32_t count(std::uint32_t key) const;

private:
    struct alignas(64) Cell {
        std::atomic<std::uint32_t> n{0};
    };
    using Chunk = std::array<Cell, chunk_size>;
    std::atomic<std::uint32_t>* cell(std::uint32_t key) const;

    std::array<std::atomic<Chunk*>, max_chunks> chunks_{};
};

}  // namespace weir::proxy
