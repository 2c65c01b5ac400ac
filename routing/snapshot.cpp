#include "routing/snapshot.hpp"

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
std::string_view strip_port(std::string_view host) {
    std::size_t colon = host.rfind(':');
    if (colon == std::string_view::npos) return host;
    if (host.front() == '[' && host.find(']') > colon) return host;  // colon inside an IPv6 literal
    return host.substr(0, colon);
}

}  // namespace

bool HostMatch::matches(std::string_view host) const {
    switch (kind) {
        case Kind::any:
            return true;
        case Kind::exact:
            return iequal_lower(strip_port(host), text);
        case Kind::suffix: {
            std::string_view h = strip_port(host);
            return h.size() > text.size() && iequal_lower(h.substr(h.size() - text.size()), text);
        }
    }
    return false;
}

const Route* Snapshot::match(std::string_view host, std::string_view path) const {
    for (const Route& r : routes) {
        if (r.host.matches(host) && path.starts_with(r.path_prefix)) return &r;
    }
    return nullptr;
}

}  // namespace weir::routing
