// HTTP/2 to endpoints (`protocol: h2`, docs/config.md "HTTP/2 to endpoints")
// end to end: HTTP/2 clients on a plain listener with `http2: true`, a pool
// whose endpoint is tests/support/h2_backend.py (an h2c server on python3-h2
// that can refuse streams, send GOAWAY, reset after the response head, go
// silent, or answer late, and logs what it saw per connection as JSON lines).
//
// What is checked: requests and their bodies, trailers and forwarded fields
// both ways, 505 for HTTP/1.1 clients; many streams over few shared upstream
// connections, the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS respected;
// REFUSED_STREAM retried (a POST too, while none of its body was sent);
// a GOAWAY followed by a new connection; a reset after the response head
// passed on as a reset; a silent endpoint (504, then the connection closed
// after an unanswered PING); a client's reset passed on as CANCEL; the idle
// close; a split change and a reload keeping the connection.
#include "h2_support.hpp"
#include "script_process.hpp"

#include <algorithm>
#include <functional>
#include <future>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#ifndef WEIR_SOURCE_DIR
#error "WEIR_SOURCE_DIR must be defined by the build"
#endif

namespace weir_it {
namespace {

using namespace h2;

constexpr std::uint32_t kCancel = 0x8;

// ---------------------------------------------------------------- the backend

// tests/support/h2_backend.py as a child process, its events read from its log.
class H2Backend {
public:
    explicit H2Backend(const std::string& name, std::vector<std::string> args = {})
        : name_(name), proc_("h2_backend.py", with_log(name, log_path_, std::move(args)), kOptions) {
        if (!proc_.started()) throw std::runtime_error("h2_backend.py did not print its port: " + proc_.output());
    }

    std::uint16_t port() const { return proc_.port(); }
    std::string address() const { return proc_.address(); }

    std::vector<json::object> events(const std::string& ev = "") const {
        std::vector<json::object> out;
        for (const std::string& line : lines_of(log_path_)) {
            json::value v = parse_json(line);
            if (!v.is_object()) continue;  // a line being written
            const json::object& o = v.as_object();
            if (!ev.empty() && (!o.contains("ev") || o.at("ev").as_string() != ev)) continue;
            out.push_back(o);
        }
        return out;
    }
    std::size_t count(const std::string& ev) const { return events(ev).size(); }
    std::size_t connections() const { return count("accept"); }
    std::size_t closes() const { return count("close"); }
    // The most streams under way at once on one connection.
    std::int64_t max_concurrent() const {
        std::int64_t m = 0;
        for (const auto& e : events("stream")) m = std::max(m, e.at("open").to_number<std::int64_t>());
        return m;
    }
    // Streams whose request headers arrived, for `path` (all if empty).
    std::size_t streams(const std::string& path = "") const {
        std::size_t n = 0;
        for (const auto& e : events("stream"))
            if (path.empty() || e.at("path").as_string() == path) ++n;
        return n;
    }
    std::string log() const { return "backend " + name_ + " events:\n" + read_file(log_path_) + "\nstdout/stderr:\n" + proc_.output(); }

private:
    static constexpr ScriptOptions kOptions{.capture_stderr = true, .stop_by_sigterm = true, .grace = 5s};

    static std::vector<std::string> with_log(const std::string& name, const std::string& log,
                                             std::vector<std::string> args) {
        std::vector<std::string> all = {"--name", name, "--log", log};
        all.insert(all.end(), args.begin(), args.end());
        return all;
    }

    std::string name_;
    TempDir dir_;
    std::string log_path_ = dir_.path + "/events";
    ScriptProcess proc_;
};

std::int64_t num(const json::object& o, const char* k) { return o.at(k).to_number<std::int64_t>(); }

// ---------------------------------------------------------------- weir

struct PoolConf {
    std::string name = "stable";
    std::vector<std::pair<std::string, double>> endpoints;  // address, weight
    std::string connect_timeout = "1s";
    std::string response_timeout = "5s";
    std::string idle_timeout = "30s";
};

struct ProxyConf {
    int workers = 1;
    std::vector<PoolConf> pools;
    std::vector<std::pair<std::string, double>> split;  // empty: the first pool, 100

