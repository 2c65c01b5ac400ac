// Downstream HTTP/2 end to end (listener key `http2`): h2c with prior
// knowledge on a plain listener next to HTTP/1.1 on the same port, h2 by ALPN
// on TLS; each stream routed on its own and translated to an HTTP/1.1
// upstream request (Host from :authority, cookies joined, connection-specific
// fields dropped both ways), bodies streamed with flow control, the weighted
// split, the server's SETTINGS (streams beyond its concurrency limit refused
// one by one), metrics and one access log line per stream; graceful
// GOAWAY on SIGTERM and on a reload that removes the listener (none on one
// that keeps it), bodiless answers and local replies per stream, the idle
// timeout, stream ids running out; and the abuse bounds (rapid reset,
// CONTINUATION flood, HPACK bomb, SETTINGS and PING floods, a zero-window
// stall), each with a well-behaved client served meanwhile.
//
// Clients: curl (--http2-prior-knowledge, --http2 over TLS), h2load, and
// tests/support/h2_client.py, which writes frames itself.
#include "h2_support.hpp"
#include "tunnel_support.hpp"  // open_fds, shown

#include "routing/sticky.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace weir_it {
namespace {

using namespace h2;

constexpr std::uint32_t kNoError = 0x0;
constexpr std::uint32_t kEnhanceYourCalm = 0xb;
constexpr std::uint64_t kSlowBodyBytes = 200 * 1024;  // more than one 65535-byte window

std::string sha256_hex(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(hex[md[i] >> 4]);
        out.push_back(hex[md[i] & 0xf]);
    }
    return out;
}

std::string port_text(std::uint16_t p) { return std::to_string(p); }

