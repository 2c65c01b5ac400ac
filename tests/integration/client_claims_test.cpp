// What a client claims about itself is not passed on as fact: Forwarded,
// X-Real-IP and X-Forwarded-* from peers outside trusted_proxies are dropped
// or replaced, underscore names are dropped unless the listener keeps them,
// Via gets Weir's entry, and a request that has come round through Weir too
// often is answered 508. Trusted and untrusted peers are two loopback
// addresses: the config trusts 127.0.0.2, clients connect from it or from 127.0.0.3.
#include "harness.hpp"

#include <boost/json.hpp>

#include <fstream>

namespace weir_it {
namespace {

const From kTrusted{"127.0.0.2"};
const From kUntrusted{"127.0.0.3"};

// Two listeners: "public" (underscores dropped) and "legacy" (kept). Pool
// "stable" is `up`; "canary", when given, is pinned by rules on a claim
// (x-forwarded-proto) and on an underscore name (x_beta).
std::string claims_yaml(const std::string& up, const std::string& canary = "", const std::string& limits = "") {
    std::string y =
        "workers: 1\n"
        "drain_timeout: 5s\n"
        "trusted_proxies: [127.0.0.2/32, \"::1\"]\n"
        "access_log: {path: access.log}\n"
        "listeners:\n"
        "  - {name: public, address: \"127.0.0.1:0\"}\n"
        "  - {name: legacy, address: \"127.0.0.1:0\", underscores_in_headers: true}\n"
        "admin: {address: \"127.0.0.1:0\"}\n"
        "limits: {header_timeout: 2s, idle_timeout: 5s" + limits + "}\n"
        "pools:\n"
        "  - {name: stable, endpoints: [{address: \"" + up + "\"}], upstream: {response_timeout: 5s}}\n";
    if (!canary.empty()) y += "  - {name: canary, endpoints: [{address: \"" + canary + "\"}]}\n";
    y += "routes:\n  - name: web\n    split: {stable: 1}\n";
    if (!canary.empty()) {
        y += "    rules:\n"
             "      - {header: x-forwarded-proto, exact: https, pool: canary}\n"
             "      - {header: x_beta, present: true, pool: canary}\n";
    }
    return y;
}

struct ClaimsProxy {
    FakeUpstream up{"stable"};
    std::unique_ptr<WeirProcess> weir;
    explicit ClaimsProxy(const std::string& limits = "") {
        weir = std::make_unique<WeirProcess>(claims_yaml(up.address(), "", limits));
    }
    // The head the upstream got for one GET from `from` to `listener`.
    UpstreamRequest forward(const From& from, const std::string& extra, const std::string& listener = "public") {
        const std::size_t before = up.request_count();
        RawClient c(weir->port(listener), from);
        EXPECT_TRUE(c.connected()) << "connect from " << from.ip << ": errno " << c.connect_errno();
        Response r = c.request(get_request("/claims", extra, "app.example"));
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_TRUE(up.wait_requests(before + 1));
        return up.requests().at(before);
    }
};

std::string joined(const Headers& h, const std::string& name) {
    std::string out;
    for (const auto& v : h.all(name)) out += (out.empty() ? "" : ", ") + v;
    return out;
}

const std::string kClaims =
    "Forwarded: for=192.0.2.60;proto=https\r\n"
    "X-Real-IP: 192.0.2.60\r\n"
    "X-Forwarded-For: 192.0.2.60\r\n"
    "X-Forwarded-Proto: https\r\n"
    "X-Forwarded-Host: evil.example\r\n"
    "X-Forwarded-Port: 9443\r\n"
    "X-Forwarded-Prefix: /evil\r\n"
    "X_Forwarded_For: 192.0.2.61\r\n"
    "X_Forwarded_Proto: https\r\n";

TEST(ClientClaims, UntrustedPeerClaimsAreDroppedOrReplaced) {
    ClaimsProxy p;
    const auto req = p.forward(kUntrusted, kClaims);
    const Headers& h = req.headers;
    EXPECT_FALSE(h.has("forwarded")) << h.dump();
    EXPECT_FALSE(h.has("x-real-ip")) << h.dump();
    EXPECT_FALSE(h.has("x-forwarded-prefix")) << h.dump();
    EXPECT_FALSE(h.has("x_forwarded_for")) << h.dump();
    EXPECT_FALSE(h.has("x_forwarded_proto")) << h.dump();
    EXPECT_EQ(h.all("x-forwarded-proto"), std::vector<std::string>{"http"}) << h.dump();
    EXPECT_EQ(h.all("x-forwarded-host"), std::vector<std::string>{"app.example"}) << h.dump();
    EXPECT_EQ(h.all("x-forwarded-port"), std::vector<std::string>{std::to_string(p.weir->port("public"))})
        << h.dump();
    EXPECT_EQ(joined(h, "x-forwarded-for"), "192.0.2.60, 127.0.0.3") << h.dump();
}

TEST(ClientClaims, TrustedPeerClaimsAreKept) {
    ClaimsProxy p;
    const auto req = p.forward(kTrusted, kClaims);
    const Headers& h = req.headers;
    EXPECT_EQ(h.get("forwarded"), "for=192.0.2.60;proto=https") << h.dump();
    EXPECT_EQ(h.get("x-real-ip"), "192.0.2.60") << h.dump();
    EXPECT_EQ(h.all("x-forwarded-proto"), std::vector<std::string>{"https"}) << h.dump();
    EXPECT_EQ(h.all("x-forwarded-host"), std::vector<std::string>{"evil.example"}) << h.dump();
    EXPECT_EQ(h.all("x-forwarded-port"), std::vector<std::string>{"9443"}) << h.dump();
    EXPECT_EQ(h.get("x-forwarded-prefix"), "/evil") << h.dump();
    // The real peer is still appended: a trusted proxy's own address is part of the chain.
    EXPECT_EQ(joined(h, "x-forwarded-for"), "192.0.2.60, 127.0.0.2") << h.dump();
    // Underscore names stay off on this listener, whoever sends them.
    EXPECT_FALSE(h.has("x_forwarded_for")) << h.dump();
    EXPECT_FALSE(h.has("x_forwarded_proto")) << h.dump();
}

TEST(ClientClaims, TrustedPeerWithoutClaimsGetsWeirsOwn) {
    ClaimsProxy p;
    const Headers h = p.forward(kTrusted, "").headers;
    EXPECT_EQ(h.all("x-forwarded-proto"), std::vector<std::string>{"http"}) << h.dump();
    EXPECT_EQ(h.all("x-forwarded-host"), std::vector<std::string>{"app.example"}) << h.dump();
    EXPECT_EQ(h.all("x-forwarded-port"), std::vector<std::string>{std::to_string(p.weir->port("public"))});
    EXPECT_EQ(joined(h, "x-forwarded-for"), "127.0.0.2") << h.dump();
}

TEST(ClientClaims, UnderscoreNamesAreKeptOnlyWhereTheListenerSaysSo) {
    ClaimsProxy p;
    const std::string extra = "X_Custom_Id: 7\r\nX_Forwarded_Proto: https\r\n";
    EXPECT_FALSE(p.forward(kUntrusted, extra, "public").headers.has("x_custom_id"));

    const Headers legacy = p.forward(kUntrusted, extra, "legacy").headers;
    EXPECT_EQ(legacy.get("x_custom_id"), "7") << legacy.dump();
    // A kept underscore does not make a look-alike claim true.
    EXPECT_FALSE(legacy.has("x_forwarded_proto")) << legacy.dump();
    EXPECT_EQ(legacy.all("x-forwarded-port"), std::vector<std::string>{std::to_string(p.weir->port("legacy"))});

    const Headers trusted = p.forward(kTrusted, extra, "legacy").headers;
    EXPECT_EQ(trusted.get("x_forwarded_proto"), "https") << trusted.dump();
}

TEST(ClientClaims, RulesSeeOnlyWhatIsForwarded) {
    FakeUpstream canary{"canary"};
    FakeUpstream stable{"stable"};
    WeirProcess weir(claims_yaml(stable.address(), canary.address()));
    auto pool_of = [&](const From& from, const std::string& extra, const std::string& listener) {
        RawClient c(weir.port(listener), from);
        Response r = c.request(get_request("/", extra));
        EXPECT_EQ(r.status, 200) << r.describe();
        return r.body.substr(0, r.body.find(' '));
    };
    EXPECT_EQ(pool_of(kUntrusted, "X-Forwarded-Proto: https\r\n", "public"), "stable");
    EXPECT_EQ(pool_of(kTrusted, "X-Forwarded-Proto: https\r\n", "public"), "canary");
    EXPECT_EQ(pool_of(kTrusted, "X_Beta: 1\r\n", "public"), "stable");
    EXPECT_EQ(pool_of(kUntrusted, "X_Beta: 1\r\n", "legacy"), "canary");
}

TEST(ClientClaims, ViaIsAddedAndAppendedToAsOneField) {
    ClaimsProxy p;
    EXPECT_EQ(p.forward(kUntrusted, "").headers.all("via"), std::vector<std::string>{"1.1 weir"});
    const Headers h =
        p.forward(kUntrusted, "Via: 1.0 fred, 1.1 p.example (Apache/1.1)\r\nVia: 1.1 weir\r\n").headers;
    EXPECT_EQ(h.all("via"), std::vector<std::string>{"1.0 fred, 1.1 p.example (Apache/1.1), 1.1 weir, 1.1 weir"})
        << h.dump();
}

std::vector<boost::json::object> access_lines(const std::string& path) {
    std::vector<boost::json::object> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) out.push_back(boost::json::parse(line).as_object());
    return out;
}

TEST(ClientClaims, AccessLogClientIsWhomATrustedProxyForwardedFor) {
    ClaimsProxy p;
    const std::string chain = "X-Forwarded-For: 203.0.113.5, 198.51.100.4, 127.0.0.2\r\n";
    p.forward(kTrusted, chain);
    p.forward(kUntrusted, chain);
    p.forward(kTrusted, "");
    p.forward(kTrusted, "X-Forwarded-For: ::1, 127.0.0.2\r\n");  // all trusted: the left-most
    p.forward(kTrusted, "X-Forwarded-For: 198.51.100.4, unknown\r\n");
    const std::string path = p.weir->dir() + "/access.log";
    ASSERT_TRUE(wait_for([&] { return access_lines(path).size() >= 5; }, 10s));
    std::vector<std::string> clients;
    for (const auto& o : access_lines(path)) clients.emplace_back(o.at("client").as_string());
    EXPECT_EQ(clients, (std::vector<std::string>{"198.51.100.4", "127.0.0.3", "127.0.0.2", "::1", "127.0.0.2"}));
}

TEST(ClientClaims, LoopedRequestIsAnswered508) {
    ClaimsProxy p(", max_via_hops: 2");
    const std::string two = "Via: 1.1 weir, 1.0 other\r\nVia: 1.1 weir\r\n";
    EXPECT_EQ(joined(p.forward(kUntrusted, two).headers, "via"), "1.1 weir, 1.0 other, 1.1 weir, 1.1 weir");

    const std::size_t before = p.up.request_count();
    RawClient c(p.weir->port(), kUntrusted);
    Response r = c.request(get_request("/loop", "Via: 1.1 weir, 1.1 weir, 1.1 weir\r\n"));
    EXPECT_EQ(r.status, 508) << r.describe();
    EXPECT_EQ(r.reason, "Loop Detected");
    // The connection stays usable, and nothing reached the upstream.
    EXPECT_EQ(c.request(get_request("/after")).status, 200);
    EXPECT_TRUE(p.up.wait_requests(before + 1));
    EXPECT_EQ(p.up.requests().back().target, "/after");
    EXPECT_TRUE(p.weir->wait_log("forwarding loop")) << p.weir->log();
    const std::string path = p.weir->dir() + "/access.log";
    ASSERT_TRUE(wait_for([&] { return access_lines(path).size() >= 3; }, 10s));
    const auto looped = access_lines(path).at(1);
    EXPECT_EQ(looped.at("status"), 508);
    EXPECT_EQ(looped.at("route"), "web");
    std::string metrics;
    EXPECT_TRUE(wait_for([&] {
        metrics = admin_request(p.weir->admin_port(), "GET", "/metrics").body;
        return metric_value(metrics, "weir_requests_total", {{"route", "web"}, {"pool", "none"}, {"code", "508"}}) == 1;
    }, 10s)) << metrics;
}

TEST(ClientClaims, RouteBackToItselfEndsIn508) {
    FakeUpstream up{"stable"};
    WeirProcess weir(claims_yaml(up.address()));
    // Point the pool at Weir's own listener (its port is known only now).
    write_file(weir.config_path(),
               claims_yaml("127.0.0.1:" + std::to_string(weir.port()), "", ", max_via_hops: 1"));
    Response reload = admin_request(weir.admin_port(), "POST", "/reload");
    ASSERT_EQ(reload.status, 200) << reload.describe();

    RawClient c(weir.port(), kUntrusted);
    Response r = c.request(get_request("/round"));
    EXPECT_EQ(r.status, 508) << r.describe();
    EXPECT_EQ(up.request_count(), 0u);
    // Passes: the client's, one through Weir, and the one that found Weir twice in Via.
    const std::string path = weir.dir() + "/access.log";
    ASSERT_TRUE(wait_for([&] { return access_lines(path).size() >= 3; }, 10s));
    EXPECT_EQ(access_lines(path).size(), 3u);
    for (const auto& o : access_lines(path)) EXPECT_EQ(o.at("status"), 508) << boost::json::serialize(o);
}

}  // namespace
}  // namespace weir_it
