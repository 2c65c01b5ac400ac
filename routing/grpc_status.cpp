#include "routing/grpc_status.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace weir::routing {
namespace {

constexpr std::array<std::string_view, max_grpc_status + 1> names = {
    "OK",           "CANCELLED",     "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND",    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",      "OUT_OF_RANGE",  "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS",    "UNAUTHENTICATED",
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::toupper(static_cast<unsigned char>(a[i])) != static_cast<unsigned char>(b[i])) return false;
    return true;
}

}  // namespace

std::string_view grpc_status_name(int code) {
    if (code < 0 || code > max_grpc_status) return {};
    return names[static_cast<std::size_t>(code)];
}

std::optional<int> parse_grpc_status(std::string_view text) {
    if (!text.empty() && text.size() <= 2 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        int n = 0;
        for (char c : text) n = n * 10 + (c - '0');
        if (n <= max_grpc_status) return n;
        return std::nullopt;
    }
    for (int i = 0; i <= max_grpc_status; ++i)
        if (equal_ignoring_case(text, names[static_cast<std::size_t>(i)])) return i;
    return std::nullopt;
}

}  // namespace weir::routing
