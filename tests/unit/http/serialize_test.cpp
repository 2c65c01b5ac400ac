// Re-serialised heads: what is dropped, what is added, and that the result is
// itself a head our own strict parser accepts.
#include "http/parser.hpp"
#include "http/serialize.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace weir::http {
namespace {

using namespace std::literals;

// Parsed request whose views point into `raw`, which the fixture keeps alive.
struct ParsedRequest {
    std::string raw;
    RequestHead head;
};

ParsedRequest request(std::string raw) {
    ParsedRequest p{std::move(raw), {}};
    std::size_t len = 0;
    ParseError err;
    auto st = parse_request_head(p.raw, 65536, p.head, len, err);
    EXPECT_EQ(st, ParseStatus::complete) << err.reason;
    return p;
}

struct ParsedResponse {
    std::string raw;
    ResponseHead head;
};

ParsedResponse response(std::string raw, Method method = Method::get) {
    ParsedResponse p{std::move(raw), {}};
    std::size_t len = 0;
    ParseError err;
    auto st = parse_response_head(p.raw, 65536, method, p.head, len, err);
    EXPECT_EQ(st, ParseStatus::complete) << err.reason;
    return p;
}

// All values of the fields named `name` in a serialised head, in order.
std::vector<std::string> values(std::string_view head, std::string_view name) {
    std::vector<std::string> out;
    std::size_t pos = head.find("\r\n");  // skip the start line
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        std::size_t start = pos + 2;
        std::size_t end = head.find("\r\n", start);
        if (end == std::string_view::npos || end == start) break;
        std::string_view line = head.substr(start, end - start);
        std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
            std::string_view v = line.substr(colon + 1);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            out.emplace_back(v);
        }
        pos = end;
    }
    return out;
}

std::vector<std::string> names(std::string_view head) {
    std::vector<std::string> out;
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos) {
        std::size_t start = pos + 2;
        std::size_t end = head.find("\r\n", start);
        if (end == std::string_view::npos || end == start) break;
        std::string_view line = head.substr(start, end - start);
        out.emplace_back(line.substr(0, line.find(':')));
        pos = end;
    }
    return out;
}

const ForwardedFor kFwd{"203.0.113.7", "http", "default.example"};

std::string serialize(const ParsedRequest& p, const ForwardedFor& fwd = kFwd) {
    std::string out;
    serialize_request(out, p.head, fwd);
    return out;
}

// The output must be one complete head that our own parser accepts, and nothing more.
void expect_reparses(const std::string& out, RequestHead& again) {
    std::size_t len = 0;
    ParseError err;
    ASSERT_EQ(parse_request_head(out, 65536, again, len, err), ParseStatus::complete) << err.reason << "\n" << out;
    EXPECT_EQ(len, out.size());
}

// --------------------------------------------------------------- requests

TEST(HttpSerializeRequest, RequestLineHostAndForwardedFields) {
    auto p = request("GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_TRUE(out.starts_with("GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\n")) << out;
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
    EXPECT_EQ(values(out, "Host"), std::vector<std::string>{"example.com:8080"});
    EXPECT_EQ(values(out, "Accept"), std::vector<std::string>{"*/*"});
    EXPECT_EQ(values(out, "X-Forwarded-For"), std::vector<std::string>{"203.0.113.7"});
    EXPECT_EQ(values(out, "X-Forwarded-Proto"), std::vector<std::string>{"http"});
    EXPECT_EQ(values(out, "X-Forwarded-Host"), std::vector<std::string>{"example.com:8080"});
    EXPECT_TRUE(values(out, "Connection").empty());
    RequestHead again;
    expect_reparses(out, again);
    EXPECT_EQ(again.host, "example.com:8080");
    EXPECT_EQ(again.body, BodyKind::none);
}

TEST(HttpSerializeRequest, HopByHopFieldsRemoved) {
    auto p = request(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop-One, x-hop-two\r\nKeep-Alive: timeout=5\r\n"
        "Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: websocket\r\n"
        "X-Hop-One: 1\r\nX-HOP-TWO: 2\r\nX-Keep: 3\r\nConnection: X-Hop-Three\r\nX-Hop-Three: 4\r\n\r\n");
    const std::string out = serialize(p);
    for (std::string_view gone : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade",
                                  "Transfer-Encoding", "X-Hop-One", "X-Hop-Two", "X-Hop-Three"}) {
        EXPECT_TRUE(values(out, gone).empty()) << gone << " forwarded:\n" << out;
    }
    EXPECT_EQ(values(out, "X-Keep"), std::vector<std::string>{"3"});
    RequestHead again;
    expect_reparses(out, again);
}

