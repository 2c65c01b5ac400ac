// HTTP Upgrade tunnels (WebSocket): a real WebSocket echo backend
// (tests/support/ws_echo.py) and raw fake origins behind the real binary.
// Echo in both directions (a 1 MiB message included); weight changes,
// reloads, endpoint drains and SIGTERM against open tunnels; the weir_tunnels
// gauge and the access log line written when a tunnel ends; refused or
// malformed upgrades (400, 502, 504, Upgrade stripped); either side going
// away mid-tunnel (half-close passed on, no descriptor left behind); the
// tunnel idle timeout and maximum age; a TLS listener.
#include "tunnel_support.hpp"

#include <boost/json.hpp>

#include <poll.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <vector>

namespace weir_it {
namespace {

namespace json = boost::json;

// Pools "stable" (endpoint `a`) and "canary" (endpoint `b`) behind the catch-all route "web".
ConfigSpec two_pools(const std::string& a, const std::string& b, double stable_weight, double canary_weight,
                     const std::string& drain_timeout = "5s") {
    ConfigSpec c;
    c.drain_timeout = drain_timeout;
    c.pools.push_back(PoolSpec{.name = "stable", .endpoints = {{a, 1}}});
    c.pools.push_back(PoolSpec{.name = "canary", .endpoints = {{b, 1}}});
    RouteSpec r;
    r.split = {{"stable", stable_weight}, {"canary", canary_weight}};
    c.routes.push_back(r);
    return c;
}

// The endpoint `address` of pool `pool` in GET /pools, or null.
json::value pool_endpoint(std::uint16_t admin_port, const std::string& pool, const std::string& address) {
    Response r = admin_request(admin_port, "GET", "/pools");
    json::value v = parse_json(r.body);
    if (!v.is_object() || !v.as_object().contains("pools")) return nullptr;
    for (const auto& p : v.at("pools").as_array()) {
        if (!p.is_object() || p.at("name") != json::value(pool)) continue;
        for (const auto& e : p.at("endpoints").as_array())
            if (e.is_object() && e.at("address") == json::value(address)) return e;
    }
    return nullptr;
}

// The endpoint's `field` (a number) in GET /pools, -1 if absent.
double endpoint_number(std::uint16_t admin_port, const std::string& pool, const std::string& address,
                       const char* field) {
    json::value e = pool_endpoint(admin_port, pool, address);
    if (!e.is_object() || !e.as_object().contains(field)) return -1;
    return json_number(e.at(field)).value_or(-1);
}

std::string pools_text(std::uint16_t admin_port) { return admin_request(admin_port, "GET", "/pools").body; }

std::optional<double> tunnels_gauge(std::uint16_t admin_port, const std::string& route, const std::string& pool) {
    return metric_value(admin_request(admin_port, "GET", "/metrics").body, "weir_tunnels",
                        {{"route", route}, {"pool", pool}});
}

using Tunnels = std::vector<std::unique_ptr<WsClient>>;

// `n` WebSocket tunnels on fresh connections, each checked to be open.
Tunnels open_tunnels(std::uint16_t port, int n, const std::string& target = "/ws") {
    Tunnels out;
    for (int i = 0; i < n; ++i) {
        out.push_back(std::make_unique<WsClient>(port, nullptr, target));
        EXPECT_TRUE(out.back()->open()) << "tunnel " << i << ": " << out.back()->describe();
    }
    return out;
}

// `n` tunnels (open_tunnels) into `out`, each checked to reach backend `who`.
// Call with ASSERT_NO_FATAL_FAILURE.
void open_tunnels_to(Tunnels& out, std::uint16_t port, int n, const std::string& who) {
    out = open_tunnels(port, n);
    for (auto& t : out) ASSERT_EQ(t->whoami(), who);
}

// Every tunnel still echoes (a message `prefix` + its index) and still reaches backend `who`.
void expect_tunnels_kept(Tunnels& ts, const std::string& prefix, const std::string& who) {
    for (std::size_t i = 0; i < ts.size(); ++i) {
        EXPECT_TRUE(echoes(*ts[i], prefix + std::to_string(i))) << "tunnel " << i;
        EXPECT_EQ(ts[i]->whoami(), who) << "an open tunnel moved";
    }
}

// Waits (5 s) for the endpoint's `field` in GET /pools to be `want`.
bool endpoint_number_becomes(std::uint16_t admin_port, const std::string& address, const char* field, double want) {
    return wait_for([&] { return endpoint_number(admin_port, "stable", address, field) == want; }, 5s, 50ms);
}

// Waits (5 s) for the weir_tunnels gauge of route "web", pool "stable" to be `want`.
bool tunnels_gauge_becomes(std::uint16_t admin_port, double want) {
    return wait_for([&] { return tunnels_gauge(admin_port, "web", "stable") == want; }, 5s, 50ms);
}

std::string metrics_text(std::uint16_t admin_port) { return admin_request(admin_port, "GET", "/metrics").body; }

// Writes `c` as Weir's config and sends SIGHUP (`signalled`, if given, is when),
// then waits for the reload. Call with ASSERT_NO_FATAL_FAILURE.
void reload(WeirProcess& weir, const ConfigSpec& c, Clock::time_point* signalled = nullptr) {
    write_file_atomic(weir.config_path(), c.yaml());
    if (signalled) *signalled = Clock::now();
    weir.signal(SIGHUP);
    ASSERT_TRUE(weir.wait_log("SIGHUP: reloaded", 10s)) << weir.log();
}

// A WebSocket echo backend ("a") as the single endpoint of pool "stable"
// (route "web") behind Weir, started by start().
struct WsProxy {
    WsEchoBackend a{"a"};
    std::unique_ptr<WeirProcess> weir;
    Tunnels tunnels;  // closed before Weir stops

