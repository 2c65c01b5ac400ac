// Log-linear latency histogram: every power of two from 8 us to ~72 min is
// cut into 64 equal buckets, so a value read back as its bucket's midpoint
// is within 1/128 (< 1%) of the truth. The range reaches past an hour so
// long downloads and long polls are measured, not lumped into an overflow
// bucket whose upper edge is unknown. Fixed layout, no allocation after
// construction, mergeable by adding counts — what the rollout judge needs to
// compare pools and windows exactly.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace weir::rollout {

class Histogram {
public:
    static constexpr int sub_bits = 6;                  // 64 buckets per octave
    static constexpr int sub_buckets = 1 << sub_bits;
    static constexpr int min_exponent = 3;              // 2^3 us = 8 us: everything below lands in bucket 0
    static constexpr int max_exponent = 32;             // 2^32 us ~ 72 min: everything above in the last bucket
    static constexpr int bucket_count = (max_exponent - min_exponent) * sub_buckets;

    Histogram() : counts_(bucket_count, 0) {}

    void add(std::uint64_t micros, std::uint32_t n = 1);
    // Counts n samples straight into a bucket (merging, simulations).
    void add_to_bucket(int bucket, std::uint32_t n = 1) {
        counts_[static_cast<std::size_t>(bucket)] += n;
        total_ += n;
    }
    void merge(const Histogram& other);
    void clear();

    std::uint64_t count() const { return total_; }
    std::uint32_t at(int bucket) const { return counts_[static_cast<std::size_t>(bucket)]; }
    // All bucket_count counts, for fast scans (the rollout judge).
    const std::uint32_t* data() const { return counts_.data(); }

    // The value (us) of the sample of 0-based rank `rank` in sorted order,
    // as its bucket's midpoint; 0 when empty.
    double value_at_rank(std::uint64_t rank) const;
    // The q-quantile (0 <= q <= 1), nearest-rank.
    double quantile(double q) const;

    static int bucket_of(std::uint64_t micros);
    static double lower_bound(int bucket);  // us
    static double upper_bound(int bucket);  // us
    static double midpoint(int bucket) { return (lower_bound(bucket) + upper_bound(bucket)) / 2; }

private:
    std::vector<std::uint32_t> counts_;
    std::uint64_t total_ = 0;
};

}  // namespace weir::rollout
