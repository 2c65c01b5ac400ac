#include "proxy/h2_upstreams.hpp"

#include <algorithm>

namespace weir::proxy {

H2Upstream* H2Upstreams::acquire(const routing::SnapshotPtr& snapshot, const routing::Pool& pool,
                                 const routing::Endpoint& endpoint) {
    const std::uint32_t key = endpoint.key;
    if (key >= by_key_.size()) by_key_.resize(key + 1);
    auto& list = by_key_[key];
    // The same settings only: a connection of another snapshot may have been
    // made with other TLS settings, or to an address since changed.
    for (auto& c : list) {
        if (c->has_room() && c->serves(pool, endpoint)) {
            c->rebind(snapshot, pool, endpoint);
            return c.get();
        }
    }
    list.push_back(std::make_unique<H2Upstream>(worker_, snapshot, pool, endpoint));
    H2Upstream* c = list.back().get();
    return c->closed() ? nullptr : c;
}

void H2Upstreams::retire_unless(const std::vector<bool>& keep) {
    for (std::uint32_t key = 0; key < by_key_.size(); ++key) {
        if (key < keep.size() && keep[key]) continue;
        for (auto& c : by_key_[key]) c->retire();
    }
}

void H2Upstreams::retire_all() {
    for (auto& list : by_key_)
        for (auto& c : list) c->retire();
}

void H2Upstreams::close_all() {
    for (auto& list : by_key_) {
        // close() tells the streams, which may ask for another connection:
        // what they get is closed on a later pass.
        for (std::size_t i = 0; i < list.size(); ++i) list[i]->close();
    }
    reap();
}

void H2Upstreams::reap() {
    if (!reap_) return;
    reap_ = false;
    for (auto& list : by_key_) std::erase_if(list, [](const std::unique_ptr<H2Upstream>& c) { return c->closed(); });
}

std::size_t H2Upstreams::open_connections(std::uint32_t key) const {
    if (key >= by_key_.size()) return 0;
    return static_cast<std::size_t>(std::count_if(by_key_[key].begin(), by_key_[key].end(),
                                                   [](const auto& c) { return !c->closed(); }));
}

}  // namespace weir::proxy
