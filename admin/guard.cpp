#include "admin/guard.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>

namespace weir::admin {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

struct Authority {
    std::string host;  // lower case; IPv6 without brackets
    bool ipv6 = false;
    unsigned port = 80;
};

// "host", "host:port", "[v6]" or "[v6]:port"; nullopt when malformed.
std::optional<Authority> split_authority(std::string_view a) {
    Authority out;
    std::string_view port;
    if (a.starts_with('[')) {
        std::size_t close = a.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        out.host = lower(a.substr(1, close - 1));
        out.ipv6 = true;
        std::string_view rest = a.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
            if (port.empty()) return std::nullopt;
        }
    } else {
        std::size_t colon = a.find(':');
        if (colon != std::string_view::npos) {
            port = a.substr(colon + 1);
            if (port.empty()) return std::nullopt;
            a = a.substr(0, colon);
        }
        out.host = lower(a);
    }
    if (out.host.empty()) return std::nullopt;
    if (!port.empty()) {
        if (port.size() > 5) return std::nullopt;
        unsigned p = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return std::nullopt;
            p = p * 10 + static_cast<unsigned>(c - '0');
        }
        if (p > 65535) return std::nullopt;
        out.port = p;
    }
    return out;
}

bool loopback_address(const Authority& a) {
    if (a.ipv6) {
        in6_addr v6{};
        if (::inet_pton(AF_INET6, a.host.c_str(), &v6) != 1) return false;
        if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
        return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
    }
    if (a.host == "localhost") return true;
    in_addr v4{};
    if (::inet_pton(AF_INET, a.host.c_str(), &v4) != 1) return false;
    return (ntohl(v4.s_addr) >> 24) == 127;
}

const std::string* header(const AdminRequest& r, const char* name) {
    auto it = r.headers.find(name);
    return it == r.headers.end() ? nullptr : &it->second;
}

}  // namespace

bool is_loopback_host(std::string_view host_header) {
    auto a = split_authority(trim(host_header));
    return a && loopback_address(*a);
}

bool is_same_origin(std::string_view origin, std::string_view host_header) {
    origin = trim(origin);
    constexpr std::string_view scheme = "http://";
    if (origin.size() <= scheme.size() || lower(origin.substr(0, scheme.size())) != scheme) return false;
    origin.remove_prefix(scheme.size());
    // An origin is scheme://host[:port] and nothing more.
    if (origin.find_first_of("/?#@ ") != std::string_view::npos) return false;
    auto o = split_authority(origin);
    auto h = split_authority(trim(host_header));
    return o && h && o->host == h->host && o->ipv6 == h->ipv6 && o->port == h->port;
}

bool is_json_media_type(std::string_view content_type) {
    std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    return lower(type) == "application/json";
}

std::optional<AdminRefusal> browser_guard(const AdminRequest& r, bool token_required) {
    const std::string* host = header(r, "host");
    if (!token_required && (!host || !is_loopback_host(*host))) {
        return AdminRefusal{403, "Host " + (host ? "'" + *host + "'" : std::string("(none)")) +
                                     " is not a loopback name; without admin.token_file the admin API answers "
                                     "only to localhost, 127.x and [::1]"};
    }
    if (const std::string* origin = header(r, "origin")) {
        if (!host || !is_same_origin(*origin, *host))
            return AdminRefusal{403, "cross-origin request refused (Origin '" + *origin + "')"};
    }
    const bool mutation = r.method != "GET" && r.method != "HEAD";
    if (mutation) {
        const std::string* type = header(r, "content-type");
        // A call without a body may omit the type; a body must say it is JSON.
        if (type ? !is_json_media_type(*type) : !r.body.empty())
            return AdminRefusal{415, "Content-Type must be application/json" +
                                         (type ? " (got '" + *type + "')" : std::string(" (none given)"))};
    }
    return std::nullopt;
}

}  // namespace weir::admin
