// Request and response head parsing: the accepted forms, the connection rules,
// and a table of malformed / smuggling vectors with the exact status each earns.
#include "http/parser.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace weir::http {
namespace {

using namespace std::literals;

constexpr std::size_t kMax = 65536;

struct Req {
    ParseStatus status = ParseStatus::incomplete;
    RequestHead head;
    std::size_t len = 0;
    ParseError err;
};

// `buf` must outlive the result: the head's views point into it.
Req parse_req(std::string_view buf, std::size_t max = kMax) {
    Req r;
    r.status = parse_request_head(buf, max, r.head, r.len, r.err);
    return r;
}

struct Resp {
    ParseStatus status = ParseStatus::incomplete;
    ResponseHead head;
    std::size_t len = 0;
    ParseError err;
};

Resp parse_resp(std::string_view buf, Method method = Method::get, std::size_t max = kMax) {
    Resp r;
    r.status = parse_response_head(buf, max, method, r.head, r.len, r.err);
    return r;
}

std::string_view header(const std::vector<Header>& hs, std::string_view name) {
    for (const Header& h : hs) {
        if (iequals(h.name, name)) return h.value;
    }
    return "<absent>";
}

// Printable form of raw bytes for failure messages.
std::string show(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c >= 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// ---------------------------------------------------------------- requests

TEST(HttpRequestHead, ParsesSimpleGet) {
    const std::string raw = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n";
    auto r = parse_req(raw);
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.len, raw.size());
    EXPECT_EQ(r.head.method, "GET");
    EXPECT_EQ(r.head.method_id, Method::get);
    EXPECT_EQ(r.head.target, "/a/b?x=1&y=2");
    EXPECT_EQ(r.head.path, "/a/b");
    EXPECT_EQ(r.head.host, "example.com");
    EXPECT_EQ(r.head.version_minor, 1);
    ASSERT_EQ(r.head.headers.size(), 3u);
    EXPECT_EQ(r.head.headers[0].name, "Host");
    EXPECT_EQ(r.head.headers[0].value, "example.com");
    EXPECT_EQ(r.head.headers[1].name, "User-Agent");
    EXPECT_EQ(r.head.headers[2].value, "*/*");
    EXPECT_EQ(r.head.body, BodyKind::none);
    EXPECT_EQ(r.head.content_length, 0u);
    EXPECT_TRUE(r.head.keep_alive);
    EXPECT_FALSE(r.head.expect_continue);
    EXPECT_FALSE(r.head.connection_has_tokens);
}

TEST(HttpRequestHead, HeadLenStopsAtEmptyLineWhenBodyOrNextRequestFollows) {
    const std::string head = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
    const std::string raw = head + "hello" + "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    auto r = parse_req(raw);
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.len, head.size());
    EXPECT_EQ(r.head.body, BodyKind::content_length);
    EXPECT_EQ(r.head.content_length, 5u);
}

TEST(HttpRequestHead, MethodIds) {
    const std::pair<std::string_view, Method> cases[] = {
        {"GET", Method::get},         {"HEAD", Method::head},       {"POST", Method::post},
        {"PUT", Method::put},         {"DELETE", Method::delete_},  {"OPTIONS", Method::options},
        {"TRACE", Method::trace},     {"PATCH", Method::patch},     {"PROPFIND", Method::other},
        {"get", Method::other},       {"Post", Method::other},      {"M-SEARCH", Method::other},
    };
    for (auto [m, id] : cases) {
        const std::string raw = std::string(m) + " / HTTP/1.1\r\nHost: h\r\n\r\n";
        auto r = parse_req(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << m << ": " << r.err.reason;
        EXPECT_EQ(r.head.method, m);
        EXPECT_EQ(r.head.method_id, id) << m;
    }
}

TEST(HttpRequestHead, HeaderValuesTrimOwsAndKeepInnerBytes) {
    const std::string raw =
        "GET / HTTP/1.1\r\nHost:h\r\nX-A:   spaced  value \t\r\nX-Empty:\r\nX-Blank:   \r\n"
        "X-Tab: a\tb\r\nX-Obs: caf\xc3\xa9\r\nx-lower: v\r\n\r\n";
    auto r = parse_req(raw);
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.head.host, "h");
    EXPECT_EQ(header(r.head.headers, "x-a"), "spaced  value");
    EXPECT_EQ(header(r.head.headers, "X-Empty"), "");
    EXPECT_EQ(header(r.head.headers, "X-Blank"), "");
    EXPECT_EQ(header(r.head.headers, "X-Tab"), "a\tb");
    EXPECT_EQ(header(r.head.headers, "X-Obs"), "caf\xc3\xa9");
    EXPECT_EQ(r.head.headers.back().name, "x-lower");  // names kept as received
}