// The upstream side most tests share:
//   /bytes/N  200 with N bytes of the Pattern (Content-Length)
//   /slow     200 with kSlowBodyBytes of the Pattern, after 1.5 s
//   /upload   200 "got N" once the whole request body arrived
//   /hold...  200 "<name> held" after 1 s
//   anything else: 200 "<name> <method> <target>"
After standard_answer(const std::string& name, UpstreamConn& c, const UpstreamRequest& r) {
    auto pattern = [&](std::uint64_t n) {
        if (!c.send("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                    std::to_string(n) + "\r\n\r\n"))
            return After::close;
        return c.send_pattern(n) ? After::keep_alive : After::close;
    };
    if (r.target.rfind("/bytes/", 0) == 0) return pattern(std::stoull(r.target.substr(7)));
    if (r.target == "/slow") {
        if (!c.sleep_for(1500ms)) return After::close;
        return pattern(kSlowBodyBytes);
    }
    if (r.target.rfind("/hold", 0) == 0) {
        if (!c.sleep_for(1000ms)) return After::close;
        c.send(make_response(200, name + " held", "Content-Type: text/plain\r\n"));
        return After::keep_alive;
    }
    if (r.target == "/upload") {
        c.send(make_response(200, "got " + std::to_string(r.body_bytes), "Content-Type: text/plain\r\n"));
        return After::keep_alive;
    }
    c.send(make_response(200, name + " " + r.method + " " + r.target, "Content-Type: text/plain\r\n"));
    return After::keep_alive;
}

// Weir with one pool "stable" (a FakeUpstream answering standard_answer)
// behind the catch-all route "web", its listener with `http2: <http2>`
// (nullopt: the key left out), plain or TLS.
struct H2Proxy {
    FakeUpstream up{"stable"};
    ConfigSpec config;
    Transport transport = Transport::plain;
    std::optional<TempDir> tls_dir;
    std::string yaml;
    std::unique_ptr<WeirProcess> weir;

    struct Options {
        std::optional<bool> http2 = true;
        Transport transport = Transport::plain;
        std::function<void(ConfigSpec&)> tweak;
        std::string yaml_prefix;  // top-level keys written before ConfigSpec's
    };

    H2Proxy() : H2Proxy(Options{}) {}
    explicit H2Proxy(Options o) : transport(o.transport) {
        up.set_handler([this](UpstreamConn& c, const UpstreamRequest& r) { return standard_answer("stable", c, r); });
        config = ConfigSpec::single(up.address());
        config.idle_timeout = "30s";
        config.max_header_bytes = 65536;
        if (transport == Transport::tls) {
            tls_dir.emplace();
            config.listener_tls = make_test_tls_listener(tls_dir->path).tls_yaml;
        }
        if (o.tweak) o.tweak(config);
        yaml = o.yaml_prefix + (o.http2 ? with_http2(config, *o.http2) : config.yaml());
        weir = std::make_unique<WeirProcess>(yaml);
    }
    std::uint16_t port() const { return weir->port(); }
    std::uint16_t admin_port() const { return weir->admin_port(); }
    std::string url(const std::string& target) const {
        return (transport == Transport::tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + port_text(port()) + target;
    }
    // Requests the upstream received for `target`.
    std::size_t received(const std::string& target) const {
        std::size_t n = 0;
        for (const auto& r : up.requests()) n += r.target == target ? 1 : 0;
        return n;
    }
};

// RFC 9113 §6.8: a later GOAWAY never names a higher last stream id than an earlier one.
::testing::AssertionResult goaway_ids_never_increase(const H2Report& rep) {
    std::int64_t last = -1;
    for (const auto& g : rep.goaways()) {
        const std::int64_t id = g.at("last_stream_id").to_number<std::int64_t>();
        if (last >= 0 && id > last)
            return ::testing::AssertionFailure() << "GOAWAY last stream id went up from " << last << " to " << id;
        last = id;
    }
    return ::testing::AssertionSuccess();
}

std::string metrics_text(std::uint16_t admin_port) { return admin_request(admin_port, "GET", "/metrics").body; }

double requests_total(std::uint16_t admin_port, const std::string& pool, const std::string& code = "200") {
    return metric_value(metrics_text(admin_port), "weir_requests_total", {{"route", "web"}, {"pool", pool}, {"code", code}})
        .value_or(0);
}

// ================================================================ protocol selection

TEST(Http2, H2cWithPriorKnowledgeAndHttp11ShareThePlainPort) {
    H2Proxy p;
    // h2c: a small answer and one larger than the initial 65535-byte window.
    CurlResult small = curl_h2c(p.port(), "/hello");
    EXPECT_EQ(small.exit_code, 0) << small.describe();
    EXPECT_EQ(small.status, 200) << small.describe();
    EXPECT_EQ(small.http_version, "2") << small.describe();
    EXPECT_EQ(small.body, "stable GET /hello");

    TempDir dir;
    const std::string file = dir.path + "/out";
    const std::uint64_t n = 300 * 1024;
    CurlResult big = curl_h2c(p.port(), "/bytes/" + std::to_string(n), {"-o", file});
    EXPECT_EQ(big.status, 200) << big.describe();
    EXPECT_EQ(big.http_version, "2") << big.describe();
    const std::string got = read_file(file);
    EXPECT_EQ(got.size(), n);
    EXPECT_TRUE(got == pattern_string(n)) << "the body changed on the way";

    // The upstream got HTTP/1.1 requests with Host.
    ASSERT_TRUE(p.up.wait_requests(2));
    for (const auto& r : p.up.requests()) {
        EXPECT_EQ(r.version, "HTTP/1.1") << r.raw_head;
        EXPECT_EQ(r.headers.get("host"), "127.0.0.1:" + port_text(p.port())) << r.raw_head;
    }

    // HTTP/1.1 on the same port still works: curl and a raw request.
    CurlResult h1 = curl({"--http1.1"}, p.url("/one"));
    EXPECT_EQ(h1.status, 200) << h1.describe();
    EXPECT_EQ(h1.http_version, "1.1") << h1.describe();
    EXPECT_EQ(h1.body, "stable GET /one");
    Response raw = fetch(p.port(), "/raw");
    EXPECT_EQ(raw.status, 200) << raw.describe();
    EXPECT_EQ(raw.version, "HTTP/1.1");
    EXPECT_EQ(raw.body, "stable GET /raw");
}

// A plain listener without `http2: true` does not speak h2c: the preface is
// an HTTP/1.1 request it refuses (an error status, or a close), never a
// SETTINGS frame.
TEST(Http2, APlainListenerWithoutHttp2RefusesThePreface) {
    for (std::optional<bool> setting : {std::optional<bool>{}, std::optional<bool>{false}}) {
        SCOPED_TRACE(setting ? "http2: false" : "http2 not set");
        H2Proxy p({.http2 = setting});
        RawClient c(p.port());
        ASSERT_TRUE(c.connected());
        const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        const std::string empty_settings("\0\0\0\x04\0\0\0\0\0", 9);
        ASSERT_TRUE(c.send(preface + empty_settings));
        std::string answer;
        const bool closed = c.wait_closed(10s, &answer);
        if (!answer.empty()) {
            EXPECT_EQ(answer.rfind("HTTP/1.", 0), 0u) << "not an HTTP/1 answer: " << shown(answer);
            std::string status = answer.size() > 12 ? answer.substr(9, 3) : "";
            EXPECT_GE(std::atoi(status.c_str()), 400) << shown(answer);
        } else {
            EXPECT_TRUE(closed) << "the preface was neither refused nor the connection closed";
        }
        EXPECT_EQ(p.up.request_count(), 0u) << "the preface reached the upstream";

        CurlResult r = curl_h2c(p.port(), "/x");
        EXPECT_FALSE(r.exit_code == 0 && r.status == 200 && r.http_version == "2")
            << "served over h2c without http2: true: " << r.describe();
        // HTTP/1.1 is served as ever.
        EXPECT_EQ(fetch(p.port(), "/after").status, 200);
    }
}

TEST(Http2, TlsListenersOfferH2ByAlpnUnlessTurnedOff) {
    {
        H2Proxy p({.http2 = std::nullopt, .transport = Transport::tls});  // default: on
        CurlResult r = curl({"-k", "--http2"}, p.url("/alpn"));
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.http_version, "2") << r.describe();
        EXPECT_EQ(r.body, "stable GET /alpn");
        H2Report s = run_h2_client("request", p.port(), {"--tls", "--path", "/py"});
        ASSERT_TRUE(s.ok()) << s.describe();
        EXPECT_EQ(s.v.at("alpn"), json::value("h2")) << s.describe();
        EXPECT_EQ(stream_number(s.stream(1), "status"), 200) << s.describe();
        EXPECT_EQ(stream_body(s.stream(1)), "stable GET /py");
        ASSERT_TRUE(p.up.wait_requests(2));
        EXPECT_EQ(p.up.requests().back().headers.get("x-forwarded-proto"), "https");
        // HTTP/1.1 over TLS still works next to it.
        CurlResult h1 = curl({"-k", "--http1.1"}, p.url("/h1"));
        EXPECT_EQ(h1.status, 200) << h1.describe();
        EXPECT_EQ(h1.http_version, "1.1") << h1.describe();
    }
    {
        H2Proxy p({.http2 = false, .transport = Transport::tls});
        CurlResult r = curl({"-k", "--http2"}, p.url("/alpn"));
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.http_version, "1.1") << "http2: false must leave ALPN at http/1.1: " << r.describe();
        H2Report s = run_h2_client("settings", p.port(), {"--tls", "--timeout", "3"});
        EXPECT_TRUE(s.v.is_object() && s.v.as_object().contains("alpn") && s.v.at("alpn").is_null()) << s.describe();
        EXPECT_FALSE(s.handshake()) << "an h2 SETTINGS came back without h2 by ALPN: " << s.describe();
    }
}

// ================================================================ translation

TEST(Http2, HeadersAreTranslatedToHttp11AndBack) {
    H2Proxy p;
    // The upstream answers with fields HTTP/2 forbids (RFC 9113 §8.2.2) and a chunked body.
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.target.rfind("/h", 0) != 0) return standard_answer("stable", c, r);
        c.send("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
               "Transfer-Encoding: chunked\r\nX-Upstream: yes\r\nSet-Cookie: s=1\r\n\r\n"
               "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        return After::keep_alive;
    });
    H2Report rep = run_h2_client("request", p.port(),
                                 {"--authority", "h2.example:8443", "--path", "/h?q=1", "--header", "cookie: a=1",
                                  "--header", "cookie: b=2", "--header", "x-custom: v1", "--header", "te: trailers"});
    ASSERT_TRUE(rep.ok()) << rep.describe();
    const json::value s = rep.stream(1);
    ASSERT_EQ(stream_number(s, "status"), 200) << rep.describe();
    EXPECT_EQ(stream_body(s), "hello world");
    for (const char* name : {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"})
        EXPECT_TRUE(stream_header(s, name).empty()) << name << " reached the h2 client: " << rep.describe();
    EXPECT_EQ(stream_header(s, "x-upstream"), std::vector<std::string>{"yes"});
    EXPECT_EQ(stream_header(s, "set-cookie"), std::vector<std::string>{"s=1"});

    ASSERT_TRUE(p.up.wait_requests(1));
    const UpstreamRequest r = p.up.requests().front();
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/h?q=1");
    EXPECT_EQ(r.version, "HTTP/1.1");
    EXPECT_EQ(r.headers.get("host"), "h2.example:8443") << r.raw_head;
    EXPECT_EQ(r.headers.count("host"), 1) << r.raw_head;
    EXPECT_EQ(r.headers.all("cookie"), std::vector<std::string>{"a=1; b=2"}) << r.raw_head;
    EXPECT_EQ(r.headers.get("x-custom"), "v1") << r.raw_head;
    EXPECT_EQ(r.headers.get("x-forwarded-for"), "127.0.0.1") << r.raw_head;
    EXPECT_EQ(r.headers.get("x-forwarded-proto"), "http") << r.raw_head;
    for (const auto& h : r.headers.list) EXPECT_NE(h.name.rfind(':', 0), 0u) << "pseudo-header upstream: " << r.raw_head;
    EXPECT_FALSE(r.headers.has("te") && !iequals(r.headers.get("te"), "trailers")) << r.raw_head;
    EXPECT_FALSE(r.headers.has("http2-settings")) << r.raw_head;

    // A body without content-length goes upstream chunked, intact.
    H2Report post = run_h2_client("request", p.port(), {"--method", "POST", "--path", "/upload", "--data", "abc"});
    ASSERT_TRUE(post.ok()) << post.describe();
    EXPECT_EQ(stream_number(post.stream(1), "status"), 200) << post.describe();
    EXPECT_EQ(stream_body(post.stream(1)), "got 3");
    ASSERT_TRUE(p.up.wait_requests(2));
    const UpstreamRequest up_post = p.up.requests().back();
    EXPECT_EQ(up_post.method, "POST");
    EXPECT_TRUE(up_post.complete) << up_post.body_error;
    EXPECT_EQ(up_post.body, "abc");
    EXPECT_TRUE(up_post.chunked) << "no content-length: chunked expected\n" << up_post.raw_head;

    // A request carrying a connection-specific field is malformed (RFC 9113
    // §8.2.2): refused on its stream, never forwarded.
    H2Report bad = run_h2_client("request", p.port(), {"--path", "/bad", "--header", "connection: keep-alive"});
    ASSERT_TRUE(bad.v.is_object()) << bad.describe();
    const json::value b = bad.stream(1);
    const auto bad_status = stream_number(b, "status");
    EXPECT_TRUE(stream_number(b, "reset_code").has_value() || (bad_status && *bad_status == 400) ||
                bad.first_goaway_code().has_value())
        << bad.describe();
    EXPECT_EQ(p.received("/bad"), 0u) << "a malformed h2 request reached the upstream";
}

// Bodiless answers (HEAD, 204, 304) end their streams at once, and the
// proxy's own replies (404 no route, 502 upstream reset, 504 upstream silent)
// reach the stream that caused them while the connection's other streams are
// answered as usual.
TEST(Http2, BodilessAnswersAndLocalRepliesEndTheirStreams) {
    H2Proxy p({.tweak = [](ConfigSpec& c) {
        c.pools[0].response_timeout = "1s";
        // Every request on a fresh upstream connection: the reset is an
        // upstream failure (502), not a stale pooled connection (retried;
        // AStreamOnAStalePooledConnectionIsRetriedOnAFreshOne).
        c.pools[0].max_idle_per_endpoint = 0;
        c.routes[0].path_prefix = "/app";
    }});
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.method == "HEAD") {
            c.send("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n");
            return After::keep_alive;
        }
        if (r.target == "/app/204") {
            c.send("HTTP/1.1 204 No Content\r\nX-Kind: none\r\n\r\n");
            return After::keep_alive;
        }
        if (r.target == "/app/304") {
            c.send("HTTP/1.1 304 Not Modified\r\nETag: \"e1\"\r\n\r\n");
            return After::keep_alive;
        }
        if (r.target == "/app/reset") return After::reset;
        if (r.target == "/app/silent") {
            c.sleep_for(3000ms);
            return After::close;
        }
        return standard_answer("stable", c, r);
    });
    H2Report head = run_h2_client("request", p.port(), {"--method", "HEAD", "--path", "/app/head"});
    ASSERT_TRUE(head.ok()) << head.describe();
    EXPECT_EQ(stream_number(head.stream(1), "status"), 200) << head.describe();
    EXPECT_EQ(stream_number(head.stream(1), "body_bytes"), 0) << head.describe();
    EXPECT_EQ(head.stream(1).at("ended"), json::value(true)) << "a HEAD answer did not end its stream: " << head.describe();

    H2Report many = run_h2_client("request", p.port(),
                                  {"--path", "/app/204", "--path", "/app/304", "--path", "/nowhere", "--path",
                                   "/app/reset", "--path", "/app/silent", "--path", "/app/fine"});
    ASSERT_TRUE(many.ok()) << many.describe();
    const std::vector<std::pair<std::int64_t, int>> want = {{1, 204}, {3, 304}, {5, 404}, {7, 502}, {9, 504}, {11, 200}};
    for (const auto& [id, status] : want) {
        const json::value s = many.stream(id);
        EXPECT_EQ(stream_number(s, "status"), status) << "stream " << id << ": " << many.describe() << "\nweir log:\n"
                                                      << p.weir->log() << "\nupstream saw:\n" << [&] {
                                                             std::string t;
                                                             for (const auto& r : p.up.requests())
                                                                 t += std::to_string(r.conn_id) + " " + r.method + " " + r.target + "\n";
                                                             return t;
                                                         }();
        EXPECT_EQ(s.at("ended"), json::value(true)) << "stream " << id << " did not end: " << many.describe();
    }
    EXPECT_EQ(stream_number(many.stream(1), "body_bytes"), 0);
    EXPECT_EQ(stream_number(many.stream(3), "body_bytes"), 0);
    EXPECT_EQ(stream_header(many.stream(1), "x-kind"), std::vector<std::string>{"none"});
    EXPECT_EQ(stream_body(many.stream(11)), "stable GET /app/fine");
    EXPECT_TRUE(many.goaways().empty()) << many.describe();
}

