// What one pool did during one time slice (1 s): latencies of successful
// responses and a count of errors (5xx, connect failures, resets,
// timeouts). Errors are kept apart so fast failures never make latency look
// better.
#pragma once

#include "rollout/histogram.hpp"

#include <cstdint>

namespace weir::rollout {

struct PoolSlice {
    Histogram latency;        // successful responses, microseconds
    std::uint64_t errors = 0;

    std::uint64_t successes() const { return latency.count(); }
    std::uint64_t requests() const { return latency.count() + errors; }
    void merge(const PoolSlice& o) {
        latency.merge(o.latency);
        errors += o.errors;
    }
    void clear() {
        latency.clear();
        errors = 0;
    }
};

// Both pools of a rollout over the same slice of time.
struct Slice {
    std::int64_t start_ms = 0;
    PoolSlice baseline;
    PoolSlice canary;
};

}  // namespace weir::rollout
