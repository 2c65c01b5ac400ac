#include "proxy/tunnel.hpp"

namespace weir::proxy {

SnapshotNames::SnapshotNames(const routing::Snapshot& snap) {
    routes_.reserve(snap.routes.size());
    for (const auto& r : snap.routes) routes_.emplace(r.name, &r);
    pools_.reserve(snap.pools.size());
    for (std::size_t i = 0; i < snap.pools.size(); ++i) pools_.emplace(snap.pools[i].name, i);
}

const routing::Route* SnapshotNames::route(std::string_view name) const {
    auto it = routes_.find(name);
    return it == routes_.end() ? nullptr : it->second;
}

std::size_t SnapshotNames::pool(std::string_view name) const {
    auto it = pools_.find(name);
    return it == pools_.end() ? npos : it->second;
}

}  // namespace weir::proxy
