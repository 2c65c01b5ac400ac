// Sticky pool choice by weighted rendezvous hashing.
//
// Each pool scores  -w / ln(u)  where u in (0,1) comes from a fixed 64-bit
// hash of (route name, sticky key, pool name); the highest score wins. This
// gives the promises of docs/config.md, routes: the answer depends only on (route, key,
// weights) — not on pool order, process, restart or replica; raising one
// pool's weight raises only its own score, so users only move into it;
// lowering it only moves users out; weight 0 scores 0 and gets no users.
//
// The hash is XXH3-64 (seed 0) of the bytes  route '\n' key '\n' pool,
// and u = ((h >> 12) + 0.5) / 2^52. Changing either changes where every user
// lands: tests/unit/routing/sticky_golden.txt pins it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weir::routing {

std::uint64_t sticky_hash(std::string_view route, std::string_view key, std::string_view pool);

// u in (0, 1) from a hash.
double unit_interval(std::uint64_t hash);

// Index of the winning pool, or npos when every weight is 0. `pools` and
// `weights` have the same length.
std::size_t rendezvous_pick(std::string_view route, std::string_view key, const std::vector<std::string>& pools,
                            const std::vector<double>& weights);

}  // namespace weir::routing
