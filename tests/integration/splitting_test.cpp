// Traffic splitting end to end (docs/config.md, routes): the real binary in front
// of fake upstreams on loopback. Weighted split within tolerance; header,
// cookie, query and `in` rules pin requests; sticky users keep their pool
// across requests, connections and a restart; the cookie-assign flow; a
// blue/green switch under keep-alive load with zero errors and the very next
// requests on the new pool.
#include "harness.hpp"

#include "routing/sticky.hpp"

#include <atomic>
#include <csignal>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace weir_it {
namespace {

// ---------------------------------------------------------------- helpers

// Two pools, "stable" and "canary", behind one catch-all route "web" with
// `split`; `route_extra` is appended to the route (rules:, sticky:, ...), each
// line indented by 4 spaces.
std::string two_pool_yaml(const FakeUpstream& stable, const FakeUpstream& canary,
                          std::vector<std::pair<std::string, double>> split, const std::string& route_extra = "") {
    ConfigSpec c;
    c.idle_timeout = "30s";
    c.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    c.routes = {{"web", "*", "/", std::move(split)}};
    return c.yaml() + route_extra;  // the route is the last thing ConfigSpec writes
}

// "stable" or "canary": the fake upstreams answer "<name> <method> <target>".
std::string pool_of(const Response& r) { return r.body.substr(0, r.body.find(' ')); }

// An admin call with a JSON body.
Response admin(std::uint16_t port, const std::string& method, const std::string& path, const std::string& body = "") {
    RawClient c(port);
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "Connection: close\r\n\r\n" + body;
    return c.request(req);
}

std::string header_line(const std::string& name, const std::string& value) { return name + ": " + value + "\r\n"; }

bool is_lower_hex(const std::string& s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return !s.empty();
}

// The pool weighted rendezvous hashing gives `key` on route "web" (sticky.hpp):
// computed in the test process, so the proxy must agree with it exactly.
std::string expected_sticky_pool(const std::string& key, double stable_weight, double canary_weight) {
    static const std::vector<std::string> pools = {"stable", "canary"};
    std::size_t i = weir::routing::rendezvous_pick("web", key, pools, {stable_weight, canary_weight});
    return i < pools.size() ? pools[i] : "";
}

// ---------------------------------------------------------------- weighted split

TEST(SplittingTest, NinetyTenSplitWithinTolerance) {
    FakeUpstream stable("stable"), canary("canary");
    WeirProcess weir(two_pool_yaml(stable, canary, {{"stable", 90}, {"canary", 10}}));

    constexpr int n = 2000;
    constexpr int threads = 4;
    std::atomic<int> errors{0};
    std::mutex mu;
    std::map<std::string, int> seen;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            RawClient client(weir.port());
            std::map<std::string, int> mine;
            for (int i = 0; i < n / threads; ++i) {
                Response r = client.request(get_request("/s/" + std::to_string(t) + "/" + std::to_string(i)));
                if (r.status != 200 || !r.complete) {
                    ++errors;
                    return;
                }
                ++mine[pool_of(r)];
            }
            std::lock_guard<std::mutex> lock(mu);
            for (auto& [k, v] : mine) seen[k] += v;
        });
    }
    for (auto& t : ts) t.join();
    ASSERT_EQ(errors.load(), 0);
    ASSERT_EQ(seen["stable"] + seen["canary"], n) << "answers from neither pool";
    // Binomial(2000, 0.1): mean 200, sigma 13.4. The workers seed their
    // generators at random, so the bound is 4.5 sigma (chi-square 1 df < 20.25,
    // p < 1e-5): a 1% bias (+20) is 1.5 sigma, a 90/10 <-> 10/90 mix-up is 120.
    const double mean = n * 0.1, sigma = std::sqrt(n * 0.1 * 0.9);
    const double z = (seen["canary"] - mean) / sigma;
    EXPECT_LT(z * z, 20.25) << "stable " << seen["stable"] << ", canary " << seen["canary"];
    EXPECT_EQ(static_cast<int>(canary.request_count()), seen["canary"]);
    EXPECT_EQ(static_cast<int>(stable.request_count()), seen["stable"]);
}

// ---------------------------------------------------------------- rules

// The split sends nothing to canary (100/0): whatever reaches it was pinned by a rule.
const char* const kRules =
    "    rules:\n"
    "      - {header: x-canary, exact: \"always\", pool: canary}\n"
    "      - {cookie: tester, present: true, pool: canary}\n"
    "      - {header: x-user, in: [alice, bob], pool: canary}\n"
    "      - {query: preview, regex: \"v[0-9]+\", pool: canary}\n"
    "      - {header: x-stable, present: true, pool: stable}\n";

