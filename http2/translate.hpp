// Header translation between a downstream HTTP/2 stream and an HTTP/1.1
// upstream. Pure functions: the session decides when to use them.
#pragma once

#include "http/message.hpp"
#include "http2/request_headers.hpp"

#include <string>
#include <vector>

namespace weir::http2 {

// The request as an HTTP/1.1 head, for routing and http::serialize_request
// (which adds the forwarding fields and drops hop-by-hop ones): target and
// path from `:path`, host from `:authority` (else a Host field; RFC 9113
// §8.3.1 says they must agree, and `:authority` wins), the cookie fields the
// client split up joined again with "; " into `cookie` (RFC 9113 §8.2.3),
// framing from Content-Length or, without one, chunked when a body follows
// (HTTP/2 frames delimit it, HTTP/1.1 needs one or the other). The views
// point into `req` and `cookie`. False with `why` for a request HTTP/1.1
// cannot carry onward (CONNECT).
bool to_request_head(const RequestHeaders& req, std::string& cookie, http::RequestHead& out, std::string_view& why);

// The fields of an HTTP/1.1 response as HTTP/2 sends them: connection-specific
// fields (RFC 9113 §8.2.2: Connection, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade, TE, and any field Connection names) are dropped,
// names are lower-cased. Lowered names are written into `storage` (replaced),
// values point into `fields`: the result lives as long as both.
std::vector<http::Header> response_fields_h2(const std::vector<http::Header>& fields, std::string& storage);

// A request head as Weir sends it upstream (http::serialize_request: the
// forwarding fields added, hop-by-hop ones dropped), made into HTTP/2 fields
// for an HTTP/2 upstream: names lower-cased in place in `head`, the Host value
// given as `authority`, and what HTTP/2 forbids (connection-specific fields,
// Transfer-Encoding, TE) left out. The views point into `head`.
std::vector<http::Header> head_fields_h2(std::string& head, std::string_view& authority);

}  // namespace weir::http2
