// The admin API against web pages: a cross-site text/plain POST, a foreign
// Origin and (without a token) a foreign Host are refused with a JSON error
// and a log line, and change nothing; the same calls from a proper client
// succeed; the probes and /metrics answer whatever the Host.
#include "control_support.hpp"

namespace weir_it::control {
namespace {

namespace json = boost::json;

// One raw admin call on a fresh connection: exactly the header lines given
// (Host included), plus Content-Length for a body or a mutation.
Response raw_call(std::uint16_t port, const std::string& method, const std::string& path, const std::string& headers,
                  const std::string& body = "") {
    std::string req = method + " " + path + " HTTP/1.1\r\n" + headers + "Connection: close\r\n";
    if (!body.empty() || (method != "GET" && method != "HEAD"))
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    RawClient c(port, 15s);
    return c.request(req);
}

std::string local_host(std::uint16_t port) { return "Host: 127.0.0.1:" + std::to_string(port) + "\r\n"; }

bool is_json_error(const Response& r) {
    json::value v = parse_json(r.body);
    return v.is_object() && v.as_object().contains("error") && v.at("error").is_string();
}

// All of the route's traffic on one pool: stable 100, canary 0.
struct Guarded {
    FakeUpstream stable{"stable"}, canary{"canary"};
    TempDir state_dir;
    ControlConfig config = stateful_config(state_dir, stable.address(), canary.address(), {{"stable", 100}, {"canary", 0}});
};

constexpr const char* kSwitch = R"({"pool": "canary"})";

// The refused call left the route and the traffic on "stable".
void expect_unchanged(const WeirProcess& weir, const AdminClient& admin) {
    auto r = admin.route();
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.split, (SplitMap{{"stable", 100}, {"canary", 0}})) << r.raw;
    EXPECT_FALSE(r.override_) << r.raw;
    EXPECT_EQ(sample_pools(weir.port(), 10)["stable"], 10);
}

TEST(AdminGuard, CrossSiteTextPlainPostIsRefusedAndTheRouteStays) {
    Guarded g;
    WeirProcess weir(g.config.yaml());
    AdminClient admin(weir.admin_port());
    const auto port = weir.admin_port();

    // What a page's <form enctype=text/plain> or no-cors fetch sends.
    Response r = raw_call(port, "POST", "/routes/web/switch",
                          local_host(port) + "Content-Type: text/plain\r\nOrigin: https://evil.example\r\n", kSwitch);
    ASSERT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.status, 403) << r.describe();
    EXPECT_TRUE(is_json_error(r)) << r.body;
    EXPECT_TRUE(weir.wait_log("POST /routes/web/switch -> 403")) << weir.log();
    expect_unchanged(weir, admin);

    // The type alone is enough to refuse, also without an Origin.
    r = raw_call(port, "POST", "/routes/web/switch", local_host(port) + "Content-Type: text/plain\r\n", kSwitch);
    EXPECT_EQ(r.status, 415) << r.describe();
    EXPECT_TRUE(is_json_error(r)) << r.body;
    EXPECT_TRUE(weir.wait_log("POST /routes/web/switch -> 415")) << weir.log();
    expect_unchanged(weir, admin);

    // A body without any type, and a form encoding.
    r = raw_call(port, "POST", "/routes/web/switch", local_host(port), kSwitch);
    EXPECT_EQ(r.status, 415) << r.describe();
    r = raw_call(port, "PUT", "/routes/web/split",
                 local_host(port) + "Content-Type: application/x-www-form-urlencoded\r\n", R"({"canary": 100})");
    EXPECT_EQ(r.status, 415) << r.describe();
    EXPECT_TRUE(weir.wait_log("PUT /routes/web/split -> 415")) << weir.log();
    expect_unchanged(weir, admin);

    // A body-less call with a non-JSON type is refused as well.
    const std::string drain = "/pools/stable/endpoints/" + g.stable.address() + "/drain";
    r = raw_call(port, "POST", drain, local_host(port) + "Content-Type: text/plain\r\n");
    EXPECT_EQ(r.status, 415) << r.describe();
    json::value pool = parse_json(admin.get("/pools/stable").body);
    ASSERT_TRUE(pool.is_object()) << pool;
    EXPECT_EQ(pool.at("endpoints").at(0).at("draining"), json::value(false)) << pool;
}

