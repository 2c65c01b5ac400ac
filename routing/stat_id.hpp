// Statistics slot ids: which (route, pool) pair a request is counted under.
//
// An id is an index (dense, reused after a reload removes its pair, so
// per-worker tables stay as small as the live configuration) plus a
// generation that changes on every reuse, so a request that finishes on an
// old snapshot after its pair was removed is never counted under the pair
// that took the index over.
#pragma once

#include <cstdint>

namespace weir::routing {

inline constexpr std::uint32_t stat_index_bits = 22;  // up to 4 Mi live pairs
inline constexpr std::uint32_t stat_index_mask = (1u << stat_index_bits) - 1;
inline constexpr std::uint32_t stat_max_generation = (UINT32_MAX >> stat_index_bits) - 1;
// A pool the route cannot send to has no slot.
inline constexpr std::uint32_t no_stat = UINT32_MAX;

inline std::uint32_t stat_index(std::uint32_t id) { return id & stat_index_mask; }
// Generations start at 1, so no valid id is 0.
inline std::uint32_t make_stat_id(std::uint32_t index, std::uint32_t generation) {
    return (generation << stat_index_bits) | index;
}

}  // namespace weir::routing