    // Starts Weir once the backend is up. Call with ASSERT_NO_FATAL_FAILURE.
    void start(const std::string& drain_timeout = "5s") {
        ASSERT_TRUE(a.started()) << a.output();
        ConfigSpec c = ConfigSpec::single(a.address());
        c.drain_timeout = drain_timeout;
        weir = std::make_unique<WeirProcess>(c.yaml());
    }
    // start(), then `n` tunnels into `tunnels`, each checked to reach "a".
    // Call with ASSERT_NO_FATAL_FAILURE.
    void start_with_tunnels(int n, const std::string& drain_timeout = "5s") {
        ASSERT_NO_FATAL_FAILURE(start(drain_timeout));
        ASSERT_NO_FATAL_FAILURE(open_tunnels_to(tunnels, port(), n, "a"));
    }
    std::uint16_t port() const { return weir->port(); }
    std::uint16_t admin_port() const { return weir->admin_port(); }
};

// A raw tunnel origin (raw_tunnel_handler running `script`) as the single
// endpoint of pool "stable" behind Weir; `config` is what Weir started with
// (ConfigSpec::single after `tweak`), `yaml_prefix` goes before it.
struct RawTunnelProxy {
    RawTunnelLog log;
    RawTunnelScript script;
    FakeUpstream up{"stable"};
    ConfigSpec config;
    std::unique_ptr<WeirProcess> weir;

    explicit RawTunnelProxy(RawTunnelScript s = {}, const std::function<void(ConfigSpec&)>& tweak = {},
                            const std::string& yaml_prefix = "")
        : script(std::move(s)) {
        up.set_handler(raw_tunnel_handler(log, script));
        config = ConfigSpec::single(up.address());
        if (tweak) tweak(config);
        weir = std::make_unique<WeirProcess>(yaml_prefix + config.yaml());
    }
    std::uint16_t port() const { return weir->port(); }
};

// Sends `request` and reads the answer, a 101 included (not read past).
Response request_interim(RawClient& c, const std::string& request) {
    ReadOptions opts;
    opts.return_interim = true;
    return c.request(request, opts);
}

// Opens a raw tunnel (Upgrade: websocket to a raw_tunnel_handler origin): the 101 read, nothing more.
Response open_raw(RawClient& c, const std::string& target = "/ws", const std::string& extra = "") {
    return request_interim(c, raw_upgrade_request(target, extra));
}

// ================================================================ echo

TEST(Tunnel, WebSocketEchoWithARealBackend) {
    WsProxy p;
    ASSERT_NO_FATAL_FAILURE(p.start());

    WsClient c(p.port());
    ASSERT_TRUE(c.open()) << c.describe();
    EXPECT_TRUE(c.handshake().headers.has_token("upgrade", "websocket")) << c.describe();
    EXPECT_TRUE(c.handshake().headers.has_token("connection", "upgrade")) << c.describe();
    // The client speaks first, right after the 101.
    EXPECT_TRUE(echoes(c, "first words"));
    EXPECT_EQ(c.whoami(), "a");
    // Frame length encodings around their bounds, text and binary.
    for (std::size_t n : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 70000u}) {
        std::string text(n, 'x');
        for (std::size_t i = 0; i < n; ++i) text[i] = static_cast<char>('a' + i % 26);
        EXPECT_TRUE(echoes(c, text)) << "text of " << n << " bytes";
        std::string bin = pattern_string(n, n);
        EXPECT_TRUE(echoes(c, bin, true)) << "binary of " << n << " bytes";
    }
    // A ~1 MiB binary message.
    const std::string big = pattern_string(1 << 20, 7);
    ASSERT_TRUE(c.send_binary(big));
    WsMessage m = c.recv();
    ASSERT_TRUE(m.ok) << m.error;
    EXPECT_EQ(m.opcode, 2);
    EXPECT_EQ(m.data.size(), big.size());
    EXPECT_TRUE(m.data == big) << "the 1 MiB message came back damaged";
    // Several messages in flight at once, answered in order.
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.send_text("burst " + std::to_string(i)));
    for (int i = 0; i < 20; ++i) {
        WsMessage r = c.recv();
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.data, "burst " + std::to_string(i));
    }
    EXPECT_TRUE(c.close_handshake()) << "the close handshake did not end with the connection closed";
    EXPECT_TRUE(p.a.wait_closed(1)) << p.a.output();

    // Several tunnels side by side keep their own streams.
    Tunnels many = open_tunnels(p.port(), 4);
    for (int round = 0; round < 3; ++round)
        for (std::size_t i = 0; i < many.size(); ++i) {
            std::string msg = "t" + std::to_string(i) + " r" + std::to_string(round);
            EXPECT_TRUE(echoes(*many[i], msg));
        }
}

TEST(Tunnel, BytesRightAfterThe101AndTheForwardedHandshake) {
    RawTunnelProxy p({.greeting = "hello from the origin"});  // in the same write as the 101 head
    auto& up = p.up;
    const std::string& greeting = p.script.greeting;

    RawClient c(p.port());
    Response r = open_raw(c, "/ws/chat?room=1", "Sec-WebSocket-Protocol: chat\r\n");
    ASSERT_EQ(r.status, 101) << r.describe();
    EXPECT_TRUE(r.headers.has_token("upgrade", "websocket")) << r.describe();
    EXPECT_TRUE(r.headers.has_token("connection", "upgrade")) << r.describe();
    EXPECT_EQ(read_n(c, greeting.size()), greeting);
    const std::string payload = pattern_string(300000, 3);
    ASSERT_TRUE(c.send(payload));
    EXPECT_TRUE(read_n(c, payload.size()) == payload) << "tunnel bytes damaged";
    ASSERT_TRUE(c.send("x"));
    EXPECT_EQ(read_n(c, 1), "x");

    // Connection with several tokens, the upgrade one not first.
    RawClient c2(p.port());
    Response r2 = request_interim(c2,
                                  "GET /ws/two HTTP/1.1\r\nHost: test.local\r\nConnection: keep-alive, Upgrade\r\n"
                                  "Upgrade: websocket\r\n\r\n");
    ASSERT_EQ(r2.status, 101) << r2.describe();
    EXPECT_EQ(read_n(c2, greeting.size()), greeting);
    ASSERT_TRUE(c2.send("second"));
    EXPECT_EQ(read_n(c2, 6), "second");

    ASSERT_EQ(up.request_count(), 2u);
    UpstreamRequest req = up.requests()[0];
    EXPECT_EQ(req.target, "/ws/chat?room=1");
    EXPECT_EQ(req.version, "HTTP/1.1");
    EXPECT_TRUE(req.headers.has_token("upgrade", "websocket")) << req.raw_head;
    EXPECT_TRUE(req.headers.has_token("connection", "upgrade")) << req.raw_head;
    EXPECT_EQ(req.headers.get("sec-websocket-protocol"), "chat") << req.raw_head;
    EXPECT_EQ(p.log.tunnels.load(), 2);
}

