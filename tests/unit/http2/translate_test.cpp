// HTTP/2 request heads as HTTP/1.1 requests, HTTP/1.1 response fields as
// HTTP/2 ones.
#include "http2/translate.hpp"

#include "http/serialize.hpp"

#include <gtest/gtest.h>

namespace weir::http2 {
namespace {

// The head as it goes upstream, forwarding fields and all.
std::string upstream_head(const RequestHeaders& req) {
    std::string cookie;
    http::RequestHead head;
    std::string_view why;
    EXPECT_TRUE(to_request_head(req, cookie, head, why)) << why;
    std::string out;
    http::serialize_request(out, head, http::ForwardedFor{.client_ip = "192.0.2.1", .proto = "https", .port = 443});
    return out;
}

TEST(Http2Translate, RequestHeadForHttp11) {
    RequestHeaders req;
    req.method = "GET";
    req.scheme = "https";
    req.authority = "example.com:8443";
    req.path = "/a?b=1";
    req.end_stream = true;
    req.headers = {{"cookie", "a=1"}, {"accept", "*/*"}, {"cookie", "b=2"}, {"host", "other"}, {"cookie", "c=3"}};
    std::string cookie;
    http::RequestHead head;
    std::string_view why;
    ASSERT_TRUE(to_request_head(req, cookie, head, why));
    EXPECT_EQ(head.method_id, http::Method::get);
    EXPECT_EQ(head.target, "/a?b=1");
    EXPECT_EQ(head.path, "/a");
    EXPECT_EQ(head.host, "example.com:8443");
    EXPECT_EQ(head.body, http::BodyKind::none);
    EXPECT_EQ(upstream_head(req),
              "GET /a?b=1 HTTP/1.1\r\n"
              "Host: example.com:8443\r\n"
              "cookie: a=1; b=2; c=3\r\n"
              "accept: */*\r\n"
              "X-Forwarded-For: 192.0.2.1\r\n"
              "Via: 1.1 weir\r\n"
              "X-Forwarded-Proto: https\r\n"
              "X-Forwarded-Host: example.com:8443\r\n"
              "X-Forwarded-Port: 443\r\n"
              "\r\n");
}

TEST(Http2Translate, BodyWithoutLengthIsChunked) {
    RequestHeaders req;
    req.method = "POST";
    req.authority = "a";
    req.path = "/";
    req.headers = {{"te", "trailers"}};
    std::string cookie;
    http::RequestHead head;
    std::string_view why;
    ASSERT_TRUE(to_request_head(req, cookie, head, why));
    EXPECT_EQ(head.body, http::BodyKind::chunked);
    EXPECT_NE(upstream_head(req).find("Transfer-Encoding: chunked\r\n"), std::string::npos);
    EXPECT_EQ(upstream_head(req).find("te:"), std::string::npos);  // hop-by-hop
    req.headers = {{"content-length", "3"}};
    ASSERT_TRUE(to_request_head(req, cookie, head, why));
    EXPECT_EQ(head.body, http::BodyKind::content_length);
    EXPECT_EQ(head.content_length, 3u);
    EXPECT_NE(upstream_head(req).find("content-length: 3\r\n"), std::string::npos);
    EXPECT_EQ(upstream_head(req).find("Transfer-Encoding"), std::string::npos);
}

TEST(Http2Translate, HostFieldKeptWithoutAuthority) {
    RequestHeaders req;
    req.method = "GET";
    req.path = "/";
    req.end_stream = true;
    req.headers = {{"host", "h.example"}};
    std::string cookie;
    http::RequestHead head;
    std::string_view why;
    ASSERT_TRUE(to_request_head(req, cookie, head, why));
    EXPECT_EQ(head.host, "h.example");
    EXPECT_EQ(upstream_head(req).rfind("GET / HTTP/1.1\r\nHost: h.example\r\n", 0), 0u);
}

TEST(Http2Translate, ConnectIsRefused) {
    RequestHeaders req;
    req.method = "CONNECT";
    req.authority = "db.internal:5432";
    std::string cookie;
    http::RequestHead head;
    std::string_view why;
    EXPECT_FALSE(to_request_head(req, cookie, head, why));
    EXPECT_FALSE(why.empty());
}

TEST(Http2Translate, ResponseFieldsDropConnectionSpecificOnes) {
    std::vector<http::Header> h1{{"Content-Type", "text/html"}, {"Connection", "close, X-Hop"},
                                 {"Keep-Alive", "timeout=5"},   {"Transfer-Encoding", "chunked"},
                                 {"Upgrade", "h2c"},            {"Proxy-Connection", "x"},
                                 {"TE", "trailers"},            {"X-Hop", "1", true},
                                 {"Set-Cookie", "a=1"},         {"Set-Cookie", "b=2"}};
    std::string storage;
    const auto h2 = response_fields_h2(h1, storage);
    ASSERT_EQ(h2.size(), 3u);
    EXPECT_EQ(h2[0].name, "content-type");
    EXPECT_EQ(h2[0].value, "text/html");
    EXPECT_EQ(h2[1].name, "set-cookie");
    EXPECT_EQ(h2[1].value, "a=1");
    EXPECT_EQ(h2[2].name, "set-cookie");
    EXPECT_EQ(h2[2].value, "b=2");
}

// A stream for an HTTP/2 upstream: the same forwarding fields an HTTP/1.1
// upstream gets, as HTTP/2 fields.
TEST(Http2Translate, HeadFieldsForAnHttp2Upstream) {
    RequestHeaders req{.method = "POST", .scheme = "https", .authority = "api.example", .path = "/svc/Call"};
    req.headers = {{"content-type", "application/grpc"}, {"te", "trailers"}, {"cookie", "a=1"},
                   {"cookie", "b=2"},                     {"grpc-timeout", "1S"}};
    std::string head = upstream_head(req);
    std::string_view authority;
    const std::vector<http::Header> fields = head_fields_h2(head, authority);
    EXPECT_EQ(authority, "api.example");
    auto value = [&](std::string_view name) -> std::string_view {
        for (const auto& f : fields)
            if (f.name == name) return f.value;
        return "(absent)";
    };
    for (const auto& f : fields) {
        for (char c : f.name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << f.name;  // HTTP/2 names are lower case
        EXPECT_NE(f.name, "host");
        EXPECT_NE(f.name, "te");                 // added back by the stream only as "trailers"
        EXPECT_NE(f.name, "transfer-encoding");  // the body was chunked for HTTP/1.1 only
    }
    EXPECT_EQ(value("content-type"), "application/grpc");
    EXPECT_EQ(value("cookie"), "a=1; b=2");
    EXPECT_EQ(value("grpc-timeout"), "1S");
    EXPECT_EQ(value("x-forwarded-for"), "192.0.2.1");
    EXPECT_EQ(value("x-forwarded-proto"), "https");
    EXPECT_EQ(value("x-forwarded-port"), "443");
    EXPECT_EQ(value("via"), "1.1 weir");
}

TEST(Http2Translate, HeadFieldsOfABrokenHeadAreEmpty) {
    std::string head = "GET / HTTP/1.1";
    std::string_view authority = "x";
    EXPECT_TRUE(head_fields_h2(head, authority).empty());
    EXPECT_TRUE(authority.empty());
}

}  // namespace
}  // namespace weir::http2
