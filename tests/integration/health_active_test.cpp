// Active health checks end to end: a backend killed while clients
// run is taken out after the unhealthy threshold with no client error (GETs
// that hit it in the detection window are retried onto the healthy
// endpoint); restarted on the same port, it returns after the healthy
// threshold. An endpoint added at runtime gets no traffic until its first
// check passes.
#include "health_support.hpp"

#include <signal.h>

#include <iostream>

namespace weir_it::health {
namespace {

// Lets the load run for `d` more (measurement time, not synchronisation).
void keep_running(const Load& load, Millis d) {
    const auto until = Clock::now() + d;
    wait_for([&] { return Clock::now() >= until; }, d + 1s, 10ms);
    (void)load;
}

TEST(HealthActive, KilledBackendIsTakenOutWithoutClientErrorsAndReturnsAfterTheHealthyThreshold) {
    Backend a("a"), b("b");
    HealthConfig c;
    c.pools = {{"stable", {a.address(), b.address()}, check_spec("200ms", "150ms", 2, 2)}};
    WeirProcess weir(c.yaml());
    const auto admin = weir.admin_port();

    Load load(weir.port(), 2);
    ASSERT_TRUE(wait_for([&] { return a.requests() >= 50 && b.requests() >= 50; }, 10s))
        << "both endpoints should serve; a=" << a.requests() << " b=" << b.requests() << "\n"
        << weir.log();

    // Kill a: its listener and every connection go away at once.
    const auto killed_at = Clock::now();
    a.stop();
    ASSERT_TRUE(wait_endpoint(admin, "stable", a.address(), [](const EndpointView& e) { return !e.healthy; }, 5s))
        << "a is not reported unhealthy\n" << weir.log();
    const auto detected_at = Clock::now();
    const long long detection_ms = ms_between(killed_at, detected_at);
    // Two failed checks are needed, at least ~one interval apart (200ms -10%).
    EXPECT_GE(detection_ms, 150) << "flipped before the second failed check";
    EXPECT_LT(detection_ms, 2000);

    auto e = get_endpoint(admin, "stable", a.address());
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->eligible);
    EXPECT_FALSE(e->last_check.empty()) << "the last check result is shown";
    auto p = get_pool(admin, "stable");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->available) << "b still serves";

    keep_running(load, 1s);
    const std::string m = metrics_text(admin);
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "stable"}, {"endpoint", a.address()}}), 0.0) << m;
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "stable"}, {"endpoint", b.address()}}), 1.0) << m;
    const double connect_errors =
        metric(m, "weir_upstream_errors_total", {{"pool", "stable"}, {"endpoint", a.address()}, {"kind", "connect"}})
            .value_or(0);
    const double reset_errors =
        metric(m, "weir_upstream_errors_total", {{"pool", "stable"}, {"endpoint", a.address()}, {"kind", "reset"}})
            .value_or(0);

    // Restart a on the same port: back after healthy_threshold (2) passing checks.
    const auto passes_before = a.health_checks_passed();
    const auto requests_before = a.requests();
    a.start();
    const auto restarted_at = Clock::now();
    std::uint64_t passes_at_flip = 0;
    ASSERT_TRUE(wait_for(
        [&] {
            auto ep = get_endpoint(admin, "stable", a.address());
            // Read after the admin answer: checks are >= 180 ms apart, so no later one sneaks in.
            if (ep && ep->healthy) passes_at_flip = a.health_checks_passed();
            return ep && ep->healthy;
        },
        5s, 5ms))
        << "a did not return\n" << weir.log();
    const auto returned_at = Clock::now();
    EXPECT_GE(passes_at_flip - passes_before, 2u) << "healthy again before healthy_threshold passes";
    ASSERT_TRUE(wait_for([&] { return a.requests() > requests_before + 20; }, 5s)) << "traffic does not reach a again";
    load.stop();

    const auto xs = load.exchanges();
    const Tally before = tally(xs, Clock::time_point::min(), killed_at);
    const Tally window = tally(xs, killed_at, detected_at);
    const Tally after = tally(xs, detected_at, restarted_at);
    const Tally back = tally(xs, restarted_at);
    std::cout << "[ health ] kill -> unhealthy in " << detection_ms << " ms; detection window: " << window.text()
              << "\n[ health ] upstream errors recorded for the killed endpoint: connect=" << connect_errors
              << " reset=" << reset_errors << " (each retried when the client saw no failure)"
              << "\n[ health ] after detection: " << after.text() << "\n[ health ] after restart ("
              << ms_between(restarted_at, returned_at) << " ms to healthy): " << back.text() << std::endl;
    EXPECT_EQ(before.failed, 0u) << before.text();
    EXPECT_EQ(after.failed, 0u) << "client errors after the unhealthy threshold: " << after.text();
    EXPECT_EQ(after.by_backend.count("a"), 0u) << "a served while down?";
    // Idempotent GETs that hit a in the window are retried on b: no failure even there.
    EXPECT_EQ(window.failed, 0u) << "client errors in the detection window: " << window.text();
    EXPECT_GT(window.total, 0u);
    EXPECT_GT(connect_errors + reset_errors, 0.0)
        << "no failed attempt on the killed endpoint was recorded: the window did not test retries\n" << m;
    EXPECT_EQ(back.failed, 0u) << back.text();

    // Each flip is logged with its reason.
    const std::string log = weir.log();
    EXPECT_NE(log.find("endpoint " + a.address() + ": unhealthy"), std::string::npos) << log;
    EXPECT_NE(log.find("endpoint " + a.address() + ": healthy (status 200)"), std::string::npos) << log;
}