// ================================================================ control: weights, reloads, drains, SIGTERM

TEST(TunnelControl, AWeightChangeKeepsOpenTunnelsAndSendsNewOnesToTheNewSplit) {
    WsEchoBackend a("a"), b("b");
    ASSERT_TRUE(a.started() && b.started()) << a.output() << b.output();
    WeirProcess weir(two_pools(a.address(), b.address(), 100, 0).yaml());

    Tunnels old;
    ASSERT_NO_FATAL_FAILURE(open_tunnels_to(old, weir.port(), 6, "a"));

    Response put = admin_request(weir.admin_port(), "PUT", "/routes/web/split", R"({"stable": 0, "canary": 100})");
    ASSERT_EQ(put.status, 200) << put.describe();

    expect_tunnels_kept(old, "still here ", "a");
    Tunnels fresh = open_tunnels(weir.port(), 6);
    for (auto& t : fresh) EXPECT_EQ(t->whoami(), "b") << "a new tunnel ignored the new split";
    for (auto& t : old) EXPECT_EQ(t->whoami(), "a");
    EXPECT_EQ(a.closed(), 0) << a.output();
}

TEST(TunnelControl, AnEndpointWeightChangeKeepsOpenTunnels) {
    WsEchoBackend a("a"), b("b");
    ASSERT_TRUE(a.started() && b.started()) << a.output() << b.output();
    ConfigSpec c = ConfigSpec::single(std::vector<std::string>{a.address(), b.address()});
    c.pools[0].endpoints[1].weight = 0;
    WeirProcess weir(c.yaml());

    Tunnels old;
    ASSERT_NO_FATAL_FAILURE(open_tunnels_to(old, weir.port(), 4, "a"));
    Response put = admin_request(weir.admin_port(), "PUT", "/pools/stable/endpoints",
                                 R"([{"address": ")" + a.address() + R"(", "weight": 0}, {"address": ")" +
                                     b.address() + R"(", "weight": 1}])");
    ASSERT_EQ(put.status, 200) << put.describe();
    expect_tunnels_kept(old, "kept ", "a");
    EXPECT_TRUE(wait_for([&] { return WsClient(weir.port()).whoami() == "b"; }, 5s, 50ms))
        << "new tunnels do not follow the new endpoint weights";
    Tunnels fresh = open_tunnels(weir.port(), 4);
    for (auto& t : fresh) EXPECT_EQ(t->whoami(), "b");
    for (auto& t : old) EXPECT_EQ(t->whoami(), "a");
    EXPECT_EQ(a.closed(), 0) << a.output();
}

TEST(TunnelControl, AReloadKeepingRouteAndPoolKeepsOpenTunnels) {
    WsEchoBackend a("a"), b("b");
    ASSERT_TRUE(a.started() && b.started()) << a.output() << b.output();
    ConfigSpec c = two_pools(a.address(), b.address(), 100, 0, "2s");
    WeirProcess weir(c.yaml());
    Tunnels old;
    ASSERT_NO_FATAL_FAILURE(open_tunnels_to(old, weir.port(), 3, "a"));

    c.routes[0].split = {{"stable", 0}, {"canary", 100}};
    c.idle_timeout = "6s";
    ASSERT_NO_FATAL_FAILURE(reload(weir, c));

    for (auto& t : old) EXPECT_EQ(t->whoami(), "a");
    EXPECT_TRUE(wait_for([&] { return WsClient(weir.port()).whoami() == "b"; }, 5s, 50ms))
        << "new tunnels do not follow the reloaded split";
    // Past the drain timeout: a reload that keeps the tunnel's route, pool and
    // endpoint never closes it.
    wait_out(3500ms);
    expect_tunnels_kept(old, "after ", "a");
    EXPECT_EQ(a.closed(), 0) << a.output();
}

enum class Removed { route, pool, endpoint };
const char* to_string(Removed r) {
    return r == Removed::route ? "route" : r == Removed::pool ? "pool" : "endpoint";
}

// Route "ws" (/ws -> pool "stable", backend a) and route "web" (/ -> pool
// "canary", backend b); the reload removes what the tunnel on /ws uses. The
// tunnel works right after the reload, closes once drain_timeout (3s) has
// passed, and a new tunnel on /ws reaches b.
void reload_removing(Removed what) {
    SCOPED_TRACE(to_string(what));
    WsEchoBackend a("a"), b("b");
    ASSERT_TRUE(a.started() && b.started()) << a.output() << b.output();
    ConfigSpec c;
    c.drain_timeout = "3s";
    c.pools.push_back(PoolSpec{.name = "stable", .endpoints = {{a.address(), 1}}});
    c.pools.push_back(PoolSpec{.name = "canary", .endpoints = {{b.address(), 1}}});
    RouteSpec ws_route;
    ws_route.name = "ws";
    ws_route.path_prefix = "/ws";
    ws_route.split = {{"stable", 1}};
    RouteSpec web;
    web.split = {{"canary", 1}};
    c.routes = {ws_route, web};
    WeirProcess weir(c.yaml());

    WsClient t(weir.port(), nullptr, "/ws/feed");
    ASSERT_TRUE(t.open()) << t.describe();
    ASSERT_EQ(t.whoami(), "a");

    switch (what) {
        case Removed::route: c.routes = {web}; break;
        case Removed::pool:
            c.pools.erase(c.pools.begin());
            c.routes[0].split = {{"canary", 1}};
            break;
        case Removed::endpoint: c.pools[0].endpoints = {{b.address(), 1}}; break;
    }
    Clock::time_point sent;
    ASSERT_NO_FATAL_FAILURE(reload(weir, c, &sent));
    EXPECT_TRUE(echoes(t, "right after the reload"))
        << "the tunnel did not get its drain_timeout";
    // New tunnels follow the new config (on every worker within a second).
    EXPECT_TRUE(wait_for([&] { return WsClient(weir.port(), nullptr, "/ws/feed").whoami() == "b"; }, 5s, 50ms))
        << "new tunnels still reach the old backend";

    EXPECT_TRUE(t.raw().wait_closed(15s)) << "the tunnel outlived the removal of its " << to_string(what) << "\n"
                                          << weir.log();
    EXPECT_GE(ms_since(sent), 2700) << "closed before drain_timeout";
    EXPECT_TRUE(a.wait_closed(1, 5s)) << "the backend side of the tunnel stayed open\n" << a.output();
    EXPECT_TRUE(weir.running());
}