// A stream sent on a pooled upstream connection the origin has dropped (it
// resets on the second request) is repeated on a fresh connection, as an
// HTTP/1.1 GET is (StaleReuse): the client gets the answer, not a 502 or 504.
TEST(Http2, AStreamOnAStalePooledConnectionIsRetriedOnAFreshOne) {
    OneRequestPerConnection origin(After::reset, [](const UpstreamRequest& r) {
        return make_response(200, "fresh " + r.target, "Content-Type: text/plain\r\n");
    });
    H2Proxy p({.tweak = [](ConfigSpec& c) { c.pools[0].response_timeout = "3s"; }});
    p.up.set_handler(origin.handler());
    H2Report rep = run_h2_client("sequential", p.port(), {"--path", "/first", "--path", "/second"});
    ASSERT_TRUE(rep.ok()) << rep.describe();
    EXPECT_EQ(stream_body(rep.stream(1)), "fresh /first") << rep.describe();
    EXPECT_EQ(stream_number(rep.stream(3), "status"), 200) << rep.describe() << "\nweir log:\n" << p.weir->log();
    EXPECT_EQ(stream_body(rep.stream(3)), "fresh /second");
    EXPECT_EQ(p.received("/second"), 2u) << "sent once on the stale connection, once on a fresh one";

    // The same over HTTP/1.1 on the same proxy, for comparison.
    RawClient c(p.port());
    ASSERT_EQ(c.request(get_request("/h1-first")).status, 200);
    Response second = c.request(get_request("/h1-second"));
    EXPECT_EQ(second.status, 200) << second.describe();
}

