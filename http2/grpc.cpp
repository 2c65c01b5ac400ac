#include "http2/grpc.hpp"

#include <cstdint>

namespace weir::http2 {
namespace {

std::string_view field(const std::vector<http::Header>& headers, std::string_view name) {
    for (const http::Header& h : headers)
        if (h.name == name) return h.value;  // HTTP/2 names arrive in lower case
    return {};
}

}  // namespace

bool is_grpc(const std::vector<http::Header>& headers) {
    std::string_view ct = field(headers, "content-type");
    constexpr std::string_view prefix = "application/grpc";
    if (ct.size() < prefix.size() || !http::iequals(ct.substr(0, prefix.size()), prefix)) return false;
    return ct.size() == prefix.size() || ct[prefix.size()] == '+' || ct[prefix.size()] == ';';
}

std::optional<std::chrono::milliseconds> parse_grpc_timeout(std::string_view v) {
    if (v.size() < 2 || v.size() > 9) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : v.substr(0, v.size() - 1)) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    // Nanoseconds per unit; the result is rounded up so a deadline never
    // becomes "now" by truncation.
    std::uint64_t ns_per = 0;
    switch (v.back()) {
        case 'H': ns_per = 3'600'000'000'000ull; break;
        case 'M': ns_per = 60'000'000'000ull; break;
        case 'S': ns_per = 1'000'000'000ull; break;
        case 'm': ns_per = 1'000'000ull; break;
        case 'u': ns_per = 1'000ull; break;
        case 'n': ns_per = 1ull; break;
        default: return std::nullopt;
    }
    if (ns_per >= 1'000'000ull) return std::chrono::milliseconds(n * (ns_per / 1'000'000ull));
    const std::uint64_t per_ms = 1'000'000ull / ns_per;
    return std::chrono::milliseconds((n + per_ms - 1) / per_ms);
}

std::optional<std::chrono::milliseconds> grpc_timeout(const std::vector<http::Header>& headers) {
    std::string_view v = field(headers, "grpc-timeout");
    if (v.empty()) return std::nullopt;
    return parse_grpc_timeout(v);
}

int grpc_status(const std::vector<http::Header>& fields) {
    std::string_view v = field(fields, "grpc-status");
    if (v.empty() || v.size() > 4) return -1;
    int n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return -1;
        n = n * 10 + (c - '0');
    }
    return n;
}

int grpc_status_for_http(int http_status) {
    switch (http_status) {
        case 400: return 13;
        case 401: return 16;
        case 403: return 7;
        case 404: return 12;
        case 429:
        case 502:
        case 503:
        case 504: return 14;
        default: return 2;
    }
}

}  // namespace weir::http2
