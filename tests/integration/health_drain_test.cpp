// Draining: a drained endpoint gets no new requests, its idle
// upstream connections close, the drain is persisted in the state file and
// survives a restart, undrain brings it back; the /pools API shape and its
// errors; the endpoint metrics.
#include "health_support.hpp"

#include <signal.h>

namespace weir_it::health {
namespace {

// Requests on one keep-alive connection until both upstreams answered at
// least `n` times (so the proxy holds idle connections to both).
bool warm_both(std::uint16_t port, const FakeUpstream& a, const FakeUpstream& b, std::size_t n = 3) {
    RawClient c(port);
    return wait_for(
        [&] {
            Response r = c.request(get_request("/warm"));
            return r.status == 200 && a.complete_count() >= n && b.complete_count() >= n;
        },
        5s, 1ms);
}

std::map<std::string, int> sample(std::uint16_t port, int n) {
    std::map<std::string, int> out;
    RawClient c(port);
    for (int i = 0; i < n; ++i) {
        Response r = c.request(get_request("/s"));
        ++out[r.status == 200 ? r.body.substr(0, r.body.find(' ')) : "error " + std::to_string(r.status)];
    }
    return out;
}

std::string show(const std::map<std::string, int>& m) {
    std::string s;
    for (const auto& [k, v] : m) s += k + "=" + std::to_string(v) + " ";
    return s;
}

TEST(HealthDrain, DrainClosesIdleConnectionsAndPersistsAcrossARestart) {
    FakeUpstream a("a"), b("b");
    TempDir state_dir;
    HealthConfig cfg;
    cfg.workers = 1;  // one upstream connection pool: its idle connections are the ones we watch
    cfg.state_file = state_dir.path + "/weir.state.json";
    cfg.pools = {{"stable", {a.address(), b.address()}}};
    auto weir = std::make_unique<WeirProcess>(cfg.yaml());
    auto admin = weir->admin_port();

    ASSERT_TRUE(warm_both(weir->port(), a, b, 10)) << weir->log();
    // The proxy keeps an idle keep-alive connection to a (the client is gone,
    // nothing is in flight): still open a moment later.
    const auto until = Clock::now() + 300ms;
    wait_for([&] { return Clock::now() >= until; }, 1s, 10ms);
    const bool had_idle = a.open_connections() >= 1;
    EXPECT_TRUE(had_idle) << "the proxy keeps no idle upstream connection to a; connections to a: "
                          << a.connection_count() << " opened for " << a.complete_count() << " requests, "
                          << a.open_connections() << " open";
    const std::size_t a_conns = a.connection_count();
    EXPECT_LE(a_conns, 2u) << "a new upstream connection per request (" << a.complete_count()
                           << " requests): keep-alive upstream connections are not reused";

    Response r = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(a.address()) + "/drain");
    ASSERT_EQ(r.status, 200) << r.describe();
    auto pv = pool_view(parse_json(r.body));
    ASSERT_TRUE(pv && pv->find(a.address())) << r.body;
    EXPECT_TRUE(pv->find(a.address())->draining);
    EXPECT_FALSE(pv->find(a.address())->eligible);
    EXPECT_TRUE(pv->find(a.address())->healthy) << "draining is not unhealthy";
    EXPECT_TRUE(pv->available);

    // Its idle upstream connections are closed by the proxy.
    EXPECT_TRUE(a.wait_all_closed(3s)) << a.open_connections() << " connection(s) to the drained endpoint left open";
    if (had_idle) {
        EXPECT_EQ(a.connection_count(), a_conns) << "drain opened connections to a";
    }

    const auto before = a.request_count();
    auto s = sample(weir->port(), 40);
    EXPECT_EQ(s["b"], 40) << show(s);
    EXPECT_EQ(a.request_count(), before) << "a drained endpoint received a request";

    std::string m = metrics_text(admin);
    EXPECT_EQ(metric(m, "weir_endpoint_draining", {{"pool", "stable"}, {"endpoint", a.address()}}), 1.0) << m;
    EXPECT_EQ(metric(m, "weir_endpoint_draining", {{"pool", "stable"}, {"endpoint", b.address()}}), 0.0) << m;

    // Draining twice is fine; the state file names the drained endpoint.
    EXPECT_EQ(admin_call(admin, "POST", "/pools/stable/endpoints/" + a.address() + "/drain").status, 200)
        << "an unencoded host:port is accepted too";
    const std::string state = read_file(cfg.state_file);
    EXPECT_NE(state.find(a.address()), std::string::npos) << state;

