#include "routing/decision.hpp"

#include "routing/sticky.hpp"

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

std::size_t choose_endpoint(const Pool& pool, bool panic, Random& random, std::uint32_t exclude) {
    const WeightedChoice& choice = panic ? pool.panic_choice : pool.eligible_choice;
    std::size_t i = choice.pick(random.unit());
    if (i == WeightedChoice::npos || i >= 32 || !(exclude & (1u << i))) return i;
    // Already failed for this request: the next candidate in order, so a
    // retry never lands on the same endpoint twice.
    for (std::size_t j = 0; j < pool.endpoints.size() && j < 32; ++j) {
        const Endpoint& e = pool.endpoints[j];
        const bool candidate = panic ? (!e.draining && e.weight > 0) : e.eligible();
        if (candidate && !(exclude & (1u << j))) return j;
    }
    return WeightedChoice::npos;
}

}  // namespace weir::routing