TEST(TunnelControl, AReloadRemovingTheRouteClosesItsTunnelsAfterDrainTimeout) { reload_removing(Removed::route); }
TEST(TunnelControl, AReloadRemovingThePoolClosesItsTunnelsAfterDrainTimeout) { reload_removing(Removed::pool); }
TEST(TunnelControl, AReloadRemovingTheEndpointClosesItsTunnelsAfterDrainTimeout) {
    reload_removing(Removed::endpoint);
}

TEST(TunnelControl, AnEndpointDrainCountsTunnelsThenClosesThemAfterDrainTimeout) {
    WsProxy p;
    ASSERT_NO_FATAL_FAILURE(p.start_with_tunnels(3, "3s"));
    WsEchoBackend& a = p.a;
    Tunnels& ts = p.tunnels;
    const std::uint16_t admin = p.admin_port();
    EXPECT_TRUE(endpoint_number_becomes(admin, a.address(), "tunnels", 3)) << pools_text(admin);
    EXPECT_TRUE(endpoint_number_becomes(admin, a.address(), "in_flight", 3))
        << "open tunnels are not counted in in_flight\n" << pools_text(admin);

    const auto sent = Clock::now();
    Response r = admin_request(admin, "POST", "/pools/stable/endpoints/" + a.address() + "/drain");
    ASSERT_EQ(r.status, 200) << r.describe();
    for (std::size_t i = 0; i < ts.size(); ++i)
        EXPECT_TRUE(echoes(*ts[i], "draining " + std::to_string(i)));
    for (std::size_t i = 0; i < ts.size(); ++i)
        EXPECT_TRUE(ts[i]->raw().wait_closed(15s)) << "tunnel " << i << " outlived the drain";
    EXPECT_GE(ms_since(sent), 2700) << "closed before drain_timeout";
    EXPECT_TRUE(a.wait_closed(3, 5s)) << a.output();
    EXPECT_TRUE(endpoint_number_becomes(admin, a.address(), "tunnels", 0)) << pools_text(admin);
    EXPECT_TRUE(endpoint_number_becomes(admin, a.address(), "in_flight", 0)) << pools_text(admin);
    EXPECT_TRUE(p.weir->running());
}

TEST(TunnelControl, AnUndrainBeforeDrainTimeoutKeepsTheTunnels) {
    WsProxy p;
    ASSERT_NO_FATAL_FAILURE(p.start_with_tunnels(2, "2s"));
    const std::uint16_t admin = p.admin_port();
    ASSERT_EQ(admin_request(admin, "POST", "/pools/stable/endpoints/" + p.a.address() + "/drain").status, 200);
    ASSERT_EQ(admin_request(admin, "POST", "/pools/stable/endpoints/" + p.a.address() + "/undrain").status, 200);
    wait_out(4s);  // twice the drain timeout
    for (std::size_t i = 0; i < p.tunnels.size(); ++i) {
        EXPECT_TRUE(echoes(*p.tunnels[i], "kept " + std::to_string(i)))
            << "an undrained endpoint's tunnel was closed";
    }
    EXPECT_EQ(p.a.closed(), 0) << p.a.output();
    EXPECT_EQ(endpoint_number(admin, "stable", p.a.address(), "tunnels"), 2) << pools_text(admin);
}

TEST(TunnelControl, SigtermKeepsTunnelsUntilDrainTimeoutThenExitsZero) {
    WsProxy p;
    ASSERT_NO_FATAL_FAILURE(p.start("3s"));
    WsEchoBackend& a = p.a;
    WeirProcess& weir = *p.weir;

    WsClient t(weir.port());
    ASSERT_TRUE(t.open()) << t.describe();
    ASSERT_EQ(t.whoami(), "a");
    const auto sent = Clock::now();
    weir.signal(SIGTERM);
    EXPECT_TRUE(echoes(t, "after SIGTERM"));
    EXPECT_TRUE(wait_for([&] { return connection_refused(weir.port()); }, 2s)) << "the listener still accepts";
    wait_out(1s);
    EXPECT_TRUE(echoes(t, "still draining")) << "the tunnel was cut before drain_timeout";
    EXPECT_TRUE(t.raw().wait_closed(15s)) << "the tunnel outlived the drain\n" << weir.log();
    EXPECT_GE(ms_since(sent), 2700) << "closed before drain_timeout";
    auto code = weir.wait_exit(15s);
    ASSERT_TRUE(code.has_value()) << "weir did not exit after drain_timeout\n" << weir.log();
    EXPECT_EQ(*code, 0) << weir.log();
    EXPECT_TRUE(a.wait_closed(1, 5s)) << a.output();
}

// ================================================================ telemetry

TEST(TunnelTelemetry, TheTunnelsGaugeFollowsOpenTunnels) {
    WsProxy p;
    ASSERT_NO_FATAL_FAILURE(p.start_with_tunnels(3));
    Tunnels& ts = p.tunnels;
    const std::uint16_t admin = p.admin_port();
    EXPECT_TRUE(tunnels_gauge_becomes(admin, 3.0)) << metrics_text(admin);

    EXPECT_TRUE(ts[0]->close_handshake());
    EXPECT_TRUE(tunnels_gauge_becomes(admin, 2.0)) << metrics_text(admin);

    ts[1]->raw().close();
    ts[2]->raw().abort();
    EXPECT_TRUE(tunnels_gauge_becomes(admin, 0.0)) << metrics_text(admin);
}