struct RulesFixture {
    FakeUpstream stable{"stable"}, canary{"canary"};
    WeirProcess weir{two_pool_yaml(stable, canary, {{"stable", 100}, {"canary", 0}}, kRules)};

    // Pools for `n` requests on one keep-alive connection.
    std::map<std::string, int> run(int n, const std::string& extra, const std::string& target = "/") {
        RawClient c(weir.port());
        std::map<std::string, int> seen;
        for (int i = 0; i < n; ++i) {
            Response r = c.request(get_request(target, extra));
            EXPECT_EQ(r.status, 200) << r.describe();
            if (r.status != 200) break;
            ++seen[pool_of(r)];
        }
        return seen;
    }
};

TEST(SplittingTest, HeaderRulePinsEveryRequest) {
    RulesFixture f;
    auto pinned = f.run(200, header_line("X-Canary", "always"));
    EXPECT_EQ(pinned["canary"], 200) << "stable got " << pinned["stable"];
    auto lower = f.run(50, header_line("x-canary", "always"));
    EXPECT_EQ(lower["canary"], 50);
    auto other = f.run(50, header_line("X-Canary", "Always"));  // values are case-sensitive
    EXPECT_EQ(other["stable"], 50);
    auto plain = f.run(50, "");
    EXPECT_EQ(plain["stable"], 50);
    // The first matching rule wins: x-stable comes after x-canary.
    auto both = f.run(20, header_line("x-stable", "1") + header_line("x-canary", "always"));
    EXPECT_EQ(both["canary"], 20);
    auto only_stable_rule = f.run(20, header_line("x-stable", "1"));
    EXPECT_EQ(only_stable_rule["stable"], 20);
}

TEST(SplittingTest, CookieRulePinsEveryRequest) {
    RulesFixture f;
    EXPECT_EQ(f.run(100, header_line("Cookie", "a=1; tester=yes; b=2"))["canary"], 100);
    EXPECT_EQ(f.run(50, header_line("Cookie", "a=1") + header_line("Cookie", "tester="))["canary"], 50);
    EXPECT_EQ(f.run(50, header_line("Cookie", "testers=1; mytester=1"))["stable"], 50);
}

TEST(SplittingTest, InRulePinsListedValuesOnly) {
    RulesFixture f;
    EXPECT_EQ(f.run(100, header_line("X-User", "alice"))["canary"], 100);
    EXPECT_EQ(f.run(100, header_line("X-User", "bob"))["canary"], 100);
    EXPECT_EQ(f.run(50, header_line("X-User", "carol"))["stable"], 50);
    EXPECT_EQ(f.run(50, header_line("X-User", "alice2"))["stable"], 50);
}

TEST(SplittingTest, QueryRegexRuleIsAFullMatch) {
    RulesFixture f;
    EXPECT_EQ(f.run(50, "", "/page?x=1&preview=v12")["canary"], 50);
    EXPECT_EQ(f.run(50, "", "/page?preview=v12b")["stable"], 50);
    EXPECT_EQ(f.run(50, "", "/page?previewx=v1")["stable"], 50);
    EXPECT_EQ(f.canary.request_count(), 50u);
}

// ---------------------------------------------------------------- sticky

