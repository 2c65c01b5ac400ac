// Not-ready during a SIGTERM drain: as soon as SIGTERM arrives,
// GET /ready answers 503 so an outer balancer takes Weir out, while the
// admin API keeps answering and an in-flight slow request still finishes.
#include "health_support.hpp"

#include <signal.h>

namespace weir_it::health {
namespace {

TEST(HealthLifecycle, ReadyIs503DuringASigtermDrainWhileASlowRequestIsInFlight) {
    FakeUpstream up("stable");
    up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.target == "/slow" && !c.sleep_for(2500ms)) return After::close;
        c.send(make_response(200, "done " + r.target));
        return After::keep_alive;
    });
    HealthConfig cfg;
    cfg.drain_timeout = "10s";
    cfg.pools = {{"stable", {up.address()}}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    Response ready = admin_call(admin, "GET", "/ready");
    ASSERT_EQ(ready.status, 200) << ready.describe();

    RawClient slow(weir.port(), 15s);
    ASSERT_TRUE(slow.send(get_request("/slow")));
    ASSERT_TRUE(up.wait_requests(1));
    const auto sent_at = Clock::now();
    weir.signal(SIGTERM);

    // Not ready right away, while the slow response is still on its way.
    std::optional<Response> not_ready;
    EXPECT_TRUE(wait_for(
        [&] {
            Response r = admin_call(admin, "GET", "/ready");
            if (r.status == 503) not_ready = r;
            return r.status == 503;
        },
        1500ms, 10ms))
        << "GET /ready does not answer 503 during the drain\n" << weir.log();
    EXPECT_LT(Clock::now() - sent_at, 2000ms) << "not-ready came only after the in-flight request";
    if (not_ready) {
        EXPECT_TRUE(parse_json(not_ready->body).is_object()) << not_ready->body;
    }
    EXPECT_TRUE(weir.running()) << "exited before the in-flight request finished";
    EXPECT_EQ(admin_call(admin, "GET", "/healthz").status, 200) << "liveness stays 200 while draining";

    Response r = slow.read_response();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.body, "done /slow");
    EXPECT_EQ(weir.wait_exit(10s), std::optional<int>(0)) << weir.log();
}

}  // namespace
}  // namespace weir_it::health
