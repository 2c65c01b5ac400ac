// A pooled connection the origin has dropped is retried on a fresh one (for
// requests that may be repeated) and is neither counted as an upstream error
// nor a reason to eject the endpoint; a real failure afterwards still is.
#include "control_support.hpp"
#include "health_support.hpp"
#include "rollout_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace weir_it {
namespace {

// The next request on each upstream connection finds that the origin has
// dropped it (a reset right as it is reused). "/fail" answers 500.
OneRequestPerConnection one_shot() {
    return OneRequestPerConnection(After::reset, [](const UpstreamRequest& req) {
        return req.target == "/fail" ? make_response(500, "origin failure") : make_response(200, "origin ok");
    });
}

TEST(StaleReuse, StalePooledConnectionIsRetriedWithoutCountingAnErrorOrEjecting) {
    using namespace health;
    OneRequestPerConnection a_conns = one_shot(), b_conns = one_shot();  // before the upstreams: their handlers use them
    FakeUpstream a("a"), b("b");
    a.set_handler(a_conns.handler());
    b.set_handler(b_conns.handler());
    // Two endpoints: the outlier detector never ejects more than half a pool.
    HealthConfig cfg;
    cfg.workers = 1;
    cfg.pools = {{"stable", {a.address(), b.address()}, "", "{consecutive_failures: 1, ejection_time: 30s}"}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    RawClient client(weir.port());
    constexpr int rounds = 20;
    for (int i = 0; i < rounds; ++i) {
        Response r = client.request(get_request("/r" + std::to_string(i)));
        ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.describe() << "\n" << weir.log();
        ASSERT_EQ(r.body, "origin ok");
    }
    // Small keyed POSTs are replayed on a fresh connection the same way.
    for (int i = 0; i < 6; ++i) {
        const std::string body = "small body " + std::to_string(i);
        Response r = client.request("POST /p" + std::to_string(i) +
                                    " HTTP/1.1\r\nHost: test.local\r\nIdempotency-Key: p" + std::to_string(i) +
                                    "\r\nContent-Length: " +
                                    std::to_string(body.size()) + "\r\n\r\n" + body);
        ASSERT_EQ(r.status, 200) << "POST " << i << ": " << r.describe() << "\n" << weir.log();
    }
    // Pooled connections were reused, and each reuse met a dropped connection.
    const std::size_t resets = a.requests().size() + b.requests().size() - static_cast<std::size_t>(rounds + 6);
    ASSERT_GE(resets, static_cast<std::size_t>(rounds / 2))
        << "the proxy did not reuse pooled connections (" << a.connection_count() << " + " << b.connection_count()
        << " connections for " << rounds << " requests)";

    // Not an ejection: both endpoints stay eligible (watched for 1.5 s; the
    // ejection decision is taken on the control thread).
    auto any_ejected = [&] {
        auto p = get_pool(admin, "stable");
        if (!p) return false;
        for (const auto& e : p->endpoints)
            if (e.ejected) return true;
        return false;
    };
    EXPECT_FALSE(wait_for(any_ejected, 1500ms, 50ms)) << "stale pooled connections ejected an endpoint\n"
                                                      << weir.log();

    // A real failure (a 500) afterwards is counted and ejects: failures are
    // reported in order, so once it shows, every earlier report has been seen.
    Response f = client.request(get_request("/fail"));
    ASSERT_EQ(f.status, 500) << f.describe();
    std::string m;
    auto count = [&](const std::string& endpoint, const std::string& kind) {
        return metric(m, "weir_upstream_errors_total", {{"pool", "stable"}, {"endpoint", endpoint}, {"kind", kind}})
            .value_or(0);
    };
    ASSERT_TRUE(wait_for(
        [&] {
            m = metrics_text(admin);
            return count(a.address(), "5xx") + count(b.address(), "5xx") >= 1;
        },
        5s, 20ms))
        << "the control failure was never counted:\n" << m;
    EXPECT_EQ(count(a.address(), "reset") + count(b.address(), "reset"), 0)
        << "stale pooled connections were counted as upstream resets\n" << m;
    EXPECT_TRUE(wait_for(any_ejected, 5s, 20ms))
        << "control: a counted failure ejects with consecutive_failures 1\n" << weir.log();
}

}  // namespace
}  // namespace weir_it
