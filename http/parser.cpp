#include "http/parser.hpp"

#include "http/chars.hpp"
#include "http/connection_field.hpp"

#include <cstring>

namespace weir::http {
namespace {

constexpr ParseError bad(std::string_view reason) { return {400, reason}; }

// Finds the end of the head (just past the empty line), searching from
// `from`. Returns 0 when the empty line has not arrived yet. Bare-LF line
// ends are located too, so the line parser can refuse them rather than
// waiting for a CRLF that never comes.
std::size_t find_head_end(std::string_view buf, std::size_t from) {
    const char* base = buf.data();
    std::size_t n = buf.size();
    std::size_t pos = from;
    while (pos < n) {
        const void* lf = std::memchr(base + pos, '\n', n - pos);
        if (!lf) return 0;
        std::size_t i = static_cast<const char*>(lf) - base;
        if (i + 1 < n && base[i + 1] == '\n') return i + 2;
        if (i + 2 < n && base[i + 1] == '\r' && base[i + 2] == '\n') return i + 3;
        if (i + 1 >= n || (i + 2 >= n && base[i + 1] == '\r')) return 0;
        pos = i + 1;
    }
    return 0;
}

// Where to resume the search in `view` (which starts `skip` bytes into the
// buffer): the end is at most three bytes ("\n\r\n"), so it may have begun
// up to three bytes before where the last search stopped.
std::size_t resume_at(const HeadScan* scan, std::size_t skip, std::size_t buf_size) {
    if (!scan || scan->checked > buf_size || scan->checked < skip + 3) return 0;
    return scan->checked - skip - 3;
}

// Splits off the next line (without its CRLF). Refuses bare LF and stray CR.
bool next_line(std::string_view& rest, std::string_view& line) {
    std::size_t lf = rest.find('\n');
    if (lf == std::string_view::npos || lf == 0 || rest[lf - 1] != '\r') return false;
    line = rest.substr(0, lf - 1);
    rest.remove_prefix(lf + 1);
    return true;
}


enum class Version { ok, unsupported, malformed };

// HTTP-version = "HTTP/" DIGIT "." DIGIT. A later 1.x is read as 1.1
// (RFC 9110 §6.2); another major version is well-formed but unsupported.
Version parse_version(std::string_view v, int& minor) {
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !is_digit(v[5]) || v[6] != '.' || !is_digit(v[7]))
        return Version::malformed;
    if (v[5] != '1') return Version::unsupported;
    minor = v[7] == '0' ? 0 : 1;
    return Version::ok;
}

// What the header fields say about framing and the connection, shared by
// requests and responses.
struct FieldSummary {
    int content_length_count = 0;
    bool content_length_bad = false;
    std::uint64_t content_length = 0;
    int transfer_encoding_count = 0;
    bool chunked_only = false;  // the single TE field is exactly "chunked"
    int connection_count = 0;  // Connection fields, read after all fields are in
    int host_count = 0;
    std::string_view host;
    int expect_count = 0;
    std::string_view expect;
    int upgrade_count = 0;
    std::string_view upgrade;
    bool via = false;
};

// Parses header lines into `headers`, validating each byte. `rest` holds the
// lines after the start line, up to and including the final empty line.
bool parse_fields(std::string_view rest, std::vector<Header>& headers, FieldSummary& s, ParseError& err,
                  std::size_t max_fields = max_header_count) {
    std::string_view line;
    for (;;) {
        if (!next_line(rest, line)) {
            err = bad("malformed line ending in header section");
            return false;
        }
        if (line.empty()) return true;
        if (line.front() == ' ' || line.front() == '\t') {
            err = bad("obsolete line folding");
            return false;
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            err = bad("malformed header field");
            return false;
        }
        std::string_view name = line.substr(0, colon);
        for (char c : name) {
            if (!is_tchar(c)) {
                err = bad("invalid character in header name");  // includes whitespace before ':'
                return false;
            }
        }
        std::string_view value = trim_ows(line.substr(colon + 1));
        for (char c : value) {
            if (!is_field_vchar(c)) {
                err = bad("invalid character in header value");
                return false;
            }
        }
        if (headers.size() >= max_fields) {
            err = {431, "too many header fields", true};
            return false;
        }
        headers.push_back({name, value});

        switch (name.size()) {
            case 3:
                if (iequals(name, "via")) s.via = true;
                break;
            case 4:
                if (iequals(name, "host")) {
                    ++s.host_count;
                    s.host = value;
                }
                break;
            case 6:
                if (iequals(name, "expect")) {
                    ++s.expect_count;
                    s.expect = value;
                }
                break;
            case 7:
                if (iequals(name, "upgrade")) {
                    ++s.upgrade_count;
                    s.upgrade = value;
                }
                break;
            case 10:
                if (iequals(name, "connection")) ++s.connection_count;
                break;
            case 14:
                if (iequals(name, "content-length")) {
                    ++s.content_length_count;
                    if (!parse_content_length(value, s.content_length)) s.content_length_bad = true;
                }
                break;
            case 17:
                if (iequals(name, "transfer-encoding")) {
                    ++s.transfer_encoding_count;
                    s.chunked_only = iequals(value, "chunked");
                }
                break;
        }
    }
}

bool valid_host(std::string_view h) {
    if (h.empty()) return false;
    for (char c : h) {
        // reg-name / IP-literal / port characters; no userinfo, no path.
        if (!(is_alnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']' || c == '~' ||
              c == '%' || c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' ||
              c == '+' || c == ',' || c == ';' || c == '='))
            return false;
    }
    return true;
}

bool valid_target_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;  // visible US-ASCII and obs-text; no SP, no CTL
}

}  // namespace

