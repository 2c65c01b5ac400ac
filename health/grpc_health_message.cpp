#include "health/grpc_health_message.hpp"

namespace weir::health {
namespace {

// Protobuf wire types (the low three bits of a tag).
constexpr std::uint32_t wire_varint = 0;
constexpr std::uint32_t wire_fixed64 = 1;
constexpr std::uint32_t wire_length = 2;
constexpr std::uint32_t wire_fixed32 = 5;

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

// Reads a varint at `at`, advancing it; nullopt when truncated or longer than 10 bytes.
std::optional<std::uint64_t> get_varint(std::string_view in, std::size_t& at) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64 && at < in.size(); shift += 7) {
        const auto byte = static_cast<unsigned char>(in[at++]);
        v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) return v;
    }
    return std::nullopt;
}

// Skips a field's value of `wire_type`; false when it runs past the end or
// the type is one proto3 never writes (groups).
bool skip(std::string_view in, std::size_t& at, std::uint32_t wire_type) {
    switch (wire_type) {
        case wire_varint:
            return get_varint(in, at).has_value();
        case wire_fixed64:
            if (in.size() - at < 8) return false;
            at += 8;
            return true;
        case wire_fixed32:
            if (in.size() - at < 4) return false;
            at += 4;
            return true;
        case wire_length: {
            auto len = get_varint(in, at);
            if (!len || *len > in.size() - at) return false;
            at += static_cast<std::size_t>(*len);
            return true;
        }
        default:
            return false;
    }
}

}  // namespace

std::string serving_status_name(std::uint32_t status) {
    switch (static_cast<ServingStatus>(status)) {
        case ServingStatus::unknown: return "UNKNOWN";
        case ServingStatus::serving: return "SERVING";
        case ServingStatus::not_serving: return "NOT_SERVING";
        case ServingStatus::service_unknown: return "SERVICE_UNKNOWN";
    }
    return "status " + std::to_string(status);
}

std::string encode_health_request(std::string_view service) {
    std::string out;
    if (service.empty()) return out;
    put_varint(out, (1u << 3) | wire_length);
    put_varint(out, service.size());
    out.append(service);
    return out;
}

std::optional<std::uint32_t> decode_health_response(std::string_view message) {
    std::uint32_t status = 0;
    std::size_t at = 0;
    while (at < message.size()) {
        auto tag = get_varint(message, at);
        if (!tag || (*tag >> 3) == 0) return std::nullopt;
        const auto field = *tag >> 3;
        const auto wire_type = static_cast<std::uint32_t>(*tag & 7);
        if (field == 1 && wire_type == wire_varint) {
            auto v = get_varint(message, at);
            if (!v) return std::nullopt;
            status = static_cast<std::uint32_t>(*v);  // enums are int32 on the wire; the last one wins
            continue;
        }
        if (!skip(message, at, wire_type)) return std::nullopt;
    }
    return status;
}

std::string grpc_frame(std::string_view message) {
    std::string out;
    out.reserve(5 + message.size());
    out.push_back('\0');
    const auto n = static_cast<std::uint32_t>(message.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
    out.append(message);
    return out;
}

std::optional<std::string_view> grpc_unframe(std::string_view body, std::string& error) {
    if (body.size() < 5) {
        error = body.empty() ? "no message" : "truncated message";
        return std::nullopt;
    }
    if (body[0] != '\0') {
        error = "compressed message";  // none was offered: the request sent no grpc-accept-encoding
        return std::nullopt;
    }
    std::uint32_t n = 0;
    for (int i = 1; i <= 4; ++i) n = (n << 8) | static_cast<unsigned char>(body[static_cast<std::size_t>(i)]);
    if (n > body.size() - 5) {
        error = "truncated message";
        return std::nullopt;
    }
    if (n < body.size() - 5) {
        error = "more than one message";
        return std::nullopt;
    }
    return body.substr(5);
}

}  // namespace weir::health