// A request whose Host field names another server than its :authority
// (RFC 9113 §8.3.1) must not be routed on one name and sent upstream with
// the other: refused, or routed and forwarded with the same one Host.
TEST(Http2, AuthorityAndHostThatDisagreeAreNeverSplitBetweenRoutingAndTheUpstream) {
    FakeUpstream stable("stable"), canary("canary");
    for (FakeUpstream* u : {&stable, &canary}) {
        const std::string name = u->name();
        u->set_handler([name](UpstreamConn& c, const UpstreamRequest& r) { return standard_answer(name, c, r); });
    }
    ConfigSpec c;
    c.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    c.routes = {{"only-a", "a.test", "/", {{"canary", 1}}}, {"web", "*", "/", {{"stable", 1}}}};
    WeirProcess weir(with_http2(c));
    for (const auto& [authority, host] : {std::pair{"a.test", "b.test"}, std::pair{"b.test", "a.test"}}) {
        SCOPED_TRACE(std::string(":authority ") + authority + ", host " + host);
        const std::size_t before = stable.request_count() + canary.request_count();
        H2Report rep = run_h2_client("request", weir.port(),
                                     {"--authority", authority, "--header", std::string("host: ") + host, "--path", "/x"});
        ASSERT_TRUE(rep.ok()) << rep.describe();
        const json::value s = rep.stream(1);
        const auto status = stream_number(s, "status");
        if (status != 200) {
            EXPECT_TRUE(stream_number(s, "reset_code").has_value() || (status && *status == 400)) << rep.describe();
            EXPECT_EQ(stable.request_count() + canary.request_count(), before) << "refused, yet forwarded";
            continue;
        }
        const bool to_canary = canary.request_count() > 0 && canary.requests().back().target == "/x" &&
                               stable.request_count() + canary.request_count() > before &&
                               stream_body(s).rfind("canary", 0) == 0;
        const UpstreamRequest r = to_canary ? canary.requests().back() : stable.requests().back();
        EXPECT_EQ(r.headers.count("host"), 1) << r.raw_head;
        // Routed on a.test (canary) exactly when the upstream is told a.test.
        EXPECT_EQ(to_canary, iequals(r.headers.get("host"), "a.test"))
            << "routed to " << (to_canary ? "canary" : "stable") << " but sent upstream with\n" << r.raw_head;
    }
}

// ================================================================ bodies

TEST(Http2, AMegabyteUploadAndEightMegabyteDownloadOnOneStreamEach) {
    H2Proxy p;
    TempDir dir;
    const std::uint64_t up_bytes = 1 << 20, down_bytes = 8 << 20;
    write_file(dir.path + "/upload", pattern_string(up_bytes));

    CurlResult u = curl_h2c(p.port(), "/upload", {"--data-binary", "@" + dir.path + "/upload"});
    EXPECT_EQ(u.exit_code, 0) << u.describe();
    EXPECT_EQ(u.status, 200) << u.describe();
    EXPECT_EQ(u.http_version, "2") << u.describe();
    EXPECT_EQ(u.body, "got " + std::to_string(up_bytes));
    ASSERT_TRUE(p.up.wait_complete(1));
    const UpstreamRequest r = p.up.requests().front();
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.body_bytes, up_bytes);
    EXPECT_EQ(r.digest, pattern_digest(up_bytes)) << "the upload changed on the way";
    EXPECT_EQ(r.headers.get("content-length"), std::to_string(up_bytes)) << "content-length kept\n" << r.raw_head;
    EXPECT_FALSE(r.chunked) << r.raw_head;

    const std::string file = dir.path + "/download";
    CurlResult d = curl_h2c(p.port(), "/bytes/" + std::to_string(down_bytes), {"-o", file});
    EXPECT_EQ(d.exit_code, 0) << d.describe();
    EXPECT_EQ(d.status, 200) << d.describe();
    EXPECT_EQ(d.http_version, "2") << d.describe();
    const std::string got = read_file(file);
    EXPECT_EQ(got.size(), down_bytes);
    Digest digest;
    digest.update(got);
    EXPECT_EQ(digest.value(), pattern_digest(down_bytes)) << "the download changed on the way";

    // The same body through the frame-level client (its own flow control): sha256 agrees.
    H2Report py = run_h2_client("request", p.port(), {"--path", "/bytes/" + std::to_string(down_bytes)});
    ASSERT_TRUE(py.ok()) << py.describe();
    EXPECT_EQ(stream_number(py.stream(1), "body_bytes"), static_cast<std::int64_t>(down_bytes));
    EXPECT_EQ(std::string(py.stream(1).at("body_sha256").as_string()), sha256_hex(got));
}

TEST(Http2, ManyConcurrentStreamsOnOneConnectionAreAllAnswered) {
    std::atomic<int> in_flight{0}, max_in_flight{0};
    H2Proxy p;
    p.up.set_handler([&](UpstreamConn& c, const UpstreamRequest& r) {
        const int now = ++in_flight;
        int seen = max_in_flight.load();
        while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
        }
        const bool ok = c.sleep_for(100ms);
        --in_flight;
        if (!ok) return After::close;
        return standard_answer("stable", c, r);
    });
    H2loadResult h = h2load({"-n", "300", "-c", "1", "-m", "100", p.url("/many")});
    EXPECT_EQ(h.exit_code, 0) << h.describe();
    EXPECT_EQ(h.protocol, "h2c") << h.describe();
    EXPECT_EQ(h.succeeded, 300) << h.describe();
    EXPECT_EQ(h.status_2xx, 300) << h.describe();
    EXPECT_EQ(p.received("/many"), 300u);
    // Streams of one connection go upstream side by side, not one after another.
    EXPECT_GE(max_in_flight.load(), 10) << "streams were not forwarded concurrently";

    // nghttp's view of one connection with 50 streams: every one 200.
    metrics::RunResult n = metrics::run_command(
        {"/usr/bin/nghttp", "-n", "-s", "-m", "50", p.url("/nghttp")}, "", 60s);
    EXPECT_EQ(n.exit_code, 0) << n.out << n.err;
    EXPECT_TRUE(p.up.wait([&] { return p.received("/nghttp") == 50; }, 10s)) << p.received("/nghttp");
}

// ================================================================ split, metrics, access log

TEST(Http2, TwentyThousandStreamsFollowANinetyTenSplit) {
    FakeUpstream stable("stable"), canary("canary");
    ConfigSpec c;
    c.idle_timeout = "30s";
    c.pools = {{"stable", {{stable.address()}}, "1s", "5s", 64}, {"canary", {{canary.address()}}, "1s", "5s", 64}};
    c.routes = {{"web", "*", "/", {{"stable", 90}, {"canary", 10}}}};
    WeirProcess weir(with_http2(c));
    H2loadResult h = h2load({"-n", "20000", "-c", "8", "-m", "10", "http://127.0.0.1:" + port_text(weir.port()) + "/split"},
                            240s);
    ASSERT_EQ(h.succeeded, 20000) << h.describe();
    EXPECT_EQ(h.status_2xx, 20000) << h.describe();
    EXPECT_EQ(h.protocol, "h2c") << h.describe();
    const double s = static_cast<double>(stable.request_count());
    const double k = static_cast<double>(canary.request_count());
    EXPECT_EQ(s + k, 20000.0);
    const double share = 100.0 * s / (s + k);
    EXPECT_NEAR(share, 90.0, 1.5) << "stable " << s << ", canary " << k;
    // weir_requests_total counts h2 streams like HTTP/1.1 requests.
    EXPECT_TRUE(wait_for([&] { return requests_total(weir.admin_port(), "stable") + requests_total(weir.admin_port(), "canary") >= 20000; },
                         10s, 100ms))
        << metrics_text(weir.admin_port());
    EXPECT_EQ(requests_total(weir.admin_port(), "stable"), s);
    EXPECT_EQ(requests_total(weir.admin_port(), "canary"), k);
    EXPECT_EQ(metric_value(metrics_text(weir.admin_port()), "weir_http2_connections_total"), 8) << "h2load -c8";
}

