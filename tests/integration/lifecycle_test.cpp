// Process lifecycle: graceful drain on SIGTERM/SIGINT within drain_timeout,
// reload on SIGHUP, start-up failures, worker count override.
#include "harness.hpp"
#include "tests/support/loopback_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <regex>

namespace weir_it {
namespace {

TEST(LifecycleTest, SigtermFinishesTheInFlightResponseThenExitsZero) {
    const std::string slow_body = pattern_string(100000);
    SingleProxy p([](ConfigSpec& c) {
        c.drain_timeout = "5s";
        c.pools[0].response_timeout = "10s";
    });
    p.up.set_handler([&](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.target == "/slow") {
            if (!c.sleep_for(2s)) return After::close;
            c.send(make_response(200, slow_body));
        } else {
            c.send(make_response(200, "quick"));
        }
        return After::keep_alive;
    });
    RawClient idle(p.port());
    ASSERT_EQ(idle.request(get_request("/warm")).body, "quick");  // now an idle keep-alive connection

    RawClient busy(p.port());
    ASSERT_TRUE(busy.send(get_request("/slow")));
    ASSERT_TRUE(p.up.wait_requests(2));
    auto sent_at = Clock::now();
    p.weir->signal(SIGTERM);

    // New connections are refused while the slow response is still on its way.
    EXPECT_TRUE(wait_for([&] { return connection_refused(p.port()); }, 1500ms))
        << "the listener still accepts after SIGTERM";
    // Idle keep-alive connections are closed.
    EXPECT_TRUE(idle.wait_closed(2s)) << "idle keep-alive connection left open during drain";

    Response r = busy.read_response();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_TRUE(r.complete) << r.describe();
    EXPECT_TRUE(r.body == slow_body) << "in-flight response body damaged during drain";
    EXPECT_TRUE(r.connection_close()) << "the last response of a draining connection says Connection: close\n"
                                      << r.describe();
    EXPECT_TRUE(busy.wait_closed(2s));

    auto code = p.weir->wait_exit(6s);
    ASSERT_TRUE(code.has_value()) << "weir did not exit within drain_timeout\n" << p.weir->log();
    EXPECT_EQ(*code, 0) << p.weir->log();
    EXPECT_LT(Clock::now() - sent_at, 6s);
}

TEST(LifecycleTest, DrainTimeoutBoundsTheExit) {
    SingleProxy p([](ConfigSpec& c) {
        c.drain_timeout = "1s";
        c.pools[0].response_timeout = "30s";
    });
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
        c.wait_peer_closed(30s);  // never answers
        return After::close;
    });
    RawClient client(p.port(), 15s);
    ASSERT_TRUE(client.send(get_request("/never")));
    ASSERT_TRUE(p.up.wait_requests(1));
    auto start = Clock::now();
    p.weir->signal(SIGTERM);
    auto code = p.weir->wait_exit(5s);
    auto took = Clock::now() - start;
    ASSERT_TRUE(code.has_value()) << "weir still running 5 s after SIGTERM with drain_timeout 1s\n" << p.weir->log();
    EXPECT_EQ(*code, 0) << p.weir->log();
    EXPECT_GE(took, 800ms) << "weir did not wait for the in-flight request at all";
    EXPECT_LT(took, 3s);
    EXPECT_TRUE(client.wait_closed(2s));
}

TEST(LifecycleTest, SigintOnAnIdleProxyExitsZeroPromptly) {
    SingleProxy p;
    ASSERT_EQ(fetch(p.port()).status, 200);
    auto start = Clock::now();
    p.weir->signal(SIGINT);
    auto code = p.weir->wait_exit(3s);
    ASSERT_TRUE(code.has_value()) << p.weir->log();
    EXPECT_EQ(*code, 0);
    EXPECT_LT(Clock::now() - start, 2s) << "an idle proxy waited for its drain timeout";
}

TEST(LifecycleTest, KeepAliveRequestDuringDrainIsAnsweredWithConnectionClose) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.target == "/slow") c.sleep_for(1500ms);
        c.send(make_response(200, "ok " + r.target));
        return After::keep_alive;
    });
    RawClient client(p.port());
    // Two pipelined requests: the second is already buffered when drain starts.
    ASSERT_TRUE(client.send(get_request("/slow") + get_request("/second")));
    ASSERT_TRUE(p.up.wait_requests(1));
    p.weir->signal(SIGTERM);
    Response r1 = client.read_response();
    EXPECT_EQ(r1.status, 200) << r1.describe();
    EXPECT_TRUE(r1.connection_close()) << r1.describe();
    // Weir may answer the buffered second request or not, but the connection must end.
    EXPECT_TRUE(client.wait_closed(3s) || client.read_response().connection_close());
    EXPECT_EQ(p.weir->wait_exit(6s), std::optional<int>(0));
}

TEST(LifecycleTest, SighupReloadsTheConfigForExistingConnectionsToo) {
    FakeUpstream stable("stable"), canary("canary");
    ConfigSpec c;
    c.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    c.routes = {{"web", "*", "/", {{"stable", 100}, {"canary", 0}}}};
    WeirProcess weir(c.yaml());
    RawClient client(weir.port());
    ASSERT_EQ(client.request(get_request("/")).body, "stable GET /");

    c.routes[0].split = {{"stable", 0}, {"canary", 100}};
    write_file(weir.config_path(), c.yaml());
    weir.signal(SIGHUP);
    // The keep-alive connection opened before the reload follows the new split.
    EXPECT_TRUE(wait_for([&] { return client.request(get_request("/")).body == "canary GET /"; }, 5s))
        << weir.log();
    for (int i = 0; i < 20; ++i) EXPECT_EQ(client.request(get_request("/")).body, "canary GET /");

    RawClient admin(weir.admin_port());
    Response cfg = admin.request("GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    EXPECT_TRUE(std::regex_search(cfg.body, std::regex(R"("version"\s*:\s*2\b)"))) << cfg.body;

    // A broken file is refused and the running config kept.
    write_file(weir.config_path(), "workers: [\n");
    weir.signal(SIGHUP);
    EXPECT_TRUE(weir.wait_log("reload failed")) << weir.log();
    EXPECT_EQ(client.request(get_request("/")).body, "canary GET /");
    EXPECT_TRUE(weir.running());
}

TEST(LifecycleTest, ListenerAddressInUseFailsStartup) {
    weir::test::LoopbackListener taken(1);
    std::string yaml = ConfigSpec::single("127.0.0.1:9").yaml();
    yaml.replace(yaml.find("127.0.0.1:0"), 11, taken.address());
    TempDir tmp;
    write_file(tmp.path + "/weir.yaml", yaml);
    auto r = run_weir({"run", "-c", tmp.path + "/weir.yaml"}, 10s);
    taken.close();
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_FALSE(r.err.empty());
}

TEST(LifecycleTest, WorkersFlagIsAccepted) {
    FakeUpstream up;
    WeirProcess weir(ConfigSpec::single(up.address()).yaml(), {"-w", "1"});
    RawClient c(weir.port());
    for (int i = 0; i < 10; ++i) EXPECT_EQ(c.request(get_request("/")).status, 200);
}

}  // namespace
}  // namespace weir_it
