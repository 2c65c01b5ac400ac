#include "http2/translate.hpp"

#include "http/chars.hpp"
#include "http/parser.hpp"

namespace weir::http2 {
namespace {

void append_lower(std::string& out, std::string_view s) {
    for (char c : s) out += http::to_lower(c);
}

// The fields HTTP/2 forbids outright (RFC 9113 §8.2.2); TE is allowed there
// only as "trailers" and is dropped towards HTTP/1.1 too (hop-by-hop).
bool connection_specific(std::string_view name) {
    return http::iequals(name, "connection") || http::iequals(name, "keep-alive") ||
           http::iequals(name, "proxy-connection") || http::iequals(name, "transfer-encoding") ||
           http::iequals(name, "upgrade") || http::iequals(name, "te");
}

}  // namespace

bool to_request_head(const RequestHeaders& req, std::string& cookie, http::RequestHead& out, std::string_view& why) {
    out.clear();
    out.version_minor = 1;
    out.method = req.method;
    out.method_id = http::method_of(req.method);
    if (out.method_id == http::Method::connect) {
        why = "CONNECT is not supported over HTTP/2";
        return false;
    }
    out.target = req.path;
    out.path = req.path.substr(0, req.path.find('?'));
    out.host = req.authority;
    out.body = req.end_stream ? http::BodyKind::none : http::BodyKind::chunked;
    cookie.clear();
    std::size_t cookie_at = 0;
    for (const auto& h : req.headers) {
        const std::string_view n = h.name;
        if (n == "cookie") {
            if (cookie.empty()) cookie_at = out.headers.size();
            else cookie += "; ";
            cookie.append(h.value);
            if (cookie_at == out.headers.size()) out.headers.push_back({"cookie", {}});
            continue;
        }
        if (n == "host") {
            if (out.host.empty()) out.host = h.value;
            continue;
        }
        if (n == "content-length") {
            // nghttp2 has checked it against the DATA frames; a request that
            // says it has a body but ends at its head is one without.
            std::uint64_t length = 0;
            if (!http::parse_content_length(h.value, length)) {
                why = "invalid content-length";
                return false;
            }
            out.content_length = length;
            out.body = http::BodyKind::content_length;
        }
        if (n == "via") out.has_via = true;
        out.headers.push_back({n, h.value});
    }
    if (!cookie.empty()) out.headers[cookie_at].value = cookie;
    return true;
}

std::vector<http::Header> response_fields_h2(const std::vector<http::Header>& fields, std::string& storage) {
    std::vector<http::Header> out;
    std::size_t size = 0;
    for (const auto& h : fields)
        if (!h.named_in_connection && !connection_specific(h.name)) size += h.name.size();
    // Reserved once, so the views taken below stay valid while it fills.
    storage.clear();
    storage.reserve(size);
    out.reserve(fields.size());
    for (const auto& h : fields) {
        if (h.named_in_connection || connection_specific(h.name)) continue;
        const std::size_t at = storage.size();
        append_lower(storage, h.name);
        out.push_back({std::string_view(storage).substr(at, h.name.size()), h.value});
    }
    return out;
}

std::vector<http::Header> head_fields_h2(std::string& head, std::string_view& authority) {
    std::vector<http::Header> out;
    authority = {};
    std::size_t pos = head.find("\r\n");  // past the request line
    if (pos == std::string::npos) return out;
    pos += 2;
    out.reserve(16);
    while (pos < head.size()) {
        const std::size_t end = head.find("\r\n", pos);
        if (end == std::string::npos || end == pos) break;  // the blank line ends the head
        const std::size_t colon = head.find(':', pos);
        if (colon == std::string::npos || colon > end) break;
        for (std::size_t i = pos; i < colon; ++i) head[i] = http::to_lower(head[i]);
        std::size_t v = colon + 1;
        while (v < end && (head[v] == ' ' || head[v] == '\t')) ++v;
        const std::string_view name(head.data() + pos, colon - pos);
        const std::string_view value(head.data() + v, end - v);
        pos = end + 2;
        if (name == "host") {
            authority = value;
            continue;
        }
        if (http::is_hop_by_hop(name)) continue;  // TE and Transfer-Encoding among them
        out.push_back({name, value});
    }
    return out;
}

}  // namespace weir::http2