// Streams of one connection are routed one by one: by path to their own
// routes, and on a sticky split each user's streams keep the pool rendezvous
// hashing gives that user (routing/sticky.hpp), whatever connection they share.
TEST(Http2, EachStreamIsRoutedOnItsOwn) {
    FakeUpstream stable("stable"), canary("canary");
    for (FakeUpstream* u : {&stable, &canary}) {
        const std::string name = u->name();
        u->set_handler([name](UpstreamConn& c, const UpstreamRequest& r) { return standard_answer(name, c, r); });
    }
    ConfigSpec c;
    c.idle_timeout = "30s";
    c.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    c.routes = {{"api", "*", "/canary-only", {{"canary", 1}}}, {"web", "*", "/", {{"stable", 50}, {"canary", 50}}}};
    WeirProcess weir(with_http2(c) + "    sticky: {header: x-user-id}\n");  // the last route's
    auto expected = [](const std::string& user) {
        static const std::vector<std::string> pools = {"stable", "canary"};
        return pools[weir::routing::rendezvous_pick("web", user, pools, {50, 50})];
    };
    for (const std::string user : {"alice", "bob", "carol", "dave"}) {
        SCOPED_TRACE(user);
        std::vector<std::string> args = {"--header", "x-user-id: " + user};
        for (int i = 0; i < 20; ++i) {
            args.insert(args.end(), {"--path", "/s/" + std::to_string(i)});
            if (i % 5 == 0) args.insert(args.end(), {"--path", "/canary-only/" + std::to_string(i)});
        }
        H2Report rep = run_h2_client("request", weir.port(), args);
        ASSERT_TRUE(rep.ok()) << rep.describe();
        int sticky = 0, pinned = 0;
        for (std::int64_t id = 1; id < 2 * 24; id += 2) {
            const json::value s = rep.stream(id);
            ASSERT_EQ(stream_number(s, "status"), 200) << "stream " << id << ": " << rep.describe();
            const std::string body = stream_body(s);
            const std::string pool = body.substr(0, body.find(' '));
            if (body.find(" /canary-only/") != std::string::npos) {
                EXPECT_EQ(pool, "canary") << body;
                ++pinned;
            } else {
                EXPECT_EQ(pool, expected(user)) << body;
                ++sticky;
            }
        }
        EXPECT_EQ(sticky, 20);
        EXPECT_EQ(pinned, 4);
    }
    EXPECT_GT(stable.request_count(), 0u);
    EXPECT_GT(canary.request_count(), 16u);
}

TEST(Http2, EachStreamIsCountedAndLoggedOnce) {
    H2Proxy p({.yaml_prefix = "access_log: {path: access.log}\n"});
    const std::string log_path = p.weir->dir() + "/access.log";
    H2loadResult h = h2load({"-n", "50", "-c", "1", "-m", "10", p.url("/logged")});
    ASSERT_EQ(h.succeeded, 50) << h.describe();
    ASSERT_TRUE(wait_for([&] { return lines_of(log_path).size() >= 50; }, 15s, 50ms))
        << lines_of(log_path).size() << " lines";
    EXPECT_EQ(settled_count([&] { return lines_of(log_path).size(); }), 50u) << "one line per stream, no more";
    int ok = 0;
    for (const auto& line : lines_of(log_path)) {
        json::value v = parse_json(line);
        ASSERT_TRUE(v.is_object()) << line;
        const auto& o = v.as_object();
        if (o.contains("status") && o.at("status").to_number<int>() == 200 && o.contains("path") &&
            o.at("path") == json::value("/logged") && o.contains("route") && o.at("route") == json::value("web"))
            ++ok;
    }
    EXPECT_EQ(ok, 50);
    EXPECT_TRUE(wait_for([&] { return requests_total(p.admin_port(), "stable") == 50; }, 10s, 50ms))
        << metrics_text(p.admin_port());
}

// ================================================================ SETTINGS

TEST(Http2, TheServerAdvertisesItsLimitsInSettings) {
    H2Proxy p({.tweak = [](ConfigSpec& c) { c.max_header_bytes = 16384; }});
    H2Report r = run_h2_client("settings", p.port());
    ASSERT_TRUE(r.ok()) << r.describe();
    ASSERT_TRUE(r.handshake()) << r.describe();
    EXPECT_EQ(r.setting("MAX_CONCURRENT_STREAMS"), 100u) << r.describe();
    EXPECT_EQ(r.setting("MAX_HEADER_LIST_SIZE"), 16384u) << "limits.max_header_bytes: " << r.describe();
    // 65535 is the protocol default: sent or left out, the window is that.
    EXPECT_EQ(r.setting("INITIAL_WINDOW_SIZE").value_or(65535), 65535u) << r.describe();
    EXPECT_GE(*r.number("settings_acks"), 1) << "our SETTINGS were not acknowledged: " << r.describe();

    // Without limits.max_header_bytes in the file: its default, 65536.
    FakeUpstream up;
    ConfigSpec c = ConfigSpec::single(up.address());
    std::string yaml = with_http2(c);
    const std::string key = "max_header_bytes: " + std::to_string(c.max_header_bytes) + ", ";
    const auto at = yaml.find(key);
    ASSERT_NE(at, std::string::npos) << yaml;
    yaml.erase(at, key.size());
    WeirProcess weir(yaml);
    H2Report d = run_h2_client("settings", weir.port());
    ASSERT_TRUE(d.ok()) << d.describe();
    EXPECT_EQ(d.setting("MAX_HEADER_LIST_SIZE"), 65536u) << d.describe();
    EXPECT_EQ(d.setting("MAX_CONCURRENT_STREAMS"), 100u) << d.describe();
}

// A client that opens more streams at once than MAX_CONCURRENT_STREAMS (100)
// allows: the excess streams are refused one by one (RFC 9113 §5.1.2: a
// stream error, PROTOCOL_ERROR or REFUSED_STREAM), the first hundred are
// answered, and the connection goes on.
TEST(Http2, StreamsBeyondTheConcurrencyLimitAreRefusedOneByOne) {
    H2Proxy p;
    std::vector<std::string> args = {"--timeout", "20"};
    for (int i = 0; i < 150; ++i) args.insert(args.end(), {"--path", "/hold/" + std::to_string(i)});
    H2Report rep = run_h2_client("request", p.port(), args);
    ASSERT_TRUE(rep.ok()) << rep.describe();
    int answered = 0, refused = 0, other = 0;
    for (std::int64_t id = 1; id < 300; id += 2) {
        const json::value s = rep.stream(id);
        const auto status = stream_number(s, "status");
        const auto reset = stream_number(s, "reset_code");
        if (status == 200 && s.at("ended") == json::value(true)) ++answered;
        else if (!status && reset && (*reset == 0x1 || *reset == 0x7)) ++refused;
        else ++other;
    }
    EXPECT_GE(answered, 100) << "first GOAWAY: " << (rep.goaways().empty() ? "none" : json::serialize(rep.goaways().front()))
                             << "\n" << rep.describe().substr(0, 600);
    EXPECT_EQ(answered + refused, 150) << "streams neither answered nor refused: " << other;
    EXPECT_TRUE(rep.goaways().empty()) << "a stream beyond the limit ended the whole connection: "
                                       << json::serialize(rep.goaways().front());
    EXPECT_LE(p.received("/hold/149") + p.received("/hold/148"), 2u);
}

