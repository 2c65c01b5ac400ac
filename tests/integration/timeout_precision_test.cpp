// Sub-second upstream timeouts fire when due and never early: a backend that
// answers in half the response timeout is always served, one that answers
// after it gets 504 no sooner than the timeout.
#include "harness.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace weir_it {
namespace {

// Answers after the number of milliseconds in the target ("/<pool>/<ms>").
void answer_after_target_delay(FakeUpstream& up) {
    up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        const std::string ms = r.target.substr(r.target.rfind('/') + 1);
        c.sleep_for(Millis(std::stoi(ms)));
        c.send(make_response(200, "ok"));
        return After::keep_alive;
    });
}

struct Case {
    int timeout_ms;
    int requests;
};
constexpr Case cases[] = {{50, 30}, {100, 60}, {250, 20}, {500, 10}};

ConfigSpec config_for(const FakeUpstream& up) {
    ConfigSpec c;
    c.workers = 1;
    for (const Case& k : cases) {
        const std::string name = "t" + std::to_string(k.timeout_ms);
        PoolSpec p;
        p.name = name;
        p.endpoints = {{up.address()}};
        p.response_timeout = std::to_string(k.timeout_ms) + "ms";
        c.pools.push_back(p);
        RouteSpec r;
        r.name = name;
        r.path_prefix = "/" + name + "/";
        r.split = {{name, 100}};
        c.routes.push_back(r);
    }
    return c;
}

TEST(TimeoutPrecisionTest, SubSecondResponseTimeoutsNeverExpireEarly) {
    FakeUpstream up("slow");
    answer_after_target_delay(up);
    WeirProcess weir(config_for(up).yaml());
    for (const Case& k : cases) {
        // Half the timeout: a deadline computed from a stale clock (up to
        // 100 ms old) expired half of these. A 504 that comes after the
        // timeout has passed is a slow machine, not an early expiry; one that
        // comes before it is the bug.
        const int delay = k.timeout_ms / 2;
        int early = 0, served = 0;
        auto client = std::make_unique<RawClient>(weir.port());
        for (int i = 0; i < k.requests; ++i) {
            const auto start = std::chrono::steady_clock::now();
            Response r = client->request(get_request("/t" + std::to_string(k.timeout_ms) + "/" + std::to_string(delay)));
            const auto took = std::chrono::steady_clock::now() - start;
            if (r.status == 200) ++served;
            else if (r.status == 504 && took < Millis(k.timeout_ms)) ++early;
            else ASSERT_EQ(r.status, 504) << r.describe();
            if (r.connection_close()) client = std::make_unique<RawClient>(weir.port());
        }
        EXPECT_EQ(early, 0) << "response_timeout " << k.timeout_ms << "ms, backend " << delay << "ms: " << early
                            << " of " << k.requests << " answered 504 before the timeout had passed";
        EXPECT_GE(served * 2, k.requests) << "response_timeout " << k.timeout_ms << "ms: only " << served << " of "
                                          << k.requests << " served";
    }
}

TEST(TimeoutPrecisionTest, SubSecondResponseTimeoutsStillFireAndNotBeforeTheirTime) {
    FakeUpstream up("slow");
    answer_after_target_delay(up);
    WeirProcess weir(config_for(up).yaml());
    for (const Case& k : cases) {
        const int delay = k.timeout_ms * 2 + 200;
        RawClient client(weir.port());
        const auto start = std::chrono::steady_clock::now();
        Response r = client.request(get_request("/t" + std::to_string(k.timeout_ms) + "/" + std::to_string(delay)));
        const auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start);
        EXPECT_EQ(r.status, 504) << r.describe();
        EXPECT_GE(took.count(), k.timeout_ms) << "a " << k.timeout_ms << "ms timeout fired early";
        // Generous: only says the timeout, not the backend, ended the wait.
        EXPECT_LT(took.count(), delay) << "a " << k.timeout_ms << "ms timeout did not fire";
    }
}

TEST(TimeoutPrecisionTest, TimeoutsBelowTheTimerGranularityAreRefused) {
    TempDir dir;
    const std::string path = dir.path + "/weir.yaml";
    write_file(path,
               "listeners: [{name: public, address: 127.0.0.1:0}]\n"
               "admin: {address: 127.0.0.1:0}\n"
               "pools:\n"
               "  - name: p\n"
               "    endpoints: [{address: 127.0.0.1:9}]\n"
               "    upstream: {response_timeout: 5ms}\n"
               "routes:\n"
               "  - {name: r, match: {host: \"*\", path_prefix: /}, split: {p: 100}}\n");
    CommandResult res = run_weir({"check", "-c", path});
    EXPECT_EQ(res.exit_code, 1);
    EXPECT_NE((res.out + res.err).find("weir.yaml:6:"), std::string::npos) << res.out << res.err;
    EXPECT_NE((res.out + res.err).find("must be at least 10ms"), std::string::npos) << res.out << res.err;
}

}  // namespace
}  // namespace weir_it
