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

Registry& registry() {
    static Registry r;
    return r;
}

}  // namespace

HandshakeCounts* handshake_counts(const std::string& listener) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto& slot = r.by_name[listener];
    if (!slot) slot = std::make_unique<HandshakeCounts>();
    return slot.get();
}

std::vector<std::pair<std::string, const HandshakeCounts*>> all_handshake_counts() {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::vector<std::pair<std::string, const HandshakeCounts*>> out;
    for (const auto& [name, counts] : r.by_name) out.emplace_back(name, counts.get());
    return out;
}

}  // namespace weir::tls
