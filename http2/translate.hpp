// Header translation between a downstream HTTP/2 stream and an HTTP/1.1
// upstream. Pure functions: the session decides when to use them.
#pragma once

#include "http/message.hpp"
#include "http2/request_headers.hpp"

#include <string>
#include <vector>

namespace weir::http2 {

// The HTTP/1.1 request head (request line, fields, blank line) for `req`:
// `:authority` becomes Host (an existing Host field is dropped then, RFC 9113
// §8.3.1 says they must agree and `:authority` wins), the `cookie` fields the
// client split up are joined again with "; " (RFC 9113 §8.2.3), everything
// else goes on as received, names in lower case. A request whose body length
// is not declared gets Transfer-Encoding: chunked, since HTTP/2 frames
// delimit it and HTTP/1.1 needs one or the other.
std::string request_head_h1(const RequestHeaders& req);

// The fields of an HTTP/1.1 response as HTTP/2 sends them: connection-specific
// fields (RFC 9113 §8.2.2: Connection, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade, TE, and any field Connection names) are dropped,
// names are lower-cased. Lowered names are written into `storage` (replaced),
// values point into `fields`: the result lives as long as both.
std::vector<http::Header> response_fields_h2(const std::vector<http::Header>& fields, std::string& storage);

}  // namespace weir::http2
