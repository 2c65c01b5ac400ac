// A scripted rolling update (README "Rolling update") of a
// 3-endpoint pool under continuous load from two client threads. For each
// endpoint: drain, wait until GET /pools/{p} shows its in-flight count at 0
// (a slow request is in flight when the drain starts and must finish),
// stop it, start the new version on the same port, undrain, wait until
// healthy. Not one request may fail.
#include "health_support.hpp"

#include <future>
#include <iostream>

namespace weir_it::health {
namespace {

void keep_running(Millis d) {
    const auto until = Clock::now() + d;
    wait_for([&] { return Clock::now() >= until; }, d + 1s, 10ms);
}

TEST(HealthRolling, RollingUpdateOfAThreeEndpointPoolUnderLoadLosesNoRequest) {
    Backend b1("v1-a"), b2("v1-b"), b3("v1-c");
    Backend* backends[] = {&b1, &b2, &b3};
    const char* next_version[] = {"v2-a", "v2-b", "v2-c"};
    HealthConfig cfg;
    cfg.pools = {{"stable", {b1.address(), b2.address(), b3.address()}, check_spec("200ms", "150ms", 2, 2)}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();
    const auto port = weir.port();

    Load load(port, 2);
    ASSERT_TRUE(wait_for([&] { return b1.requests() > 20 && b2.requests() > 20 && b3.requests() > 20; }, 10s))
        << weir.log();

    std::vector<std::future<Response>> held;  // slow requests in flight across drains; all must succeed
    std::uint64_t holds_sent = 0;
    auto slow_received = [&] { return b1.slow_received() + b2.slow_received() + b3.slow_received(); };

    for (int i = 0; i < 3; ++i) {
        Backend& x = *backends[i];
        const std::string addr = x.address();
        SCOPED_TRACE("updating " + x.name() + " at " + addr);

        // A slow request in flight on x when the drain starts.
        for (int k = 0; k < 40 && x.slow_in_flight() == 0; ++k) {
            ++holds_sent;
            held.push_back(std::async(std::launch::async, [port] {
                RawClient c(port, 20s);
                return c.request(get_request("/hold?slow=1500"));
            }));
            ASSERT_TRUE(wait_for([&] { return slow_received() >= holds_sent; }, 5s)) << "a slow request got lost";
        }
        ASSERT_GT(x.slow_in_flight(), 0) << "could not place a slow request on " << addr;

        // 1. Drain: no new requests; the in-flight one finishes.
        Response r = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(addr) + "/drain");
        ASSERT_EQ(r.status, 200) << r.describe();
        auto pv = pool_view(parse_json(r.body));
        ASSERT_TRUE(pv && pv->find(addr)) << r.body;
        EXPECT_TRUE(pv->find(addr)->draining) << r.body;
        EXPECT_FALSE(pv->find(addr)->eligible) << r.body;
        auto e = get_endpoint(admin, "stable", addr);
        ASSERT_TRUE(e);
        EXPECT_GE(e->in_flight, 1u) << "the slow request in flight on the draining endpoint is not counted";

        // 2. Wait for in-flight 0.
        const auto drained_at = Clock::now();
        ASSERT_TRUE(wait_endpoint(admin, "stable", addr, [](const EndpointView& v) { return v.in_flight == 0; }, 10s))
            << weir.log();
        std::cout << "[ health ] " << addr << ": in-flight reached 0 " << ms_between(drained_at, Clock::now())
                  << " ms after the drain" << std::endl;
        const auto served = x.requests();
        keep_running(300ms);
        EXPECT_EQ(x.requests(), served) << "a draining endpoint with in-flight 0 received a new request";

        // 3. Stop it; its checks fail (it stays drained).
        x.stop();
        EXPECT_TRUE(wait_endpoint(admin, "stable", addr, [](const EndpointView& v) { return !v.healthy; }, 5s))
            << weir.log();
        e = get_endpoint(admin, "stable", addr);
        ASSERT_TRUE(e);
        EXPECT_TRUE(e->draining);

        // 4. Start the new version on the same port, undrain, wait until healthy.
        x.set_name(next_version[i]);
        x.start();
        ASSERT_EQ(x.address(), addr);
        r = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(addr) + "/undrain");
        ASSERT_EQ(r.status, 200) << r.describe();
        ASSERT_TRUE(wait_endpoint(admin, "stable", addr,
                                  [](const EndpointView& v) { return v.healthy && v.eligible && !v.draining; }, 5s))
            << weir.log();
        ASSERT_TRUE(wait_for([&] { return x.requests() > served + 20; }, 5s)) << "the new version gets no traffic";
    }

