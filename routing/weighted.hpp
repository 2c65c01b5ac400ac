// Weighted choice among a fixed list, precomputed when a snapshot is built so
// a pick is one random number and a short scan.
#pragma once

#include <cstddef>
#include <vector>

namespace weir::routing {

class WeightedChoice {
public:
    WeightedChoice() = default;
    explicit WeightedChoice(const std::vector<double>& weights);

    // Index for `u` in [0, 1), or npos when every weight is 0.
    std::size_t pick(double u) const;
    double total() const { return total_; }
    bool empty() const { return total_ <= 0; }
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

private:
    std::vector<double> cumulative_;  // running sums; equal neighbours mark weight 0
    double total_ = 0;
};

}  // namespace weir::routing
