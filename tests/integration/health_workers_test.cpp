// Passive ejection does not depend on the number of workers: consecutive
// failures are counted across all of them, so with 16 workers and requests
// spread over them (a fresh connection each), an endpoint answering 503 is
// ejected after `consecutive_failures` failures, not ~16 times as many.
#include "health_support.hpp"

#include <iostream>

namespace weir_it::health {
namespace {

TEST(HealthWorkers, DetectionNeedsTheConfiguredFailuresWhateverTheWorkerCount) {
    Backend good("good"), bad("bad");
    bad.set_status(503);
    HealthConfig cfg;
    cfg.workers = 16;
    cfg.pools = {{"stable", {good.address(), bad.address()}, "", "{consecutive_failures: 5, ejection_time: 30s}"}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    int answered_503 = 0, requests = 0;
    bool ejected = false;
    const auto start = Clock::now();
    while (!ejected && Clock::now() - start < 20s && requests < 2000) {
        Response r = fetch(weir.port(), "/p" + std::to_string(requests));  // a new connection: any worker
        ASSERT_TRUE(r.complete) << r.describe();
        ++requests;
        if (r.status == 503) ++answered_503;
        auto e = get_endpoint(admin, "stable", bad.address());
        ASSERT_TRUE(e);
        ejected = e->ejected;
    }
    ASSERT_TRUE(ejected) << "never ejected after " << answered_503 << " failures\n" << weir.log().substr(0, 3000);
    std::cout << "[ health ] 16 workers: 503s before the ejection: " << answered_503 << " of " << requests
              << " requests" << std::endl;
    EXPECT_GE(answered_503, 5);
    // The ejection is published asynchronously: a request or two may still
    // land there, but not the ~40 that per-worker counting needed.
    EXPECT_LE(answered_503, 7);
}

}  // namespace
}  // namespace weir_it::health
