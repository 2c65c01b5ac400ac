// HTTP/1.x message heads as parsed from a connection buffer. Every string_view
// points into that buffer: a head is valid only until the buffer is compacted,
// which the session does only after the head has been serialised onward.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace weir::http {

enum class Method : std::uint8_t { get, head, post, put, delete_, options, trace, patch, connect, other };

enum class BodyKind : std::uint8_t {
    none,            // no body at all
    content_length,  // exactly `content_length` bytes
    chunked,         // chunked transfer coding
    until_close,     // responses only: body ends when the upstream closes
};

struct Header {
    std::string_view name;
    std::string_view value;
    bool named_in_connection = false;  // listed in Connection: this hop's only (see connection_field.hpp)
};

// Why a head was refused; `status` is what the peer gets (400, 431, 501, ...).
struct ParseError {
    int status = 0;
    std::string_view reason;  // static text, for the log line and reply body
    bool over_limit = false;  // a configured size or count limit, not malformed input
};

struct RequestHead {
    std::string_view method;
    Method method_id = Method::other;
    std::string_view target;  // origin-form path (?query); absolute-form is reduced to it
    std::string_view path;    // target without the query
    std::string_view host;    // Host header, or the authority of an absolute-form target
    int version_minor = 1;    // HTTP/1.<minor>
    std::vector<Header> headers;  // all fields as received (hop-by-hop ones included)
    BodyKind body = BodyKind::none;
    std::uint64_t content_length = 0;
    bool keep_alive = true;
    bool expect_continue = false;
    bool connection_has_tokens = false;  // Connection names other headers (hop-by-hop)
    bool has_via = false;                // a Via field is present: worth a loop check
    // The protocols an HTTP/1.1 request asks to switch to: its Upgrade value
    // when Connection lists "upgrade" (RFC 9110 §7.8), else empty. HTTP/1.0
    // requests never ask (an Upgrade there is ignored, as the RFC says).
    std::string_view upgrade;

    void clear() {
        headers.clear();
        body = BodyKind::none;
        content_length = 0;
        keep_alive = true;
        expect_continue = false;
        connection_has_tokens = false;
        has_via = false;
        host = {};
        upgrade = {};
    }
};

struct ResponseHead {
    int version_minor = 1;
    int status = 0;
    std::string_view reason;
    std::vector<Header> headers;
    BodyKind body = BodyKind::none;
    std::uint64_t content_length = 0;
    bool keep_alive = true;
    bool connection_has_tokens = false;
    std::string_view upgrade;    // the Upgrade field's value (a 101 names the protocol switched to)
    int upgrade_fields = 0;      // how many Upgrade fields
    bool declares_body = false;  // Content-Length or Transfer-Encoding present (even where no body may follow)

    void clear() {
        headers.clear();
        body = BodyKind::none;
        content_length = 0;
        keep_alive = true;
        connection_has_tokens = false;
        reason = {};
        upgrade = {};
        upgrade_fields = 0;
        declares_body = false;
    }
};

// Case-insensitive ASCII comparison for header names and tokens.
bool iequals(std::string_view a, std::string_view b);

// `v` without leading and trailing spaces and tabs (optional whitespace, RFC 9110 §5.6.3).
std::string_view trim_ows(std::string_view v);

// True for the fixed RFC 9110 list of headers that describe one connection
// (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade).
bool is_hop_by_hop(std::string_view name);


}  // namespace weir::http