bool parse_content_length(std::string_view v, std::uint64_t& out) {
    if (v.empty() || v.size() > 18) return false;  // 18 digits cannot overflow
    std::uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    out = n;
    return true;
}

Method method_of(std::string_view m) {
    switch (m.size()) {
        case 3:
            if (m == "GET") return Method::get;
            if (m == "PUT") return Method::put;
            break;
        case 4:
            if (m == "HEAD") return Method::head;
            if (m == "POST") return Method::post;
            break;
        case 5:
            if (m == "PATCH") return Method::patch;
            if (m == "TRACE") return Method::trace;
            break;
        case 6:
            if (m == "DELETE") return Method::delete_;
            break;
        case 7:
            if (m == "OPTIONS") return Method::options;
            if (m == "CONNECT") return Method::connect;
            break;
    }
    return Method::other;
}

ParseStatus parse_request_head(std::string_view buf, std::size_t max_head_bytes, RequestHead& out,
                               std::size_t& head_len, ParseError& err, HeadScan* scan) {
    // A client may send empty lines before the request line (RFC 9112 §2.2).
    std::size_t skip = 0;
    while (skip + 1 < buf.size() && buf[skip] == '\r' && buf[skip + 1] == '\n' && skip < 64) skip += 2;
    std::string_view view = buf.substr(skip);
    std::size_t end = find_head_end(view, resume_at(scan, skip, buf.size()));
    if (end == 0) {
        if (buf.size() > max_head_bytes) {
            err = {431, "request head too large"};
            return ParseStatus::error;
        }
        if (scan) scan->checked = buf.size();
        return ParseStatus::incomplete;
    }
    if (scan) scan->checked = 0;
    if (end + skip > max_head_bytes) {
        err = {431, "request head too large"};
        return ParseStatus::error;
    }
    head_len = end + skip;
    out.clear();
    std::string_view rest = view.substr(0, end);
    std::string_view line;
    if (!next_line(rest, line)) {
        err = bad("malformed request line");
        return ParseStatus::error;
    }
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        err = bad("malformed request line");
        return ParseStatus::error;
    }
    out.method = line.substr(0, sp1);
    out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (out.method.empty() || out.target.empty()) {
        err = bad("malformed request line");
        return ParseStatus::error;
    }
    for (char c : out.method) {
        if (!is_tchar(c)) {
            err = bad("invalid method");
            return ParseStatus::error;
        }
    }
    for (char c : out.target) {
        if (!valid_target_char(c)) {
            err = bad("invalid character in request target");
            return ParseStatus::error;
        }
    }
    switch (parse_version(line.substr(sp2 + 1), out.version_minor)) {
        case Version::ok:
            break;
        case Version::unsupported:
            err = {505, "HTTP version not supported"};
            return ParseStatus::error;
        case Version::malformed:
            err = bad("malformed HTTP version");
            return ParseStatus::error;
    }
    out.method_id = method_of(out.method);
    if (out.method_id == Method::connect) {
        err = {501, "CONNECT is not supported"};
        return ParseStatus::error;
    }

    FieldSummary s;
    if (!parse_fields(rest, out.headers, s, err)) return ParseStatus::error;

    // Target forms: origin-form, absolute-form (its authority overrides Host),
    // asterisk-form for OPTIONS only.
    std::string_view authority;
    if (out.target.front() == '/') {
        // origin-form
    } else if (out.target == "*" && out.method_id == Method::options) {
        // asterisk-form
    } else {
        std::string_view t = out.target;
        std::size_t scheme_end = t.find("://");
        if (scheme_end == std::string_view::npos ||
            !(iequals(t.substr(0, scheme_end), "http") || iequals(t.substr(0, scheme_end), "https"))) {
            err = bad("malformed request target");
            return ParseStatus::error;
        }
        t.remove_prefix(scheme_end + 3);
        std::size_t slash = t.find_first_of("/?");
        authority = t.substr(0, slash);
        if (!valid_host(authority)) {
            err = bad("malformed authority in request target");
            return ParseStatus::error;
        }
        if (slash == std::string_view::npos) {
            out.target = "/";  // "http://h" asks for the root
        } else if (t[slash] == '/') {
            out.target = t.substr(slash);
        } else {
            err = bad("absolute-form target without a path");  // "http://h?q": rare, refused
            return ParseStatus::error;
        }
    }
    std::size_t q = out.target.find('?');
    out.path = out.target.substr(0, q);

    if (s.host_count > 1) {
        err = bad("duplicate Host header");
        return ParseStatus::error;
    }
    if (s.host_count == 0 && out.version_minor == 1) {
        err = bad("missing Host header");
        return ParseStatus::error;
    }
    if (s.host_count == 1 && !valid_host(s.host)) {
        err = bad("malformed Host header");
        return ParseStatus::error;
    }
    out.host = authority.empty() ? s.host : authority;

    // Framing (RFC 9112 §6.3), refusing every ambiguity.
    if (s.transfer_encoding_count > 0) {
        if (s.content_length_count > 0) {
            err = bad("both Content-Length and Transfer-Encoding");
            return ParseStatus::error;
        }
        if (out.version_minor == 0) {
            err = bad("Transfer-Encoding on HTTP/1.0");
            return ParseStatus::error;
        }
        if (s.transfer_encoding_count > 1 || !s.chunked_only) {
            err = bad("unsupported Transfer-Encoding");
            return ParseStatus::error;
        }
        out.body = BodyKind::chunked;
    } else if (s.content_length_count > 0) {
        if (s.content_length_count > 1) {
            err = bad("duplicate Content-Length");
            return ParseStatus::error;
        }
        if (s.content_length_bad) {
            err = bad("malformed Content-Length");
            return ParseStatus::error;
        }
        out.content_length = s.content_length;
        out.body = s.content_length > 0 ? BodyKind::content_length : BodyKind::none;
    }

    if (s.expect_count > 1 || (s.expect_count == 1 && !iequals(s.expect, "100-continue"))) {
        err = {417, "unsupported expectation"};
        return ParseStatus::error;
    }
    // 100-continue means nothing on HTTP/1.0 or without a body.
    out.expect_continue = s.expect_count == 1 && out.version_minor == 1 && out.body != BodyKind::none;

    const ConnectionOptions c = s.connection_count > 0 ? read_connection(out.headers) : ConnectionOptions{};
    out.keep_alive = out.version_minor == 1 ? !c.close : (c.keep_alive && !c.close);
    out.connection_has_tokens = c.names_fields;
    out.has_via = s.via;
    if (c.upgrade && s.upgrade_count > 0 && out.version_minor == 1) {
        // Two Upgrade fields would leave the switch to whichever list the
        // next hop reads; no client needs more than one.
        if (s.upgrade_count > 1) {
            err = bad("duplicate Upgrade header");
            return ParseStatus::error;
        }
        if (s.upgrade.empty()) {
            err = bad("empty Upgrade header");
            return ParseStatus::error;
        }
        out.upgrade = s.upgrade;
    }
    return ParseStatus::complete;
}

