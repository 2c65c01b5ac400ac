#include "http/message.hpp"

#include "http/chars.hpp"

namespace weir::http {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    }
    return true;
}

std::string_view trim_ows(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

bool is_hop_by_hop(std::string_view name) {
    switch (name.size()) {
        case 2: return iequals(name, "te");
        case 7: return iequals(name, "trailer") || iequals(name, "upgrade");
        case 10: return iequals(name, "connection") || iequals(name, "keep-alive");
        case 16: return iequals(name, "proxy-connection");
        case 17: return iequals(name, "transfer-encoding");
        default: return false;
    }
}

}  // namespace weir::http
