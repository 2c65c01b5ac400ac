// Protocol upgrades (RFC 9110 §7.8, §15.2.2): which of the protocols a client
// asks for may be offered to an upstream, and whether a 101 answer switched
// to one of them. Pure functions: the session acts on their verdicts.
#pragma once

#include "http/message.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace weir::http {

// Whether `p` is a protocol as Upgrade lists it: a token, optionally
// "/" and a version token ("websocket", "HTTP/2.0").
bool valid_upgrade_protocol(std::string_view p);

// The protocols of `requested` (a request's Upgrade value) whose name, before
// any "/version", is one of `allowed` (lower case), joined with ", " for the
// request sent upstream; empty when none is allowed. Malformed entries are
// never offered.
std::string upgrade_offer(std::string_view requested, const std::vector<std::string>& allowed);

// Why a 101 answer to a request that offered `offer` is not a switch Weir can
// stand behind; empty when it is one. It must name (in exactly one Upgrade
// field) only protocols that were offered, and declare no body: the bytes
// after its head belong to the new protocol.
std::string_view check_switch(const ResponseHead& resp, std::string_view offer);

}  // namespace weir::http