    load.stop();
    for (auto& f : held) {
        Response r = f.get();
        EXPECT_EQ(r.status, 200) << "a request in flight during a drain failed: " << r.describe();
    }
    const Tally all = tally(load.exchanges());
    std::cout << "[ health ] rolling update: " << all.text() << "; slow requests held across drains: " << held.size()
              << std::endl;
    EXPECT_EQ(all.failed, 0u) << all.text();
    for (const char* v : next_version) EXPECT_GT(all.by_backend.count(v), 0u) << v << " never served";

    // Afterwards only the new versions answer.
    RawClient c(port);
    for (int k = 0; k < 60; ++k) {
        Response r = c.request(get_request("/after"));
        ASSERT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.body.rfind("v2-", 0), 0u) << r.body;
    }
    const std::string m = metrics_text(admin);
    for (Backend* x : backends) {
        EXPECT_EQ(metric(m, "weir_endpoint_draining", {{"pool", "stable"}, {"endpoint", x->address()}}), 0.0) << m;
        EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "stable"}, {"endpoint", x->address()}}), 1.0) << m;
    }
}

TEST(HealthRolling, UndrainWaitsForAPassingCheckOfTheNewInstance) {
    // The contract: "`undrain` makes it eligible again once its health check
    // passes". An operator who restarts an instance quickly and undrains it
    // at once (before the checks noticed the restart) must not send traffic
    // to a new instance that is not ready yet: it fails its checks.
    Backend a("a"), b("b");
    HealthConfig cfg;
    // Slow to notice a failure (3 x 300ms), as with the defaults (3 x 2s).
    cfg.pools = {{"stable", {a.address(), b.address()}, check_spec("300ms", "200ms", 2, 3)}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();
    ASSERT_TRUE(wait_for([&] { return a.health_checks_passed() >= 1; }, 5s));

    const std::string addr = a.address();
    ASSERT_EQ(admin_call(admin, "POST", "/pools/stable/endpoints/" + addr + "/drain").status, 200);
    ASSERT_TRUE(wait_endpoint(admin, "stable", addr, [](const EndpointView& v) { return v.in_flight == 0; }, 5s));
    // The new instance starts, not ready: its checks and its requests fail.
    a.stop();
    a.set_name("a2");
    a.set_health_status(503);
    a.set_status(503);
    a.start();
    const auto a_requests = a.requests();
    const auto undrained_at = Clock::now();
    ASSERT_EQ(admin_call(admin, "POST", "/pools/stable/endpoints/" + addr + "/undrain").status, 200);

    std::map<int, int> statuses;
    RawClient client(weir.port());
    while (Clock::now() - undrained_at < 1500ms) {
        Response r = client.request(get_request("/after-undrain"));
        ASSERT_TRUE(r.complete) << r.describe();
        ++statuses[r.status];
    }
    std::string shown;
    for (const auto& [st, n] : statuses) shown += std::to_string(st) + "=" + std::to_string(n) + " ";
    EXPECT_EQ(a.requests(), a_requests) << "the not-ready instance got " << (a.requests() - a_requests)
                                        << " requests right after the undrain; client statuses: " << shown;
    EXPECT_EQ(statuses.count(503), 0u) << "clients got 503 from the not-ready instance: " << shown;
    auto e = get_endpoint(admin, "stable", addr);
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->eligible) << "failing its checks, it must not be eligible";

    // Ready: it comes back after passing checks.
    a.set_health_status(200);
    a.set_status(200);
    EXPECT_TRUE(wait_endpoint(admin, "stable", addr, [](const EndpointView& v) { return v.eligible; }, 5s));
    EXPECT_TRUE(wait_for([&] { return client.request(get_request("/ready-now")).body.rfind("a2 ", 0) == 0; }, 5s));
}

}  // namespace
}  // namespace weir_it::health
