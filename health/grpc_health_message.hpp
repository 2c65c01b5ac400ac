// The two messages of the gRPC health protocol (grpc.health.v1.Health/Check)
// and gRPC's length-prefixed framing, written by hand: the check needs one
// string field out and one enum field back, not a protobuf runtime.
//   message HealthCheckRequest  { string service = 1; }
//   message HealthCheckResponse { ServingStatus status = 1; }
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weir::health {

// HealthCheckResponse.ServingStatus; other values may arrive from newer servers.
enum class ServingStatus : std::uint32_t { unknown = 0, serving = 1, not_serving = 2, service_unknown = 3 };

// "SERVING", "NOT_SERVING", ...; "status N" for a value this side does not know.
std::string serving_status_name(std::uint32_t status);

// HealthCheckRequest{service}, protobuf-encoded (empty for the whole server:
// proto3 leaves a default value out).
std::string encode_health_request(std::string_view service);

// HealthCheckResponse.status; 0 (UNKNOWN) when the field is absent. Unknown
// fields are skipped. Nullopt when the bytes are not a valid message.
std::optional<std::uint32_t> decode_health_response(std::string_view message);

// One gRPC message on the wire: flag byte 0 (not compressed), 4-byte
// big-endian length, the message.
std::string grpc_frame(std::string_view message);

// The single uncompressed message of a unary response body. Nullopt, with
// `error` set, when the body is not exactly one such message.
std::optional<std::string_view> grpc_unframe(std::string_view body, std::string& error);

}  // namespace weir::health
