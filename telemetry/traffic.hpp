// Per-worker traffic counters of one (route, pool): requests by status code
// and the request-duration histogram exposed as weir_request_duration_seconds.
// Each worker writes its own; the scrape merges copies taken on the workers'
// threads, so the request path touches no shared memory.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace weir::telemetry {

// Upper bounds (seconds, inclusive) of weir_request_duration_seconds, the
// same for every pool: quarter-powers of two from 50 us to ~60 s, so any
// quantile read from them is within ~10%.
const std::vector<double>& duration_bounds();

struct TrafficCounters {
    std::vector<std::pair<std::uint16_t, std::uint64_t>> codes;  // status -> requests
    std::vector<std::uint64_t> buckets;  // per bound (not cumulative); the last is +Inf
    double sum_seconds = 0;
    std::uint64_t count = 0;

    void record(int status, double seconds);
    void merge(const TrafficCounters& other);
};

}  // namespace weir::telemetry