TEST(HttpRequestHead, KeepAliveRulesHttp11) {
    struct Case {
        std::string_view fields;
        bool keep_alive;
        bool has_tokens;
    };
    const Case cases[] = {
        {"", true, false},
        {"Connection: close\r\n", false, false},
        {"Connection: Close\r\n", false, false},
        {"connection: CLOSE\r\n", false, false},
        {"Connection: keep-alive\r\n", true, false},
        {"Connection: keep-alive, close\r\n", false, false},
        {"Connection: keep-alive\r\nConnection: close\r\n", false, false},
        {"Connection: X-Foo\r\n", true, true},
        {"Connection: close, X-Foo\r\n", false, true},
        {"Connection: , ,close ,\r\n", false, false},
        {"Connection: closed\r\n", true, true},  // a different token, not "close"
    };
    for (const Case& c : cases) {
        const std::string raw = "GET / HTTP/1.1\r\nHost: h\r\n" + std::string(c.fields) + "\r\n";
        auto r = parse_req(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << show(c.fields) << ": " << r.err.reason;
        EXPECT_EQ(r.head.keep_alive, c.keep_alive) << show(c.fields);
        EXPECT_EQ(r.head.connection_has_tokens, c.has_tokens) << show(c.fields);
    }
}

TEST(HttpRequestHead, KeepAliveRulesHttp10) {
    struct Case {
        std::string_view fields;
        bool keep_alive;
    };
    const Case cases[] = {
        {"", false},
        {"Connection: keep-alive\r\n", true},
        {"Connection: Keep-Alive\r\n", true},
        {"Connection: keep-alive, close\r\n", false},
        {"Connection: close\r\n", false},
        {"Connection: X-Foo\r\n", false},
    };
    for (const Case& c : cases) {
        const std::string raw = "GET / HTTP/1.0\r\n" + std::string(c.fields) + "\r\n";
        auto r = parse_req(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << show(c.fields) << ": " << r.err.reason;
        EXPECT_EQ(r.head.version_minor, 0);
        EXPECT_EQ(r.head.keep_alive, c.keep_alive) << show(c.fields);
    }
}

TEST(HttpRequestHead, Http10WithoutHostIsAccepted) {
    const std::string raw = "GET /x HTTP/1.0\r\nUser-Agent: old\r\n\r\n";
    auto r = parse_req(raw);
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.head.host, "");
    EXPECT_EQ(r.head.version_minor, 0);
}

TEST(HttpRequestHead, Http10WithHostUsesIt) {
    const std::string raw = "GET /x HTTP/1.0\r\nHost: a.example\r\n\r\n";
    auto r = parse_req(raw);
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.head.host, "a.example");
}

