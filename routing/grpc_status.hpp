// gRPC status codes (grpc/doc/statuscode.md) by name, for pools[].grpc_error_codes:
// which codes in a response's grpc-status make it count as an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace weir::routing {

inline constexpr int max_grpc_status = 16;  // UNAUTHENTICATED

// Bit n set: grpc-status n counts as an error (0, OK, never does).
using GrpcStatusMask = std::uint32_t;

constexpr GrpcStatusMask grpc_status_bit(int code) { return GrpcStatusMask{1} << code; }

// The codes that say the backend failed, not the caller: what Envoy's and
// gRPC's own retry and outlier policies treat as server errors.
inline constexpr GrpcStatusMask default_grpc_error_codes =
    grpc_status_bit(2) /* UNKNOWN */ | grpc_status_bit(4) /* DEADLINE_EXCEEDED */ |
    grpc_status_bit(13) /* INTERNAL */ | grpc_status_bit(14) /* UNAVAILABLE */ | grpc_status_bit(15) /* DATA_LOSS */;

// "UNAVAILABLE" for 14; empty outside 0..16.
std::string_view grpc_status_name(int code);
// A name (any case) or a decimal number, 0..16; nullopt otherwise.
std::optional<int> parse_grpc_status(std::string_view text);

}  // namespace weir::routing