// ================================================================ graceful ends

// The common assertions of a graceful GOAWAY seen by h2_client.py's "graceful"
// mode: stream 1 (/slow, in flight when the drain began) answered whole, a
// GOAWAY(NO_ERROR) that accepts it, the late stream not served, the close.
void expect_graceful(const H2Report& rep, const H2Proxy& p) {
    ASSERT_TRUE(rep.ok()) << rep.describe();
    const auto goaways = rep.goaways();
    ASSERT_FALSE(goaways.empty()) << "no GOAWAY: " << rep.describe();
    EXPECT_EQ(rep.first_goaway_code(), kNoError) << rep.describe();
    for (const auto& g : goaways)
        EXPECT_EQ(g.at("error_code"), json::value(0)) << "every GOAWAY of a drain is NO_ERROR: " << rep.describe();
    EXPECT_GE(goaways.back().at("last_stream_id").to_number<std::int64_t>(), 1) << "stream 1 was not accepted";
    EXPECT_EQ(rep.v.at("first_done_at_goaway"), json::value(false)) << "the GOAWAY came after the stream ended";

    const json::value s = rep.stream(1);
    EXPECT_EQ(stream_number(s, "status"), 200) << rep.describe();
    EXPECT_EQ(stream_number(s, "body_bytes"), static_cast<std::int64_t>(kSlowBodyBytes)) << rep.describe();
    EXPECT_EQ(s.at("ended"), json::value(true)) << rep.describe();
    EXPECT_TRUE(s.at("reset_code").is_null()) << rep.describe();
    EXPECT_EQ(std::string(s.at("body_sha256").as_string()), sha256_hex(pattern_string(kSlowBodyBytes)));

    // The stream opened after the GOAWAY (its id above the last one) is not served.
    const json::value late_id = rep.v.at("late_stream");
    if (!late_id.is_null()) {
        const json::value late = rep.stream(late_id.to_number<std::int64_t>());
        EXPECT_NE(stream_number(late, "status"), 200) << rep.describe();
        EXPECT_GT(late_id.to_number<std::int64_t>(), goaways.back().at("last_stream_id").to_number<std::int64_t>());
    }
    EXPECT_EQ(p.received("/late"), 0u) << "a stream opened after GOAWAY reached the upstream";

    EXPECT_TRUE(rep.closed()) << "the connection was not closed after its last stream: " << rep.describe();
    EXPECT_TRUE(goaway_ids_never_increase(rep)) << rep.describe();
    if (rep.closed_t() && s.at("ended_t").is_number()) {
        EXPECT_GE(*rep.closed_t(), s.at("ended_t").to_number<double>()) << "closed before the stream ended";
    }
}

TEST(Http2, SigtermSendsGoawayAndLetsTheInFlightStreamFinish) {
    H2Proxy p({.tweak = [](ConfigSpec& c) { c.drain_timeout = "15s"; }});
    auto client = start_h2_client("graceful", p.port(), {"--path", "/slow", "--late-path", "/late", "--timeout", "20"});
    ASSERT_TRUE(p.up.wait([&] { return p.received("/slow") == 1; }, 15s)) << "the slow request never arrived";
    p.weir->signal(SIGTERM);
    H2Report rep = client.get();
    expect_graceful(rep, p);
    EXPECT_EQ(p.weir->wait_exit(20s), 0) << p.weir->log();
}

// The same over TLS (h2 by ALPN): large bodies both ways, then SIGTERM with
// a slow stream in flight.
TEST(Http2, OverTlsBodiesPassAndSigtermDrains) {
    H2Proxy p({.http2 = std::nullopt, .transport = Transport::tls,
               .tweak = [](ConfigSpec& c) { c.drain_timeout = "15s"; }});
    TempDir dir;
    const std::uint64_t up_bytes = 1 << 20, down_bytes = 8 << 20;
    write_file(dir.path + "/upload", pattern_string(up_bytes));
    CurlResult u = curl({"-k", "--http2", "--data-binary", "@" + dir.path + "/upload"}, p.url("/upload"));
    EXPECT_EQ(u.status, 200) << u.describe();
    EXPECT_EQ(u.http_version, "2") << u.describe();
    EXPECT_EQ(u.body, "got " + std::to_string(up_bytes));
    ASSERT_TRUE(p.up.wait_complete(1));
    EXPECT_EQ(p.up.requests().front().digest, pattern_digest(up_bytes));

    const std::string file = dir.path + "/download";
    CurlResult d = curl({"-k", "--http2", "-o", file}, p.url("/bytes/" + std::to_string(down_bytes)));
    EXPECT_EQ(d.status, 200) << d.describe();
    EXPECT_EQ(d.http_version, "2") << d.describe();
    Digest digest;
    digest.update(read_file(file));
    EXPECT_EQ(digest.bytes(), down_bytes);
    EXPECT_EQ(digest.value(), pattern_digest(down_bytes));

    auto client = start_h2_client("graceful", p.port(),
                                  {"--tls", "--path", "/slow", "--late-path", "/late", "--timeout", "20"});
    ASSERT_TRUE(p.up.wait([&] { return p.received("/slow") == 1; }, 15s)) << "the slow request never arrived";
    p.weir->signal(SIGTERM);
    H2Report rep = client.get();
    EXPECT_EQ(rep.v.at("alpn"), json::value("h2")) << rep.describe();
    expect_graceful(rep, p);
    EXPECT_EQ(p.weir->wait_exit(20s), 0) << p.weir->log();
}

TEST(Http2, AReloadRemovingTheListenerDrainsItsH2Connections) {
    H2Proxy p({.tweak = [](ConfigSpec& c) { c.drain_timeout = "15s"; }});
    auto client = start_h2_client("graceful", p.port(), {"--path", "/slow", "--late-path", "/late", "--timeout", "20"});
    ASSERT_TRUE(p.up.wait([&] { return p.received("/slow") == 1; }, 15s)) << "the slow request never arrived";
    // The listener "public" is replaced by "other".
    std::string yaml = p.yaml;
    const auto at = yaml.find("{name: public,");
    ASSERT_NE(at, std::string::npos);
    yaml.replace(at, 14, "{name: other,");
    write_file_atomic(p.weir->config_path(), yaml);
    p.weir->signal(SIGHUP);
    ASSERT_TRUE(p.weir->wait_log("SIGHUP: reloaded", 10s)) << p.weir->log();
    H2Report rep = client.get();
    expect_graceful(rep, p);
    EXPECT_TRUE(p.weir->running());
    EXPECT_TRUE(connection_refused(p.port())) << "the removed listener still accepts";
}

