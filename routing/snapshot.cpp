#include "routing/snapshot.hpp"

#include "routing/path_normalize.hpp"

namespace weir::routing {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequal_lower(std::string_view mixed, std::string_view lower_text) {
    if (mixed.size() != lower_text.size()) return false;
    for (std::size_t i = 0; i < mixed.size(); ++i) {
        if (lower(mixed[i]) != lower_text[i]) return false;
    }
    return true;
}

// "example.com:8080" -> "example.com"; "[::1]:80" -> "[::1]".

}  // namespace

bool HostMatch::matches(std::string_view host) const {
    switch (kind) {
        case Kind::any:
            return true;
        case Kind::exact:
            return iequal_lower(host_for_matching(host), text);
        case Kind::suffix: {
            std::string_view h = host_for_matching(host);
            return h.size() > text.size() && iequal_lower(h.substr(h.size() - text.size()), text);
        }
    }
    return false;
}

const ListenerSettings& Snapshot::listener(std::string_view name) const {
    static const ListenerSettings defaults;
    for (const ListenerSettings& l : listeners) {
        if (l.name == name) return l;
    }
    return defaults;
}

const Route* Snapshot::match(std::string_view host, std::string_view raw_path, const RequestView& request) const {
    // Per worker thread: the normal form of a path that needs one, without
    // an allocation per request once it has grown.
    thread_local std::string scratch;
    const std::string_view path = normalize_path(raw_path, scratch);
    for (const Route& r : routes) {
        if (!r.host.matches(host) || !path.starts_with(r.path_prefix)) continue;
        bool all = true;
        for (const MatcherPtr& m : r.header_matchers) all = all && m->matches(request);
        if (all) return &r;
    }
    return nullptr;
}

void Snapshot::finalize() {
    for (Pool& p : pools) {
        std::vector<double> eligible, panic;
        for (const Endpoint& e : p.endpoints) {
            eligible.push_back(e.eligible() ? e.weight : 0.0);
            panic.push_back(e.draining ? 0.0 : e.weight);
        }
        p.eligible_choice = WeightedChoice(eligible);
        p.panic_choice = WeightedChoice(panic);
        p.available = !p.eligible_choice.empty();
    }
    for (Route& r : routes) {
        std::string normal;
        r.path_prefix = std::string(normalize_path(r.path_prefix, normal));
        r.pool_names.clear();
        r.shifted_weights.clear();
        for (std::size_t i = 0; i < r.pools.size(); ++i) {
            r.pool_names.push_back(pools[r.pools[i]].name);
            r.shifted_weights.push_back(pools[r.pools[i]].available ? r.weights[i] : 0.0);
        }
        r.pool_choice = WeightedChoice(r.weights);
        r.shifted_choice = WeightedChoice(r.shifted_weights);
        r.all_down = r.shifted_choice.empty();
    }
}

}  // namespace weir::routing
