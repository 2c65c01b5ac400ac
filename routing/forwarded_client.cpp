#include "routing/forwarded_client.hpp"

namespace weir::routing {
namespace {

// The address of one entry without brackets or port; empty when there is none.
std::string_view entry_address(std::string_view e) {
    if (!e.empty() && e.front() == '[') {
        const std::size_t close = e.find(']');
        if (close == std::string_view::npos) return {};
        return e.substr(1, close - 1);
    }
    const std::size_t colon = e.find(':');
    // One colon: v4 with a port; more: a bare v6 address.
    if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos) return e.substr(0, colon);
    return e;
}

}  // namespace

std::string_view forwarded_client(const std::vector<http::Header>& headers, const CidrSet& trusted,
                                  std::string_view peer) {
    std::string_view left_most;
    for (auto h = headers.rbegin(); h != headers.rend(); ++h) {
        if (h->name.size() != 15 || !http::iequals(h->name, "x-forwarded-for")) continue;
        std::string_view list = h->value;
        while (!list.empty()) {
            const std::size_t comma = list.rfind(',');
            const std::string_view entry =
                entry_address(http::trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1)));
            const auto ip = parse_ip(entry);
            if (!ip) return peer;
            if (!trusted.contains(*ip)) return entry;
            left_most = entry;
            list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
        }
    }
    return left_most.empty() ? peer : left_most;
}

}  // namespace weir::routing