TEST(SplittingTest, StickyHeaderKeepsEachUserOnOnePoolAcrossARestart) {
    FakeUpstream stable("stable"), canary("canary");
    const std::string yaml =
        two_pool_yaml(stable, canary, {{"stable", 70}, {"canary", 30}}, "    sticky: {header: x-user-id}\n");
    constexpr int kUsers = 300;
    constexpr int kRepeats = 4;
    std::map<std::string, std::string> first;
    std::map<std::string, int> users_per_pool;
    {
        WeirProcess weir(yaml);
        // Each repeat on a new connection, users interleaved.
        for (int rep = 0; rep < kRepeats; ++rep) {
            RawClient c(weir.port());
            for (int u = 0; u < kUsers; ++u) {
                const std::string user = "user-" + std::to_string(u);
                Response r = c.request(get_request("/r/" + std::to_string(rep), header_line("X-User-Id", user)));
                ASSERT_EQ(r.status, 200) << r.describe();
                EXPECT_FALSE(r.headers.has("set-cookie")) << "header stickiness sets no cookie";
                const std::string pool = pool_of(r);
                if (rep == 0) {
                    first[user] = pool;
                    ++users_per_pool[pool];
                    EXPECT_EQ(pool, expected_sticky_pool(user, 70, 30)) << user;
                } else {
                    ASSERT_EQ(pool, first[user]) << user << " moved on repeat " << rep;
                }
            }
        }
        weir.signal(SIGTERM);
        ASSERT_EQ(weir.wait_exit(10s), 0);
    }
    // Users spread per the weights: Binomial(300, 0.3), sigma 7.9; chi-square
    // 1 df at p = 0.001 is |z| < 3.29.
    const double z = (users_per_pool["canary"] - kUsers * 0.3) / std::sqrt(kUsers * 0.3 * 0.7);
    EXPECT_LT(z * z, 10.83) << "canary users " << users_per_pool["canary"] << " of " << kUsers;

    // A new process (new ports, new random seeds): the same users, the same pools.
    WeirProcess again(yaml);
    RawClient c(again.port());
    for (int u = 0; u < kUsers; ++u) {
        const std::string user = "user-" + std::to_string(u);
        Response r = c.request(get_request("/after-restart", header_line("x-user-id", user)));
        ASSERT_EQ(r.status, 200) << r.describe();
        ASSERT_EQ(pool_of(r), first[user]) << user << " moved across the restart";
    }
}

TEST(SplittingTest, StickyRequestsWithoutTheKeyAreSplitPerRequest) {
    FakeUpstream stable("stable"), canary("canary");
    WeirProcess weir(
        two_pool_yaml(stable, canary, {{"stable", 50}, {"canary", 50}}, "    sticky: {header: x-user-id}\n"));
    RawClient c(weir.port());
    std::map<std::string, int> seen;
    for (int i = 0; i < 400; ++i) {
        Response r = c.request(get_request("/"));
        ASSERT_EQ(r.status, 200) << r.describe();
        ++seen[pool_of(r)];
    }
    // Binomial(400, 0.5): sigma 10; both pools get traffic, about evenly.
    EXPECT_LT(std::abs(seen["canary"] - 200), 50) << seen["stable"] << "/" << seen["canary"];
}

// ---------------------------------------------------------------- cookie assignment

TEST(SplittingTest, CookieAssignFlowEndToEnd) {
    FakeUpstream stable("stable"), canary("canary");
    // The application sets its own cookie too: both must reach the client.
    for (FakeUpstream* up : {&stable, &canary}) {
        const std::string name = up->name();
        up->set_handler([name](UpstreamConn& c, const UpstreamRequest& r) {
            c.send(make_response(200, name + " " + r.method + " " + r.target, "Set-Cookie: app=1; Path=/\r\n"));
            return After::keep_alive;
        });
    }
    WeirProcess weir(two_pool_yaml(stable, canary, {{"stable", 50}, {"canary", 50}},
                                   "    sticky: {cookie: weir_uid, assign: true}\n"));
    constexpr int kVisitors = 60;
    std::set<std::string> ids;
    std::map<std::string, int> per_pool;
    for (int v = 0; v < kVisitors; ++v) {
        RawClient c(weir.port());
        Response first = c.request(get_request("/first", header_line("Cookie", "other=1")));
        ASSERT_EQ(first.status, 200) << first.describe();
        const std::vector<std::string> cookies = first.headers.all("set-cookie");
        std::string ours;
        int app = 0;
        for (const auto& sc : cookies) {
            if (sc.rfind("weir_uid=", 0) == 0) {
                EXPECT_TRUE(ours.empty()) << "two weir_uid cookies:\n" << first.head;
                ours = sc;
            }
            if (sc == "app=1; Path=/") ++app;
        }
        EXPECT_EQ(app, 1) << "the upstream's own Set-Cookie was lost or duplicated:\n" << first.head;
        ASSERT_FALSE(ours.empty()) << "no weir_uid Set-Cookie on the first response:\n" << first.head;
        // weir_uid=<32 hex>; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000
        const std::string suffix = "; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000";
        ASSERT_EQ(ours.size(), std::string("weir_uid=").size() + 32 + suffix.size()) << ours;
        const std::string id = ours.substr(9, 32);
        EXPECT_TRUE(is_lower_hex(id)) << ours;
        EXPECT_EQ(ours.substr(9 + 32), suffix) << ours;
        EXPECT_TRUE(ids.insert(id).second) << "id given twice: " << id;
        const std::string pool = pool_of(first);
        EXPECT_EQ(pool, expected_sticky_pool(id, 50, 50)) << "routed by something else than the new id " << id;
        ++per_pool[pool];

        // Coming back with the cookie: same pool, no new cookie, on this and on new connections.
        for (int i = 0; i < 5; ++i) {
            Response r = c.request(get_request("/again", header_line("Cookie", "other=1; weir_uid=" + id)));
            ASSERT_EQ(r.status, 200) << r.describe();
            EXPECT_EQ(pool_of(r), pool) << id;
            for (const auto& sc : r.headers.all("set-cookie")) {
                EXPECT_NE(sc.rfind("weir_uid=", 0), 0u) << "a returning visitor got a new id: " << sc;
            }
        }
        RawClient fresh(weir.port());
        Response r = fresh.request(get_request("/new-conn", header_line("Cookie", "weir_uid=" + id)));
        ASSERT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(pool_of(r), pool);
        EXPECT_EQ(r.headers.get("set-cookie"), "app=1; Path=/");
    }
    // Anonymous visitors still follow the weights: Binomial(60, 0.5), sigma 3.9.
    EXPECT_GT(per_pool["stable"], 10);
    EXPECT_GT(per_pool["canary"], 10);
}

