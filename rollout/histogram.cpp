#include "rollout/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace weir::rollout {

int Histogram::bucket_of(std::uint64_t micros) {
    if (micros < (1ULL << min_exponent)) return 0;
    const int exponent = 63 - std::countl_zero(micros);  // floor(log2)
    if (exponent >= max_exponent) return bucket_count - 1;
    // The sub_bits bits below the leading one pick the linear sub-bucket.
    // Below 2^sub_bits us a sub-bucket is narrower than 1 us: shift left
    // (a negative shift count would be undefined behaviour).
    const std::uint64_t bits = exponent >= sub_bits ? micros >> (exponent - sub_bits) : micros << (sub_bits - exponent);
    const int sub = static_cast<int>(bits & (sub_buckets - 1));
    return (exponent - min_exponent) * sub_buckets + sub;
}

double Histogram::lower_bound(int bucket) {
    const int exponent = bucket / sub_buckets + min_exponent;
    const int sub = bucket % sub_buckets;
    return std::ldexp(1.0 + static_cast<double>(sub) / sub_buckets, exponent);
}

double Histogram::upper_bound(int bucket) {
    const int exponent = bucket / sub_buckets + min_exponent;
    const int sub = bucket % sub_buckets;
    return std::ldexp(1.0 + static_cast<double>(sub + 1) / sub_buckets, exponent);
}

void Histogram::add(std::uint64_t micros, std::uint32_t n) {
    counts_[static_cast<std::size_t>(bucket_of(micros))] += n;
    total_ += n;
}

void Histogram::merge(const Histogram& other) {
    if (other.total_ == 0) return;
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
}

void Histogram::clear() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
}

double Histogram::value_at_rank(std::uint64_t rank) const {
    if (total_ == 0) return 0;
    rank = std::min(rank, total_ - 1);
    std::uint64_t seen = 0;
    for (int b = 0; b < bucket_count; ++b) {
        seen += counts_[static_cast<std::size_t>(b)];
        if (seen > rank) return midpoint(b);
    }
    return midpoint(bucket_count - 1);
}

double Histogram::quantile(double q) const {
    if (total_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    return value_at_rank(rank == 0 ? 0 : rank - 1);
}

}  // namespace weir::rollout
