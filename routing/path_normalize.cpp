#include "routing/path_normalize.hpp"

namespace weir::routing {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool unreserved(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// A dot-segment or an escape anywhere: only then is there work to do.
bool already_normal(std::string_view p) {
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] == '%') return false;
        if (p[i] == '.' && (i == 0 || p[i - 1] == '/')) {
            const std::size_t end = p.find('/', i);
            const std::string_view seg = p.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
            if (seg == "." || seg == "..") return false;
        }
    }
    return true;
}

// RFC 3986 §5.2.4, on `in`, appended to `out`.
void remove_dot_segments(std::string_view in, std::string& out) {
    const auto drop_last_segment = [&out] {
        const std::size_t slash = out.rfind('/');
        out.resize(slash == std::string::npos ? 0 : slash);
    };
    while (!in.empty()) {
        if (in.starts_with("../")) in.remove_prefix(3);
        else if (in.starts_with("./")) in.remove_prefix(2);
        else if (in.starts_with("/./")) in.remove_prefix(2);
        else if (in == "/.") in = "/";
        else if (in.starts_with("/../")) {
            in.remove_prefix(3);
            drop_last_segment();
        } else if (in == "/..") {
            in = "/";
            drop_last_segment();
        } else if (in == "." || in == "..") {
            in = {};
        } else {
            const std::size_t next = in.find('/', in.front() == '/' ? 1 : 0);
            const std::size_t n = next == std::string_view::npos ? in.size() : next;
            out.append(in.substr(0, n));
            in.remove_prefix(n);
        }
    }
}

}  // namespace

std::string_view normalize_path(std::string_view raw, std::string& scratch) {
    if (already_normal(raw)) return raw;
    std::string decoded;
    decoded.reserve(raw.size());
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const bool escape = raw[i] == '%' && i + 2 < raw.size();
        const int hi = escape ? hex_value(raw[i + 1]) : -1;
        const int lo = escape ? hex_value(raw[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            decoded.push_back(raw[i]);
            continue;
        }
        const char c = static_cast<char>(hi * 16 + lo);
        if (unreserved(c)) {
            decoded.push_back(c);
        } else {
            decoded.push_back('%');
            decoded.push_back(kHex[hi]);
            decoded.push_back(kHex[lo]);
        }
        i += 2;
    }
    scratch.clear();
    remove_dot_segments(decoded, scratch);
    if (scratch.empty() || scratch.front() != '/') scratch.insert(scratch.begin(), '/');
    return scratch;
}

std::string_view host_for_matching(std::string_view host) {
    if (host.starts_with('[')) {
        const std::size_t close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    const std::size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
    while (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
    return host;
}

}  // namespace weir::routing
