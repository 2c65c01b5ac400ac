#include "routing/weighted.hpp"

namespace weir::routing {

WeightedChoice::WeightedChoice(const std::vector<double>& weights) {
    cumulative_.reserve(weights.size());
    for (double w : weights) {
        total_ += w > 0 ? w : 0;
        cumulative_.push_back(total_);
    }
}

std::size_t WeightedChoice::pick(double u) const {
    if (total_ <= 0) return npos;
    double x = u * total_;
    // Lists are short (pools of a route, endpoints of a pool): a scan beats a search.
    for (std::size_t i = 0; i < cumulative_.size(); ++i) {
        if (x < cumulative_[i]) return i;
    }
    // u*total rounded up to total: the last entry with a weight.
    for (std::size_t i = cumulative_.size(); i-- > 0;) {
        if (i == 0 || cumulative_[i] > cumulative_[i - 1]) return i;
    }
    return npos;
}

}  // namespace weir::routing