TEST(SplittingTest, CookieAssignHonoursMaxAge) {
    FakeUpstream stable("stable"), canary("canary");
    WeirProcess weir(two_pool_yaml(stable, canary, {{"stable", 1}, {"canary", 1}},
                                   "    sticky: {cookie: sid, assign: true, max_age: 1h}\n"));
    Response r = fetch(weir.port());
    ASSERT_EQ(r.status, 200) << r.describe();
    const std::string sc = r.headers.get("set-cookie");
    ASSERT_EQ(sc.rfind("sid=", 0), 0u) << r.head;
    EXPECT_EQ(sc.substr(4 + 32), "; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600") << sc;
    // A keep-alive request after an assigning one carries no stale Set-Cookie.
    RawClient c(weir.port());
    Response a = c.request(get_request("/"));
    ASSERT_EQ(a.status, 200);
    ASSERT_TRUE(a.headers.has("set-cookie"));
    const std::string id = a.headers.get("set-cookie").substr(4, 32);
    Response b = c.request(get_request("/", header_line("Cookie", "sid=" + id)));
    ASSERT_EQ(b.status, 200);
    EXPECT_FALSE(b.headers.has("set-cookie")) << b.head;
}

// ---------------------------------------------------------------- blue/green

struct Sample {
    Clock::time_point sent, received;
    std::string pool;
};

struct Switch {
    Clock::time_point started, returned;
    std::string pool;
};

