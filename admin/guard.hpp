// Keeps web pages out of the admin API. A browser will send a cross-site
// "simple" request (text/plain POST, no preflight) to 127.0.0.1:9901, and a
// DNS-rebinding page reaches it under its own host name; neither carries the
// bearer token, but without a token nothing else stops them. So, for every
// call but the open probes (/healthz, /ready, /metrics):
//  - without a token, Host must name the loopback admin itself (a rebinding
//    page sends its own name);
//  - a present Origin must be the admin's own origin (browsers send Origin on
//    every cross-origin POST/PUT/DELETE, and on fetches);
//  - a body of a mutating call must be application/json, which a page cannot
//    send cross-site without a CORS preflight the admin never grants.
// Pure functions, so the rules are unit-tested without sockets.
#pragma once

#include "admin/server.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace weir::admin {

// "localhost", an address in 127.0.0.0/8, or the IPv6 loopback ("[::1]",
// also as an IPv4-mapped 127.x), each with or without ":port".
bool is_loopback_host(std::string_view host_header);

// Whether `origin` ("http://host[:port]") is the origin a page served by the
// admin at `host_header` would have: scheme http, same host (case-insensitive)
// and port (80 when absent on either side).
bool is_same_origin(std::string_view origin, std::string_view host_header);

// "application/json", any case, with or without parameters ("; charset=utf-8").
bool is_json_media_type(std::string_view content_type);

struct AdminRefusal {
    int status = 403;
    std::string reason;
};

// The first of the rules above that `r` breaks, if any. `token_required`:
// the admin has a bearer token configured. Open paths are not checked here.
std::optional<AdminRefusal> browser_guard(const AdminRequest& r, bool token_required);

}  // namespace weir::admin