    std::string yaml() const {
        std::ostringstream y;
        y << "workers: " << workers << "\n";
        y << "drain_timeout: 2s\n";
        y << "listeners: [{name: public, address: \"127.0.0.1:0\", http2: true}]\n";
        y << "admin: {address: \"127.0.0.1:0\"}\n";
        y << "limits: {max_header_bytes: 65536, header_timeout: 5s, idle_timeout: 30s}\n";
        y << "pools:\n";
        for (const auto& p : pools) {
            y << "  - name: " << p.name << "\n";
            y << "    protocol: h2\n";
            y << "    endpoints:\n";
            for (const auto& [addr, w] : p.endpoints)
                y << "      - {address: \"" << addr << "\", weight: " << number_text(w) << "}\n";
            y << "    upstream: {connect_timeout: " << p.connect_timeout << ", response_timeout: " << p.response_timeout
              << ", idle_timeout: " << p.idle_timeout << "}\n";
        }
        y << "routes:\n";
        y << "  - name: web\n";
        y << "    match: {host: \"*\", path_prefix: /}\n";
        y << "    split: {";
        if (split.empty()) {
            y << pools.front().name << ": 100";
        } else {
            for (std::size_t i = 0; i < split.size(); ++i)
                y << (i ? ", " : "") << split[i].first << ": " << number_text(split[i].second);
        }
        y << "}\n";
        return y.str();
    }
};

ProxyConf single(const H2Backend& b, std::function<void(PoolConf&)> tweak = {}) {
    ProxyConf c;
    PoolConf p;
    p.endpoints = {{b.address(), 1}};
    if (tweak) tweak(p);
    c.pools.push_back(p);
    return c;
}

std::string metrics_text(std::uint16_t admin_port) { return admin_request(admin_port, "GET", "/metrics").body; }

double upstream_errors(std::uint16_t admin_port, const std::string& kind) {
    return metrics::parse_exposition(metrics_text(admin_port)).sum("weir_upstream_errors_total", {{"kind", kind}});
}

// Response header `name` from a curl -D dump (the last value, "" if none).
std::string dumped_header(const std::string& dump, const std::string& name) {
    std::string found;
    std::istringstream in(dump);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0) continue;
        if (!iequals(line.substr(0, colon), name)) continue;
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(' '));
        found = v;
    }
    return found;
}

std::string why(const WeirProcess& weir, const H2Backend& b) {
    std::string wl = weir.log();
    if (wl.size() > 6000) wl = "..." + wl.substr(wl.size() - 6000);
    return "weir log:\n" + wl + "\n" + b.log();
}

// ================================================================ basics

