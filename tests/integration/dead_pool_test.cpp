// A pool that dies costs clients nothing: requests whose connection is
// refused (or that got nothing back and may be repeated) move to another
// endpoint and then to another pool of the route, as on_pool_unhealthy:
// shift would choose; the failures still count against the dead endpoint;
// and a pool whose endpoints all refuse connections is unavailable at once.
#include "harness.hpp"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace weir_it {
namespace {

// Keep-alive GET load from several threads, counting answers by outcome.
class Load {
public:
    Load(std::uint16_t port, int threads) {
        for (int t = 0; t < threads; ++t) {
            threads_.emplace_back([this, port, t] {
                auto client = std::make_unique<RawClient>(port, 5s);
                for (int i = 0; !stop_.load(); ++i) {
                    Response r = client->request(get_request("/t" + std::to_string(t) + "/" + std::to_string(i)));
                    if (r.status == 200) ++ok_;
                    else ++failed_;
                    if (!r.complete || r.connection_close()) client = std::make_unique<RawClient>(port, 5s);
                }
            });
        }
    }
    ~Load() { stop(); }
    void stop() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    std::uint64_t ok() const { return ok_.load(); }
    std::uint64_t failed() const { return failed_.load(); }
    std::uint64_t total() const { return ok() + failed(); }
    bool wait_total(std::uint64_t n, Millis timeout = 30s) const {
        return wait_for([&] { return total() >= n; }, timeout);
    }

private:
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> ok_{0}, failed_{0};
    std::vector<std::thread> threads_;
};

ConfigSpec split_config(const std::string& stable, const std::string& canary) {
    ConfigSpec c;
    c.workers = 2;
    c.pools.push_back(PoolSpec{"stable", {{stable, 1}}});
    c.pools.push_back(PoolSpec{"canary", {{canary, 1}}});
    RouteSpec r;
    r.split = {{"stable", 90}, {"canary", 10}};
    c.routes.push_back(r);
    return c;
}

std::optional<bool> pool_available(std::uint16_t admin_port, const std::string& pool) {
    Response r = admin_request(admin_port, "GET", "/pools/" + pool);
    if (r.status != 200) return std::nullopt;
    auto v = parse_json(r.body);
    if (!v.is_object() || !v.as_object().contains("available")) return std::nullopt;
    return v.as_object().at("available").as_bool();
}

TEST(DeadPoolTest, TheCanarysOnlyEndpointDyingUnderLoadFailsNoClient) {
    FakeUpstream stable("stable");
    auto canary = std::make_unique<FakeUpstream>("canary");
    const std::string canary_address = canary->address();
    WeirProcess weir(split_config(stable.address(), canary_address).yaml());

    Load load(weir.port(), 4);
    ASSERT_TRUE(load.wait_total(400)) << load.total();
    ASSERT_TRUE(canary->wait_requests(10, 10s)) << "the canary got no traffic";
    ASSERT_EQ(load.failed(), 0u);

    canary.reset();  // closes its connections and its listening socket: connects are refused from now on
    const std::uint64_t at_kill = load.total();
    ASSERT_TRUE(load.wait_total(at_kill + 3000, 60s)) << load.total();
    load.stop();
    // The goal is none; a response cut off mid-body as the backend died
    // cannot be repaired, so a handful is tolerated.
    EXPECT_LE(load.failed(), 5u) << "of " << load.total() - at_kill << " requests after the canary died\n"
                                 << weir.log().substr(0, 4000);

    // The canary is unavailable (its endpoint refuses), and what it did still counts against it.
    EXPECT_TRUE(wait_for([&] { return pool_available(weir.admin_port(), "canary") == false; }, 10s));
    const std::string metrics = admin_request(weir.admin_port(), "GET", "/metrics").body;
    auto connect_errors = metric_value(metrics, "weir_upstream_errors_total",
                                       {{"pool", "canary"}, {"endpoint", canary_address}, {"kind", "connect"}});
    ASSERT_TRUE(connect_errors.has_value()) << metrics.substr(0, 3000);
    EXPECT_GE(*connect_errors, 1.0);
    auto failovers = metric_value(metrics, "weir_failovers_total");
    ASSERT_TRUE(failovers.has_value());
    EXPECT_GE(*failovers, 1.0);
}

TEST(DeadPoolTest, APoolWhoseEndpointsAllRefuseIsUnavailableAtOnceWhateverTheEjectionCap) {
    FakeUpstream stable("stable");
    TempDir dir;
    const std::string path = dir.path + "/weir.yaml";
    const std::string refusing = "[{address: \"127.0.0.1:" + std::to_string(closed_port()) +
                                 "\"}, {address: \"127.0.0.1:" + std::to_string(closed_port()) +
                                 "\"}, {address: \"127.0.0.1:" + std::to_string(closed_port()) + "\"}]";
    const std::string yaml = "workers: 2\n"
                             "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n"
                             "admin: {address: \"127.0.0.1:0\"}\n"
                             "pools:\n"
                             "  - {name: stable, endpoints: [{address: \"" + stable.address() + "\"}]}\n"
                             "  - name: canary\n"
                             "    endpoints: " + refusing + "\n"
                             "    outlier: {consecutive_failures: 1000, ejection_time: 30s}\n"
                             "routes:\n"
                             "  - {name: web, match: {host: \"*\", path_prefix: /}, split: {stable: 50, canary: 50}}\n";
    WeirProcess weir(yaml);
    for (int i = 0; i < 40; ++i) {
        Response r = fetch(weir.port(), "/r" + std::to_string(i));
        ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.describe();
    }
    EXPECT_TRUE(wait_for([&] { return pool_available(weir.admin_port(), "canary") == false; }, 10s))
        << weir.log().substr(0, 3000);
    EXPECT_EQ(stable.request_count(), 40u);
}

// Rules pin a request to a pool; when that pool is dead, the route's
// on_pool_unhealthy decides: shift serves it elsewhere, fail answers it.
std::string pinned_yaml(const std::string& stable, const std::string& dead, const std::string& policy) {
    return "workers: 1\n"
           "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n"
           "admin: {address: \"127.0.0.1:0\"}\n"
           "pools:\n"
           "  - {name: stable, endpoints: [{address: \"" + stable + "\"}]}\n"
           "  - {name: canary, endpoints: [{address: \"" + dead + "\"}]}\n"
           "routes:\n"
           "  - name: web\n"
           "    match: {host: \"*\", path_prefix: /}\n"
           "    split: {stable: 100, canary: 0}\n"
           "    rules: [{header: x-canary, exact: \"yes\", pool: canary}]\n"
           "    on_pool_unhealthy: " + policy + "\n";
}

TEST(DeadPoolTest, ARulePinnedRequestFollowsOnPoolUnhealthy) {
    FakeUpstream stable("stable");
    const std::string dead = "127.0.0.1:" + std::to_string(closed_port());
    {
        WeirProcess weir(pinned_yaml(stable.address(), dead, "shift"));
        Response r = fetch(weir.port(), "/pinned", "x-canary: yes\r\n");
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(stable.request_count(), 1u);
    }
    {
        WeirProcess weir(pinned_yaml(stable.address(), dead, "fail"));
        Response r = fetch(weir.port(), "/pinned", "x-canary: yes\r\n");
        EXPECT_GE(r.status, 500) << r.describe();
        EXPECT_EQ(stable.request_count(), 1u) << "a pinned request moved despite on_pool_unhealthy: fail";
    }
}

}  // namespace
}  // namespace weir_it
