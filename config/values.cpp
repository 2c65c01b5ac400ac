#include "config/values.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <limits>

namespace weir::config {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_host_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' ||
           c == '_';
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Milliseconds per unit; 0 when the unit is unknown.
std::int64_t unit_ms(std::string_view unit) {
    if (unit == "ms") return 1;
    if (unit == "s") return 1'000;
    if (unit == "m") return 60'000;
    if (unit == "h") return 3'600'000;
    return 0;
}

}  // namespace

// Accepts Go/nginx-style compounds ("1m30s") and decimals ("1.5s") because
// operators write them, but only values that are whole milliseconds: silently
// rounding "0.5ms" would make the running config differ from the file.
DurationParse parse_duration_detailed(std::string_view text) {
    DurationParse out;
    const std::string hint = " (expected a number with a unit ms, s, m or h, e.g. \"250ms\", \"2s\", \"1m\")";
    if (text.empty()) {
        out.error = "empty duration" + hint;
        return out;
    }
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t start = i;
        std::int64_t whole = 0;
        while (i < text.size() && is_digit(text[i])) {
            if (i - start >= 12) {
                out.error = "duration " + quoted(text) + " is too large";
                return out;
            }
            whole = whole * 10 + (text[i] - '0');
            ++i;
        }
        const bool had_whole = i > start;
        std::int64_t frac = 0;
        std::int64_t frac_scale = 1;
        if (i < text.size() && text[i] == '.') {
            ++i;
            const std::size_t fstart = i;
            while (i < text.size() && is_digit(text[i])) {
                if (i - fstart >= 9) {
                    out.error = "duration " + quoted(text) + " has too many decimals";
                    return out;
                }
                frac = frac * 10 + (text[i] - '0');
                frac_scale *= 10;
                ++i;
            }
            if (i == fstart) {
                out.error = "invalid duration " + quoted(text) + hint;
                return out;
            }
        }
        if (!had_whole && frac_scale == 1) {
            out.error = "invalid duration " + quoted(text) + hint;
            return out;
        }
        const std::size_t ustart = i;
        while (i < text.size() && !is_digit(text[i]) && text[i] != '.') ++i;
        const std::string_view unit = text.substr(ustart, i - ustart);
        if (unit.empty()) {
            out.error = "duration " + quoted(text) + " has no unit" + hint;
            return out;
        }
        const std::int64_t per = unit_ms(unit);
        if (per == 0) {
            out.error = "duration " + quoted(text) + " has unknown unit " + quoted(unit) + hint;
            return out;
        }
        // frac < 1e9 and per <= 3.6e6, so the product fits; whole < 1e12 likewise.
        if ((frac * per) % frac_scale != 0) {
            out.error = "duration " + quoted(text) + " is not a whole number of milliseconds";
            return out;
        }
        const std::int64_t part = whole * per + frac * per / frac_scale;
        if (__builtin_add_overflow(total, part, &total)) {
            out.error = "duration " + quoted(text) + " is too large";
            return out;
        }
    }
    // Ten years: past that, deadlines computed on nanosecond clocks overflow
    // (and nothing an operator means needs more).
    constexpr std::int64_t max_ms = 10LL * 365 * 24 * 3'600'000;
    if (total > max_ms) {
        out.error = "duration " + quoted(text) + " is too large (at most 87600h)";
        return out;
    }
    out.value = Duration{total};
    return out;
}

std::optional<Duration> parse_duration(std::string_view text) {
    auto parsed = parse_duration_detailed(text);
    if (!parsed.error.empty()) return std::nullopt;
    return parsed.value;
}

std::string format_duration(Duration d) {
    const auto ms = d.count();
    if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
    if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
    if (ms != 0 && ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
    return std::to_string(ms) + "ms";
}

HostPortParse parse_host_port_detailed(std::string_view text) {
    HostPortParse out;
    const std::string hint = " (expected host:port or [v6]:port)";
    if (text.empty()) {
        out.error = "empty address" + hint;
        return out;
    }
    std::string_view host;
    std::string_view rest;  // ":port"
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            out.error = "address " + quoted(text) + " has no closing ']'" + hint;
            return out;
        }
        host = text.substr(1, close - 1);
        rest = text.substr(close + 1);
        in6_addr scratch{};
        const std::string host_z(host);
        if (host.empty() || inet_pton(AF_INET6, host_z.c_str(), &scratch) != 1) {
            out.error = "address " + quoted(text) + " has an invalid IPv6 literal" + hint;
            return out;
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            out.error = "address " + quoted(text) + " has no port" + hint;
            return out;
        }
        host = text.substr(0, colon);
        rest = text.substr(colon);
        if (host.find(':') != std::string_view::npos) {
            out.error = "address " + quoted(text) + ": IPv6 addresses need brackets, e.g. [::1]:8080";
            return out;
        }
        if (host.empty()) {
            out.error = "address " + quoted(text) + " has an empty host" + hint;
            return out;
        }
        for (char c : host) {
            if (!is_host_char(c)) {
                out.error = "address " + quoted(text) + " has an invalid host " + quoted(host) + hint;
                return out;
            }
        }
    }
    if (rest.size() < 2 || rest.front() != ':') {
        out.error = "address " + quoted(text) + " has no port" + hint;
        return out;
    }
    const std::string_view port = rest.substr(1);
    std::uint32_t value = 0;
    for (char c : port) {
        if (!is_digit(c) || port.size() > 5) {
            out.error = "address " + quoted(text) + " has an invalid port " + quoted(port);
            return out;
        }
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value > 65535) {
        out.error = "address " + quoted(text) + ": port must be at most 65535";
        return out;
    }
    out.value.host = std::string(host);
    out.value.port = static_cast<std::uint16_t>(value);
    return out;
}

std::optional<HostPort> parse_host_port(std::string_view text) {
    auto parsed = parse_host_port_detailed(text);
    if (!parsed.error.empty()) return std::nullopt;
    return parsed.value;
}

std::string HostPort::text() const {
    const std::string p = std::to_string(port);
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + p;
    return host + ":" + p;
}

}  // namespace weir::config