TEST(TunnelTelemetry, TheAccessLogLineIsWrittenWhenTheTunnelEnds) {
    RawTunnelProxy p({.greeting = "hi!"}, {}, "access_log: {path: access.log}\n");
    auto& up = p.up;
    WeirProcess& weir = *p.weir;
    const std::string path = weir.dir() + "/access.log";

    RawClient c(weir.port());
    Response r = open_raw(c, "/ws/feed");
    ASSERT_EQ(r.status, 101) << r.describe();
    ASSERT_EQ(read_n(c, 3), "hi!");
    const std::string first = pattern_string(1000);
    ASSERT_TRUE(c.send(first));
    ASSERT_TRUE(read_n(c, first.size()) == first);
    const std::string second = pattern_string(24, 1000);
    ASSERT_TRUE(c.send(second));
    ASSERT_TRUE(read_n(c, second.size()) == second);
    wait_out(1500ms);  // the tunnel's life, for duration_ms

    // A plain request's line comes out while the tunnel is open, the tunnel's does not.
    ASSERT_EQ(fetch(weir.port(), "/plain").status, 200);
    ASSERT_TRUE(wait_for([&] { return !lines_of(path).empty(); }, 10s)) << weir.log();
    for (const auto& line : lines_of(path))
        EXPECT_EQ(line.find("\"status\":101"), std::string::npos) << "logged before the tunnel ended: " << line;

    c.close();
    ASSERT_TRUE(wait_for(
        [&] {
            for (const auto& line : lines_of(path))
                if (line.find("\"status\":101") != std::string::npos) return true;
            return false;
        },
        10s))
        << "no line for the tunnel\n" << read_file(path);
    int tunnel_lines = 0;
    for (const auto& line : lines_of(path)) {
        json::value v = parse_json(line);
        ASSERT_TRUE(v.is_object()) << "not JSON: " << line;
        const auto& o = v.as_object();
        if (!o.contains("status") || o.at("status").to_number<std::int64_t>() != 101) continue;
        ++tunnel_lines;
        EXPECT_EQ(o.at("route").as_string(), "web") << line;
        EXPECT_EQ(o.at("pool").as_string(), "stable") << line;
        EXPECT_EQ(o.at("endpoint").as_string(), up.address()) << line;
        EXPECT_EQ(o.at("method").as_string(), "GET") << line;
        EXPECT_EQ(o.at("path").as_string(), "/ws/feed") << line;
        ASSERT_TRUE(o.contains("bytes_from_client") && o.contains("bytes_from_upstream")) << line;
        EXPECT_EQ(o.at("bytes_from_client").to_number<std::int64_t>(), 1024) << line;
        EXPECT_EQ(o.at("bytes_from_upstream").to_number<std::int64_t>(), 1027) << line;
        EXPECT_GE(o.at("duration_ms").to_number<double>(), 1400.0) << "duration_ms must cover the tunnel's life: " << line;
    }
    EXPECT_EQ(tunnel_lines, 1);
}

// ================================================================ handshakes refused or malformed

TEST(TunnelHandshake, AnUpgradeRequestWithABodyIs400) {
    RawTunnelProxy p;
    auto& up = p.up;
    WeirProcess& weir = *p.weir;
    const std::string head = "GET /ws HTTP/1.1\r\nHost: test.local\r\nUpgrade: websocket\r\nConnection: upgrade\r\n";
    {
        RawClient c(weir.port());
        Response r = c.request(head + "Content-Length: 5\r\n\r\nhello");
        EXPECT_EQ(r.status, 400) << r.describe();
    }
    {
        RawClient c(weir.port());
        Response r = c.request(head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        EXPECT_EQ(r.status, 400) << r.describe();
    }
    EXPECT_EQ(up.request_count(), 0u) << "an upgrade with a body reached the origin";
    // Content-Length: 0 is no body.
    RawClient c(weir.port());
    Response r = open_raw(c, "/ws", "Content-Length: 0\r\n");
    EXPECT_EQ(r.status, 101) << r.describe();
    ASSERT_TRUE(c.send("zero"));
    EXPECT_EQ(read_n(c, 4), "zero");
}

TEST(TunnelHandshake, UpgradeOnHttp10IsIgnored) {
    RawTunnelProxy p;
    auto& up = p.up;
    RawClient c(p.port());
    Response r = c.request("GET /ws HTTP/1.0\r\nHost: test.local\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.body, "plain") << r.describe();
    ASSERT_EQ(up.request_count(), 1u);
    const UpstreamRequest req = up.requests()[0];
    EXPECT_FALSE(req.headers.has("upgrade")) << req.raw_head;
    EXPECT_FALSE(req.headers.has_token("connection", "upgrade")) << req.raw_head;
    EXPECT_EQ(p.log.tunnels.load(), 0);
}

TEST(TunnelHandshake, AProtocolTheRouteDoesNotAllowIsStripped) {
    RawTunnelProxy p({}, [](ConfigSpec& c) {
        RouteSpec closed;
        closed.name = "closed";
        closed.path_prefix = "/closed";
        closed.split = {{"stable", 1}};
        closed.upgrade = std::vector<std::string>{};
        RouteSpec custom;
        custom.name = "custom";
        custom.path_prefix = "/custom";
        custom.split = {{"stable", 1}};
        custom.upgrade = std::vector<std::string>{"foo"};
        c.routes.insert(c.routes.begin(), {closed, custom});
    });
    auto& up = p.up;
    RawTunnelLog& log = p.log;
    WeirProcess& weir = *p.weir;

    {  // `upgrade: []`: websocket is not let through.
        RawClient cl(weir.port());
        Response r = open_raw(cl, "/closed/ws");
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.body, "plain") << r.describe();
    }
    {  // The default allows websocket only.
        RawClient cl(weir.port());
        Response r = request_interim(
            cl, "GET /other HTTP/1.1\r\nHost: test.local\r\nUpgrade: foo/1\r\nConnection: upgrade\r\n\r\n");
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.body, "plain") << r.describe();
    }
    {  // `upgrade: [foo]`: websocket is not let through there either.
        RawClient cl(weir.port());
        Response r = open_raw(cl, "/custom/ws");
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.body, "plain") << r.describe();
    }
    ASSERT_EQ(up.request_count(), 3u);
    for (const auto& req : up.requests()) {
        EXPECT_FALSE(req.headers.has("upgrade")) << req.raw_head;
        EXPECT_FALSE(req.headers.has_token("connection", "upgrade")) << req.raw_head;
    }
    EXPECT_EQ(log.tunnels.load(), 0);
    {  // ... but foo is.
        RawClient cl(weir.port());
        Response r = request_interim(
            cl, "GET /custom/x HTTP/1.1\r\nHost: test.local\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n");
        ASSERT_EQ(r.status, 101) << r.describe();
        EXPECT_TRUE(r.headers.has_token("upgrade", "foo")) << r.describe();
        ASSERT_TRUE(cl.send("over foo"));
        EXPECT_EQ(read_n(cl, 8), "over foo");
        ASSERT_EQ(up.request_count(), 4u);
        EXPECT_EQ(up.requests()[3].headers.get("upgrade"), "foo") << up.requests()[3].raw_head;
    }
    // The default route still tunnels websocket.
    RawClient cl(weir.port());
    EXPECT_EQ(open_raw(cl, "/ws").status, 101);
    ASSERT_TRUE(cl.send("ws"));
    EXPECT_EQ(read_n(cl, 2), "ws");
}

