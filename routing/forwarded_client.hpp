// Who the client is when the peer is a trusted proxy: the address that proxy
// (and the trusted ones before it) appended to X-Forwarded-For.
#pragma once

#include "http/message.hpp"
#include "routing/cidr.hpp"

#include <string_view>
#include <vector>

namespace weir::routing {

// Walks the X-Forwarded-For list (all fields, as one list) from the right,
// skipping entries that are themselves trusted proxies, and returns the first
// other one; when every entry is trusted, the left-most. `peer` when there is
// no X-Forwarded-For or an entry on the way is not an address (anything left
// of it was written by whoever sent that junk). Entries may carry a port
// ("192.0.2.7:4711", "[2001:db8::1]:4711"); the result is the address alone.
std::string_view forwarded_client(const std::vector<http::Header>& headers, const CidrSet& trusted,
                                  std::string_view peer);

}  // namespace weir::routing