TEST(H2Upstream, GetAndPostReachTheEndpointWithTheForwardedFields) {
    H2Backend b("b1");
    WeirProcess weir(single(b).yaml());
    const std::string authority = "127.0.0.1:" + std::to_string(weir.port());
    TempDir dir;

    const std::string heads = dir.path + "/get";
    CurlResult get = curl_h2c(weir.port(), "/hello?x=1", {"-D", heads});
    ASSERT_EQ(get.status, 200) << get.describe() << "\n" << why(weir, b);
    EXPECT_EQ(get.http_version, "2");
    EXPECT_EQ(get.body, "b1 GET /hello?x=1");
    const std::string h = read_file(heads);
    EXPECT_EQ(dumped_header(h, "x-backend"), "b1") << h;
    EXPECT_EQ(dumped_header(h, "x-seen-authority"), authority) << h;  // the client's :authority
    EXPECT_NE(dumped_header(h, "x-seen-xff").find("127.0.0.1"), std::string::npos) << h;
    EXPECT_NE(dumped_header(h, "x-seen-via").find("weir"), std::string::npos) << h;
    EXPECT_EQ(dumped_header(h, "x-seen-xfp"), "http") << h;

    const std::string post_heads = dir.path + "/post";
    CurlResult post = curl_h2c(weir.port(), "/submit", {"-D", post_heads, "--data-binary", "hello-body"});
    ASSERT_EQ(post.status, 200) << post.describe() << "\n" << why(weir, b);
    EXPECT_EQ(post.body, "b1 POST /submit\nhello-body");
    EXPECT_EQ(dumped_header(read_file(post_heads), "x-seen-body-bytes"), "10");

    // A larger body, more than one initial flow-control window (65535 bytes).
    const std::string big(200 * 1024, 'z');
    const std::string big_file = dir.path + "/big";
    write_file(big_file, big);
    const std::string big_heads = dir.path + "/bigh";
    CurlResult large = curl_h2c(weir.port(), "/large", {"-D", big_heads, "--data-binary", "@" + big_file, "-o", dir.path + "/bigout"});
    EXPECT_EQ(large.status, 200) << large.describe() << "\n" << why(weir, b);
    EXPECT_EQ(dumped_header(read_file(big_heads), "x-seen-body-bytes"), std::to_string(big.size()));
    const std::string echoed = read_file(dir.path + "/bigout");
    EXPECT_EQ(echoed.size(), big.size() + 15) << large.describe();
    EXPECT_TRUE(echoed == "b1 POST /large\n" + big) << "the echoed body differs";

    // te: trailers goes on; the endpoint's trailers come back.
    H2Report rep = run_h2_client("request", weir.port(),
                                 {"--path", "/trailers", "--authority", "app.example", "--header", "te: trailers",
                                  "--header", "x-want-trailer: t-value"});
    ASSERT_TRUE(rep.ok()) << rep.describe();
    json::value s = rep.stream(1);
    EXPECT_EQ(stream_number(s, "status"), 200) << rep.describe();
    EXPECT_EQ(stream_header(s, "x-seen-te"), std::vector<std::string>{"trailers"}) << rep.describe();
    EXPECT_EQ(stream_header(s, "x-seen-authority"), std::vector<std::string>{"app.example"}) << rep.describe();
    EXPECT_EQ(stream_body(s), "b1 GET /trailers");
    const json::value* tr = s.as_object().if_contains("trailers");
    ASSERT_TRUE(tr && tr->is_array()) << rep.describe();
    bool trailer_seen = false;
    for (const auto& f : tr->as_array())
        if (f.is_array() && f.as_array().size() == 2 && f.as_array()[0].as_string() == "x-trailer" &&
            f.as_array()[1].as_string() == "t-value")
            trailer_seen = true;
    EXPECT_TRUE(trailer_seen) << rep.describe();

    // Every request went over the one upstream connection.
    EXPECT_EQ(b.connections(), 1u) << b.log();
}

TEST(H2Upstream, Http11ClientsRoutedToAnH2PoolGet505) {
    H2Backend b("b1");
    WeirProcess weir(single(b).yaml());
    CurlResult h1 = curl({"--http1.1"}, "http://127.0.0.1:" + std::to_string(weir.port()) + "/old");
    EXPECT_EQ(h1.status, 505) << h1.describe();
    EXPECT_EQ(h1.http_version, "1.1");
    EXPECT_EQ(b.streams(), 0u) << b.log();
    // HTTP/2 on the same port still reaches the endpoint.
    CurlResult h2 = curl_h2c(weir.port(), "/new");
    EXPECT_EQ(h2.status, 200) << h2.describe();
}

// ================================================================ multiplexing

