#include "http/upgrade.hpp"

#include "http/chars.hpp"
#include "http/list_field.hpp"

#include <algorithm>

namespace weir::http {
namespace {

bool is_token(std::string_view t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return is_tchar(c); });
}

std::string_view name_of(std::string_view protocol) { return protocol.substr(0, protocol.find('/')); }

}  // namespace

bool valid_upgrade_protocol(std::string_view p) {
    const std::size_t slash = p.find('/');
    if (slash == std::string_view::npos) return is_token(p);
    return is_token(p.substr(0, slash)) && is_token(p.substr(slash + 1));
}

std::string upgrade_offer(std::string_view requested, const std::vector<std::string>& allowed) {
    std::string offer;
    if (allowed.empty()) return offer;
    for_each_list_item(requested, [&](std::string_view p) {
        if (!valid_upgrade_protocol(p)) return;
        const std::string_view name = name_of(p);
        if (std::none_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return iequals(a, name); }))
            return;
        if (!offer.empty()) offer += ", ";
        offer.append(p.data(), p.size());
    });
    return offer;
}

std::string_view check_switch(const ResponseHead& resp, std::string_view offer) {
    if (resp.upgrade_fields == 0) return "101 without an Upgrade header";
    if (resp.upgrade_fields > 1) return "101 with more than one Upgrade header";
    if (resp.declares_body) return "101 with Content-Length or Transfer-Encoding";
    bool any = false;
    bool all_offered = true;
    for_each_list_item(resp.upgrade, [&](std::string_view p) {
        any = true;
        bool offered = false;
        for_each_list_item(offer, [&](std::string_view o) {
            if (iequals(name_of(o), name_of(p))) offered = true;
        });
        if (!offered || !valid_upgrade_protocol(p)) all_offered = false;
    });
    if (!any) return "101 with an empty Upgrade header";
    if (!all_offered) return "101 switching to a protocol that was not asked for";
    return {};
}

}  // namespace weir::http
