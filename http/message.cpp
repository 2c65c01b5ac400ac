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

bool named_in_connection(std::string_view name, const std::vector<Header>& headers) {
    for (const Header& h : headers) {
        if (!iequals(h.name, "connection")) continue;
        std::string_view v = h.value;
        while (!v.empty()) {
            std::size_t comma = v.find(',');
            std::string_view tok = v.substr(0, comma);
            while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
            while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
            if (iequals(tok, name)) return true;
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
        }
    }
    return false;
}

}  // namespace weir::http
