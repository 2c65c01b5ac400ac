// Passive ejection end to end: `outlier: {consecutive_failures: 3,
// ejection_time: 1s}` in a pool of 3. An endpoint answering 503 (or
// resetting) is ejected, shown in GET /pools and the metrics, gets no
// traffic while ejected, comes back by itself after ~1 s (the next ejection
// doubles), and never more than half of the pool is out at once.
#include "health_support.hpp"

#include <algorithm>
#include <iostream>

namespace weir_it::health {
namespace {

const std::string kOutlier = "{consecutive_failures: 3, ejection_time: 1s}";

int count_ejected(const PoolView& p) {
    int n = 0;
    for (const auto& e : p.endpoints) n += e.ejected ? 1 : 0;
    return n;
}

TEST(HealthPassive, AnEndpointAnswering503IsEjectedAndComesBackAfterTheEjectionTime) {
    Backend a("a"), b("b"), c("c");
    c.set_status(503);
    HealthConfig cfg;
    cfg.pools = {{"stable", {a.address(), b.address(), c.address()}, "", kOutlier}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    // One client, one keep-alive connection: one worker sees every failure in order.
    RawClient client(weir.port());
    int answered_503 = 0;
    std::optional<EndpointView> ejected;
    const auto start = Clock::now();
    while (!ejected && Clock::now() - start < 10s) {
        Response r = client.request(get_request("/p"));
        ASSERT_TRUE(r.complete) << r.describe();
        if (r.status == 503) ++answered_503;
        auto e = get_endpoint(admin, "stable", c.address());
        ASSERT_TRUE(e);
        if (e->ejected) ejected = e;
    }
    const auto ejected_seen_at = Clock::now();
    ASSERT_TRUE(ejected) << "c was never ejected\n" << weir.log();
    std::cout << "[ health ] 503s the client saw before c was ejected: " << answered_503 << std::endl;
    EXPECT_GE(answered_503, 3) << "ejected before consecutive_failures";
    EXPECT_LE(answered_503, 4) << "not ejected at the third failure in a row";
    EXPECT_FALSE(ejected->eligible);
    EXPECT_TRUE(ejected->healthy) << "ejection is not a failed health check";
    ASSERT_TRUE(ejected->ejected_for_ms) << "ejected_for_ms missing";
    EXPECT_GT(*ejected->ejected_for_ms, 0);
    EXPECT_LE(*ejected->ejected_for_ms, 1000);

    const std::string m = metrics_text(admin);
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "stable"}, {"endpoint", c.address()}}), 0.0) << m;
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "stable"}, {"endpoint", a.address()}}), 1.0) << m;
    EXPECT_GE(metric(m, "weir_upstream_errors_total", {{"pool", "stable"}, {"endpoint", c.address()}, {"kind", "5xx"}})
                  .value_or(0),
              3.0)
        << m;

    // While ejected: nothing reaches c.
    const auto c_requests = c.requests();
    int served = 0;
    while (Clock::now() - ejected_seen_at < 500ms) {
        Response r = client.request(get_request("/while-ejected"));
        ASSERT_EQ(r.status, 200) << r.describe();
        ++served;
    }
    EXPECT_GT(served, 10);
    EXPECT_EQ(c.requests(), c_requests) << "an ejected endpoint received traffic";

    // Back by itself after ~1 s.
    ASSERT_TRUE(wait_endpoint(admin, "stable", c.address(), [](const EndpointView& e) { return !e.ejected; }, 5s))
        << weir.log();
    const auto back_at = Clock::now();
    const long long out_ms = ms_between(ejected_seen_at, back_at);
    std::cout << "[ health ] c was out for ~" << out_ms << " ms (ejection_time 1s)" << std::endl;
    EXPECT_GE(out_ms, 700);
    EXPECT_LE(out_ms, 2500);
    EXPECT_EQ(metric(metrics_text(admin), "weir_endpoint_healthy", {{"pool", "stable"}, {"endpoint", c.address()}}),
              1.0);

    // Still failing: ejected again, now for twice as long.
    int more_503 = 0;
    std::optional<EndpointView> again;
    const auto t = Clock::now();
    while (!again && Clock::now() - t < 10s) {
        Response r = client.request(get_request("/p2"));
        ASSERT_TRUE(r.complete) << r.describe();
        if (r.status == 503) ++more_503;
        auto e = get_endpoint(admin, "stable", c.address());
        ASSERT_TRUE(e);
        if (e->ejected) again = e;
    }
    ASSERT_TRUE(again) << weir.log();
    std::cout << "[ health ] 503s after the return before the second ejection: " << more_503 << std::endl;
    ASSERT_TRUE(again->ejected_for_ms);
    EXPECT_GT(*again->ejected_for_ms, 1000) << "the second ejection does not double";
    EXPECT_LE(*again->ejected_for_ms, 2000);
}

