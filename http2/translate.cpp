#include "http2/translate.hpp"

#include "http/chars.hpp"

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

std::string request_head_h1(const RequestHeaders& req) {
    std::string out;
    std::size_t size = req.method.size() + req.path.size() + req.authority.size() + 64;
    for (const auto& h : req.headers) size += h.name.size() + h.value.size() + 4;
    out.reserve(size);

    const bool connect = req.path.empty();
    out.append(req.method);
    out += ' ';
    out.append(connect ? req.authority : req.path);
    out += " HTTP/1.1\r\n";
    if (!req.authority.empty()) {
        out += "host: ";
        out.append(req.authority);
        out += "\r\n";
    }
    bool has_length = false;
    bool cookie_written = false;
    for (const auto& h : req.headers) {
        if (connection_specific(h.name)) continue;
        if (!req.authority.empty() && http::iequals(h.name, "host")) continue;
        if (http::iequals(h.name, "content-length")) has_length = true;
        if (http::iequals(h.name, "cookie")) {
            if (cookie_written) continue;
            cookie_written = true;
            out += "cookie: ";
            bool first = true;
            for (const auto& c : req.headers) {
                if (!http::iequals(c.name, "cookie")) continue;
                if (!first) out += "; ";
                first = false;
                out.append(c.value);
            }
            out += "\r\n";
            continue;
        }
        append_lower(out, h.name);
        out += ": ";
        out.append(h.value);
        out += "\r\n";
    }
    if (!req.end_stream && !has_length && !connect) out += "transfer-encoding: chunked\r\n";
    out += "\r\n";
    return out;
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

}  // namespace weir::http2
