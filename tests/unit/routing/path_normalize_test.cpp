// Route matching on normal paths and hosts (RFC 3986 §6.2.2): what the
// route choice sees, never what goes upstream.
#include "routing/path_normalize.hpp"
#include "routing/snapshot.hpp"

#include <gtest/gtest.h>

#include <string>

namespace weir::routing {
namespace {

std::string normal(std::string_view raw) {
    std::string scratch;
    return std::string(normalize_path(raw, scratch));
}

TEST(RoutingPathNormalize, NormalPathsAreUsedAsTheyAreWithoutACopy) {
    std::string scratch;
    for (std::string_view p : {"/", "/api/v1/users", "/a.b/c..d/.e/f.", "/a//b", "/file.tar.gz"}) {
        const std::string_view out = normalize_path(p, scratch);
        EXPECT_EQ(out, p);
        EXPECT_EQ(out.data(), p.data()) << p;
    }
}

TEST(RoutingPathNormalize, DotSegmentsAreRemoved) {
    EXPECT_EQ(normal("/public/../admin"), "/admin");
    EXPECT_EQ(normal("/public/../admin/"), "/admin/");
    EXPECT_EQ(normal("/a/./b"), "/a/b");
    EXPECT_EQ(normal("/a/b/.."), "/a/");
    EXPECT_EQ(normal("/a/b/."), "/a/b/");
    EXPECT_EQ(normal("/../../etc/passwd"), "/etc/passwd");
    EXPECT_EQ(normal("/a/b/c/./../../g"), "/a/g");  // RFC 3986 §5.2.4's example
    EXPECT_EQ(normal("/.."), "/");
    EXPECT_EQ(normal("/."), "/");
}

TEST(RoutingPathNormalize, UnreservedEscapesAreDecodedOthersKept) {
    EXPECT_EQ(normal("/%61dmin"), "/admin");
    EXPECT_EQ(normal("/%7Euser/%2D%2e%5F"), "/~user/-._");
    EXPECT_EQ(normal("/%2e%2e/admin"), "/admin") << "encoded dot-segments count as dot-segments";
    EXPECT_EQ(normal("/a%2fb"), "/a%2Fb") << "an encoded slash is not a slash; its hex is upper-cased";
    EXPECT_EQ(normal("/a%20b"), "/a%20b");
    EXPECT_EQ(normal("/bad%zzescape%"), "/bad%zzescape%") << "invalid escapes stay as they are";
    EXPECT_EQ(normal("/x%4"), "/x%4");
}

TEST(RoutingPathNormalize, HostsLoseTheirPortAndTrailingDot) {
    EXPECT_EQ(host_for_matching("example.com"), "example.com");
    EXPECT_EQ(host_for_matching("example.com."), "example.com");
    EXPECT_EQ(host_for_matching("Example.com.:8080"), "Example.com");
    EXPECT_EQ(host_for_matching("[::1]:8080"), "[::1]");
    EXPECT_EQ(host_for_matching("[::1]"), "[::1]");
    EXPECT_EQ(host_for_matching("."), ".");
}

TEST(RoutingPathNormalize, RoutesAreChosenOnTheNormalForm) {
    Snapshot s;
    Route admin;
    admin.name = "admin";
    admin.host = {HostMatch::Kind::exact, "example.com"};
    admin.path_prefix = "/admin";
    Route web;
    web.name = "web";
    web.path_prefix = "/";
    s.routes = {admin, web};
    const std::vector<http::Header> headers;
    const auto route_of = [&](std::string_view host, std::string_view path) {
        const Route* r = s.match(host, path, RequestView(headers, path));
        return r ? r->name : std::string("none");
    };
    EXPECT_EQ(route_of("example.com", "/admin/x"), "admin");
    EXPECT_EQ(route_of("example.com", "/public/../admin/x"), "admin");
    EXPECT_EQ(route_of("example.com", "/%61dmin/x"), "admin");
    EXPECT_EQ(route_of("example.com", "/%2e%2e/admin"), "admin");
    EXPECT_EQ(route_of("example.com.", "/admin"), "admin");
    EXPECT_EQ(route_of("EXAMPLE.com.:8080", "/admin"), "admin");
    EXPECT_EQ(route_of("example.com", "/admin/../public"), "web");
    EXPECT_EQ(route_of("other.com", "/admin"), "web");
}

}  // namespace
}  // namespace weir::routing