TEST(H2Upstream, ManyConcurrentRequestsShareFewConnections) {
    H2Backend b("b1", {"--delay-ms", "20"});
    WeirProcess weir(single(b).yaml());
    H2loadResult r = h2load({"-n", "300", "-c", "2", "-m", "25", "http://127.0.0.1:" + std::to_string(weir.port()) + "/m"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.succeeded, 300) << r.describe();
    EXPECT_EQ(r.status_2xx, 300) << r.describe();
    EXPECT_EQ(b.streams("/m"), 300u) << b.log();
    EXPECT_GE(b.max_concurrent(), 2) << "the requests were not multiplexed\n" << b.log();
    EXPECT_LE(b.connections(), 2u) << "one worker: one connection (two at most)\n" << b.log();
    EXPECT_EQ(b.count("over_limit"), 0u) << b.log();
}

// Without a limit from the endpoint: at most 100 streams on a connection, then another.
TEST(H2Upstream, AConnectionCarriesAtMost100Streams) {
    H2Backend b("b1", {"--delay-ms", "1000"});
    WeirProcess weir(single(b).yaml());
    H2loadResult r = h2load({"-n", "300", "-c", "3", "-m", "50", "http://127.0.0.1:" + std::to_string(weir.port()) + "/m"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.succeeded, 300) << r.describe();
    std::cout << "upstream connections " << b.connections() << ", most streams at once on one " << b.max_concurrent() << "\n";
    EXPECT_LE(b.max_concurrent(), 100) << b.log();
    EXPECT_GE(b.connections(), 2u) << "150 streams at once: a second connection\n" << b.log();
    EXPECT_LE(b.connections(), 4u) << b.log();
}

TEST(H2Upstream, TheEndpointsMaxConcurrentStreamsIsRespected) {
    H2Backend b("b1", {"--max-streams", "10", "--delay-ms", "100"});
    WeirProcess weir(single(b).yaml());
    H2loadResult r = h2load({"-n", "300", "-c", "2", "-m", "25", "http://127.0.0.1:" + std::to_string(weir.port()) + "/m"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.succeeded, 300) << r.describe();
    EXPECT_EQ(r.status_2xx, 300) << r.describe();
    EXPECT_LE(b.max_concurrent(), 10) << why(weir, b);
    EXPECT_EQ(b.count("over_limit"), 0u) << why(weir, b);
    EXPECT_GE(b.connections(), 2u) << "50 concurrent requests, 10 per connection: more connections\n" << b.log();
    EXPECT_LE(b.connections(), 10u) << b.log();
}

// ================================================================ REFUSED_STREAM

// A POST whose body comes a second after its head: the head is refused
// three times before any of the body went out, so it may go again each time.
TEST(H2Upstream, ARefusedPostIsSentAgainWhileNoneOfItsBodyWent) {
    H2Backend b("b1", {"--refuse-first", "3"});
    WeirProcess weir(single(b).yaml());
    H2Report rep = run_h2_client("slow-body", weir.port(),
                                 {"--method", "POST", "--path", "/slow-post", "--data", "late-body", "--body-delay", "1"});
    ASSERT_TRUE(rep.ok()) << rep.describe();
    json::value s = rep.stream(1);
    EXPECT_EQ(stream_number(s, "status"), 200) << rep.describe() << "\n" << why(weir, b);
    EXPECT_EQ(stream_body(s), "b1 POST /slow-post\nlate-body") << rep.describe();
    EXPECT_EQ(b.count("refused"), 3u) << b.log();
    EXPECT_EQ(b.count("answered"), 1u) << b.log();
}

TEST(H2Upstream, RefusedGetsAreSentAgain) {
    H2Backend b("b1", {"--refuse-first", "3"});
    WeirProcess weir(single(b).yaml());
    for (int i = 0; i < 3; ++i) {
        CurlResult r = curl_h2c(weir.port(), "/get" + std::to_string(i));
        EXPECT_EQ(r.status, 200) << r.describe() << "\n" << why(weir, b);
        EXPECT_EQ(r.body, "b1 GET /get" + std::to_string(i));
    }
    EXPECT_EQ(b.count("refused"), 3u) << b.log();
}

// A small POST whose head and body leave the client together (curl -d): the
// endpoint refuses the stream (RFC 9113 §8.7: it was not processed, any
// request on it may be retried); the client should still get the answer.
TEST(H2Upstream, ARefusedSmallPostIsSentAgain) {
    H2Backend b("b1", {"--refuse-first", "1"});
    WeirProcess weir(single(b).yaml());
    CurlResult r = curl_h2c(weir.port(), "/small-post", {"--data-binary", "small"});
    EXPECT_EQ(r.status, 200) << r.describe() << "\n" << why(weir, b);
    EXPECT_EQ(r.body, "b1 POST /small-post\nsmall");
    EXPECT_EQ(b.count("refused"), 1u) << b.log();
}

// ================================================================ GOAWAY

TEST(H2Upstream, AfterAGoawayANewConnectionCarriesTheRest) {
    H2Backend b("b1", {"--goaway-after", "5"});
    WeirProcess weir(single(b).yaml());
    for (int i = 0; i < 20; ++i) {
        CurlResult r = curl_h2c(weir.port(), "/g" + std::to_string(i));
        ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.describe() << "\n" << why(weir, b);
        EXPECT_EQ(r.body, "b1 GET /g" + std::to_string(i));
    }
    EXPECT_GE(b.count("goaway_sent"), 3u) << b.log();
    EXPECT_GE(b.connections(), 4u) << b.log();
    EXPECT_EQ(b.count("answered"), 20u) << b.log();
}

// Streams the endpoint had not taken when it said GOAWAY (above its last
// stream id; it ignores them and closes once the others are done) go again
// on a new connection.
TEST(H2Upstream, StreamsAboveAGoawaysLastStreamIdGoAgain) {
    H2Backend b("b1", {"--goaway-after", "5", "--delay-ms", "300"});
    WeirProcess weir(single(b).yaml());
    H2loadResult r = h2load({"-n", "40", "-c", "1", "-m", "10", "http://127.0.0.1:" + std::to_string(weir.port()) + "/ga"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.succeeded, 40) << r.describe() << "\n" << why(weir, b);
    EXPECT_EQ(r.status_2xx, 40) << r.describe();
    EXPECT_GE(b.count("goaway_sent"), 1u) << b.log();
    EXPECT_EQ(b.count("answered"), 40u) << b.log();
    std::cout << "streams the endpoint ignored after its GOAWAY (sent again): " << b.count("ignored") << "\n";
}

// ================================================================ resets

TEST(H2Upstream, AResetAfterTheResponseHeadResetsTheClientsStream) {
    H2Backend b("b1", {"--reset-after-headers"});
    WeirProcess weir(single(b).yaml());
    const double before = upstream_errors(weir.admin_port(), "reset");
    H2Report rep = run_h2_client("request", weir.port(), {"--path", "/r"});
    ASSERT_TRUE(rep.ok()) << rep.describe();
    json::value s = rep.stream(1);
    EXPECT_FALSE(s.as_object().at("ended").as_bool()) << "a truncated response passed as complete\n"
                                                       << rep.describe() << "\n" << why(weir, b);
    EXPECT_TRUE(stream_number(s, "reset_code").has_value()) << rep.describe() << "\n" << why(weir, b);
    EXPECT_TRUE(wait_for([&] { return upstream_errors(weir.admin_port(), "reset") > before; }, 15s, 100ms))
        << metrics_text(weir.admin_port());

    // curl sees a failed transfer, not a complete 200.
    CurlResult c = curl_h2c(weir.port(), "/r2");
    EXPECT_NE(c.exit_code, 0) << c.describe();
}

// A stream reset (not refused) before any response: a `reset` failure of the
// endpoint; a GET goes again to the other endpoint, a POST with a body gets 502.
TEST(H2Upstream, AResetBeforeTheResponseRetriesAGetAndFailsAPost) {
    H2Backend a("a", {"--reset-first", "1000000"});
    H2Backend b("b");
    ProxyConf conf;
    PoolConf p;
    p.endpoints = {{a.address(), 1000}, {b.address(), 1}};  // a first, nearly always
    conf.pools.push_back(p);
    WeirProcess weir(conf.yaml());
    const double before = upstream_errors(weir.admin_port(), "reset");

    for (int i = 0; i < 5; ++i) {
        const std::string path = "/get" + std::to_string(i);
        CurlResult r = curl_h2c(weir.port(), path);
        EXPECT_EQ(r.status, 200) << r.describe() << "\n" << why(weir, a) << b.log();
        EXPECT_EQ(r.body, "b GET " + path);
    }
    ASSERT_GE(a.count("reset_sent"), 1u) << a.log();
    EXPECT_TRUE(wait_for([&] { return upstream_errors(weir.admin_port(), "reset") > before; }, 15s, 100ms))
        << metrics_text(weir.admin_port());

    // POSTs with a body: one that reached a (and was reset there) is not sent again.
    int posts_reset = 0;
    for (int i = 0; i < 5; ++i) {
        const std::string path = "/post" + std::to_string(i);
        CurlResult r = curl_h2c(weir.port(), path, {"--data-binary", "payload"});
        if (a.streams(path) == 0) continue;  // b was chosen first
        ++posts_reset;
        EXPECT_EQ(r.status, 502) << r.describe() << "\n" << why(weir, a);
        EXPECT_EQ(b.streams(path), 0u) << "a POST whose body was sent went again\n" << b.log();
    }
    EXPECT_GE(posts_reset, 1);
}

TEST(H2Upstream, AClientsResetReachesTheEndpointAsCancel) {
    H2Backend b("b1", {"--delay-ms", "8000"});
    WeirProcess weir(single(b, [](PoolConf& p) { p.response_timeout = "20s"; }).yaml());
    TempDir dir;
    const std::string go = dir.path + "/go";
    auto client = start_h2_client("cancel", weir.port(), {"--path", "/cancel-me", "--wait-file", go, "--wait", "30"});
    ASSERT_TRUE(wait_for([&] { return b.streams("/cancel-me") == 1; }, 20s, 20ms)) << why(weir, b);
    write_file(go, "");
    H2Report rep = client.get();
    ASSERT_TRUE(rep.ok()) << rep.describe();
    EXPECT_TRUE(rep.v.as_object().at("cancelled").as_bool()) << rep.describe();
    const std::int64_t up_stream = num(b.events("stream").front(), "stream");
    ASSERT_TRUE(wait_for(
        [&] {
            for (const auto& e : b.events("rst_received"))
                if (num(e, "stream") == up_stream && num(e, "code") == kCancel) return true;
            return false;
        },
        15s, 20ms))
        << why(weir, b);
    // The connection stays usable.
    CurlResult after = curl_h2c(weir.port(), "/after", {"--max-time", "20"});
    EXPECT_EQ(after.status, 200) << after.describe();
    EXPECT_EQ(b.connections(), 1u) << b.log();
}

// ================================================================ a silent endpoint

TEST(H2Upstream, ASilentEndpointGets504AndItsConnectionIsClosedAfterAnUnansweredPing) {
    H2Backend b("b1", {"--blackhole"});
    WeirProcess weir(single(b, [](PoolConf& p) {
        p.connect_timeout = "1s";
        p.response_timeout = "1s";
    }).yaml());
    CurlResult r = curl_h2c(weir.port(), "/silent", {"--max-time", "20"});
    EXPECT_EQ(r.status, 504) << r.describe() << "\n" << why(weir, b);
    // The stream that timed out makes Weir PING; no ack comes: the connection is closed.
    EXPECT_TRUE(wait_for([&] { return b.count("ping") >= 1; }, 15s, 20ms)) << why(weir, b);
    ASSERT_TRUE(wait_for([&] { return b.closes() >= 1; }, 20s, 20ms)) << why(weir, b);
    EXPECT_EQ(b.events("close").front().at("by").as_string(), "peer") << b.log();

    // The next request opens a new connection (and times out too).
    CurlResult again = curl_h2c(weir.port(), "/silent2", {"--max-time", "20"});
    EXPECT_EQ(again.status, 504) << again.describe();
    EXPECT_TRUE(wait_for([&] { return b.connections() >= 2; }, 10s, 20ms)) << why(weir, b);
    EXPECT_EQ(b.streams("/silent2"), 1u) << b.log();
}

// A slow answer past response_timeout: 504, the upstream stream is reset
// (CANCEL), and the connection, which still answers (its PINGs too), is kept.
TEST(H2Upstream, ASlowEndpointGets504AndKeepsItsConnection) {
    H2Backend b("b1");
    WeirProcess weir(single(b, [](PoolConf& p) {
        p.connect_timeout = "1s";
        p.response_timeout = "1s";
    }).yaml());
    CurlResult slow = curl_h2c(weir.port(), "/slow", {"-H", "x-delay-ms: 3000", "--max-time", "20"});
    EXPECT_EQ(slow.status, 504) << slow.describe() << "\n" << why(weir, b);
    ASSERT_TRUE(wait_for(
        [&] {
            for (const auto& e : b.events("rst_received"))
                if (num(e, "code") == kCancel) return true;
            return false;
        },
        15s, 20ms))
        << "the timed-out stream was not cancelled upstream\n" << why(weir, b);
    // Past connect_timeout (the bound on a PING's acknowledgement), and past the late answer.
    wait_out(3500ms);
    CurlResult fast = curl_h2c(weir.port(), "/fast");
    EXPECT_EQ(fast.status, 200) << fast.describe() << "\n" << why(weir, b);
    EXPECT_EQ(b.connections(), 1u) << why(weir, b);
    EXPECT_EQ(b.closes(), 0u) << why(weir, b);
}

// ================================================================ idle close

TEST(H2Upstream, AnIdleConnectionIsClosedAfterIdleTimeout) {
    H2Backend b("b1");
    WeirProcess weir(single(b, [](PoolConf& p) { p.idle_timeout = "500ms"; }).yaml());
    CurlResult r = curl_h2c(weir.port(), "/once");
    ASSERT_EQ(r.status, 200) << r.describe();
    ASSERT_TRUE(wait_for([&] { return b.closes() >= 1; }, 20s, 20ms)) << why(weir, b);
    EXPECT_EQ(b.events("close").front().at("by").as_string(), "peer") << b.log();
    EXPECT_EQ(num(b.events("close").front(), "streams"), 1) << b.log();
    // A new request: a new connection.
    CurlResult again = curl_h2c(weir.port(), "/twice");
    EXPECT_EQ(again.status, 200) << again.describe();
    EXPECT_EQ(b.connections(), 2u) << b.log();
}

// ================================================================ endpoints going away

// A reload that replaces the pool's endpoint: the old endpoint's connection
// finishes the stream under way and closes; new requests go to the new one.
TEST(H2Upstream, AnEndpointRemovedByAReloadFinishesItsStreamsAndClosesItsConnection) {
    H2Backend a("a");
    H2Backend b("b");
    ProxyConf conf = single(a);
    WeirProcess weir(conf.yaml());
    CurlResult first = curl_h2c(weir.port(), "/first");
    ASSERT_EQ(first.status, 200) << first.describe();
    EXPECT_EQ(first.body, "a GET /first");

    // A slow request under way on a's connection during the reload.
    auto slow = std::async(std::launch::async, [&] {
        return curl_h2c(weir.port(), "/slow", {"-H", "x-delay-ms: 2500", "--max-time", "20"});
    });
    ASSERT_TRUE(wait_for([&] { return a.streams("/slow") == 1; }, 15s, 20ms)) << why(weir, a);

    conf.pools[0].endpoints = {{b.address(), 1}};
    write_file_atomic(weir.config_path(), conf.yaml());
    Response reload = admin_request(weir.admin_port(), "POST", "/reload");
    ASSERT_EQ(reload.status, 200) << reload.describe() << "\n" << weir.log();

    CurlResult after = curl_h2c(weir.port(), "/after");
    EXPECT_EQ(after.status, 200) << after.describe();
    EXPECT_EQ(after.body, "b GET /after");

    CurlResult s = slow.get();
    EXPECT_EQ(s.status, 200) << s.describe() << "\n" << why(weir, a);
    EXPECT_EQ(s.body, "a GET /slow");
    ASSERT_TRUE(wait_for([&] { return a.closes() >= 1; }, 20s, 20ms)) << "the removed endpoint's connection stayed\n"
                                                                       << why(weir, a);
    EXPECT_EQ(a.connections(), 1u) << a.log();
    EXPECT_EQ(a.streams(), 2u) << a.log();
}

// A drained endpoint: its connection finishes the stream under way and
// closes; the pool's other endpoint takes the new requests.
TEST(H2Upstream, ADrainedEndpointFinishesItsStreamsAndClosesItsConnection) {
    H2Backend a("a");
    H2Backend b("b");
    ProxyConf conf;
    PoolConf p;
    p.endpoints = {{a.address(), 1000000}, {b.address(), 1}};  // a nearly always
    conf.pools.push_back(p);
    WeirProcess weir(conf.yaml());
    auto slow = std::async(std::launch::async, [&] {
        return curl_h2c(weir.port(), "/slow", {"-H", "x-delay-ms: 2500", "--max-time", "20"});
    });
    ASSERT_TRUE(wait_for([&] { return a.streams("/slow") + b.streams("/slow") == 1; }, 15s, 20ms)) << why(weir, a);
    if (a.streams("/slow") == 0) GTEST_SKIP() << "the one-in-a-million pick went to b";

    Response drain = admin_request(weir.admin_port(), "POST", "/pools/stable/endpoints/" + a.address() + "/drain");
    ASSERT_EQ(drain.status, 200) << drain.describe();
    for (int i = 0; i < 5; ++i) {
        CurlResult r = curl_h2c(weir.port(), "/after" + std::to_string(i));
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.body, "b GET /after" + std::to_string(i)) << "a drained endpoint got a new request";
    }
    CurlResult s = slow.get();
    EXPECT_EQ(s.status, 200) << s.describe() << "\n" << why(weir, a);
    EXPECT_EQ(s.body, "a GET /slow");
    EXPECT_TRUE(wait_for([&] { return a.closes() >= 1; }, 20s, 20ms)) << "the drained endpoint's connection stayed\n"
                                                                       << why(weir, a);
}

// ================================================================ changes that keep the connection

TEST(H2Upstream, ASplitChangeAndAReloadKeepTheConnections) {
    H2Backend a("a");
    H2Backend c("c");
    ProxyConf conf;
    PoolConf stable;
    stable.name = "stable";
    stable.endpoints = {{a.address(), 1}};
    PoolConf canary;
    canary.name = "canary";
    canary.endpoints = {{c.address(), 1}};
    conf.pools = {stable, canary};
    conf.split = {{"stable", 50}, {"canary", 50}};
    WeirProcess weir(conf.yaml());

    auto load = [&](const std::string& tag) {
        for (int i = 0; i < 30; ++i) {
            CurlResult r = curl_h2c(weir.port(), "/" + tag + std::to_string(i));
            ASSERT_EQ(r.status, 200) << tag << " " << i << ": " << r.describe() << "\n" << why(weir, a) << c.log();
        }
    };
    load("before");
    ASSERT_GE(a.streams(), 1u) << a.log();
    ASSERT_GE(c.streams(), 1u) << c.log();
    EXPECT_EQ(a.connections(), 1u) << a.log();
    EXPECT_EQ(c.connections(), 1u) << c.log();

    // The split through the admin API.
    Response put = admin_request(weir.admin_port(), "PUT", "/routes/web/split", R"({"stable": 70, "canary": 30})");
    ASSERT_EQ(put.status, 200) << put.describe();
    const std::size_t a_before = a.streams(), c_before = c.streams();
    load("after-put");
    EXPECT_GT(a.streams(), a_before);
    EXPECT_GT(c.streams(), c_before);
    EXPECT_EQ(a.connections(), 1u) << a.log();
    EXPECT_EQ(c.connections(), 1u) << c.log();

    // A reload that changes the split and the endpoint's weight, keeping the endpoints.
    conf.split = {{"stable", 40}, {"canary", 60}};
    conf.pools[0].endpoints[0].second = 5;
    write_file_atomic(weir.config_path(), conf.yaml());
    Response reload = admin_request(weir.admin_port(), "POST", "/reload");
    ASSERT_EQ(reload.status, 200) << reload.describe() << "\n" << weir.log();
    const std::size_t a_mid = a.streams(), c_mid = c.streams();
    load("after-reload");
    EXPECT_GT(a.streams(), a_mid);
    EXPECT_GT(c.streams(), c_mid);
    EXPECT_EQ(a.connections(), 1u) << a.log();
    EXPECT_EQ(c.connections(), 1u) << c.log();
    EXPECT_EQ(a.closes(), 0u) << a.log();
    EXPECT_EQ(c.closes(), 0u) << c.log();
}

}  // namespace
}  // namespace weir_it
