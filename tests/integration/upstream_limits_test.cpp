// Upstream limits are settings: response heads beyond max_response_headers /
// max_response_header_bytes are a 502 of their own kind (never an ejection),
// raising the limits lets them through, and idle upstream connections are
// closed after upstream.idle_timeout.
#include "harness.hpp"

#include <chrono>
#include <string>

namespace weir_it {
namespace {

std::string pool_yaml(const std::string& a, const std::string& b, const std::string& upstream) {
    return "workers: 1\n"
           "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n"
           "admin: {address: \"127.0.0.1:0\"}\n"
           "pools:\n"
           "  - name: stable\n"
           "    endpoints: [{address: \"" + a + "\"}" + (b.empty() ? "" : ", {address: \"" + b + "\"}") + "]\n" +
           (upstream.empty() ? "" : "    upstream: {" + upstream + "}\n") +
           "    outlier: {consecutive_failures: 1, ejection_time: 30s}\n"
           "routes:\n"
           "  - {name: web, match: {host: \"*\", path_prefix: /}, split: {stable: 100}}\n";
}

// Answers 200 with `n` Set-Cookie fields of `value_len` bytes each.
void many_cookies(FakeUpstream& up, int n, std::size_t value_len) {
    up.set_handler([n, value_len](UpstreamConn& c, const UpstreamRequest&) {
        std::string extra;
        for (int i = 0; i < n; ++i) extra += "Set-Cookie: c" + std::to_string(i) + "=" + std::string(value_len, 'v') + "\r\n";
        c.send(make_response(200, "ok", extra));
        return After::keep_alive;
    });
}

bool any_ejected(std::uint16_t admin_port) {
    auto v = parse_json(admin_request(admin_port, "GET", "/pools/stable").body);
    for (const auto& e : v.as_object().at("endpoints").as_array())
        if (e.as_object().at("ejected").as_bool()) return true;
    return false;
}

TEST(UpstreamLimitsTest, TooManyResponseFieldsAre502OfTheirOwnKindAndNeverEject) {
    FakeUpstream a("a"), b("b");
    many_cookies(a, 200, 20);
    many_cookies(b, 200, 20);
    WeirProcess weir(pool_yaml(a.address(), b.address(), ""));
    for (int i = 0; i < 10; ++i) {
        Response r = fetch(weir.port(), "/x" + std::to_string(i));
        EXPECT_EQ(r.status, 502) << r.describe();
    }
    const std::string m = admin_request(weir.admin_port(), "GET", "/metrics").body;
    double too_large = 0;
    for (const auto* up : {&a, &b}) {
        too_large += metric_value(m, "weir_upstream_errors_total",
                                  {{"pool", "stable"}, {"endpoint", up->address()}, {"kind", "response_too_large"}})
                         .value_or(0);
        EXPECT_FALSE(metric_value(m, "weir_upstream_errors_total",
                                  {{"pool", "stable"}, {"endpoint", up->address()}, {"kind", "invalid_response"}})
                         .has_value());
    }
    EXPECT_EQ(too_large, 10.0) << m.substr(0, 3000);
    EXPECT_FALSE(any_ejected(weir.admin_port())) << "a settings mismatch ejected an endpoint";
    EXPECT_TRUE(weir.wait_log("max_response_headers"));
}

TEST(UpstreamLimitsTest, RaisedLimitsLetManyFieldsAndLargeHeadsThrough) {
    FakeUpstream a("a");
    many_cookies(a, 400, 200);  // 400 fields, ~86 KiB
    {
        WeirProcess weir(pool_yaml(a.address(), "", "max_response_headers: 512, max_response_header_bytes: 131072"));
        Response r = fetch(weir.port(), "/big");
        ASSERT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.headers.count("set-cookie"), 400);
    }
    {
        // The count is within its limit, the bytes are not.
        WeirProcess weir(pool_yaml(a.address(), "", "max_response_headers: 512, max_response_header_bytes: 65536"));
        EXPECT_EQ(fetch(weir.port(), "/big").status, 502);
    }
}

TEST(UpstreamLimitsTest, IdleUpstreamConnectionsCloseAfterTheIdleTimeout) {
    FakeUpstream a("a");
    WeirProcess weir(pool_yaml(a.address(), "", "idle_timeout: 300ms"));
    RawClient client(weir.port());
    // The connection turns idle after the request was sent: timing from the
    // send, a close before 300 ms can only be an early one.
    const auto sent = std::chrono::steady_clock::now();
    ASSERT_EQ(client.request(get_request("/one")).status, 200);
    ASSERT_EQ(a.requests().size(), 1u);
    const int conn = a.requests()[0].conn_id;
    ASSERT_TRUE(a.wait_connection_closed(conn, 10s)) << "the idle upstream connection was kept";
    EXPECT_GE(std::chrono::steady_clock::now() - sent, 300ms) << "closed before its idle timeout";
}

}  // namespace
}  // namespace weir_it
