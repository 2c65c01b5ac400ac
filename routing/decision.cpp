#include "routing/decision.hpp"

#include "routing/sticky.hpp"

#include <algorithm>

namespace weir::routing {

std::string new_sticky_id(Random& random) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (int half = 0; half < 2; ++half) {
        std::uint64_t v = random.next();
        for (int i = 0; i < 16; ++i) {
            id[static_cast<std::size_t>(half * 16 + i)] = hex[v & 0xf];
            v >>= 4;
        }
    }
    return id;
}

PoolDecision choose_pool(const Snapshot& snapshot, const Route& route, const RequestView& request, Random& random,
                         std::string& new_id) {
    PoolDecision d;
    for (const Rule& rule : route.rules) {
        if (!rule.matcher->matches(request)) continue;
        if (snapshot.pools[rule.pool].available) {
            d.pool = rule.pool;
            d.by = PoolDecision::By::rule;
            return d;
        }
        if (route.on_unhealthy == OnUnhealthy::fail) {
            d.why = "the pool this request is pinned to is unavailable";
            return d;
        }
        break;  // shift: the pinned pool is down, so the split decides
    }

    // shift: unavailable pools weigh nothing, unless all are down (panic:
    // back to the configured weights, endpoints that fail their checks
    // included). fail: configured weights; landing on a dead pool is a 503.
    const bool shift = route.on_unhealthy == OnUnhealthy::shift;
    d.panic = shift && route.all_down;
    const bool use_shifted = shift && !route.all_down;
    const std::vector<double>& weights = use_shifted ? route.shifted_weights : route.weights;
    const WeightedChoice& choice = use_shifted ? route.shifted_choice : route.pool_choice;

    std::size_t i = WeightedChoice::npos;
    if (route.sticky) {
        const StickySpec& s = *route.sticky;
        auto key = request.get(s.source, s.name);
        if (key && !key->empty()) {
            i = rendezvous_pick(route.name, *key, route.pool_names, weights);
            d.by = PoolDecision::By::sticky;
        } else if (s.assign) {
            new_id = new_sticky_id(random);
            i = rendezvous_pick(route.name, new_id, route.pool_names, weights);
            d.by = PoolDecision::By::sticky;
            d.assign_cookie = true;
        }
    }
    if (d.by == PoolDecision::By::split) i = choice.pick(random.unit());
    if (i == WeightedChoice::npos) {
        d.why = "no pool of the route has weight";
        return d;
    }
    d.pool = route.pools[i];
    if (!shift && !snapshot.pools[d.pool].available) {
        d.pool = PoolDecision::none;
        d.why = "the chosen pool is unavailable (on_pool_unhealthy: fail)";
    }
    return d;
}

namespace {

bool contains(std::span<const std::size_t> list, std::size_t i) {
    return std::find(list.begin(), list.end(), i) != list.end();
}

}  // namespace

std::size_t choose_endpoint(const Pool& pool, bool panic, Random& random, std::span<const std::size_t> tried) {
    const WeightedChoice& choice = panic ? pool.panic_choice : pool.eligible_choice;
    std::size_t i = choice.pick(random.unit());
    if (i == WeightedChoice::npos || !contains(tried, i)) return i;
    // Already failed for this request: draw again by weight among the
    // candidates not tried yet, so a retry never lands on the same endpoint
    // twice. Retries are rare, so the linear scan costs nothing in the
    // common case.
    auto weight_of = [&](std::size_t j) {
        const Endpoint& e = pool.endpoints[j];
        const bool candidate = panic ? (!e.draining && e.weight > 0) : e.eligible();
        return candidate && !contains(tried, j) ? e.weight : 0.0;
    };
    double total = 0;
    for (std::size_t j = 0; j < pool.endpoints.size(); ++j) total += weight_of(j);
    if (!(total > 0)) return WeightedChoice::npos;
    double x = random.unit() * total;
    std::size_t last = WeightedChoice::npos;
    for (std::size_t j = 0; j < pool.endpoints.size(); ++j) {
        const double w = weight_of(j);
        if (!(w > 0)) continue;
        last = j;
        x -= w;
        if (x < 0) return j;
    }
    return last;  // rounding left x at 0: the last candidate
}

std::size_t choose_failover_pool(const Snapshot& snapshot, const Route& route, std::string_view sticky_key,
                                 Random& random, std::span<const std::size_t> tried_pools) {
    if (route.on_unhealthy == OnUnhealthy::fail) return PoolDecision::none;
    // The route's shifted weights (unavailable pools at 0) with the pools
    // this request already failed on left out too. Allocates: failover only.
    std::vector<double> weights(route.pools.size(), 0.0);
    bool any = false;
    for (std::size_t i = 0; i < route.pools.size(); ++i) {
        const std::size_t p = route.pools[i];
        if (snapshot.pools[p].available && !contains(tried_pools, p) && route.weights[i] > 0) {
            weights[i] = route.weights[i];
            any = true;
        }
    }
    if (!any) return PoolDecision::none;
    const std::size_t i = sticky_key.empty() ? WeightedChoice(weights).pick(random.unit())
                                             : rendezvous_pick(route.name, sticky_key, route.pool_names, weights);
    return i == WeightedChoice::npos ? PoolDecision::none : route.pools[i];
}

}  // namespace weir::routing
