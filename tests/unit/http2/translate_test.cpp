// HTTP/2 request heads as HTTP/1.1 requests, HTTP/1.1 response fields as
// HTTP/2 ones.
#include "http2/translate.hpp"

#include <gtest/gtest.h>

namespace weir::http2 {
namespace {

TEST(Http2Translate, RequestHeadForHttp11) {
    RequestHeaders req;
    req.method = "GET";
    req.scheme = "https";
    req.authority = "example.com:8443";
    req.path = "/a?b=1";
    req.end_stream = true;
    req.headers = {{"cookie", "a=1"}, {"accept", "*/*"}, {"cookie", "b=2"}, {"host", "other"}, {"cookie", "c=3"}};
    EXPECT_EQ(request_head_h1(req),
              "GET /a?b=1 HTTP/1.1\r\n"
              "host: example.com:8443\r\n"
              "cookie: a=1; b=2; c=3\r\n"
              "accept: */*\r\n"
              "\r\n");
}

TEST(Http2Translate, BodyWithoutLengthIsChunked) {
    RequestHeaders req;
    req.method = "POST";
    req.authority = "a";
    req.path = "/";
    req.headers = {{"te", "trailers"}};
    EXPECT_EQ(request_head_h1(req), "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n");
    req.headers = {{"content-length", "3"}};
    EXPECT_EQ(request_head_h1(req), "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n");
}

TEST(Http2Translate, HostFieldKeptWithoutAuthority) {
    RequestHeaders req;
    req.method = "GET";
    req.path = "/";
    req.end_stream = true;
    req.headers = {{"host", "h.example"}};
    EXPECT_EQ(request_head_h1(req), "GET / HTTP/1.1\r\nhost: h.example\r\n\r\n");
}

TEST(Http2Translate, ConnectUsesTheAuthority) {
    RequestHeaders req;
    req.method = "CONNECT";
    req.authority = "db.internal:5432";
    EXPECT_EQ(request_head_h1(req), "CONNECT db.internal:5432 HTTP/1.1\r\nhost: db.internal:5432\r\n\r\n");
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

}  // namespace
}  // namespace weir::http2
