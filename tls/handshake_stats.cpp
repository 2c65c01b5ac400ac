#include "tls/handshake_stats.hpp"

#include <map>
#include <memory>
#include <mutex>

namespace weir::tls {
namespace {

struct Registry {
    std::mutex mutex;
    std::map<std::string, std::unique_ptr<HandshakeCounts>> by_name;
};

Registry& listeners() {
    static Registry r;
    return r;
}

Registry& pools() {
    static Registry r;
    return r;
}

HandshakeCounts* counts_of(Registry& r, const std::string& name) {
    std::lock_guard<std::mutex> lock(r.mutex);
    auto& slot = r.by_name[name];
    if (!slot) slot = std::make_unique<HandshakeCounts>();
    return slot.get();
}

std::vector<std::pair<std::string, const HandshakeCounts*>> all_of(Registry& r) {
    std::lock_guard<std::mutex> lock(r.mutex);
    std::vector<std::pair<std::string, const HandshakeCounts*>> out;
    for (const auto& [name, counts] : r.by_name) out.emplace_back(name, counts.get());
    return out;
}

}  // namespace

HandshakeCounts* handshake_counts(const std::string& listener) { return counts_of(listeners(), listener); }

std::vector<std::pair<std::string, const HandshakeCounts*>> all_handshake_counts() { return all_of(listeners()); }

HandshakeCounts* upstream_handshake_counts(const std::string& pool) { return counts_of(pools(), pool); }

std::vector<std::pair<std::string, const HandshakeCounts*>> all_upstream_handshake_counts() {
    return all_of(pools());
}

}  // namespace weir::tls