TEST(AdminGuard, ForeignOriginIsRefusedEvenWithJson) {
    Guarded g;
    WeirProcess weir(g.config.yaml());
    AdminClient admin(weir.admin_port());
    const auto port = weir.admin_port();
    const std::string json_type = "Content-Type: application/json\r\n";

    for (const std::string& origin : std::vector<std::string>{"https://evil.example", "http://evil.example", "null",
                                     "http://localhost:" + std::to_string(port),  // another origin of the same host
                                     "http://127.0.0.1:" + std::to_string(port + 1)}) {
        SCOPED_TRACE(origin);
        Response r = raw_call(port, "POST", "/routes/web/switch", local_host(port) + json_type + "Origin: " + origin + "\r\n",
                              kSwitch);
        EXPECT_EQ(r.status, 403) << r.describe();
        EXPECT_TRUE(is_json_error(r)) << r.body;
        // Reads are refused too: a page must not learn the configuration.
        Response read = raw_call(port, "GET", "/config", local_host(port) + "Origin: " + origin + "\r\n");
        EXPECT_EQ(read.status, 403) << read.describe();
        EXPECT_TRUE(is_json_error(read)) << read.body;
    }
    EXPECT_TRUE(weir.wait_log("POST /routes/web/switch -> 403: cross-origin")) << weir.log();
    EXPECT_TRUE(weir.wait_log("GET /config -> 403: cross-origin")) << weir.log();
    expect_unchanged(weir, admin);
}

TEST(AdminGuard, ForeignHostIsRefusedWithoutAToken) {
    Guarded g;
    WeirProcess weir(g.config.yaml());
    AdminClient admin(weir.admin_port());
    const auto port = weir.admin_port();
    const std::string json_type = "Content-Type: application/json\r\n";

    // What a DNS-rebinding page sends: its own name, with or without the port, and same-origin.
    for (const std::string& host : std::vector<std::string>{"evil.example", "evil.example:" + std::to_string(port), "127.0.0.1.evil.example",
                                   "localhost.evil.example", "10.0.0.1"}) {
        SCOPED_TRACE(host);
        Response r = raw_call(port, "POST", "/routes/web/switch",
                              "Host: " + host + "\r\n" + json_type + "Origin: http://" + host + "\r\n", kSwitch);
        EXPECT_EQ(r.status, 403) << r.describe();
        EXPECT_TRUE(is_json_error(r)) << r.body;
        Response read = raw_call(port, "GET", "/routes", "Host: " + host + "\r\n");
        EXPECT_EQ(read.status, 403) << read.describe();
    }
    // No Host at all (HTTP/1.0) is no loopback name either.
    RawClient c(port, 15s);
    Response none = c.request("GET /config HTTP/1.0\r\n\r\n");
    EXPECT_EQ(none.status, 403) << none.describe();
    EXPECT_TRUE(weir.wait_log("POST /routes/web/switch -> 403: Host 'evil.example'")) << weir.log();
    EXPECT_TRUE(weir.wait_log("GET /routes -> 403: Host")) << weir.log();
    expect_unchanged(weir, admin);
}

