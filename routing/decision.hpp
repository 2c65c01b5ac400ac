// Which pool and endpoint serve one request (docs/config.md, routes): rules first, then the
// sticky key, then a weighted draw; unavailable pools handled per
// on_pool_unhealthy; panic mode when every pool of the route is down.
// A pure function of the snapshot, the request and the worker's generator.
#pragma once

#include "routing/matcher.hpp"
#include "routing/random.hpp"
#include "routing/snapshot.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace weir::routing {

struct PoolDecision {
    enum class By : std::uint8_t { rule, sticky, split };
    static constexpr std::size_t none = static_cast<std::size_t>(-1);

    std::size_t pool = none;  // index into Snapshot::pools; none: answer 503
    By by = By::split;
    bool panic = false;       // every pool of the route is down: use failing (never draining) endpoints
    bool assign_cookie = false;  // a new sticky id was made: set it on the response
    std::string_view why;     // for a 503: why no pool
};

// `new_id` receives a fresh sticky id when the route assigns one (32 hex digits).
PoolDecision choose_pool(const Snapshot& snapshot, const Route& route, const RequestView& request, Random& random,
                         std::string& new_id);

// An endpoint index of the pool for this decision, or WeightedChoice::npos.
// `tried` lists endpoint indexes already tried for this request (any pool
// size); none of them is chosen again.
std::size_t choose_endpoint(const Pool& pool, bool panic, Random& random, std::span<const std::size_t> tried);

// Where a request goes when every endpoint of its pool failed where a retry is
// safe (refused or timed-out connects; nothing back for a repeatable
// request): another pool of the route, chosen
// as on_pool_unhealthy: shift chooses (by `sticky_key` when not empty, else
// by weighted draw), leaving out unavailable pools and the `tried_pools`
// (indexes into Snapshot::pools). npos when none is left, and always for
// on_pool_unhealthy: fail, whose dead pools answer 503.
std::size_t choose_failover_pool(const Snapshot& snapshot, const Route& route, std::string_view sticky_key,
                                 Random& random, std::span<const std::size_t> tried_pools);

// A random 128-bit id as 32 lower-case hex digits.
std::string new_sticky_id(Random& random);

}  // namespace weir::routing
