#include "admin/guard.hpp"

#include <gtest/gtest.h>

namespace weir::admin {
namespace {

TEST(AdminGuardRules, LoopbackHosts) {
    for (const char* h : {"localhost", "LocalHost:9901", "127.0.0.1", "127.0.0.1:9901", "127.255.3.4:1", "[::1]",
                          "[::1]:9901", "[0:0:0:0:0:0:0:1]:80", "[::ffff:127.0.0.1]:9901", " 127.0.0.1 "}) {
        EXPECT_TRUE(is_loopback_host(h)) << h;
    }
    for (const char* h : {"", "evil.example", "evil.example:9901", "localhost.evil.example", "127.0.0.1.nip.io",
                          "128.0.0.1", "10.0.0.1:9901", "0.0.0.0", "::1", "[::2]", "[::1", "[::1]9901",
                          "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:80x", "127.1", "localhost:9901:1", "[::ffff:10.0.0.1]"}) {
        EXPECT_FALSE(is_loopback_host(h)) << h;
    }
}

TEST(AdminGuardRules, SameOrigin) {
    EXPECT_TRUE(is_same_origin("http://127.0.0.1:9901", "127.0.0.1:9901"));
    EXPECT_TRUE(is_same_origin("HTTP://LOCALHOST:9901", "localhost:9901"));
    EXPECT_TRUE(is_same_origin("http://localhost", "localhost:80"));
    EXPECT_TRUE(is_same_origin("http://[::1]:9901", "[::1]:9901"));
    EXPECT_FALSE(is_same_origin("https://127.0.0.1:9901", "127.0.0.1:9901"));  // the admin speaks http
    EXPECT_FALSE(is_same_origin("http://localhost:9901", "127.0.0.1:9901"));
    EXPECT_FALSE(is_same_origin("http://127.0.0.1:9902", "127.0.0.1:9901"));
    EXPECT_FALSE(is_same_origin("http://127.0.0.1", "127.0.0.1:9901"));
    EXPECT_FALSE(is_same_origin("null", "127.0.0.1:9901"));
    EXPECT_FALSE(is_same_origin("http://", "127.0.0.1:9901"));
    EXPECT_FALSE(is_same_origin("http://127.0.0.1:9901/", "127.0.0.1:9901"));
    EXPECT_FALSE(is_same_origin("http://evil@127.0.0.1:9901", "127.0.0.1:9901"));
    EXPECT_FALSE(is_same_origin("http://evil.example", "evil.example:9901"));
}

TEST(AdminGuardRules, JsonMediaType) {
    EXPECT_TRUE(is_json_media_type("application/json"));
    EXPECT_TRUE(is_json_media_type("Application/JSON; charset=utf-8"));
    EXPECT_TRUE(is_json_media_type(" application/json ;charset=UTF-8"));
    EXPECT_FALSE(is_json_media_type("text/plain"));
    EXPECT_FALSE(is_json_media_type("application/jsonp"));
    EXPECT_FALSE(is_json_media_type("application/x-www-form-urlencoded"));
    EXPECT_FALSE(is_json_media_type("multipart/form-data; boundary=application/json"));
    EXPECT_FALSE(is_json_media_type(""));
}

AdminRequest request(std::string method, std::map<std::string, std::string> headers, std::string body = "") {
    AdminRequest r;
    r.method = std::move(method);
    r.path = "/routes/web/switch";
    r.headers = std::move(headers);
    r.body = std::move(body);
    return r;
}

TEST(AdminGuardRules, OrderAndStatuses) {
    const std::string body = R"({"pool": "canary"})";
    EXPECT_FALSE(browser_guard(request("POST", {{"host", "127.0.0.1:9901"}, {"content-type", "application/json"}}, body), false));
    EXPECT_FALSE(browser_guard(request("POST", {{"host", "127.0.0.1:9901"}}), false));  // no body, no type
    EXPECT_FALSE(browser_guard(request("GET", {{"host", "localhost"}}), false));
    // Without a token the Host decides first.
    auto r = browser_guard(request("GET", {{"host", "evil.example"}}), false);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    r = browser_guard(request("GET", {}), false);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    // With a token any Host passes (the token is checked after the guard).
    EXPECT_FALSE(browser_guard(request("GET", {{"host", "evil.example"}}), true));
    r = browser_guard(request("GET", {{"host", "localhost:1"}, {"origin", "https://evil.example"}}), true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    r = browser_guard(request("POST", {{"host", "localhost:1"}, {"content-type", "text/plain"}}, body), false);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415);
    r = browser_guard(request("POST", {{"host", "localhost:1"}}, body), false);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415);
    r = browser_guard(request("DELETE", {{"host", "localhost:1"}, {"content-type", "text/plain"}}), false);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415);
}

}  // namespace
}  // namespace weir::admin
