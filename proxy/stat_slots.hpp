// One worker's statistics, by (route, pool) slot: the traffic counters the
// metrics scrape merges, and the 1-second latency slices the canary judge
// takes. Memory grows with use, not with routes x pools:
//  - a slot exists only for a pair the current snapshot names (set_live) and
//    is allocated when its first request is recorded;
//  - the judge's slice (a ~6 KiB histogram) is allocated only while the
//    judge takes slices of the pair, and freed when it stops;
//  - a reload that removes a pair frees its slot;
//  - all workers together stay under a byte budget (limits.max_statistics_bytes):
//    past it, requests of pairs without a slot yet are not counted (and the
//    drop is counted and logged), rather than the process growing without end.
// Worker thread only, except the shared budget (atomics).
#pragma once

#include "rollout/slice.hpp"
#include "routing/settings.hpp"
#include "telemetry/traffic.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace weir::proxy {

// Process-wide statistics memory, shared by the workers.
struct StatsBudget {
    std::atomic<std::int64_t> bytes{0};
    std::atomic<std::int64_t> slots{0};
    std::atomic<std::uint64_t> dropped{0};  // requests not counted: over budget
    std::atomic<std::uint64_t> limit{routing::default_max_statistics_bytes};
};

class StatSlots {
public:
    explicit StatSlots(StatsBudget& budget) : budget_(budget) {}
    ~StatSlots();
    StatSlots(const StatSlots&) = delete;
    StatSlots& operator=(const StatSlots&) = delete;

    // The ids the current snapshot names; slots of any other id are freed.
    void set_live(const std::vector<std::uint32_t>& ids);
    // One finished request. False when it could not be counted (budget).
    bool record(std::uint32_t id, int status, std::chrono::nanoseconds elapsed, bool error);
    // An attempt that failed on this pair before the request moved to another
    // pool: an error for the judge, not a request in the traffic counters.
    void record_error(std::uint32_t id);
    // Hands over the judge's current slice of `id` and starts a new one.
    rollout::PoolSlice take_slice(std::uint32_t id, std::uint64_t now_ms);
    // Frees judge slices that were not taken for a while (the rollout ended).
    void expire_slices(std::uint64_t now_ms);
    // A copy of every slot's traffic counters.
    std::vector<std::pair<std::uint32_t, telemetry::TrafficCounters>> traffic() const;

    std::size_t slot_count() const;
    // What one slot costs, without and with a judge slice (for the budget).
    static std::int64_t slot_bytes();
    static std::int64_t slice_bytes();
    // A slice nobody took for this long is freed.
    static constexpr std::uint64_t slice_keep_ms = 10'000;

private:
    struct Slot {
        std::uint32_t id = 0;
        telemetry::TrafficCounters traffic;
        std::unique_ptr<rollout::PoolSlice> slice;
        std::uint64_t slice_taken_ms = 0;
    };
    bool live(std::uint32_t id) const;
    // The slot of a live id, allocated if needed (and `force` or within budget); null otherwise.
    Slot* slot(std::uint32_t id, bool force);
    void release(std::unique_ptr<Slot>& s);

    StatsBudget& budget_;
    std::vector<std::uint32_t> live_;            // by index: the live id there, 0 when none
    std::vector<std::unique_ptr<Slot>> slots_;   // by index
    std::vector<std::uint32_t> with_slice_;      // indexes whose slot holds a judge slice
};

}  // namespace weir::proxy
