#include "telemetry/traffic.hpp"

#include <algorithm>
#include <cmath>

namespace weir::telemetry {

const std::vector<double>& duration_bounds() {
    static const std::vector<double> bounds = [] {
        std::vector<double> b;
        // 2^(k/4) * 50 us up to the first bound over 60 s: 82 bounds.
        for (int k = 0;; ++k) {
            double v = 50e-6 * std::pow(2.0, k / 4.0);
            // Rounded to 3 significant digits so the `le` labels read well.
            double scale = std::pow(10.0, 2 - std::floor(std::log10(v)));
            b.push_back(std::round(v * scale) / scale);
            if (v > 60) break;
        }
        return b;
    }();
    return bounds;
}

void TrafficCounters::record(int status, double seconds) {
    auto code = static_cast<std::uint16_t>(status);
    auto it = std::find_if(codes.begin(), codes.end(), [&](const auto& c) { return c.first == code; });
    if (it != codes.end()) ++it->second;
    else codes.emplace_back(code, 1);
    const auto& bounds = duration_bounds();
    if (buckets.empty()) buckets.assign(bounds.size() + 1, 0);
    // `le` is inclusive: the first bound >= the value.
    auto b = std::lower_bound(bounds.begin(), bounds.end(), seconds);
    ++buckets[static_cast<std::size_t>(b - bounds.begin())];
    sum_seconds += seconds;
    ++count;
}

void TrafficCounters::merge(const TrafficCounters& o) {
    for (const auto& [code, n] : o.codes) {
        auto it = std::find_if(codes.begin(), codes.end(), [&](const auto& c) { return c.first == code; });
        if (it != codes.end()) it->second += n;
        else codes.emplace_back(code, n);
    }
    if (!o.buckets.empty()) {
        if (buckets.empty()) buckets.assign(o.buckets.size(), 0);
        for (std::size_t i = 0; i < buckets.size() && i < o.buckets.size(); ++i) buckets[i] += o.buckets[i];
    }
    sum_seconds += o.sum_seconds;
    count += o.count;
}

}  // namespace weir::telemetry