    // Restart: still drained.
    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir = std::make_unique<WeirProcess>(cfg.yaml());
    admin = weir->admin_port();
    auto e = get_endpoint(admin, "stable", a.address());
    ASSERT_TRUE(e) << weir->log();
    EXPECT_TRUE(e->draining) << "the drain did not survive the restart";
    s = sample(weir->port(), 40);
    EXPECT_EQ(s["b"], 40) << show(s);
    EXPECT_EQ(a.request_count(), before);
    m = metrics_text(admin);
    EXPECT_EQ(metric(m, "weir_endpoint_draining", {{"pool", "stable"}, {"endpoint", a.address()}}), 1.0) << m;

    // Undrain: a serves again, and that too is persisted.
    r = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(a.address()) + "/undrain");
    ASSERT_EQ(r.status, 200) << r.describe();
    pv = pool_view(parse_json(r.body));
    ASSERT_TRUE(pv && pv->find(a.address())) << r.body;
    EXPECT_FALSE(pv->find(a.address())->draining);
    EXPECT_TRUE(pv->find(a.address())->eligible);
    RawClient c(weir->port());
    EXPECT_TRUE(wait_for([&] { return c.request(get_request("/u")).body.rfind("a ", 0) == 0; }, 5s));
    m = metrics_text(admin);
    EXPECT_EQ(metric(m, "weir_endpoint_draining", {{"pool", "stable"}, {"endpoint", a.address()}}), 0.0) << m;

    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir = std::make_unique<WeirProcess>(cfg.yaml());
    e = get_endpoint(weir->admin_port(), "stable", a.address());
    ASSERT_TRUE(e) << weir->log();
    EXPECT_FALSE(e->draining) << "the undrain did not survive the restart";
    EXPECT_TRUE(e->eligible);
}

TEST(HealthDrain, StickyUsersOfADrainedEndpointStayInTheirPool) {
    // Sticky keys pick the pool; draining one endpoint re-picks within the pool.
    FakeUpstream a("a"), b("b"), c("c");
    HealthConfig cfg;
    cfg.pools = {{"stable", {a.address(), b.address()}}, {"canary", {c.address()}}};
    cfg.split = {{"stable", 50}, {"canary", 50}};
    std::string yaml = cfg.yaml();
    yaml += "    sticky: {header: x-user}\n";
    WeirProcess weir(yaml);
    // Which pool each user is in before the drain.
    std::map<std::string, std::string> pool_of;
    RawClient client(weir.port());
    for (int u = 0; u < 60; ++u) {
        const std::string user = "user" + std::to_string(u);
        Response r = client.request(get_request("/", "X-User: " + user + "\r\n"));
        ASSERT_EQ(r.status, 200) << r.describe();
        pool_of[user] = r.body.rfind("c ", 0) == 0 ? "canary" : "stable";
    }
    ASSERT_EQ(admin_call(weir.admin_port(), "POST", "/pools/stable/endpoints/" + a.address() + "/drain").status, 200);
    const auto a_before = a.request_count();
    for (const auto& [user, pool] : pool_of) {
        Response r = client.request(get_request("/", "X-User: " + user + "\r\n"));
        ASSERT_EQ(r.status, 200) << r.describe();
        const std::string now = r.body.rfind("c ", 0) == 0 ? "canary" : "stable";
        EXPECT_EQ(now, pool) << user << " changed pool because an endpoint was drained";
        if (pool == "stable") EXPECT_EQ(r.body.rfind("b ", 0), 0u) << user << ": " << r.body;
    }
    EXPECT_EQ(a.request_count(), a_before);
}