// A reload that keeps the listener leaves its h2 connections alone (no
// GOAWAY), and the next stream on such a connection follows the new routes.
TEST(Http2, AReloadKeepingTheListenerKeepsItsH2ConnectionsOnTheNewRoutes) {
    FakeUpstream stable("stable"), canary("canary");
    for (FakeUpstream* u : {&stable, &canary}) {
        const std::string name = u->name();
        u->set_handler([name](UpstreamConn& c, const UpstreamRequest& r) { return standard_answer(name, c, r); });
    }
    ConfigSpec c;
    c.idle_timeout = "30s";
    c.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    c.routes = {{"web", "*", "/", {{"stable", 1}}}};
    WeirProcess weir(with_http2(c));
    TempDir dir;
    const std::string go = dir.path + "/go";
    auto client = start_h2_client("sequential", weir.port(),
                                  {"--path", "/before", "--path", "/after", "--wait-file", go, "--timeout", "20"});
    ASSERT_TRUE(stable.wait_requests(1, 15s));
    c.routes[0].split = {{"canary", 1}};
    write_file_atomic(weir.config_path(), with_http2(c));
    weir.signal(SIGHUP);
    ASSERT_TRUE(weir.wait_log("SIGHUP: reloaded", 10s)) << weir.log();
    write_file(go, "");
    H2Report rep = client.get();
    ASSERT_TRUE(rep.ok()) << rep.describe();
    EXPECT_EQ(stream_body(rep.stream(1)), "stable GET /before") << rep.describe();
    EXPECT_EQ(stream_body(rep.stream(3)), "canary GET /after") << "the stream after the reload: " << rep.describe();
    EXPECT_TRUE(rep.goaways().empty()) << "a reload that kept the listener sent GOAWAY: " << rep.describe();
    EXPECT_FALSE(rep.closed()) << rep.describe();
}

TEST(Http2, AnIdleConnectionGetsGoawayAndIsClosed) {
    H2Proxy p({.tweak = [](ConfigSpec& c) { c.idle_timeout = "1s"; }});
    // One connection that served a request, one that never sent any.
    auto served = start_h2_client("idle", p.port(), {"--path", "/once", "--wait", "20"});
    auto silent = start_h2_client("idle", p.port(), {"--wait", "20"});
    // A stream waiting longer than idle_timeout for its upstream is not idleness.
    auto busy = start_h2_client("request", p.port(), {"--path", "/slow"});
    for (H2Report rep : {served.get(), silent.get()}) {
        ASSERT_TRUE(rep.ok()) << rep.describe();
        EXPECT_TRUE(rep.handshake()) << rep.describe();
        EXPECT_TRUE(rep.closed()) << "not closed within 20 s of idleness: " << rep.describe();
        EXPECT_EQ(rep.first_goaway_code(), kNoError) << "expected GOAWAY(NO_ERROR) before the close: " << rep.describe();
        if (rep.closed_t()) {
            const double idle_for = *rep.closed_t() - rep.v.at("idle_from").to_number<double>();
            EXPECT_GE(idle_for, 0.5) << "closed long before idle_timeout (1s): " << rep.describe();
        }
    }
    EXPECT_EQ(p.received("/once"), 1u);
    H2Report b = busy.get();
    ASSERT_TRUE(b.ok()) << b.describe();
    EXPECT_EQ(stream_number(b.stream(1), "status"), 200) << "a slow stream was cut by idle_timeout: " << b.describe();
    EXPECT_EQ(stream_number(b.stream(1), "body_bytes"), static_cast<std::int64_t>(kSlowBodyBytes)) << b.describe();
}

// A client opening streams with ids close to 2^31: Weir answers them, then
// says GOAWAY(NO_ERROR) so the client moves to a new connection.
TEST(Http2, StreamIdsNearExhaustionEndInAGracefulGoaway) {
    H2Proxy p;
    const std::int64_t first = 2147483647 - 1000;  // odd, past the point Weir starts draining
    H2Report rep = run_h2_client("request", p.port(),
                                 {"--first-stream-id", std::to_string(first), "--path", "/high", "--wait-close"});
    ASSERT_TRUE(rep.ok()) << rep.describe();
    EXPECT_EQ(stream_number(rep.stream(first), "status"), 200) << rep.describe();
    EXPECT_EQ(stream_body(rep.stream(first)), "stable GET /high");
    ASSERT_FALSE(rep.goaways().empty()) << "no GOAWAY near stream id exhaustion: " << rep.describe();
    EXPECT_EQ(rep.first_goaway_code(), kNoError) << rep.describe();
    EXPECT_GE(rep.goaways().back().at("last_stream_id").to_number<std::int64_t>(), first) << rep.describe();
    EXPECT_TRUE(rep.closed()) << rep.describe();
}

// ================================================================ abuse

// An abusive client against `p` while a Bystander fetches over its own h2c
// connections: the abuser gets GOAWAY(ENHANCE_YOUR_CALM) and the close, the
// bystander only 200s (at least a few of them during the abuse, one after).
struct AbuseRun {
    H2Report report;
    int bystander_ok = 0;
    int bystander_failed = 0;
    std::string bystander_failure;
};

AbuseRun run_abuse(H2Proxy& p, const std::string& mode, const std::vector<std::string>& args) {
    AbuseRun out;
    Bystander bystander(p.port());
    EXPECT_TRUE(bystander.wait_fetches(1)) << "the bystander never finished a fetch";
    auto abuser = start_h2_client(mode, p.port(), args, 90s);
    out.report = abuser.get();
    const int before = bystander.ok() + bystander.failed();
    EXPECT_TRUE(bystander.wait_fetches(before + 2)) << "the bystander stalled after the abuse";
    bystander.stop();
    out.bystander_ok = bystander.ok();
    out.bystander_failed = bystander.failed();
    out.bystander_failure = bystander.first_failure();
    CurlResult after = curl_h2c(p.port(), "/after");
    EXPECT_EQ(after.status, 200) << after.describe();
    EXPECT_EQ(after.http_version, "2") << after.describe();
    return out;
}

void expect_calm(const AbuseRun& run, const H2Proxy& p) {
    const H2Report& rep = run.report;
    ASSERT_TRUE(rep.ok()) << rep.describe();
    ASSERT_TRUE(rep.handshake()) << rep.describe();
    EXPECT_EQ(rep.first_goaway_code(), kEnhanceYourCalm) << "expected GOAWAY(ENHANCE_YOUR_CALM): " << rep.describe()
                                                         << "\nweir log:\n" << p.weir->log();
    EXPECT_TRUE(rep.closed()) << "the abusive connection stayed open: " << rep.describe();
    EXPECT_TRUE(goaway_ids_never_increase(rep)) << rep.describe();
    // docs/metrics.md: one abusive connection, one calm GOAWAY (the bystander's are not).
    EXPECT_TRUE(wait_for([&] { return metric_value(metrics_text(p.admin_port()), "weir_http2_calm_goaways_total") == 1; },
                         10s, 50ms))
        << metrics_text(p.admin_port());
    EXPECT_EQ(run.bystander_failed, 0) << run.bystander_failure;
    EXPECT_GE(run.bystander_ok, 3);
    EXPECT_TRUE(p.weir->running());
}