struct BadSwitch {
    const char* name;
    bool upgrade_request;  // the client asked for websocket
    std::string answer;    // the origin's answer head
};

TEST(TunnelHandshake, ABadOrUnaskedFor101Is502) {
    const std::vector<BadSwitch> cases = {
        {"no Upgrade header", true, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n"},
        {"Content-Length", true,
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n"},
        {"Transfer-Encoding", true,
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
         "Transfer-Encoding: chunked\r\n\r\n"},
        {"a protocol not offered", true,
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"},
        {"no upgrade asked", false,
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"},
    };
    for (const auto& k : cases) {
        SCOPED_TRACE(k.name);
        FakeUpstream up("stable");
        up.set_handler([&](UpstreamConn& c, const UpstreamRequest&) {
            c.send(k.answer + "tunnel bytes");
            c.wait_peer_closed(10s);
            return After::close;
        });
        WeirProcess weir(ConfigSpec::single(up.address()).yaml());
        RawClient c(weir.port());
        Response r = request_interim(c, k.upgrade_request ? raw_upgrade_request("/ws") : get_request("/ws"));
        EXPECT_EQ(r.status, 502) << r.describe();
        EXPECT_EQ(r.body.find("tunnel bytes"), std::string::npos) << r.describe();
        EXPECT_TRUE(up.wait_all_closed(5s)) << "the origin connection that sent the bad 101 stayed open";
    }
}

TEST(TunnelHandshake, AnOriginThatNeverAnswersIs504) {
    FakeUpstream up("stable");
    up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
        c.wait_peer_closed(30s);
        return After::close;
    });
    ConfigSpec cfg = ConfigSpec::single(up.address());
    cfg.pools[0].response_timeout = "1s";
    WeirProcess weir(cfg.yaml());
    RawClient c(weir.port(), 15s);
    const auto start = Clock::now();
    Response r = open_raw(c);
    EXPECT_EQ(r.status, 504) << r.describe();
    EXPECT_GE(ms_since(start), 900) << "answered before response_timeout";
    EXPECT_LT(ms_since(start), 10000);
}

TEST(TunnelHandshake, ARefusedUpgradeIsRelayedAndTheConnectionCloses) {
    FakeUpstream up("stable");
    up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
        c.send(make_response(403, "not for you"));
        return After::keep_alive;
    });
    WeirProcess weir(ConfigSpec::single(up.address()).yaml());
    RawClient c(weir.port());
    Response r = open_raw(c);
    EXPECT_EQ(r.status, 403) << r.describe();
    EXPECT_EQ(r.body, "not for you");
    EXPECT_TRUE(r.connection_close()) << r.describe();
    EXPECT_TRUE(c.wait_closed(5s)) << "the client connection stayed open after a refused upgrade";
    ASSERT_EQ(up.request_count(), 1u);
    EXPECT_TRUE(up.requests()[0].headers.has_token("upgrade", "websocket")) << up.requests()[0].raw_head;
}

// ================================================================ one side goes away

TEST(TunnelEnds, ABackendKilledMidTunnelClosesTheClient) {
    WsProxy p;
    ASSERT_NO_FATAL_FAILURE(p.start());
    WsClient t(p.port());
    ASSERT_TRUE(t.open()) << t.describe();
    ASSERT_TRUE(echoes(t, "before"));
    p.a.kill();
    EXPECT_TRUE(t.raw().wait_closed(5s)) << "the client side stayed open after the backend died";
}

TEST(TunnelEnds, AnOriginClosingOrResettingMidTunnelClosesTheClient) {
    for (bool reset : {false, true}) {
        SCOPED_TRACE(reset ? "reset" : "close");
        // A reset may discard bytes in flight: none are sent.
        RawTunnelProxy p({.echo = !reset, .close_after_bytes = 4, .reset = reset});
        auto& up = p.up;
        RawClient c(p.port());
        ASSERT_EQ(open_raw(c).status, 101);
        ASSERT_TRUE(c.send("abcd"));
        if (!reset) EXPECT_EQ(read_n(c, 4), "abcd") << "bytes sent before the origin's FIN were lost";
        std::string extra;
        EXPECT_TRUE(closed_within(c, 5s, &extra)) << "the client side stayed open after the origin went away";
        EXPECT_EQ(extra, "");
        EXPECT_TRUE(up.wait_all_closed(5s));
    }
}

TEST(TunnelEnds, TheClientClosingClosesTheBackend) {
    WsProxy p;
    ASSERT_NO_FATAL_FAILURE(p.start());
    WsEchoBackend& a = p.a;
    {
        WsClient t(p.port());
        ASSERT_TRUE(t.open()) << t.describe();
        ASSERT_TRUE(echoes(t, "x"));
        t.raw().close();  // no close handshake: the TCP connection just ends
        EXPECT_TRUE(a.wait_closed(1, 5s)) << "the backend did not see the client go\n" << a.output();
    }
    {
        WsClient t(p.port());
        ASSERT_TRUE(t.open()) << t.describe();
        ASSERT_TRUE(echoes(t, "y"));
        t.raw().abort();  // a reset
        EXPECT_TRUE(a.wait_closed(2, 5s)) << "the backend did not see the client's reset\n" << a.output();
    }
}