TEST(HealthDrain, PoolsApiShapeAndErrors) {
    FakeUpstream a("a"), b("b");
    HealthConfig cfg;
    cfg.pools = {{"stable", {a.address(), b.address()}, check_spec("1s", "500ms", 2, 3),
                  "{consecutive_failures: 5, ejection_time: 30s}"},
                 {"canary", {b.address()}}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();
    {
        RawClient c(weir.port());
        for (int i = 0; i < 10; ++i) ASSERT_EQ(c.request(get_request("/x")).status, 200);
    }

    Response all = admin_call(admin, "GET", "/pools");
    ASSERT_EQ(all.status, 200) << all.describe();
    auto v = parse_json(all.body);
    ASSERT_TRUE(v.is_object()) << all.body;
    const auto* pools = v.as_object().if_contains("pools");
    ASSERT_TRUE(pools && pools->is_array()) << all.body;
    ASSERT_EQ(pools->as_array().size(), 2u) << all.body;
    auto stable = pool_view(pools->as_array()[0]);
    ASSERT_TRUE(stable) << "pool object lacks a field: " << all.body;
    EXPECT_EQ(stable->name, "stable");
    EXPECT_TRUE(stable->available);
    ASSERT_EQ(stable->endpoints.size(), 2u);
    std::uint64_t served = 0;
    for (const auto& e : stable->endpoints) {
        EXPECT_TRUE(e.healthy && e.eligible && !e.ejected && !e.draining) << all.body;
        EXPECT_EQ(e.weight, 1.0);
        EXPECT_EQ(e.in_flight, 0u);
        EXPECT_FALSE(e.ejected_for_ms) << "ejected_for_ms only when ejected";
        served += e.requests;
    }
    EXPECT_EQ(served, 10u) << "requests served, summed over workers\n" << all.body;
    // Every endpoint object carries last_check (empty before the first check, or its result).
    for (const auto& ev : pools->as_array()[0].as_object().at("endpoints").as_array())
        EXPECT_TRUE(ev.as_object().contains("last_check")) << all.body;

    auto one = get_pool(admin, "canary");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->name, "canary");
    ASSERT_EQ(one->endpoints.size(), 1u);
    EXPECT_EQ(one->endpoints[0].address, b.address());

    EXPECT_EQ(admin_call(admin, "GET", "/pools/nope").status, 404);
    Response bad = admin_call(admin, "POST", "/pools/stable/endpoints/127.0.0.1%3A1/drain");
    EXPECT_EQ(bad.status, 404) << bad.describe();
    EXPECT_TRUE(parse_json(bad.body).is_object()) << "errors are JSON: " << bad.body;
    EXPECT_EQ(admin_call(admin, "POST", "/pools/nope/endpoints/" + a.address() + "/drain").status, 404);
    EXPECT_EQ(admin_call(admin, "POST", "/pools/stable/endpoints/127.0.0.1%3A1/undrain").status, 404);
    EXPECT_EQ(admin_call(admin, "GET", "/pools/stable/endpoints/" + a.address() + "/drain").status, 405);
    EXPECT_EQ(admin_call(admin, "POST", "/pools").status, 405);
    EXPECT_EQ(admin_call(admin, "PUT", "/pools/stable/endpoints", "[]").status, 400);
    EXPECT_EQ(admin_call(admin, "PUT", "/pools/stable/endpoints", "[{\"address\": \"nope\"}]").status, 400);
    EXPECT_EQ(admin_call(admin, "PUT", "/pools/stable/endpoints", "{\"x\": 1}").status, 400);
    EXPECT_EQ(admin_call(admin, "PUT", "/pools/nope/endpoints", "[{\"address\": \"127.0.0.1:1\"}]").status, 404);
    // Undraining an endpoint that is not drained changes nothing.
    EXPECT_EQ(admin_call(admin, "POST", "/pools/stable/endpoints/" + a.address() + "/undrain").status, 200);

    // Both endpoint gauges exist for every endpoint of every pool.
    const std::string m = metrics_text(admin);
    for (const auto& [pool, ep] : {std::pair{std::string("stable"), a.address()}, std::pair{std::string("stable"), b.address()},
                                   std::pair{std::string("canary"), b.address()}}) {
        EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", pool}, {"endpoint", ep}}), 1.0) << pool << " " << ep << "\n" << m;
        EXPECT_EQ(metric(m, "weir_endpoint_draining", {{"pool", pool}, {"endpoint", ep}}), 0.0) << pool << " " << ep;
    }
}

TEST(HealthDrain, ConfigShowsHealthCheckAndOutlier) {
    // GET /config is the effective config (docs/admin-api.md): the pools' health_check and outlier are part of it.
    FakeUpstream a("a");
    HealthConfig cfg;
    cfg.pools = {{"stable", {a.address()}, check_spec("1s", "500ms", 2, 3, "/ready"),
                  "{consecutive_failures: 4, ejection_time: 10s}"}};
    WeirProcess weir(cfg.yaml());
    Response r = admin_call(weir.admin_port(), "GET", "/config");
    ASSERT_EQ(r.status, 200) << r.describe();
    auto v = parse_json(r.body);
    ASSERT_TRUE(v.is_object()) << r.body;
    const auto& pool = v.as_object().at("pools").as_array().at(0).as_object();
    EXPECT_TRUE(pool.contains("health_check")) << "GET /config drops the pool's health_check: " << r.body;
    EXPECT_TRUE(pool.contains("outlier")) << "GET /config drops the pool's outlier: " << r.body;
    EXPECT_NE(r.body.find("/ready"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace weir_it::health
