// Comma-separated field values (RFC 9110 §5.6.1): Connection, Upgrade, ...
#pragma once

#include "http/message.hpp"

#include <string_view>

namespace weir::http {

// Calls `on_item` with each non-empty element of `v`, whitespace trimmed.
template <class F>
void for_each_list_item(std::string_view v, F&& on_item) {
    while (!v.empty()) {
        const std::size_t comma = v.find(',');
        const std::string_view item = trim_ows(v.substr(0, comma));
        if (!item.empty()) on_item(item);
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
}

}  // namespace weir::http