TEST(HttpSerializeRequest, FieldsNotNamedInConnectionSurvive) {
    // Without Connection tokens nothing beyond the fixed list is removed,
    // even fields whose names look connection-ish.
    auto p = request("GET / HTTP/1.1\r\nHost: h\r\nX-Connection: a\r\nKeep-Alive-Ish: b\r\nTEST: c\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_EQ(values(out, "X-Connection"), std::vector<std::string>{"a"});
    EXPECT_EQ(values(out, "Keep-Alive-Ish"), std::vector<std::string>{"b"});
    EXPECT_EQ(values(out, "TEST"), std::vector<std::string>{"c"});
}

TEST(HttpSerializeRequest, XForwardedForAppendedAfterExistingValues) {
    auto p = request(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\nAccept: a\r\n"
        "x-forwarded-for: 192.0.2.2, 192.0.2.3\r\nX-Forwarded-For:\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_EQ(values(out, "X-Forwarded-For"),
              std::vector<std::string>{"192.0.2.1, 192.0.2.2, 192.0.2.3, 203.0.113.7"})
        << out;
    RequestHead again;
    expect_reparses(out, again);
}

TEST(HttpSerializeRequest, XForwardedForNamedInConnectionIsDropped) {
    // A client may ask a hop to drop its X-Forwarded-For; ours is still added.
    auto p = request("GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_EQ(values(out, "X-Forwarded-For"), std::vector<std::string>{"203.0.113.7"}) << out;
}

TEST(HttpSerializeRequest, XForwardedProtoAndHostReplaced) {
    auto p = request(
        "GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: real.example\r\nX-Forwarded-Host: evil.example\r\n"
        "x-forwarded-host: evil2.example\r\n\r\n");
    ForwardedFor fwd{"198.51.100.1", "https", "unused"};
    const std::string out = serialize(p, fwd);
    EXPECT_EQ(values(out, "X-Forwarded-Proto"), std::vector<std::string>{"https"});
    EXPECT_EQ(values(out, "X-Forwarded-Host"), std::vector<std::string>{"real.example"}) << out;
    EXPECT_EQ(values(out, "Host"), std::vector<std::string>{"real.example"});

    auto q = request("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n\r\n");
    const std::string out2 = serialize(q);
    EXPECT_EQ(values(out2, "X-Forwarded-Proto"), std::vector<std::string>{"http"});
}

TEST(HttpSerializeRequest, HostKeptOnceAndFirst) {
    auto p = request("GET / HTTP/1.1\r\nAccept: x\r\nhost: Mixed.Example\r\nX-A: 1\r\n\r\n");
    const std::string out = serialize(p);
    auto n = names(out);
    ASSERT_FALSE(n.empty());
    EXPECT_EQ(n.front(), "Host");
    EXPECT_EQ(values(out, "Host"), std::vector<std::string>{"Mixed.Example"});
}

TEST(HttpSerializeRequest, AbsoluteFormUsesAuthorityAsHost) {
    auto p = request("GET http://target.example:81/p?q HTTP/1.1\r\nHost: ignored.example\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_TRUE(out.starts_with("GET /p?q HTTP/1.1\r\n")) << out;
    EXPECT_EQ(values(out, "Host"), std::vector<std::string>{"target.example:81"});
    EXPECT_EQ(values(out, "X-Forwarded-Host"), std::vector<std::string>{"target.example:81"});
}

TEST(HttpSerializeRequest, Http10ClientGetsDefaultHostAndHttp11Line) {
    auto p = request("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_TRUE(out.starts_with("GET /old HTTP/1.1\r\nHost: default.example\r\n")) << out;
    EXPECT_TRUE(values(out, "Connection").empty());
    RequestHead again;
    expect_reparses(out, again);
    EXPECT_EQ(again.version_minor, 1);
}

TEST(HttpSerializeRequest, ExpectDropped) {
    auto p = request("POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    ASSERT_TRUE(p.head.expect_continue);
    const std::string out = serialize(p);
    EXPECT_TRUE(values(out, "Expect").empty()) << out;
    EXPECT_EQ(values(out, "Content-Length"), std::vector<std::string>{"3"});
}

TEST(HttpSerializeRequest, ChunkedBodyGetsExactlyOneTransferEncoding) {
    auto p = request("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_EQ(values(out, "Transfer-Encoding"), std::vector<std::string>{"chunked"}) << out;
    EXPECT_TRUE(values(out, "Content-Length").empty());
    RequestHead again;
    expect_reparses(out, again);
    EXPECT_EQ(again.body, BodyKind::chunked);
}

TEST(HttpSerializeRequest, ContentLengthBodyKeepsLengthAndNoTransferEncoding) {
    auto p = request("PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_EQ(values(out, "Content-Length"), std::vector<std::string>{"42"});
    EXPECT_TRUE(values(out, "Transfer-Encoding").empty());
    RequestHead again;
    expect_reparses(out, again);
    EXPECT_EQ(again.content_length, 42u);
}

// The proxy decides the body's framing; a client must not be able to strip it
// from the upstream's view by naming it in Connection. Here the upstream would
// see a head without Content-Length and read the 5 body bytes as the start of
// the next request (request smuggling).
TEST(HttpSerializeRequest, ConnectionCannotStripContentLength) {
    auto p = request("POST /u HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\n");
    ASSERT_EQ(p.head.body, BodyKind::content_length);
    ASSERT_EQ(p.head.content_length, 5u);
    const std::string out = serialize(p);
    RequestHead again;
    expect_reparses(out, again);
    EXPECT_EQ(again.body, BodyKind::content_length) << "upstream head frames no body:\n" << out;
    EXPECT_EQ(again.content_length, 5u) << out;
}

TEST(HttpSerializeRequest, ConnectionCannotStripHost) {
    auto p = request("GET / HTTP/1.1\r\nHost: h.example\r\nConnection: Host\r\n\r\n");
    const std::string out = serialize(p);
    EXPECT_EQ(values(out, "Host"), std::vector<std::string>{"h.example"}) << out;
}

TEST(HttpSerializeRequest, AppendsToExistingBuffer) {
    auto p = request("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    std::string out = "prefix";
    serialize_request(out, p.head, kFwd);
    EXPECT_TRUE(out.starts_with("prefixGET / HTTP/1.1\r\n"));
}

// -------------------------------------------------------------- responses

std::string serialize(const ParsedResponse& p, ClientFraming framing, bool keep_alive, int client_minor) {
    std::string out;
    serialize_response(out, p.head, framing, keep_alive, client_minor);
    return out;
}

TEST(HttpSerializeResponse, HopByHopFieldsRemoved) {
    auto p = response(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Up-Hop\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\n"
        "Upgrade: h2c\r\nTrailer: X-T\r\nTE: trailers\r\nX-Up-Hop: 1\r\nContent-Length: 2\r\nX-Keep: 2\r\n\r\n");
    const std::string out = serialize(p, ClientFraming::as_upstream, true, 1);
    for (std::string_view gone :
         {"Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "Trailer", "TE", "X-Up-Hop", "Transfer-Encoding"}) {
        EXPECT_TRUE(values(out, gone).empty()) << gone << " forwarded:\n" << out;
    }
    EXPECT_EQ(values(out, "X-Keep"), std::vector<std::string>{"2"});
    EXPECT_EQ(values(out, "Content-Length"), std::vector<std::string>{"2"});
    EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(HttpSerializeResponse, ChunkedFramingReplacesUpstreamTransferEncoding) {
    auto p = response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n");
    const std::string out = serialize(p, ClientFraming::chunked, true, 1);
    EXPECT_EQ(values(out, "Transfer-Encoding"), std::vector<std::string>{"chunked"}) << out;

    auto until_close = response("HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n");
    const std::string out2 = serialize(until_close, ClientFraming::chunked, true, 1);
    EXPECT_EQ(values(out2, "Transfer-Encoding"), std::vector<std::string>{"chunked"});
    EXPECT_TRUE(values(out2, "Content-Length").empty());

    // The client's head, re-parsed, frames the body the same way.
    std::size_t len = 0;
    ParseError err;
    ResponseHead again;
    ASSERT_EQ(parse_response_head(out, 65536, Method::get, again, len, err), ParseStatus::complete) << err.reason;
    EXPECT_EQ(again.body, BodyKind::chunked);
    EXPECT_TRUE(again.keep_alive);
}

TEST(HttpSerializeResponse, UntilCloseForHttp10ClientHasNoTransferEncoding) {
    auto p = response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string out = serialize(p, ClientFraming::until_close, false, 0);
    EXPECT_TRUE(values(out, "Transfer-Encoding").empty()) << out;
    EXPECT_TRUE(values(out, "Content-Length").empty());
    EXPECT_EQ(values(out, "Connection"), std::vector<std::string>{"close"});
}

TEST(HttpSerializeResponse, ConnectionFieldPerClient) {
    auto p = response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    // HTTP/1.1 client: persistent by default, only "close" needs saying.
    EXPECT_TRUE(values(serialize(p, ClientFraming::as_upstream, true, 1), "Connection").empty());
    EXPECT_EQ(values(serialize(p, ClientFraming::as_upstream, false, 1), "Connection"),
              std::vector<std::string>{"close"});
    // HTTP/1.0 client: persistence must be announced.
    EXPECT_EQ(values(serialize(p, ClientFraming::as_upstream, true, 0), "Connection"),
              std::vector<std::string>{"keep-alive"});
    EXPECT_EQ(values(serialize(p, ClientFraming::as_upstream, false, 0), "Connection"),
              std::vector<std::string>{"close"});
}

// Same for responses: an upstream naming Content-Length in Connection must not
// leave the client with a keep-alive response that has no framing at all.
TEST(HttpSerializeResponse, ConnectionCannotStripContentLength) {
    auto p = response("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\n");
    ASSERT_EQ(p.head.body, BodyKind::content_length);
    ASSERT_TRUE(p.head.keep_alive);
    const std::string out = serialize(p, ClientFraming::as_upstream, true, 1);
    ResponseHead again;
    std::size_t len = 0;
    ParseError err;
    ASSERT_EQ(parse_response_head(out, 65536, Method::get, again, len, err), ParseStatus::complete) << err.reason;
    EXPECT_EQ(again.body, BodyKind::content_length) << "client head frames the body differently:\n" << out;
    EXPECT_EQ(again.content_length, 5u) << out;
}

TEST(HttpSerializeResponse, InterimResponsesCarryNoConnectionField) {
    auto p = response("HTTP/1.1 100 Continue\r\n\r\n");
    EXPECT_EQ(serialize(p, ClientFraming::as_upstream, false, 1), "HTTP/1.1 100 Continue\r\n\r\n");
    EXPECT_EQ(serialize(p, ClientFraming::as_upstream, true, 0), "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(HttpSerializeResponse, StatusLineAlwaysHttp11WithReason) {
    auto p = response("HTTP/1.0 404 Nope Nope\r\nContent-Length: 0\r\n\r\n");
    EXPECT_TRUE(serialize(p, ClientFraming::as_upstream, false, 0).starts_with("HTTP/1.1 404 Nope Nope\r\n"));
    auto q = response("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n");
    EXPECT_TRUE(serialize(q, ClientFraming::as_upstream, true, 1).starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    auto r = response("HTTP/1.1 299\r\nContent-Length: 0\r\n\r\n");
    EXPECT_TRUE(serialize(r, ClientFraming::as_upstream, true, 1).starts_with("HTTP/1.1 299 Unknown\r\n"));
}

TEST(HttpSerializeResponse, EndToEndFieldsKeepOrderAndDuplicates) {
    auto p = response(
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 0\r\nSet-Cookie: b=2\r\nVary: x\r\n\r\n");
    const std::string out = serialize(p, ClientFraming::as_upstream, true, 1);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 0\r\nSet-Cookie: b=2\r\nVary: x\r\n\r\n");
}

// ------------------------------------------------------------ local reply

TEST(HttpLocalReply, FormatAndContentLength) {
    for (int status : {400, 408, 413, 417, 431, 501, 502, 503, 504, 505}) {
        for (bool close : {true, false}) {
            const std::string body = "reason for " + std::to_string(status);
            std::string out;
            local_reply(out, status, body, close);
            SCOPED_TRACE(out);

            ResponseHead head;
            std::size_t len = 0;
            ParseError err;
            ASSERT_EQ(parse_response_head(out, 65536, Method::get, head, len, err), ParseStatus::complete)
                << err.reason;
            EXPECT_EQ(head.status, status);
            EXPECT_EQ(head.reason, reason_phrase(status));
            EXPECT_EQ(head.body, BodyKind::content_length);
            EXPECT_EQ(head.content_length, out.size() - len);  // exactly the bytes after the head
            EXPECT_EQ(out.substr(len), body + "\n");
            EXPECT_EQ(head.keep_alive, !close);
            EXPECT_EQ(values(out.substr(0, len), "Content-Type"), std::vector<std::string>{"text/plain"});
        }
    }
}

TEST(HttpLocalReply, ExactBytes) {
    std::string out;
    local_reply(out, 502, "bad gateway", true);
    EXPECT_EQ(out,
              "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
              "Connection: close\r\n\r\nbad gateway\n");
    out.clear();
    local_reply(out, 431, "", false);
    EXPECT_EQ(out, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n\n");
}

TEST(HttpLocalReply, ReasonPhrases) {
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(400), "Bad Request");
    EXPECT_EQ(reason_phrase(413), "Content Too Large");
    EXPECT_EQ(reason_phrase(417), "Expectation Failed");
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reason_phrase(501), "Not Implemented");
    EXPECT_EQ(reason_phrase(504), "Gateway Timeout");
    EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
    EXPECT_EQ(reason_phrase(418), "Unknown");
}

// ------------------------------------------------------ message helpers

TEST(HttpMessageHelpers, HopByHopList) {
    for (std::string_view n : {"Connection", "keep-alive", "PROXY-CONNECTION", "te", "Trailer", "Transfer-Encoding",
                               "upgrade"}) {
        EXPECT_TRUE(is_hop_by_hop(n)) << n;
    }
    for (std::string_view n : {"Host", "Content-Length", "Trailers", "Proxy-Authorization", "X-Connection", "", "t"}) {
        EXPECT_FALSE(is_hop_by_hop(n)) << n;
    }
}

TEST(HttpMessageHelpers, CaseInsensitiveEquality) {
    EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
    EXPECT_FALSE(iequals("Content-Length", "Content-Lengt"));
}

}  // namespace
}  // namespace weir::http
