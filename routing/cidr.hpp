// Address ranges for `trusted_proxies`: parsed once when the configuration
// loads, matched against a connection's peer once per connection and, for
// trusted peers, against X-Forwarded-For entries.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weir::routing {

// An address as 16 bytes. IPv4 is held IPv4-mapped (::ffff:a.b.c.d), so a v4
// range also covers a v4 peer that a dual-stack listener reports in v6 form.
using IpBytes = std::array<std::uint8_t, 16>;

// "192.0.2.7" or "2001:db8::1"; nullopt for anything else (no brackets, no port).
std::optional<IpBytes> parse_ip(std::string_view text);

struct Cidr {
    IpBytes base{};
    unsigned bits = 128;  // prefix length over the 16 bytes (a v4 /8 is 104)
    bool contains(const IpBytes& ip) const;
};

struct CidrParse {
    Cidr value;
    std::string error;  // empty: ok
};
// "10.0.0.0/8", "fd00::/8", or an address alone (/32, /128). A range with bits
// set below its prefix ("10.1.2.3/8") is refused: it is usually a typo.
CidrParse parse_cidr(std::string_view text);

class CidrSet {
public:
    void add(const Cidr& range) { ranges_.push_back(range); }
    bool empty() const { return ranges_.empty(); }
    bool contains(const IpBytes& ip) const;
    // False for text that is not an address.
    bool contains(std::string_view ip_text) const;

private:
    std::vector<Cidr> ranges_;
};

}  // namespace weir::routing
