#include "http/serialize.hpp"

#include <charconv>

namespace weir::http {
namespace {

void put(std::string& out, std::string_view a) { out.append(a.data(), a.size()); }

void put_header(std::string& out, std::string_view name, std::string_view value) {
    put(out, name);
    put(out, ": ");
    put(out, value);
    put(out, "\r\n");
}

void put_status_line(std::string& out, int status, std::string_view reason) {
    char code[4] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10), ' '};
    put(out, "HTTP/1.1 ");
    out.append(code, 4);
    put(out, reason.empty() ? reason_phrase(status) : reason);
    put(out, "\r\n");
}

// Fields of one connection: the fixed hop-by-hop list, plus those the
// parser found named by Connection (never Content-Length or Host).
bool connection_specific(const Header& h) { return h.named_in_connection || is_hop_by_hop(h.name); }

// Several fields of one list name (X-Forwarded-For, Via) go out as one field, `own` last.
void put_list(std::string& out, std::string_view name, ClaimField field, const std::vector<Header>& headers,
              bool present, std::string_view own_a, std::string_view own_b = {}) {
    put(out, name);
    put(out, ": ");
    if (present) {
        for (const Header& h : headers) {
            if (!h.value.empty() && claim_field(h.name) == field) {
                put(out, h.value);
                put(out, ", ");
            }
        }
    }
    put(out, own_a);
    put(out, own_b);
    put(out, "\r\n");
}

}  // namespace

void serialize_request(std::string& out, const RequestHead& req, const ForwardedFor& fwd) {
    put(out, req.method);
    put(out, " ");
    put(out, req.target);
    put(out, " HTTP/1.1\r\n");
    std::string_view host = req.host.empty() ? fwd.default_host : req.host;
    put_header(out, "Host", host);

    // Which claim fields were passed on; a trusted peer's X-Forwarded-Proto/
    // -Host/-Port go on as they are, and Weir adds its own only when absent.
    unsigned seen = 0;
    const auto bit = [](ClaimField f) { return 1u << static_cast<unsigned>(f); };
    for (const Header& h : req.headers) {
        std::string_view n = h.name;
        if (connection_specific(h)) continue;
        switch (n.size()) {
            case 4:
                if (iequals(n, "host")) continue;
                break;
            case 6:
                if (iequals(n, "expect")) continue;  // answered by Weir, see session
                break;
        }
        const ClaimField field = claim_field(n);
        if (!fwd.claims.passes(n, field)) continue;
        if (field == ClaimField::client_cert && !fwd.client_cert_subject.empty()) continue;  // Weir's own below
        seen |= bit(field);
        if (field == ClaimField::x_forwarded_for || field == ClaimField::via) continue;  // sent as one list below
        put_header(out, n, h.value);
    }

    put_list(out, "X-Forwarded-For", ClaimField::x_forwarded_for, req.headers, seen & bit(ClaimField::x_forwarded_for),
             fwd.client_ip);
    put_list(out, "Via", ClaimField::via, req.headers, seen & bit(ClaimField::via),
             req.version_minor == 0 ? "1.0 " : "1.1 ", via_pseudonym);
    if (!(seen & bit(ClaimField::x_forwarded_proto))) put_header(out, "X-Forwarded-Proto", fwd.proto);
    if (!(seen & bit(ClaimField::x_forwarded_host)) && !host.empty()) put_header(out, "X-Forwarded-Host", host);
    if (!(seen & bit(ClaimField::x_forwarded_port))) {
        char digits[8];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, fwd.port);
        put_header(out, "X-Forwarded-Port", std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
    if (!fwd.client_cert_subject.empty()) put_header(out, "X-Client-Cert-Subject", fwd.client_cert_subject);
    if (req.body == BodyKind::chunked) put(out, "Transfer-Encoding: chunked\r\n");
    if (!fwd.upgrade.empty()) {
        put(out, "Connection: upgrade\r\n");
        put_header(out, "Upgrade", fwd.upgrade);
    }
    put(out, "\r\n");
}

void serialize_response(std::string& out, const ResponseHead& resp, ClientFraming framing, bool keep_alive,
                        int client_minor, std::string_view set_cookie) {
    put_status_line(out, resp.status, resp.reason);
    for (const Header& h : resp.headers) {
        if (connection_specific(h)) continue;
        put_header(out, h.name, h.value);
    }
    if (!set_cookie.empty()) put_header(out, "Set-Cookie", set_cookie);
    if (framing == ClientFraming::chunked) put(out, "Transfer-Encoding: chunked\r\n");
    if (resp.status == 101) {
        put(out, "Connection: upgrade\r\n");
        put_header(out, "Upgrade", resp.upgrade);
    } else if (resp.status >= 200) {
        if (!keep_alive) put(out, "Connection: close\r\n");
        else if (client_minor == 0) put(out, "Connection: keep-alive\r\n");
    }
    put(out, "\r\n");
}

void local_reply(std::string& out, int status, std::string_view body, bool close) {
    put_status_line(out, status, {});
    put(out, "Content-Type: text/plain\r\nContent-Length: ");
    put(out, std::to_string(body.size() + 1));
    put(out, close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
    put(out, body);
    put(out, "\n");
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 417: return "Expectation Failed";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        case 508: return "Loop Detected";
        default: return "Unknown";
    }
}

}  // namespace weir::http