TEST(HttpRequestHead, HostWithPortAndIpLiteral) {
    for (std::string_view host : {"example.com:8080"sv, "[::1]:8443"sv, "[2001:db8::1]"sv, "10.0.0.1"sv, "a_b-c.d"sv}) {
        const std::string raw = "GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n";
        auto r = parse_req(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << host << ": " << r.err.reason;
        EXPECT_EQ(r.head.host, host);
    }
}

TEST(HttpRequestHead, ContentLengthForms) {
    struct Case {
        std::string_view value;
        std::uint64_t length;
        BodyKind body;
    };
    const Case cases[] = {
        {"0", 0, BodyKind::none},
        {"5", 5, BodyKind::content_length},
        {"  5  ", 5, BodyKind::content_length},
        {"007", 7, BodyKind::content_length},
        {"123456789012345678", 123456789012345678ULL, BodyKind::content_length},  // 18 digits
    };
    for (const Case& c : cases) {
        const std::string raw = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:" + std::string(c.value) + "\r\n\r\n";
        auto r = parse_req(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << c.value << ": " << r.err.reason;
        EXPECT_EQ(r.head.content_length, c.length) << c.value;
        EXPECT_EQ(r.head.body, c.body) << c.value;
    }
}

TEST(HttpRequestHead, ChunkedTransferEncoding) {
    for (std::string_view te : {"chunked"sv, "Chunked"sv, "CHUNKED"sv, " chunked "sv}) {
        const std::string raw = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:" + std::string(te) + "\r\n\r\n";
        auto r = parse_req(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << te << ": " << r.err.reason;
        EXPECT_EQ(r.head.body, BodyKind::chunked) << te;
        EXPECT_EQ(r.head.content_length, 0u);
    }
}

TEST(HttpRequestHead, ExpectContinue) {
    struct Case {
        std::string_view head;
        bool expect_continue;
    };
    const Case cases[] = {
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", true},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-Continue\r\n\r\n", true},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", true},
        {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n", true},
        // Nothing to wait for: no body, or an HTTP/1.0 client.
        {"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", false},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n", false},
        {"POST / HTTP/1.0\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", false},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n", false},
    };
    for (const Case& c : cases) {
        auto r = parse_req(c.head);
        ASSERT_EQ(r.status, ParseStatus::complete) << show(c.head) << ": " << r.err.reason;
        EXPECT_EQ(r.head.expect_continue, c.expect_continue) << show(c.head);
    }
}

TEST(HttpRequestHead, AbsoluteFormTargetReducedToOriginForm) {
    struct Case {
        std::string_view target;
        std::string_view host;
        std::string_view origin;
        std::string_view path;
    };
    const Case cases[] = {
        {"http://Example.com:8080/p/q?x=1", "Example.com:8080", "/p/q?x=1", "/p/q"},
        {"https://api.example.com/", "api.example.com", "/", "/"},
        {"HTTP://h/x", "h", "/x", "/x"},
        {"http://h", "h", "/", "/"},
        {"http://[::1]:80/v", "[::1]:80", "/v", "/v"},
    };
    for (const Case& c : cases) {
        // The target's authority wins over the Host field (RFC 9112 §3.2.2).
        const std::string raw = "GET " + std::string(c.target) + " HTTP/1.1\r\nHost: other.example\r\n\r\n";
        auto r = parse_req(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << c.target << ": " << r.err.reason;
        EXPECT_EQ(r.head.host, c.host) << c.target;
        EXPECT_EQ(r.head.target, c.origin) << c.target;
        EXPECT_EQ(r.head.path, c.path) << c.target;
    }
}

// RFC 9110 §6.2: a later minor version of HTTP/1 is handled as HTTP/1.1.
TEST(HttpRequestHead, LaterMinorVersionIsReadAsHttp11) {
    Req r = parse_req("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.head.version_minor, 1);
    Req missing_host = parse_req("GET / HTTP/1.7\r\n\r\n");
    EXPECT_EQ(missing_host.status, ParseStatus::error);
    EXPECT_EQ(missing_host.err.status, 400);
}

TEST(HttpRequestHead, AsteriskFormForOptions) {
    const std::string raw = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    auto r = parse_req(raw);
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.head.method_id, Method::options);
    EXPECT_EQ(r.head.target, "*");
    EXPECT_EQ(r.head.path, "*");
}

TEST(HttpRequestHead, LeadingEmptyLinesAreSkipped) {
    const std::string head = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    for (int n : {1, 2, 5}) {
        std::string raw;
        for (int i = 0; i < n; ++i) raw += "\r\n";
        raw += head;
        auto r = parse_req(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << n << ": " << r.err.reason;
        EXPECT_EQ(r.len, raw.size()) << n;
        EXPECT_EQ(r.head.method, "GET");
        EXPECT_EQ(r.head.target, "/x");
    }
}

TEST(HttpRequestHead, EveryPrefixOfAValidHeadIsIncomplete) {
    const std::string heads[] = {
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST /upload?id=7 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 12\r\n"
        "Expect: 100-continue\r\nConnection: keep-alive, X-Trace\r\nX-Trace: 1\r\n\r\n",
        "\r\n\r\nGET /after-empty-lines HTTP/1.0\r\n\r\n",
        "PUT http://h.example/p HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Val: a \t b\r\n\r\n",
    };
    for (const std::string& head : heads) {
        for (std::size_t n = 0; n < head.size(); ++n) {
            // A copy of exactly n bytes, so nothing past the prefix is readable (ASan would see it).
            const std::string prefix = head.substr(0, n);
            auto r = parse_req(prefix);
            EXPECT_EQ(r.status, ParseStatus::incomplete)
                << "prefix " << n << " of " << show(head) << " -> " << r.err.status << " " << r.err.reason;
        }
        auto r = parse_req(head);
        ASSERT_EQ(r.status, ParseStatus::complete) << show(head) << ": " << r.err.reason;
        EXPECT_EQ(r.len, head.size());
    }
}

TEST(HttpRequestHead, MaxHeadBytes) {
    const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(100, 'p') + "\r\n\r\n";
    // A complete head exactly at the limit passes; one byte over is 431.
    EXPECT_EQ(parse_req(head, head.size()).status, ParseStatus::complete);
    auto over = parse_req(head, head.size() - 1);
    EXPECT_EQ(over.status, ParseStatus::error);
    EXPECT_EQ(over.err.status, 431);

    // An unfinished head may fill the limit but not exceed it.
    const std::string partial = head.substr(0, 60);
    EXPECT_EQ(parse_req(partial, 60).status, ParseStatus::incomplete);
    auto big = parse_req(partial, 59);
    EXPECT_EQ(big.status, ParseStatus::error);
    EXPECT_EQ(big.err.status, 431);

    // Leading empty lines count towards the limit.
    const std::string padded = "\r\n\r\n" + head;
    auto pad = parse_req(padded, head.size());
    EXPECT_EQ(pad.status, ParseStatus::error);
    EXPECT_EQ(pad.err.status, 431);
    EXPECT_EQ(parse_req(padded, padded.size()).status, ParseStatus::complete);
}

TEST(HttpRequestHead, HugeHeaderWithoutEndIs431) {
    const std::string raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(70000, 'a');
    auto r = parse_req(raw, kMax);
    EXPECT_EQ(r.status, ParseStatus::error);
    EXPECT_EQ(r.err.status, 431);
}

std::string with_fields(std::size_t total_fields) {
    std::string raw = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (std::size_t i = 1; i < total_fields; ++i) raw += "X-F" + std::to_string(i) + ": v\r\n";
    return raw + "\r\n";
}

TEST(HttpRequestHead, TooManyHeaderFieldsIs431) {
    const std::string at_limit = with_fields(max_header_count);
    auto ok = parse_req(at_limit);
    ASSERT_EQ(ok.status, ParseStatus::complete) << ok.err.reason;
    EXPECT_EQ(ok.head.headers.size(), max_header_count);

    const std::string over = with_fields(max_header_count + 1);
    auto r = parse_req(over);
    EXPECT_EQ(r.status, ParseStatus::error);
    EXPECT_EQ(r.err.status, 431);
}

TEST(HttpRequestHead, ParserResetsStateBetweenRequests) {
    RequestHead head;
    std::size_t len = 0;
    ParseError err;
    const std::string first =
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close, X-A\r\n\r\n";
    ASSERT_EQ(parse_request_head(first, kMax, head, len, err), ParseStatus::complete);
    EXPECT_FALSE(head.keep_alive);
    const std::string second = "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
    ASSERT_EQ(parse_request_head(second, kMax, head, len, err), ParseStatus::complete);
    EXPECT_EQ(head.headers.size(), 1u);
    EXPECT_EQ(head.body, BodyKind::none);
    EXPECT_EQ(head.content_length, 0u);
    EXPECT_TRUE(head.keep_alive);
    EXPECT_FALSE(head.expect_continue);
    EXPECT_FALSE(head.connection_has_tokens);
    EXPECT_EQ(head.host, "b");
    EXPECT_EQ(head.target, "/b");
}

// ------------------------------------------------ malformed / smuggling table

struct Reject {
    const char* name;
    std::string_view raw;
    int status;
};

void PrintTo(const Reject& r, std::ostream* os) { *os << r.name << " [" << show(r.raw) << "]"; }

#define H "GET / HTTP/1.1\r\nHost: h\r\n"
#define P "POST / HTTP/1.1\r\nHost: h\r\n"

const Reject kRejects[] = {
    // Content-Length and Transfer-Encoding together, either order (CL.TE / TE.CL).
    {"cl_then_te", P "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"sv, 400},
    {"te_then_cl", P "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"sv, 400},
    {"te_then_cl_zero", P "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"sv, 400},
    {"te_gzip_with_cl", P "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n"sv, 400},
    // Transfer codings other than exactly one "chunked".
    {"te_gzip", P "Transfer-Encoding: gzip\r\n\r\n"sv, 400},
    {"te_gzip_chunked", P "Transfer-Encoding: gzip, chunked\r\n\r\n"sv, 400},
    {"te_chunked_gzip", P "Transfer-Encoding: chunked, gzip\r\n\r\n"sv, 400},
    {"te_chunked_chunked", P "Transfer-Encoding: chunked, chunked\r\n\r\n"sv, 400},
    {"te_two_fields", P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"sv, 400},
    {"te_two_fields_gzip_first", P "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"sv, 400},
    {"te_identity", P "Transfer-Encoding: identity\r\n\r\n"sv, 400},
    {"te_empty", P "Transfer-Encoding:\r\n\r\n"sv, 400},
    {"te_chunked_trailing_comma", P "Transfer-Encoding: chunked,\r\n\r\n"sv, 400},
    {"te_chunked_param", P "Transfer-Encoding: chunked;q=1\r\n\r\n"sv, 400},
    {"te_xchunked", P "Transfer-Encoding: xchunked\r\n\r\n"sv, 400},
    {"te_vertical_tab", P "Transfer-Encoding: chunked\x0b\r\n\r\n"sv, 400},
    {"te_on_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"sv, 400},
    {"te_on_http10_with_host", "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"sv, 400},
    // Content-Length must be 1*DIGIT, once.
    {"cl_plus", P "Content-Length: +5\r\n\r\n"sv, 400},
    {"cl_minus", P "Content-Length: -1\r\n\r\n"sv, 400},
    {"cl_hex", P "Content-Length: 0x10\r\n\r\n"sv, 400},
    {"cl_list_different", P "Content-Length: 5, 6\r\n\r\n"sv, 400},
    {"cl_list_same", P "Content-Length: 5,5\r\n\r\n"sv, 400},
    {"cl_empty", P "Content-Length:\r\n\r\n"sv, 400},
    {"cl_blank", P "Content-Length:   \r\n\r\n"sv, 400},
    {"cl_inner_space", P "Content-Length: 1 0\r\n\r\n"sv, 400},
    {"cl_exponent", P "Content-Length: 1e3\r\n\r\n"sv, 400},
    {"cl_decimal", P "Content-Length: 5.0\r\n\r\n"sv, 400},
    {"cl_19_digits", P "Content-Length: 1234567890123456789\r\n\r\n"sv, 400},
    {"cl_overflow", P "Content-Length: 18446744073709551621\r\n\r\n"sv, 400},
    {"cl_duplicate_same", P "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"sv, 400},
    {"cl_duplicate_different", P "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"sv, 400},
    {"cl_duplicate_case", P "Content-Length: 5\r\ncontent-length: 50\r\n\r\n"sv, 400},
    // Field syntax.
    {"space_before_colon_te", P "Transfer-Encoding : chunked\r\n\r\n"sv, 400},
    {"space_before_colon_cl", P "Content-Length : 5\r\n\r\n"sv, 400},
    {"tab_before_colon", H "X-A\t: v\r\n\r\n"sv, 400},
    {"obs_fold", H "X-A: one\r\n two\r\n\r\n"sv, 400},
    {"obs_fold_tab", H "X-A: one\r\n\ttwo\r\n\r\n"sv, 400},
    {"obs_fold_te", P "Transfer-Encoding:\r\n chunked\r\n\r\n"sv, 400},
    {"first_field_indented", "GET / HTTP/1.1\r\n Host: h\r\n\r\n"sv, 400},
    {"no_colon", H "X-A v\r\n\r\n"sv, 400},
    {"empty_name", H ": v\r\n\r\n"sv, 400},
    {"name_with_slash", H "X/A: v\r\n\r\n"sv, 400},
    {"name_with_space", H "X A: v\r\n\r\n"sv, 400},
    {"nul_in_name", H "X-\0A: v\r\n\r\n"sv, 400},
    {"nul_in_value", H "X-A: a\0b\r\n\r\n"sv, 400},
    {"cr_in_name", H "X-\rA: v\r\n\r\n"sv, 400},
    {"cr_in_value", H "X-A: a\rb\r\n\r\n"sv, 400},
    {"cr_at_value_end", H "X-A: ab\r\r\n\r\n"sv, 400},
    {"lf_in_value_is_bare_lf", H "X-A: a\nb: c\r\n\r\n"sv, 400},
    {"del_in_value", H "X-A: a\x7f\r\n\r\n"sv, 400},
    {"ctl_in_value", H "X-A: a\x01\r\n\r\n"sv, 400},
    {"lone_cr_line", H "\r\r\n\r\n"sv, 400},
    // Line endings.
    {"bare_lf_everywhere", "GET / HTTP/1.1\nHost: h\n\n"sv, 400},
    {"bare_lf_request_line", "GET / HTTP/1.1\nHost: h\r\n\r\n"sv, 400},
    {"bare_lf_field_line", "GET / HTTP/1.1\r\nHost: h\nX-A: v\r\n\r\n"sv, 400},
    {"bare_lf_final", "GET / HTTP/1.1\r\nHost: h\r\n\n"sv, 400},
    {"bare_lf_leading", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    // Host.
    {"missing_host_http11", "GET / HTTP/1.1\r\nX-A: v\r\n\r\n"sv, 400},
    {"missing_host_absolute_form", "GET http://h/ HTTP/1.1\r\n\r\n"sv, 400},
    {"duplicate_host_different", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"sv, 400},
    {"duplicate_host_same", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"sv, 400},
    {"duplicate_host_http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"sv, 400},
    {"host_empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n"sv, 400},
    {"host_userinfo", "GET / HTTP/1.1\r\nHost: user@h\r\n\r\n"sv, 400},
    {"host_with_path", "GET / HTTP/1.1\r\nHost: h/evil\r\n\r\n"sv, 400},
    {"host_with_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"sv, 400},
    {"host_with_query", "GET / HTTP/1.1\r\nHost: h?x\r\n\r\n"sv, 400},
    {"host_with_hash", "GET / HTTP/1.1\r\nHost: h#x\r\n\r\n"sv, 400},
    // Request line.
    {"http09", "GET /\r\n\r\n"sv, 400},
    {"only_method", "GET\r\nHost: h\r\n\r\n"sv, 400},
    {"double_space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"trailing_space", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n"sv, 400},
    {"leading_space", " GET / HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"tabs_as_separators", "GET\t/\tHTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"space_in_target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"bad_method_char", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"nul_in_method", "G\0T / HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"lowercase_version", "GET / http/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"missing_version", "GET / \r\nHost: h\r\n\r\n"sv, 400},
    {"garbage_version", "GET / FOO/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"http2_version", "GET / HTTP/2.0\r\nHost: h\r\n\r\n"sv, 505},
    {"http3_version", "GET / HTTP/3.0\r\nHost: h\r\n\r\n"sv, 505},
    {"http09_version", "GET / HTTP/0.9\r\nHost: h\r\n\r\n"sv, 505},
    {"version_trailing_garbage", "GET / HTTP/1.1x\r\nHost: h\r\n\r\n"sv, 400},
    {"version_two_digit_minor", "GET / HTTP/1.10\r\nHost: h\r\n\r\n"sv, 400},
    {"version_missing_minor", "GET / HTTP/1.\r\nHost: h\r\n\r\n"sv, 400},
    {"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"sv, 501},
    // Expect.
    {"expect_unknown", P "Content-Length: 1\r\nExpect: foo\r\n\r\n"sv, 417},
    {"expect_102", P "Content-Length: 1\r\nExpect: 102-processing\r\n\r\n"sv, 417},
    {"expect_list", P "Content-Length: 1\r\nExpect: 100-continue, foo\r\n\r\n"sv, 417},
    {"expect_twice", P "Content-Length: 1\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n"sv, 417},
    // Request target.
    {"target_tab", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"target_nul", "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"target_del", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"target_ctl", "GET /a\x1b HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"target_cr", "GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"asterisk_on_get", "GET * HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"authority_form_on_get", "GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"relative_path", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"absolute_ftp", "GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"absolute_userinfo", "GET http://u:p@h/x HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"absolute_empty_authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
    {"absolute_query_without_path", "GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400},
};

#undef H
#undef P

class HttpRequestReject : public ::testing::TestWithParam<Reject> {};

TEST_P(HttpRequestReject, ExactStatus) {
    const Reject& v = GetParam();
    auto r = parse_req(v.raw);
    ASSERT_EQ(r.status, ParseStatus::error) << "accepted: " << show(v.raw);
    EXPECT_EQ(r.err.status, v.status) << show(v.raw) << " -> " << r.err.reason;
    EXPECT_FALSE(r.err.reason.empty());
}

TEST(HttpRequestRejectTable, HasAtLeastFortyVectorsWithUniqueNames) {
    EXPECT_GE(std::size(kRejects), 40u);
    std::vector<std::string_view> names;
    for (const Reject& r : kRejects) {
        for (std::string_view n : names) EXPECT_NE(n, r.name);
        names.push_back(r.name);
    }
}

INSTANTIATE_TEST_SUITE_P(HttpVectors, HttpRequestReject, ::testing::ValuesIn(kRejects),
                         [](const ::testing::TestParamInfo<Reject>& p) { return std::string(p.param.name); });

// --------------------------------------------------------------- responses

TEST(HttpResponseHead, StatusLineVariants) {
    struct Case {
        std::string_view line;
        int minor;
        int status;
        std::string_view reason;
    };
    const Case cases[] = {
        {"HTTP/1.1 200 OK", 1, 200, "OK"},
        {"HTTP/1.1 404 Not Found", 1, 404, "Not Found"},
        {"HTTP/1.0 503 Service Unavailable", 0, 503, "Service Unavailable"},
        {"HTTP/1.1 200", 1, 200, ""},
        {"HTTP/1.1 200 ", 1, 200, ""},
        {"HTTP/1.1 299 Odd  spacing\there", 1, 299, "Odd  spacing\there"},
        {"HTTP/1.1 599 Custom", 1, 599, "Custom"},
        {"HTTP/1.1 201 Cr\xc3\xa9\xc3\xa9", 1, 201, "Cr\xc3\xa9\xc3\xa9"},
    };
    for (const Case& c : cases) {
        const std::string raw = std::string(c.line) + "\r\nContent-Length: 0\r\n\r\n";
        auto r = parse_resp(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << show(c.line) << ": " << r.err.reason;
        EXPECT_EQ(r.len, raw.size());
        EXPECT_EQ(r.head.version_minor, c.minor) << show(c.line);
        EXPECT_EQ(r.head.status, c.status) << show(c.line);
        EXPECT_EQ(r.head.reason, c.reason) << show(c.line);
    }
}

TEST(HttpResponseHead, ContentLengthBody) {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n";
    const std::string raw = head + "hello";
    auto r = parse_resp(raw);
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.len, head.size());
    EXPECT_EQ(r.head.body, BodyKind::content_length);
    EXPECT_EQ(r.head.content_length, 5u);
    EXPECT_TRUE(r.head.keep_alive);
    ASSERT_EQ(r.head.headers.size(), 2u);
    EXPECT_EQ(r.head.headers[0].name, "Content-Type");
}

TEST(HttpResponseHead, ZeroContentLengthIsNoBody) {
    auto r = parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(r.status, ParseStatus::complete);
    EXPECT_EQ(r.head.body, BodyKind::none);
    EXPECT_TRUE(r.head.keep_alive);
}

TEST(HttpResponseHead, ChunkedBody) {
    auto r = parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
    ASSERT_EQ(r.status, ParseStatus::complete) << r.err.reason;
    EXPECT_EQ(r.head.body, BodyKind::chunked);
    EXPECT_TRUE(r.head.keep_alive);
}

TEST(HttpResponseHead, NoFramingMeansUntilCloseAndNoReuse) {
    for (std::string_view raw : {"HTTP/1.1 200 OK\r\n\r\n"sv, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"sv,
                                 "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"sv}) {
        auto r = parse_resp(raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << show(raw) << ": " << r.err.reason;
        EXPECT_EQ(r.head.body, BodyKind::until_close) << show(raw);
        EXPECT_FALSE(r.head.keep_alive) << show(raw);
    }
}

TEST(HttpResponseHead, KeepAliveRules) {
    struct Case {
        std::string_view raw;
        bool keep_alive;
        bool has_tokens;
    };
    const Case cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", true, false},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", false, false},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: X-Up\r\n\r\n", true, true},
        {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false, false},
        {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", true, false},
        {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive, close\r\n\r\n", false, false},
        {"HTTP/1.1 204 No Content\r\n\r\n", true, false},
        {"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", false, false},
    };
    for (const Case& c : cases) {
        auto r = parse_resp(c.raw);
        ASSERT_EQ(r.status, ParseStatus::complete) << show(c.raw) << ": " << r.err.reason;
        EXPECT_EQ(r.head.keep_alive, c.keep_alive) << show(c.raw);
        EXPECT_EQ(r.head.connection_has_tokens, c.has_tokens) << show(c.raw);
    }
}

TEST(HttpResponseHead, BodilessStatusesAndHead) {
    struct Case {
        std::string_view raw;
        Method method;
    };
    const Case cases[] = {
        {"HTTP/1.1 100 Continue\r\n\r\n", Method::post},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", Method::get},
        {"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", Method::get},
        {"HTTP/1.1 204 No Content\r\n\r\n", Method::delete_},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", Method::get},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", Method::get},
        {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", Method::get},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", Method::head},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::head},
        {"HTTP/1.1 200 OK\r\n\r\n", Method::head},
        {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::head},
    };
    for (const Case& c : cases) {
        auto r = parse_resp(c.raw, c.method);
        ASSERT_EQ(r.status, ParseStatus::complete) << show(c.raw) << ": " << r.err.reason;
        EXPECT_EQ(r.head.body, BodyKind::none) << show(c.raw);
        EXPECT_EQ(r.len, c.raw.size());
    }
    // Without HEAD the same 200 has a body.
    auto get = parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", Method::get);
    EXPECT_EQ(get.head.body, BodyKind::content_length);
}

TEST(HttpResponseHead, EveryPrefixIsIncomplete) {
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\nX-Empty:\r\n\r\n";
    for (std::size_t n = 0; n < head.size(); ++n) {
        const std::string prefix = head.substr(0, n);
        auto r = parse_resp(prefix);
        EXPECT_EQ(r.status, ParseStatus::incomplete) << "prefix " << n << " -> " << r.err.reason;
    }
    auto r = parse_resp(head + "abc");
    ASSERT_EQ(r.status, ParseStatus::complete);
    EXPECT_EQ(r.len, head.size());
}

TEST(HttpResponseHead, TooLargeIs502) {
    const std::string head = "HTTP/1.1 200 OK\r\nX-Pad: " + std::string(200, 'x') + "\r\nContent-Length: 0\r\n\r\n";
    EXPECT_EQ(parse_resp(head, Method::get, head.size()).status, ParseStatus::complete);
    auto r = parse_resp(head, Method::get, head.size() - 1);
    EXPECT_EQ(r.status, ParseStatus::error);
    EXPECT_EQ(r.err.status, 502);
    const std::string partial = head.substr(0, 100);
    auto p = parse_resp(partial, Method::get, 99);
    EXPECT_EQ(p.status, ParseStatus::error);
    EXPECT_EQ(p.err.status, 502);
}

TEST(HttpResponseHead, TooManyFieldsIs502) {
    std::string raw = "HTTP/1.1 200 OK\r\n";
    for (std::size_t i = 0; i <= max_header_count; ++i) raw += "X-F" + std::to_string(i) + ": v\r\n";
    raw += "\r\n";
    auto r = parse_resp(raw);
    EXPECT_EQ(r.status, ParseStatus::error);
    EXPECT_EQ(r.err.status, 502);
}

TEST(HttpResponseHead, InvalidFramingAndSyntaxIs502) {
    const std::string_view cases[] = {
        // Status line.
        "HTTP/1.1 20 OK\r\n\r\n"sv,
        "HTTP/1.1 2000 OK\r\n\r\n"sv,
        "HTTP/1.1 099 Low\r\n\r\n"sv,
        "HTTP/1.1 000 Zero\r\n\r\n"sv,
        "HTTP/1.1 abc OK\r\n\r\n"sv,
        "HTTP/1.1  200 OK\r\n\r\n"sv,
        "HTTP/1.1\t200 OK\r\n\r\n"sv,
        "HTTP/2 200 OK\r\n\r\n"sv,
        "HTTP/2.0 200 OK\r\n\r\n"sv,
        "http/1.1 200 OK\r\n\r\n"sv,
        "ICY 200 OK\r\n\r\n"sv,
        "HTTP/1.1 200 O\0K\r\n\r\n"sv,
        "HTTP/1.1 200 O\rK\r\n\r\n"sv,
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"sv,
        // Framing.
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"sv,
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"sv,
        // Refused even where no body follows: the upstream cannot be trusted to frame anything.
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"sv,
        "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n"sv,
        // Field syntax.
        "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nX-\rA: a\r\n\r\n"sv,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n"sv,
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n"sv,
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"sv,
    };
    for (std::string_view raw : cases) {
        auto r = parse_resp(raw);
        ASSERT_EQ(r.status, ParseStatus::error) << "accepted: " << show(raw);
        EXPECT_EQ(r.err.status, 502) << show(raw) << " -> " << r.err.reason;
        EXPECT_FALSE(r.err.reason.empty());
    }
}

}  // namespace
}  // namespace weir::http