TEST(HealthActive, AnEndpointAddedAtRuntimeGetsNoTrafficUntilItsFirstCheckPasses) {
    TempDir state_dir;
    Backend a("a"), b("b");
    b.set_health_status(503);  // started, not ready yet
    HealthConfig c;
    c.state_file = state_dir.path + "/weir.state.json";
    // healthy_threshold 3: an added endpoint still needs a single pass.
    c.pools = {{"stable", {a.address()}, check_spec("200ms", "150ms", 3, 2)}};
    auto weir = std::make_unique<WeirProcess>(c.yaml());
    auto admin = weir->admin_port();

    Load load(weir->port(), 2);
    ASSERT_TRUE(load.wait_progress(50));
    const std::string body = "[{\"address\": \"" + a.address() + "\", \"weight\": 1}, {\"address\": \"" +
                             b.address() + "\", \"weight\": 1}]";
    Response put = admin_call(admin, "PUT", "/pools/stable/endpoints", body);
    ASSERT_EQ(put.status, 200) << put.describe();
    auto pv = pool_view(parse_json(put.body));
    ASSERT_TRUE(pv) << put.body;
    ASSERT_TRUE(pv->find(b.address())) << put.body;
    EXPECT_FALSE(pv->find(b.address())->healthy) << "an endpoint added at runtime begins unhealthy\n" << put.body;
    EXPECT_FALSE(pv->find(b.address())->eligible) << put.body;
    EXPECT_TRUE(pv->find(a.address())->healthy) << put.body;

    // Failing checks keep it out; no request reaches it.
    ASSERT_TRUE(wait_for([&] { return b.health_checks() >= 3; }, 5s)) << "b is not being checked\n" << weir->log();
    EXPECT_EQ(b.requests(), 0u) << "a not-ready endpoint received traffic";
    auto e = get_endpoint(admin, "stable", b.address());
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->healthy);
    EXPECT_EQ(e->last_check, "status 503");

    // Ready: the first passing check admits it (not healthy_threshold = 3 of them).
    b.set_health_status(200);
    std::uint64_t passes_at_flip = 0;
    ASSERT_TRUE(wait_for(
        [&] {
            auto ep = get_endpoint(admin, "stable", b.address());
            // Read after the admin answer: checks are >= 180 ms apart, so no later one sneaks in.
            if (ep && ep->healthy) passes_at_flip = b.health_checks_passed();
            return ep && ep->healthy;
        },
        5s, 5ms))
        << weir->log();
    EXPECT_EQ(passes_at_flip, 1u) << "a runtime-added endpoint is admitted by its first pass";
    ASSERT_TRUE(wait_for([&] { return b.requests() >= 20; }, 5s)) << "traffic does not reach b";
    load.stop();
    const Tally all = tally(load.exchanges());
    EXPECT_EQ(all.failed, 0u) << all.text();

    // The endpoint list is persisted: after a restart both endpoints are
    // there, and as endpoints present at start they begin healthy.
    const std::string state = read_file(c.state_file);
    EXPECT_NE(state.find(b.address()), std::string::npos) << state;
    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir = std::make_unique<WeirProcess>(c.yaml());
    admin = weir->admin_port();
    auto p = get_pool(admin, "stable");
    ASSERT_TRUE(p) << weir->log();
    ASSERT_EQ(p->endpoints.size(), 2u) << p->raw;
    ASSERT_TRUE(p->find(b.address())) << p->raw;
    EXPECT_TRUE(p->find(b.address())->healthy) << p->raw;
}