// Rapid reset (CVE-2023-44487): HEADERS each followed at once by RST_STREAM,
// `batch` pairs per write, 5000 at most (the client stops writing once it
// reads the GOAWAY). Call with ASSERT_NO_FATAL_FAILURE.
void rapid_reset(int batch, std::int64_t min_written) {
    H2Proxy p;
    AbuseRun run = run_abuse(p, "rapid-reset",
                             {"--streams", "5000", "--batch", std::to_string(batch), "--path", "/reset"});
    ASSERT_NO_FATAL_FAILURE(expect_calm(run, p));
    const auto written = run.report.number("streams_written").value_or(0);
    EXPECT_GE(written, min_written) << run.report.describe();
    // The bound is 200 resets a second: the connection ends near the 201st,
    // not after thousands more streams were taken in. The GOAWAY's last
    // stream id says how far Weir went (500 streams: generous).
    const auto goaways = run.report.goaways();
    if (!goaways.empty()) {
        EXPECT_LT(goaways.front().at("last_stream_id").to_number<std::int64_t>(), 1000)
            << "Weir processed far more streams than the rapid-reset bound allows: " << run.report.describe();
    }
    // Of the streams Weir read before it stopped, a few may have gone
    // upstream before their reset was read; nothing like one upstream
    // request per reset stream.
    const std::size_t forwarded = settled_count([&] { return p.received("/reset"); });
    EXPECT_LE(static_cast<double>(forwarded), 0.10 * static_cast<double>(written))
        << forwarded << " of " << written << " reset streams reached the upstream";
}

// A client that writes 50 pairs at a time and reads in between.
TEST(Http2, RapidResetInSmallWritesEndsTheConnectionAndSparesTheBackend) {
    ASSERT_NO_FATAL_FAILURE(rapid_reset(50, 200));
}

// All 5000 pairs written in one go, as an attacker would: they reach Weir
// in a few large reads.
TEST(Http2, RapidResetInOneWriteEndsTheConnectionAndSparesTheBackend) {
    ASSERT_NO_FATAL_FAILURE(rapid_reset(5000, 1000));
}

TEST(Http2, AContinuationFloodEndsTheConnection) {
    H2Proxy p;
    AbuseRun run = run_abuse(p, "continuation-flood", {"--frames", "10000", "--field-bytes", "8", "--path", "/flood"});
    ASSERT_NO_FATAL_FAILURE(expect_calm(run, p));
    EXPECT_EQ(p.received("/flood"), 0u);
}

TEST(Http2, AHeaderBlockOverTheListSizeEndsTheConnection) {
    H2Proxy p;  // max_header_bytes 65536
    // Seven CONTINUATIONs (under the frame bound) of 12000-byte fields: 84 kB on the wire.
    AbuseRun run = run_abuse(p, "continuation-flood", {"--frames", "7", "--field-bytes", "12000", "--path", "/big"});
    ASSERT_NO_FATAL_FAILURE(expect_calm(run, p));
    EXPECT_EQ(p.received("/big"), 0u);
}

TEST(Http2, AnHpackBombEndsTheConnection) {
    H2Proxy p;  // max_header_bytes 65536
    // 4000-byte value in the dynamic table, 1000 one-byte references: ~4 MB decoded from ~5 kB.
    AbuseRun run = run_abuse(p, "hpack-bomb", {"--value-bytes", "4000", "--refs", "1000"});
    ASSERT_NO_FATAL_FAILURE(expect_calm(run, p));
    EXPECT_LT(run.report.number("block_bytes").value_or(0), 8000);
    EXPECT_GT(run.report.number("decoded_bytes").value_or(0), 65536);
    EXPECT_EQ(p.received("/"), 0u) << "the bomb's request reached the upstream";
}

TEST(Http2, ASettingsFloodEndsTheConnection) {
    H2Proxy p;
    AbuseRun run = run_abuse(p, "settings-flood", {"--frames", "2000"});
    ASSERT_NO_FATAL_FAILURE(expect_calm(run, p));
}

TEST(Http2, APingFloodEndsTheConnection) {
    H2Proxy p;
    AbuseRun run = run_abuse(p, "ping-flood", {"--frames", "2000"});
    ASSERT_NO_FATAL_FAILURE(expect_calm(run, p));
}

// A client that asks for a large body and never opens its window holds a
// stream open forever unless Weir ends it: it must, with the idle timeout,
// and give back what it held (upstream connection, descriptors), without
// buffering the upstream's body meanwhile.
TEST(Http2, AZeroWindowClientIsClosedAndItsResourcesReleased) {
    H2Proxy p({.tweak = [](ConfigSpec& c) { c.idle_timeout = "2s"; }});
    const pid_t pid = p.weir->pid();
    // Warm up so that what Weir allocates for any h2 connection is in the baseline.
    ASSERT_EQ(curl_h2c(p.port(), "/warm").status, 200);
    // Weir's descriptors apart from its upstream connections (each one open at the upstream).
    auto own_fds = [&] { return open_fds(pid) - static_cast<int>(p.up.open_connections()); };
    const int fds_before = own_fds();
    const long rss_before = p.weir->rss_kib();

    Bystander bystander(p.port());
    const std::uint64_t huge = 1ull << 30;
    auto staller = start_h2_client("zero-window", p.port(), {"--path", "/bytes/" + std::to_string(huge), "--wait", "60"},
                                   90s);
    const std::string target = "/bytes/" + std::to_string(huge);
    ASSERT_TRUE(p.up.wait([&] { return p.received(target) == 1; }, 15s));
    int stalled_conn = -1;
    for (const auto& r : p.up.requests())
        if (r.target == target) stalled_conn = r.conn_id;
    long rss_max = rss_before;
    H2Report rep;
    for (;;) {
        rss_max = std::max(rss_max, p.weir->rss_kib());
        if (staller.wait_for(100ms) == std::future_status::ready) break;
    }
    rep = staller.get();
    bystander.stop();

    ASSERT_TRUE(rep.ok()) << rep.describe();
    const json::value s = rep.stream(1);
    EXPECT_EQ(stream_number(s, "body_bytes"), 0) << "DATA sent into a zero window: " << rep.describe();
    EXPECT_TRUE(rep.closed()) << "a stalled zero-window stream kept its connection for 60 s (idle_timeout 2s): "
                              << rep.describe();
    EXPECT_LT(rss_max - rss_before, 64 * 1024) << "Weir buffered the body it could not send (KiB)";
    // The upstream connection is given up and Weir's descriptors come back.
    EXPECT_TRUE(p.up.wait_connection_closed(stalled_conn, 15s))
        << "the upstream connection of the stalled stream is still open";
    EXPECT_TRUE(wait_for([&] { return own_fds() <= fds_before; }, 15s))
        << "descriptors besides upstream connections: " << fds_before << " before, " << own_fds() << " after";
    EXPECT_EQ(bystander.failed(), 0) << bystander.first_failure();
    EXPECT_GE(bystander.ok(), 1);
    EXPECT_EQ(curl_h2c(p.port(), "/after").status, 200);
}

}  // namespace
}  // namespace weir_it