TEST(TunnelEnds, AClientHalfCloseIsPassedOnAndTheOriginMayStillAnswer) {
    RawTunnelProxy p({.farewell = "bye after your FIN"});
    auto& up = p.up;
    RawTunnelLog& log = p.log;
    const std::string& farewell = p.script.farewell;
    RawClient c(p.port());
    ASSERT_EQ(open_raw(c).status, 101);
    ASSERT_TRUE(c.send("last words"));
    ASSERT_EQ(read_n(c, 10), "last words");
    c.shutdown_write();
    EXPECT_TRUE(wait_for([&] { return log.peer_fin.load() == 1; }, 5s)) << "the origin never got the client's FIN";
    EXPECT_EQ(log.peer_reset.load(), 0);
    EXPECT_EQ(read_n(c, farewell.size()), farewell)
        << "the origin's answer after the client's FIN was lost";
    EXPECT_TRUE(c.wait_closed(5s)) << "the tunnel did not end once both directions were done";
    EXPECT_TRUE(up.wait_all_closed(5s));
}

TEST(TunnelEnds, NoDescriptorIsLeftBehind) {
    RawTunnelLog log;
    RawTunnelLog log_close;
    RawTunnelLog log_reset;
    FakeUpstream up("stable");
    Handler echo = raw_tunnel_handler(log);
    Handler origin_close = raw_tunnel_handler(log_close, RawTunnelScript{.close_after_bytes = 1});
    Handler origin_reset = raw_tunnel_handler(log_reset, RawTunnelScript{.echo = false, .close_after_bytes = 1, .reset = true});
    up.set_handler([&](UpstreamConn& c, const UpstreamRequest& req) {
        if (req.target == "/ws/origin-close") return origin_close(c, req);
        if (req.target == "/ws/origin-reset") return origin_reset(c, req);
        return echo(c, req);
    });
    ConfigSpec cfg = ConfigSpec::single(up.address());
    WeirProcess weir(cfg.yaml());
    {  // warm-up: the first tunnel through each worker
        for (int i = 0; i < 4; ++i) {
            RawClient c(weir.port());
            ASSERT_EQ(open_raw(c).status, 101);
            ASSERT_TRUE(c.send("w"));
            ASSERT_EQ(read_n(c, 1), "w");
            c.close();
        }
    }
    ASSERT_TRUE(up.wait_all_closed(5s));
    const int baseline = open_fds(weir.pid());
    ASSERT_GT(baseline, 0);

    const char* kinds[] = {"client-close", "client-reset", "client-fin", "origin-close", "origin-reset"};
    for (int round = 0; round < 3; ++round) {
        std::vector<std::unique_ptr<RawClient>> open;
        for (int i = 0; i < 20; ++i) {
            const std::string kind = kinds[i % 5];
            auto c = std::make_unique<RawClient>(weir.port());
            ASSERT_EQ(open_raw(*c, "/ws/" + kind).status, 101) << kind;
            open.push_back(std::move(c));
        }
        EXPECT_GT(open_fds(weir.pid()), baseline + 20) << "20 open tunnels hold no descriptors?";
        for (int i = 0; i < 20; ++i) {
            const std::string kind = kinds[i % 5];
            RawClient& c = *open[i];
            ASSERT_TRUE(c.send("z"));
            if (kind != "origin-reset") ASSERT_EQ(read_n(c, 1), "z") << kind;
            if (kind == "client-close") c.close();
            if (kind == "client-reset") c.abort();
            if (kind == "client-fin") {
                c.shutdown_write();
                EXPECT_TRUE(c.wait_closed(5s)) << kind;
            }
            if (kind == "origin-close" || kind == "origin-reset") EXPECT_TRUE(closed_within(c, 5s)) << kind;
        }
        open.clear();
        EXPECT_TRUE(up.wait_all_closed(10s)) << up.open_connections() << " origin connection(s) left open";
    }
    EXPECT_TRUE(wait_for([&] { return open_fds(weir.pid()) <= baseline; }, 10s, 50ms))
        << "descriptors: baseline " << baseline << ", now " << open_fds(weir.pid());
    // And the proxy still tunnels.
    RawClient c(weir.port());
    ASSERT_EQ(open_raw(c).status, 101);
    ASSERT_TRUE(c.send("ok"));
    EXPECT_EQ(read_n(c, 2), "ok");
}

// ================================================================ timeouts

TEST(TunnelTimeouts, TheIdleTimeoutClosesAQuietTunnelOnly) {
    RawTunnelProxy p({}, [](ConfigSpec& c) { c.routes[0].tunnel_idle_timeout = "1s"; });
    RawClient c(p.port(), 15s);
    ASSERT_EQ(open_raw(c).status, 101);
    // Bytes every 200 ms (either way counts) for 3 s: not idle.
    const auto busy_until = Clock::now() + 3s;
    int n = 0;
    auto quiet_since = Clock::now();
    for (;;) {
        const std::string msg = "m" + std::to_string(n++ % 10);
        ASSERT_TRUE(c.send(msg)) << "closed while busy, after " << n << " messages";
        ASSERT_EQ(read_n(c, msg.size()), msg) << "closed while busy, after " << n << " messages";
        quiet_since = Clock::now();  // the last byte either way
        if (quiet_since >= busy_until) break;
        wait_out(200ms);
    }
    EXPECT_TRUE(c.wait_closed(10s)) << "an idle tunnel outlived tunnel_idle_timeout";
    EXPECT_GE(ms_since(quiet_since), 900) << "closed before tunnel_idle_timeout";
    EXPECT_TRUE(p.up.wait_all_closed(5s));
}

TEST(TunnelTimeouts, AReloadedIdleTimeoutAppliesToOpenTunnels) {
    RawTunnelProxy p;  // the default tunnel_idle_timeout: 1h
    RawClient c(p.port(), 15s);
    ASSERT_EQ(open_raw(c).status, 101);
    ASSERT_TRUE(c.send("before"));
    ASSERT_EQ(read_n(c, 6), "before");

    ConfigSpec cfg = p.config;
    cfg.routes[0].tunnel_idle_timeout = "1s";
    ASSERT_NO_FATAL_FAILURE(reload(*p.weir, cfg));
    EXPECT_TRUE(c.wait_closed(10s)) << "an open tunnel kept the old tunnel_idle_timeout after a reload";
    EXPECT_TRUE(p.up.wait_all_closed(5s));
}

