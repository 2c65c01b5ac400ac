// The few gRPC facts a proxy needs (grpc/doc/PROTOCOL-HTTP2.md): whether a
// request is a gRPC call, how long its caller waits (grpc-timeout), and how
// the call ended (grpc-status, in the trailers or a trailers-only head).
// Pure functions over header lists; nothing here touches a connection.
#pragma once

#include "http/message.hpp"

#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

namespace weir::http2 {

// content-type "application/grpc" or "application/grpc+proto" (any suffix).
bool is_grpc(const std::vector<http::Header>& headers);

// The caller's deadline from a grpc-timeout value ("1*8DIGIT unit", unit one
// of H M S m u n), rounded up to whole milliseconds; nullopt when absent or
// malformed (then no deadline of the caller's bounds the call).
std::optional<std::chrono::milliseconds> parse_grpc_timeout(std::string_view value);
std::optional<std::chrono::milliseconds> grpc_timeout(const std::vector<http::Header>& headers);

// The grpc-status among `fields` (0..); -1 when there is none or it is not a
// number.
int grpc_status(const std::vector<http::Header>& fields);

// The grpc-status a caller should see for an HTTP status that is not a gRPC
// answer (grpc/doc/http-grpc-status-mapping.md): 400 INTERNAL (13), 401
// UNAUTHENTICATED (16), 403 PERMISSION_DENIED (7), 404 UNIMPLEMENTED (12),
// 429/502/503/504 UNAVAILABLE (14), anything else UNKNOWN (2).
int grpc_status_for_http(int http_status);

}  // namespace weir::http2