ParseStatus parse_response_head(std::string_view buf, std::size_t max_head_bytes, Method request_method,
                                ResponseHead& out, std::size_t& head_len, ParseError& err, std::size_t max_fields,
                                HeadScan* scan) {
    std::size_t end = find_head_end(buf, resume_at(scan, 0, buf.size()));
    if (end == 0) {
        if (buf.size() > max_head_bytes) {
            err = {502, "response head too large", true};
            return ParseStatus::error;
        }
        if (scan) scan->checked = buf.size();
        return ParseStatus::incomplete;
    }
    if (scan) scan->checked = 0;
    if (end > max_head_bytes) {
        err = {502, "response head too large", true};
        return ParseStatus::error;
    }
    head_len = end;
    out.clear();
    std::string_view rest = buf.substr(0, end);
    std::string_view line;
    // "HTTP/1.x SSS reason"
    if (!next_line(rest, line) || line.size() < 12 ||
        parse_version(line.substr(0, 8), out.version_minor) != Version::ok ||
        line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
        (line.size() > 12 && line[12] != ' ')) {
        err = {502, "malformed status line"};
        return ParseStatus::error;
    }
    out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (out.status < 100) {
        err = {502, "malformed status code"};
        return ParseStatus::error;
    }
    out.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
    for (char c : out.reason) {
        if (!is_field_vchar(c)) {
            err = {502, "invalid character in reason phrase"};
            return ParseStatus::error;
        }
    }

    FieldSummary s;
    if (!parse_fields(rest, out.headers, s, err, max_fields)) {
        err.status = 502;
        if (err.over_limit) err.reason = "too many response header fields";
        return ParseStatus::error;
    }

    const bool bodiless = request_method == Method::head || out.status < 200 || out.status == 204 ||
                          out.status == 304;
    if (s.transfer_encoding_count > 0 && s.content_length_count > 0) {
        err = {502, "upstream sent both Content-Length and Transfer-Encoding"};
        return ParseStatus::error;
    }
    if (s.transfer_encoding_count > 0 && (s.transfer_encoding_count > 1 || !s.chunked_only)) {
        err = {502, "upstream sent an unsupported Transfer-Encoding"};
        return ParseStatus::error;
    }
    if (s.content_length_count > 1 || s.content_length_bad) {
        err = {502, "upstream sent a malformed Content-Length"};
        return ParseStatus::error;
    }
    if (bodiless) {
        out.body = BodyKind::none;
    } else if (s.transfer_encoding_count > 0) {
        if (out.version_minor == 0) {
            err = {502, "upstream sent Transfer-Encoding on HTTP/1.0"};
            return ParseStatus::error;
        }
        out.body = BodyKind::chunked;
    } else if (s.content_length_count == 1) {
        out.content_length = s.content_length;
        out.body = s.content_length > 0 ? BodyKind::content_length : BodyKind::none;
    } else {
        out.body = BodyKind::until_close;
    }
    const ConnectionOptions c = s.connection_count > 0 ? read_connection(out.headers) : ConnectionOptions{};
    out.keep_alive =
        out.body != BodyKind::until_close && (out.version_minor == 1 ? !c.close : (c.keep_alive && !c.close));
    out.connection_has_tokens = c.names_fields;
    out.upgrade = s.upgrade;
    out.upgrade_fields = s.upgrade_count;
    out.declares_body = s.content_length_count > 0 || s.transfer_encoding_count > 0;
    return ParseStatus::complete;
}

}  // namespace weir::http