TEST(HealthPassive, AResettingEndpointIsEjectedWhileRetriesHideItFromClients) {
    Backend a("a"), b("b"), c("c");
    c.set_reset_requests(true);
    HealthConfig cfg;
    cfg.pools = {{"stable", {a.address(), b.address(), c.address()}, "", kOutlier}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    Load load(weir.port(), 2);
    ASSERT_TRUE(wait_endpoint(admin, "stable", c.address(), [](const EndpointView& e) { return e.ejected; }, 10s))
        << weir.log();
    // A request a worker sent to c just before it took the ejection may
    // still arrive there: let the exchanges in flight finish first.
    ASSERT_TRUE(load.wait_progress(20));
    const auto c_requests = c.requests();
    ASSERT_TRUE(load.wait_progress(200));
    EXPECT_EQ(c.requests(), c_requests) << "an ejected endpoint received traffic";
    load.stop();
    const Tally all = tally(load.exchanges());
    EXPECT_EQ(all.failed, 0u) << "GETs reset by c are retried on a or b: " << all.text();
    EXPECT_EQ(all.by_backend.count("c"), 0u);
    const std::string m = metrics_text(admin);
    EXPECT_GE(metric(m, "weir_upstream_errors_total", {{"pool", "stable"}, {"endpoint", c.address()}, {"kind", "reset"}})
                  .value_or(0),
              3.0)
        << m;
}

TEST(HealthPassive, NeverMoreThanHalfOfAPoolIsEjected) {
    // Two of three endpoints fail: one may be ejected at a time, the other keeps its share.
    Backend a("a"), b("b"), c("c");
    b.set_status(503);
    c.set_status(503);
    HealthConfig cfg;
    cfg.pools = {{"stable", {a.address(), b.address(), c.address()}, "", kOutlier}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    Load load(weir.port(), 2);
    int max_ejected = 0;
    int samples_with_one = 0;
    bool a_ejected = false;
    const auto start = Clock::now();
    while (Clock::now() - start < 3s) {
        auto p = get_pool(admin, "stable");
        ASSERT_TRUE(p);
        const int n = count_ejected(*p);
        max_ejected = std::max(max_ejected, n);
        samples_with_one += n == 1 ? 1 : 0;
        a_ejected = a_ejected || p->find(a.address())->ejected;
        EXPECT_TRUE(p->available);
        std::this_thread::sleep_for(10ms);  // sampling period
    }
    load.stop();
    EXPECT_EQ(max_ejected, 1) << "pool of 3: at most one endpoint ejected at once";
    EXPECT_GT(samples_with_one, 0) << "nothing was ever ejected\n" << weir.log();
    EXPECT_FALSE(a_ejected) << "the healthy endpoint was ejected";
    EXPECT_NE(weir.log().find("not ejected: half of the pool is already out"), std::string::npos) << weir.log();
}

TEST(HealthPassive, HalfOfAPoolOfFourMayBeEjectedButNotMore) {
    Backend a("a"), b("b"), c("c"), d("d");
    for (Backend* x : {&a, &b, &c, &d}) x->set_status(503);
    HealthConfig cfg;
    cfg.pools = {{"stable", {a.address(), b.address(), c.address(), d.address()}, "",
                  "{consecutive_failures: 2, ejection_time: 5s}"}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();
    Load load(weir.port(), 2);
    ASSERT_TRUE(wait_for(
        [&] {
            auto p = get_pool(admin, "stable");
            return p && count_ejected(*p) >= 2;
        },
        10s))
        << weir.log();
    ASSERT_TRUE(load.wait_progress(300));
    load.stop();
    auto p = get_pool(admin, "stable");
    ASSERT_TRUE(p);
    EXPECT_EQ(count_ejected(*p), 2) << p->raw;
    EXPECT_TRUE(p->available) << p->raw;
}

}  // namespace
}  // namespace weir_it::health
