// A whole pool down (docs/config.md, routes): with `on_pool_unhealthy: shift` its
// share moves to the other pool (no client error once the checks noticed),
// with `fail` its share is answered 503; either way it comes back when its
// endpoints are healthy again. When every pool of a route is down, Weir
// uses failing endpoints anyway (panic), never draining ones; with `fail`
// it answers 503.
#include "health_support.hpp"

#include <iostream>

namespace weir_it::health {
namespace {

void keep_running(Millis d) {
    const auto until = Clock::now() + d;
    wait_for([&] { return Clock::now() >= until; }, d + 1s, 10ms);
}

bool pool_available(std::uint16_t admin, const std::string& pool, bool want, Millis timeout) {
    return wait_for(
        [&] {
            auto p = get_pool(admin, pool);
            return p && p->available == want;
        },
        timeout, 5ms);
}

struct PoolDownRun {
    Tally down;  // after the proxy noticed, before the restart
    Tally back;  // after canary served again
    long long detection_ms = 0;
};

PoolDownRun whole_pool_down(const std::string& mode) {
    PoolDownRun out;
    Backend s1("stable"), s2("stable"), c1("canary"), c2("canary");
    HealthConfig cfg;
    cfg.on_pool_unhealthy = mode;
    cfg.pools = {{"stable", {s1.address(), s2.address()}, check_spec()},
                 {"canary", {c1.address(), c2.address()}, check_spec()}};
    cfg.split = {{"stable", 50}, {"canary", 50}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    Load load(weir.port(), 2);
    EXPECT_TRUE(wait_for([&] { return c1.requests() + c2.requests() > 50 && s1.requests() + s2.requests() > 50; }, 10s));

    const auto killed_at = Clock::now();
    c1.stop();
    c2.stop();
    EXPECT_TRUE(pool_available(admin, "canary", false, 5s)) << weir.log();
    const auto detected_at = Clock::now();
    out.detection_ms = ms_between(killed_at, detected_at);
    EXPECT_TRUE(get_pool(admin, "stable")->available);
    keep_running(1500ms);
    const auto restart_at = Clock::now();
    const auto before = c1.requests() + c2.requests();
    c1.start();
    c2.start();
    EXPECT_TRUE(pool_available(admin, "canary", true, 5s)) << weir.log();
    EXPECT_TRUE(wait_for([&] { return c1.requests() + c2.requests() > before + 50; }, 5s))
        << "the canary pool gets no traffic after it came back";
    const auto back_at = Clock::now();
    keep_running(1s);
    load.stop();
    const auto xs = load.exchanges();
    out.down = tally(xs, detected_at, restart_at);
    out.back = tally(xs, back_at);
    std::cout << "[ health ] " << mode << ": canary down detected in " << out.detection_ms
              << " ms; while down: " << out.down.summary() << "\n[ health ] " << mode
              << ": after it came back: " << out.back.summary() << std::endl;
    return out;
}

TEST(HealthPools, ShiftMovesADeadPoolsShareToTheOtherPool) {
    PoolDownRun r = whole_pool_down("shift");
    EXPECT_EQ(r.down.failed, 0u) << r.down.text();
    EXPECT_GT(r.down.total, 100u);
    EXPECT_EQ(r.down.by_backend.count("canary"), 0u);
    EXPECT_EQ(r.down.by_backend["stable"], r.down.total) << "the whole share went to stable";
    EXPECT_EQ(r.back.failed, 0u) << r.back.text();
    EXPECT_GT(r.back.by_backend["canary"], 0u) << r.back.text();
}

TEST(HealthPools, FailAnswers503ForADeadPoolsShare) {
    PoolDownRun r = whole_pool_down("fail");
    ASSERT_GT(r.down.total, 100u);
    const double share_503 = static_cast<double>(r.down.by_status[503]) / static_cast<double>(r.down.total);
    EXPECT_GT(share_503, 0.35) << r.down.text();
    EXPECT_LT(share_503, 0.65) << r.down.text();
    // Nothing else fails: the other half is served by stable.
    EXPECT_EQ(r.down.failed, r.down.by_status[503]) << r.down.text();
    EXPECT_EQ(r.down.by_backend.count("canary"), 0u);
    EXPECT_EQ(r.back.failed, 0u) << "503s after the pool came back: " << r.back.text();
    EXPECT_GT(r.back.by_backend["canary"], 0u) << r.back.text();
}

TEST(HealthPools, EveryPoolFailingItsChecksIsPanicModeButNeverUsesADrainedEndpoint) {
    // The checks fail everywhere, yet the backends answer requests: panic mode serves from them.
    Backend a("a"), b("b"), c("c");
    for (Backend* x : {&a, &b, &c}) x->set_health_status(500);
    HealthConfig cfg;
    cfg.pools = {{"stable", {a.address(), b.address()}, check_spec("100ms", "90ms", 1, 1)},
                 {"canary", {c.address()}, check_spec("100ms", "90ms", 1, 1)}};
    cfg.split = {{"stable", 50}, {"canary", 50}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();
    ASSERT_TRUE(pool_available(admin, "stable", false, 5s)) << weir.log();
    ASSERT_TRUE(pool_available(admin, "canary", false, 5s)) << weir.log();
    ASSERT_EQ(admin_call(admin, "POST", "/pools/stable/endpoints/" + a.address() + "/drain").status, 200);
    const auto a_before = a.requests();
    std::map<std::string, int> by;
    RawClient client(weir.port());
    for (int i = 0; i < 200; ++i) {
        Response r = client.request(get_request("/panic"));
        ASSERT_EQ(r.status, 200) << "panic mode should still serve: " << r.describe();
        ++by[r.body.substr(0, r.body.find(' '))];
    }
    EXPECT_EQ(a.requests(), a_before) << "panic mode sent requests to a draining endpoint";
    EXPECT_GT(by["b"], 40);
    EXPECT_GT(by["c"], 40);
}

TEST(HealthPools, EveryPoolDownWithFailAnswers503) {
    Backend a("a"), c("c");
    a.set_health_status(500);
    c.set_health_status(500);
    HealthConfig cfg;
    cfg.on_pool_unhealthy = "fail";
    cfg.pools = {{"stable", {a.address()}, check_spec("100ms", "90ms", 1, 1)},
                 {"canary", {c.address()}, check_spec("100ms", "90ms", 1, 1)}};
    cfg.split = {{"stable", 50}, {"canary", 50}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();
    ASSERT_TRUE(pool_available(admin, "stable", false, 5s)) << weir.log();
    ASSERT_TRUE(pool_available(admin, "canary", false, 5s)) << weir.log();
    for (int i = 0; i < 50; ++i) {
        Response r = fetch(weir.port(), "/x");
        EXPECT_EQ(r.status, 503) << r.describe();
    }
    EXPECT_EQ(a.requests() + c.requests(), 0u) << "fail mode must not send to failing endpoints";
    // Healthy again: served.
    a.set_health_status(200);
    ASSERT_TRUE(pool_available(admin, "stable", true, 5s));
    EXPECT_TRUE(wait_for([&] { return fetch(weir.port(), "/y").status == 200; }, 5s));
}

}  // namespace
}  // namespace weir_it::health