TEST(HealthActive, AnEndpointAddedByAReloadBeginsUnhealthy) {
    Backend a("a"), b("b");
    b.set_health_status(503);
    HealthConfig c;
    c.pools = {{"stable", {a.address()}, check_spec("200ms", "150ms", 3, 2)}};
    WeirProcess weir(c.yaml());
    const auto admin = weir.admin_port();
    c.pools[0].endpoints.push_back(b.address());
    write_file(weir.config_path(), c.yaml());
    Response r = admin_call(admin, "POST", "/reload");
    ASSERT_EQ(r.status, 200) << r.describe() << weir.log();
    auto e = get_endpoint(admin, "stable", b.address());
    ASSERT_TRUE(e) << weir.log();
    EXPECT_FALSE(e->healthy) << "an endpoint added by a reload begins unhealthy";
    {
        RawClient client(weir.port());
        for (int i = 0; i < 100; ++i) ASSERT_EQ(client.request(get_request("/r")).body.rfind("a ", 0), 0u);
    }
    EXPECT_EQ(b.requests(), 0u);
    b.set_health_status(200);
    EXPECT_TRUE(wait_endpoint(admin, "stable", b.address(), [](const EndpointView& v) { return v.eligible; }, 5s));
    EXPECT_EQ(b.health_checks_passed(), 1u) << "admitted by its first pass";
    // a, present since the start, was never taken out by the reload.
    e = get_endpoint(admin, "stable", a.address());
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->healthy);
}

TEST(HealthActive, ChecksUseThePathAndTheExpectedStatusRange) {
    // expect_status [200, 204]: a backend answering 301 to the check is failing.
    Backend a("a", "/deep/health"), b("b", "/deep/health");
    b.set_health_status(301);
    HealthConfig c;
    c.pools = {{"stable",
                {a.address(), b.address()},
                "{path: /deep/health, interval: 100ms, timeout: 90ms, healthy_threshold: 1, unhealthy_threshold: 1, "
                "expect_status: [200, 204]}"}};
    WeirProcess weir(c.yaml());
    ASSERT_TRUE(wait_endpoint(weir.admin_port(), "stable", b.address(), [](const EndpointView& e) { return !e.healthy; },
                              5s))
        << weir.log();
    EXPECT_TRUE(wait_for([&] { return a.health_checks() > 0; }, 2s)) << "checks do not use the configured path";
    auto e = get_endpoint(weir.admin_port(), "stable", b.address());
    ASSERT_TRUE(e);
    EXPECT_EQ(e->last_check, "status 301");
    b.set_health_status(204);
    EXPECT_TRUE(wait_endpoint(weir.admin_port(), "stable", b.address(), [](const EndpointView& e) { return e.healthy; },
                              5s));
    // No traffic was answered by b while it failed; afterwards it serves.
    const auto before = b.requests();
    RawClient client(weir.port());
    EXPECT_TRUE(wait_for([&] { return client.request(get_request("/x")).body.rfind("b ", 0) == 0; }, 5s));
    EXPECT_GT(b.requests(), before);
}

}  // namespace
}  // namespace weir_it::health