TEST(TunnelTimeouts, MaxTunnelAgeClosesABusyTunnel) {
    RawTunnelProxy p({}, [](ConfigSpec& c) { c.routes[0].max_tunnel_age = "2s"; });
    RawClient c(p.port(), 15s);
    const auto start = Clock::now();
    ASSERT_EQ(open_raw(c).status, 101);
    // Keep it busy until the age limit (between 1.5 s and 2 s) ends it.
    bool closed = false;
    long long age_ms = 0;
    while (ms_since(start) < 15000) {
        if (!c.send("tick") || read_n(c, 4) != "tick") {
            age_ms = ms_since(start);
            closed = c.wait_closed(5s);
            break;
        }
        wait_out(100ms);
    }
    EXPECT_TRUE(closed) << "the tunnel outlived max_tunnel_age";
    EXPECT_GE(age_ms, 1400) << "closed before 75% of max_tunnel_age";
    EXPECT_LT(age_ms, 6000) << "closed long after max_tunnel_age";
    EXPECT_TRUE(p.up.wait_all_closed(5s));
}

TEST(TunnelTimeouts, MaxTunnelAgesAreSpreadOverTheLastQuarter) {
    RawTunnelProxy p({}, [](ConfigSpec& c) { c.routes[0].max_tunnel_age = "2s"; });
    constexpr int n = 8;
    std::vector<std::unique_ptr<RawClient>> cs;
    std::vector<Clock::time_point> opened;
    for (int i = 0; i < n; ++i) {
        opened.push_back(Clock::now());
        cs.push_back(std::make_unique<RawClient>(p.port(), 15s));
        ASSERT_EQ(open_raw(*cs.back()).status, 101);
    }
    // Every close seen as it happens: one poll over all of them.
    std::vector<long long> age(n, -1);
    const auto deadline = Clock::now() + 15s;
    int left = n;
    while (left > 0 && Clock::now() < deadline) {
        std::vector<pollfd> fds;
        for (int i = 0; i < n; ++i) fds.push_back({cs[i]->fd(), static_cast<short>(age[i] < 0 ? POLLIN : 0), 0});
        if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
        for (int i = 0; i < n; ++i) {
            if (age[i] >= 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            age[i] = std::chrono::duration_cast<Millis>(Clock::now() - opened[i]).count();
            EXPECT_TRUE(cs[i]->wait_closed(1s)) << "tunnel " << i << " sent bytes instead of closing";
            --left;
        }
    }
    ASSERT_EQ(left, 0) << "tunnels outlived max_tunnel_age";
    const auto [lo, hi] = std::minmax_element(age.begin(), age.end());
    for (int i = 0; i < n; ++i) {
        EXPECT_GE(age[i], 1450) << "tunnel " << i << " closed before 75% of max_tunnel_age";
        EXPECT_LT(age[i], 6000) << "tunnel " << i;
    }
    // Ages drawn from 1.5-2 s: eight of them within 50 ms of each other is a
    // chance below one in a million.
    EXPECT_GE(*hi - *lo, 50) << "every tunnel got the same age (" << *lo << " to " << *hi << " ms): no jitter";
}

// ================================================================ TLS

TEST(TunnelTls, WebSocketEchoOverATlsListener) {
    WsEchoBackend a("a");
    ASSERT_TRUE(a.started()) << a.output();
    SingleProxy p(Transport::tls, [&](ConfigSpec& c) { c.pools[0].endpoints = {{a.address(), 1}}; });
    {
        WsClient t(p.port(), &p.client_tls);
        ASSERT_TRUE(t.open()) << t.describe();
        EXPECT_TRUE(echoes(t, "over tls"));
        EXPECT_EQ(t.whoami(), "a");
        const std::string big = pattern_string(1 << 20, 11);
        EXPECT_TRUE(echoes(t, big, true)) << "the 1 MiB message came back damaged";
        for (int i = 0; i < 10; ++i) EXPECT_TRUE(echoes(t, "n" + std::to_string(i)));
        EXPECT_TRUE(t.close_handshake()) << "the close handshake did not end with the connection closed";
    }
    {  // The backend going away closes the TLS client too.
        WsClient t(p.port(), &p.client_tls);
        ASSERT_TRUE(t.open()) << t.describe();
        ASSERT_TRUE(echoes(t, "before"));
        a.kill();
        EXPECT_TRUE(t.raw().wait_closed(5s)) << "the TLS client stayed open after the backend died";
    }
}

TEST(TunnelTls, RawTunnelBytesOverATlsListener) {
    RawTunnelLog log;
    SingleProxy p(Transport::tls);
    RawTunnelScript script;
    script.greeting = "tls hello";
    p.up.set_handler(raw_tunnel_handler(log, script));
    RawClient c = p.connect();
    ASSERT_TRUE(c.connected()) << c.tls_error();
    ASSERT_EQ(open_raw(c).status, 101);
    ASSERT_EQ(read_n(c, script.greeting.size()), script.greeting);
    for (std::size_t n : {1u, 1000u, 16384u, 16385u, 49152u, 65536u, 100000u, 1u << 20}) {
        const std::string payload = pattern_string(n, n);
        ASSERT_TRUE(c.send(payload));
        const std::string back = read_n(c, payload.size());
        std::size_t i = 0;
        while (i < back.size() && back[i] == payload[i]) ++i;
        EXPECT_TRUE(back == payload) << n << " bytes sent, " << back.size() << " read back, first difference at "
                                     << i << " (bytes the origin received so far: " << log.bytes_in.load() << ")";
        if (back != payload) break;
    }
    c.shutdown_write();
    EXPECT_TRUE(wait_for([&] { return log.peer_fin.load() == 1; }, 5s)) << "the origin never got the client's close";
    EXPECT_TRUE(c.wait_closed(5s));
}

}  // namespace
}  // namespace weir_it