TEST(AdminGuard, ProperCallsFromLoopbackSucceed) {
    Guarded g;
    WeirProcess weir(g.config.yaml());
    AdminClient admin(weir.admin_port());
    const auto port = weir.admin_port();
    const std::string p = std::to_string(port);

    // Every loopback spelling, JSON with parameters, and a same-origin Origin.
    struct Case {
        std::string headers;
        std::string pool;
    };
    const std::vector<Case> cases = {
        {"Host: 127.0.0.1:" + p + "\r\nContent-Type: application/json\r\n", "canary"},
        {"Host: localhost\r\nContent-Type: Application/JSON; charset=utf-8\r\n", "stable"},
        {"Host: [::1]:" + p + "\r\nContent-Type: application/json\r\nOrigin: http://[::1]:" + p + "\r\n", "canary"},
        {"Host: LOCALHOST:" + p + "\r\nContent-Type: application/json\r\nOrigin: http://localhost:" + p + "\r\n", "stable"},
        {"Host: 127.8.9.10\r\nContent-Type: application/json\r\n", "canary"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.headers);
        Response r = raw_call(port, "POST", "/routes/web/switch", c.headers, R"({"pool": ")" + c.pool + "\"}");
        ASSERT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(sample_pools(weir.port(), 10, c.pool)[c.pool], 10);
    }
    // A call without a body needs no type.
    const std::string drain = "/pools/stable/endpoints/" + g.stable.address() + "/drain";
    Response r = raw_call(port, "POST", drain, local_host(port));
    EXPECT_EQ(r.status, 200) << r.describe();
    r = raw_call(port, "POST", "/pools/stable/endpoints/" + g.stable.address() + "/undrain",
                 local_host(port) + "Content-Type: application/json\r\n");
    EXPECT_EQ(r.status, 200) << r.describe();
    // Reads with a loopback Host and no Origin, as curl sends them.
    r = raw_call(port, "GET", "/routes/web", "Host: localhost:" + p + "\r\n");
    EXPECT_EQ(r.status, 200) << r.describe();
}

TEST(AdminGuard, ProbesAndMetricsAnswerAnyHostAndOrigin) {
    Guarded g;
    WeirProcess weir(g.config.yaml());
    const auto port = weir.admin_port();
    const std::string foreign = "Host: evil.example\r\nOrigin: https://evil.example\r\n";
    Response m = raw_call(port, "GET", "/metrics", foreign);
    EXPECT_EQ(m.status, 200) << m.describe();
    EXPECT_NE(m.body.find("weir_"), std::string::npos) << m.body.substr(0, 500);
    EXPECT_EQ(raw_call(port, "GET", "/healthz", foreign).status, 200);
    EXPECT_EQ(raw_call(port, "GET", "/ready", foreign).status, 200);
    // Still only GET there.
    EXPECT_EQ(raw_call(port, "POST", "/metrics", foreign).status, 405);
}

TEST(AdminGuard, WithATokenTheHostIsFreeButOriginAndTypeStillCount) {
    Guarded g;
    TempDir secrets;
    const std::string token = "guard-t0ken-0123456789abcdef";
    write_file(secrets.path + "/admin.token", token + "\n");
    g.config.token_file = secrets.path + "/admin.token";
    WeirProcess weir(g.config.yaml());
    AdminClient admin(weir.admin_port(), token);
    const auto port = weir.admin_port();
    const std::string auth = "Authorization: Bearer " + token + "\r\n";

    // Off loopback the token is the guard: any Host is fine with it, none without it.
    Response r = raw_call(port, "GET", "/routes", "Host: weir.internal:9901\r\n" + auth);
    EXPECT_EQ(r.status, 200) << r.describe();
    r = raw_call(port, "GET", "/routes", "Host: weir.internal:9901\r\n");
    EXPECT_EQ(r.status, 401) << r.describe();

    r = raw_call(port, "POST", "/routes/web/switch",
                 "Host: weir.internal\r\n" + auth + "Content-Type: text/plain\r\n", kSwitch);
    EXPECT_EQ(r.status, 415) << r.describe();
    r = raw_call(port, "POST", "/routes/web/switch",
                 "Host: weir.internal\r\n" + auth + "Content-Type: application/json\r\nOrigin: https://evil.example\r\n",
                 kSwitch);
    EXPECT_EQ(r.status, 403) << r.describe();
    EXPECT_TRUE(is_json_error(r)) << r.body;
    expect_unchanged(weir, admin);

    r = raw_call(port, "POST", "/routes/web/switch",
                 "Host: weir.internal\r\n" + auth + "Content-Type: application/json\r\nOrigin: http://weir.internal\r\n",
                 kSwitch);
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(sample_pools(weir.port(), 10, "canary")["canary"], 10);
}

}  // namespace
}  // namespace weir_it::control
