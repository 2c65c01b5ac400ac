#include "proxy/tunnel.hpp"

#include <cstring>

namespace weir::proxy {

void TunnelFlow::keep(std::string_view a, std::string_view b) {
    pending_len = static_cast<std::uint32_t>(a.size() + b.size());
    pending_off = 0;
    pending = std::make_unique_for_overwrite<char[]>(pending_len);
    if (!a.empty()) std::memcpy(pending.get(), a.data(), a.size());
    if (!b.empty()) std::memcpy(pending.get() + a.size(), b.data(), b.size());
}

void TunnelFlow::drop_pending() {
    pending.reset();
    pending_len = 0;
    pending_off = 0;
}

const char* tunnel_leave_text(TunnelLeave why) {
    switch (why) {
        case TunnelLeave::none: return "";
        case TunnelLeave::shutdown: return "shutting down";
        case TunnelLeave::drained: return "endpoint drained";
        case TunnelLeave::removed: return "route, pool or endpoint removed";
    }
    return "";
}

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
