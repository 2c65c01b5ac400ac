#include "routing/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace weir::routing {
namespace {

constexpr unsigned v4_mapped_bits = 96;

IpBytes v4_mapped(const in_addr& a) {
    IpBytes out{};
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &a, 4);
    return out;
}

std::string text_of(const IpBytes& ip, bool v4) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (v4) ::inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf);
    else ::inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
    return buf;
}

}  // namespace

std::optional<IpBytes> parse_ip(std::string_view text) {
    // inet_pton wants a terminated string; no address is longer than this.
    char buf[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in_addr v4{};
    if (::inet_pton(AF_INET, buf, &v4) == 1) return v4_mapped(v4);
    IpBytes v6{};
    if (::inet_pton(AF_INET6, buf, v6.data()) == 1) return v6;
    return std::nullopt;
}

bool Cidr::contains(const IpBytes& ip) const {
    const unsigned whole = bits / 8;
    if (std::memcmp(base.data(), ip.data(), whole) != 0) return false;
    const unsigned rest = bits % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (base[whole] & mask) == (ip[whole] & mask);
}

CidrParse parse_cidr(std::string_view text) {
    CidrParse out;
    const std::size_t slash = text.find('/');
    const std::string_view addr = text.substr(0, slash);
    const auto ip = parse_ip(addr);
    if (!ip) {
        out.error = "'" + std::string(text) + "' is not an address or address/prefix (e.g. 10.0.0.0/8, fd00::/8)";
        return out;
    }
    const bool v4 = addr.find(':') == std::string_view::npos;
    const unsigned max_len = v4 ? 32 : 128;
    unsigned len = max_len;
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || len > max_len) {
            out.error = "'" + std::string(text) + "': the prefix length must be 0 to " + std::to_string(max_len);
            return out;
        }
    }
    out.value.base = *ip;
    out.value.bits = v4 ? v4_mapped_bits + len : len;
    // The range's own first address, to tell whether bits were set below the prefix.
    Cidr masked = out.value;
    for (unsigned i = 0; i < 128; ++i) {
        if (i >= masked.bits) masked.base[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
    }
    if (masked.base != out.value.base) {
        out.error = "'" + std::string(text) + "' has bits set below its /" + std::to_string(len) +
                    " prefix; did you mean " + text_of(masked.base, v4) + "/" + std::to_string(len) + "?";
    }
    return out;
}

bool CidrSet::contains(const IpBytes& ip) const {
    for (const Cidr& r : ranges_) {
        if (r.contains(ip)) return true;
    }
    return false;
}

bool CidrSet::contains(std::string_view ip_text) const {
    if (ranges_.empty()) return false;
    const auto ip = parse_ip(ip_text);
    return ip && contains(*ip);
}

}  // namespace weir::routing