TEST(SplittingTest, BlueGreenSwitchUnderLoadHasNoErrorsAndTakesEffectAtOnce) {
    FakeUpstream stable("stable"), canary("canary");
    WeirProcess weir(two_pool_yaml(stable, canary, {{"stable", 100}, {"canary", 0}}));

    constexpr int kThreads = 3;
    std::atomic<bool> stop{false};
    std::atomic<int> errors{0};
    std::atomic<long> done{0};
    std::mutex mu;
    std::string first_error;
    std::vector<std::vector<Sample>> samples(kThreads);
    std::vector<std::thread> load;
    // Stops and joins the load threads however the test ends.
    struct Joiner {
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~Joiner() {
            stop = true;
            for (auto& t : threads) {
                if (t.joinable()) t.join();
            }
        }
    } joiner{stop, load};
    for (int t = 0; t < kThreads; ++t) {
        load.emplace_back([&, t] {
            RawClient c(weir.port());  // opened before any switch, kept for the whole test
            int i = 0;
            while (!stop.load()) {
                Sample s;
                s.sent = Clock::now();
                Response r = c.request(get_request("/load/" + std::to_string(t) + "/" + std::to_string(i++)));
                if (r.status != 200 || !r.complete || r.connection_close()) {
                    ++errors;
                    std::lock_guard<std::mutex> lock(mu);
                    if (first_error.empty()) first_error = r.describe();
                    return;
                }
                s.received = Clock::now();
                s.pool = pool_of(r);
                samples[t].push_back(s);
                ++done;
            }
        });
    }
    // A connection of the test's own, opened and used before the switch.
    RawClient mine(weir.port());
    ASSERT_EQ(pool_of(mine.request(get_request("/mine"))), "stable");

    auto wait_more = [&](long n) {
        const long target = done.load() + n;
        return wait_for([&] { return done.load() >= target || errors.load() > 0; }, 20s);
    };
    ASSERT_TRUE(wait_more(300));

    std::vector<Switch> switches;
    std::string mine_wrong;
    for (const std::string pool : {"canary", "stable", "canary", "stable", "canary", "stable", "canary", "stable"}) {
        const Clock::time_point started = Clock::now();
        Response sw = admin(weir.admin_port(), "POST", "/routes/web/switch", "{\"pool\": \"" + pool + "\"}");
        ASSERT_EQ(sw.status, 200) << sw.describe();
        switches.push_back({started, Clock::now(), pool});
        // The very next requests on a connection opened before the switch.
        for (int i = 0; i < 50; ++i) {
            Response r = mine.request(get_request("/mine/" + pool + "/" + std::to_string(i)));
            ASSERT_EQ(r.status, 200) << r.describe();
            if (pool_of(r) != pool) {
                mine_wrong += "request " + std::to_string(i) + " after switch " + std::to_string(switches.size()) +
                              " to " + pool + " went to " + pool_of(r) + "; ";
            }
        }
        ASSERT_TRUE(wait_more(300)) << "load stalled after the switch to " << pool;
    }
    stop = true;
    for (auto& t : load) t.join();
    EXPECT_EQ(errors.load(), 0) << first_error;
    EXPECT_EQ(mine_wrong, "") << "on a keep-alive connection opened before the switches";

    // Every load request sent after a switch returned and answered before the
    // next one started went to that switch's pool; before the first switch,
    // to stable. Requests in flight during a switch may go either way.
    int checked = 0, wrong = 0;
    std::string example;
    for (const auto& per_thread : samples) {
        for (const Sample& s : per_thread) {
            std::string expected = "stable";
            bool overlaps = false;
            for (const Switch& sw : switches) {
                if (s.sent > sw.returned) expected = sw.pool;
                else if (s.received >= sw.started) overlaps = true;
            }
            if (overlaps) continue;
            ++checked;
            if (s.pool != expected) {
                if (++wrong == 1) example = "got " + s.pool + ", expected " + expected;
            }
        }
    }
    EXPECT_EQ(wrong, 0) << example;
    EXPECT_GT(checked, 1000);
    EXPECT_GT(canary.request_count(), 500u);
}

TEST(SplittingTest, WeightChangeAppliesToTheNextRequestOnAnOpenConnection) {
    FakeUpstream stable("stable"), canary("canary");
    WeirProcess weir(two_pool_yaml(stable, canary, {{"stable", 100}, {"canary", 0}}));
    RawClient c(weir.port());
    ASSERT_EQ(pool_of(c.request(get_request("/"))), "stable");
    Response put = admin(weir.admin_port(), "PUT", "/routes/web/split", "{\"stable\": 0, \"canary\": 100}");
    ASSERT_EQ(put.status, 200) << put.describe();
    for (int i = 0; i < 50; ++i) ASSERT_EQ(pool_of(c.request(get_request("/"))), "canary") << i;
    put = admin(weir.admin_port(), "PUT", "/routes/web/split", "{\"stable\": 90, \"canary\": 10}");
    ASSERT_EQ(put.status, 200) << put.describe();
    std::map<std::string, int> seen;
    for (int i = 0; i < 1000; ++i) ++seen[pool_of(c.request(get_request("/")))];
    // Binomial(1000, 0.1): sigma 9.5; 4.5 sigma.
    EXPECT_LT(std::abs(seen["canary"] - 100), 43) << seen["stable"] << "/" << seen["canary"];
}

// ---------------------------------------------------------------- weir check

TEST(SplittingTest, CheckReportsABadRegexWithItsLineAndColumn) {
    TempDir dir;
    const std::string path = dir.path + "/weir.yaml";
    const std::string yaml =
        "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n"
        "pools:\n"
        "  - {name: stable, endpoints: [{address: \"127.0.0.1:9001\"}]}\n"
        "routes:\n"
        "  - name: web\n"
        "    split: {stable: 1}\n"
        "    rules:\n"
        "      - {header: x-build, regex: \"qa-(\", pool: stable}\n";
    write_file(path, yaml);
    CommandResult r = run_weir({"check", "-c", path});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    const std::string all = r.out + r.err;
    EXPECT_NE(all.find(path + ":8:34: routes[0].rules[0].regex: invalid regular expression"), std::string::npos)
        << all;
}

}  // namespace
}  // namespace weir_it
