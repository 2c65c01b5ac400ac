#include "routing/sticky.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace weir::routing {

std::uint64_t sticky_hash(std::string_view route, std::string_view key, std::string_view pool) {
    // Small inputs are assembled on the stack; the streaming API would give
    // the same hash but costs more for a few dozen bytes.
    const std::size_t n = route.size() + key.size() + pool.size() + 2;
    char stack[512];
    std::string heap;
    char* buf = stack;
    if (n > sizeof stack) {
        heap.resize(n);
        buf = heap.data();
    }
    std::size_t i = 0;
    std::memcpy(buf + i, route.data(), route.size());
    i += route.size();
    buf[i++] = '\n';
    std::memcpy(buf + i, key.data(), key.size());
    i += key.size();
    buf[i++] = '\n';
    std::memcpy(buf + i, pool.data(), pool.size());
    return XXH3_64bits(buf, n);
}

double unit_interval(std::uint64_t hash) {
    // 52 bits plus one half: every value is exact in a double and strictly
    // inside (0, 1). (53 bits would round the largest one up to 1.0.)
    return (static_cast<double>(hash >> 12) + 0.5) * 0x1.0p-52;
}

std::size_t rendezvous_pick(std::string_view route, std::string_view key, const std::vector<std::string>& pools,
                            const std::vector<double>& weights) {
    std::size_t best = static_cast<std::size_t>(-1);
    double best_score = 0;
    for (std::size_t i = 0; i < pools.size(); ++i) {
        const double w = weights[i];
        if (!(w > 0)) continue;
        // ln(u) < 0 for u in (0,1), so the score is positive and grows with w.
        const double score = -w / std::log(unit_interval(sticky_hash(route, key, pools[i])));
        // Ties (astronomically rare) go to the smaller name so order never matters.
        if (best == static_cast<std::size_t>(-1) || score > best_score ||
            (score == best_score && pools[i] < pools[best])) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

}  // namespace weir::routing
