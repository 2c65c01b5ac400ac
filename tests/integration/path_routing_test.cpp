// Routes are chosen on the normal form of the path and host (RFC 3986
// §6.2.2: dot-segments removed, unreserved escapes decoded, a trailing dot
// of the host dropped), so "/public/../admin" cannot slip past an "/admin"
// route; the request goes upstream exactly as the client sent it.
#include "fake_upstream.hpp"
#include "harness.hpp"
#include "raw_client.hpp"
#include "weir_process.hpp"

#include <gtest/gtest.h>

namespace weir_it {
namespace {

struct TwoRoutes {
    FakeUpstream admin{"admin"}, web{"web"};
    std::unique_ptr<WeirProcess> weir;
    TwoRoutes() {
        ConfigSpec c;
        c.pools = {PoolSpec{"admin", {{admin.address()}}}, PoolSpec{"web", {{web.address()}}}};
        c.routes = {RouteSpec{"admin", "example.com", "/admin", {{"admin", 1}}},
                    RouteSpec{"web", "*", "/", {{"web", 1}}}};
        weir = std::make_unique<WeirProcess>(c.yaml());
    }
    // The pool that answered (the fake upstream's body starts with its name)
    // and the target that upstream received.
    std::pair<std::string, std::string> send(const std::string& host, const std::string& target) {
        RawClient client(weir->port());
        const Response r = client.request("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
        if (r.status != 200) return {"status " + std::to_string(r.status), ""};
        const std::string pool = r.body.substr(0, r.body.find(' '));
        const auto& up = pool == "admin" ? admin : web;
        const auto reqs = up.requests();
        return {pool, reqs.empty() ? "" : reqs.back().target};
    }
};

TEST(PathRouting, DotSegmentsAndEscapesReachTheRouteTheyName) {
    TwoRoutes p;
    for (const std::string target : {"/admin/x", "/public/../admin/x", "/%61dmin/x", "/%2e%2e/admin/x", "/./admin/x"}) {
        const auto [pool, upstream_target] = p.send("example.com", target);
        EXPECT_EQ(pool, "admin") << target;
        EXPECT_EQ(upstream_target, target) << "the request goes upstream unchanged";
    }
    for (const std::string target : {"/admin/../public", "/adm%69n/../x", "/public/x"}) {
        EXPECT_EQ(p.send("example.com", target).first, "web") << target;
    }
}

TEST(PathRouting, AHostWithATrailingDotIsTheSameHost) {
    TwoRoutes p;
    EXPECT_EQ(p.send("example.com.", "/admin/x").first, "admin");
    EXPECT_EQ(p.send("EXAMPLE.com.:80", "/admin/x").first, "admin");
    EXPECT_EQ(p.send("other.example", "/admin/x").first, "web");
}

}  // namespace
}  // namespace weir_it
