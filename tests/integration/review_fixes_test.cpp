// Regression tests for the defects found in review (one suite per fix, all
// named Review*): the real binary in front of fake upstreams on loopback,
// each test written to fail on the code before the fix.
//
//  1. ReviewEarlyAnswer   proxy/session.cpp resume(), Wait::pump_read (request
//                         direction): an upstream answering while the client
//                         pauses mid-upload is forwarded at once; an
//                         unsolicited 100 Continue does not stall the upload.
//                         EarlyAnswerWhileTheProxyIsBlockedWritingTheBody...:
//                         the same answer while the proxy waits in
//                         Wait::pump_write (not covered by the fix; fails).
//  2. ReviewHeaderTimeout proxy/session.cpp idle_limit(): a silent new
//                         connection gets header_timeout, a served one idle_timeout.
//  3. ReviewDrainByName   control/control_plane.cpp set_drained()/endpoints_named().
//  4. ReviewConnectCap    proxy/session.cpp pick_endpoint(): at most 5 attempts.
//  5. ReviewStaleReuse    proxy/session.cpp upstream_failed(): a stale pooled
//                         connection is no endpoint failure.
//  6. ReviewRolloutReload control/rollout_driver.cpp sync(): a reload that
//                         changes the file split keeps the rollout's share.
//  7. ReviewMetrics       proxy/server.cpp traffic(): weir_requests_total
//                         never decreases, also when a worker answers late.
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

#ifndef WEIR_BINARY
#error "WEIR_BINARY must be defined by the build"
#endif

namespace weir_it {
namespace {

using namespace std::string_literals;

long long ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<Millis>(Clock::now() - t).count();
}

// Waits `d` (only where the contract itself names a time, e.g. "within one second").
void wait_out(Millis d) {
    const auto until = Clock::now() + d;
    wait_for([&] { return Clock::now() >= until; }, d + 1s, 20ms);
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.find(needle) != std::string::npos) ++n;
    return n;
}

std::string upload_head(std::uint64_t content_length, const std::string& target = "/upload") {
    return "POST " + target + " HTTP/1.1\r\nHost: test.local\r\nContent-Length: " + std::to_string(content_length) +
           "\r\n\r\n";
}

// ================================================================ 1. early answers during an upload

// The upstream answers `status` as soon as it sees the head, while the
// client has sent only 1000 of 100000 body bytes and then waits. The client
// must get that answer at once (not a 408 after idle_timeout, 20 s here), and
// the connection is closed after it.
void early_answer_during_paused_upload(int status, const std::string& body) {
    std::atomic<bool> answered{false};  // before the upstream: its hook uses it
    SingleProxy p([](ConfigSpec& c) {
        c.idle_timeout = "20s";
        c.header_timeout = "5s";
    });
    p.up.set_head_hook([&answered, status, body](UpstreamConn& c, const UpstreamRequest&) -> std::optional<After> {
        c.send(make_response(status, body, "Connection: close\r\n"));
        answered = true;
        // Like a real server after an early answer: keep reading (and
        // dropping) what still comes until the proxy closes, so the close is
        // not a reset that could destroy the answer.
        c.wait_peer_closed(25s);
        return After::close;
    });

    RawClient client(p.port(), 8s);  // well under idle_timeout: a 408 would come after 20 s
    ASSERT_TRUE(client.send(upload_head(100000) + pattern_string(1000)));
    ASSERT_TRUE(p.up.wait_requests(1)) << p.weir->log();
    ASSERT_TRUE(wait_for([&] { return answered.load(); }, 5s));
    const auto start = Clock::now();
    Response r = client.read_response();
    const auto took = ms_since(start);
    ASSERT_EQ(r.status, status) << "the client paused mid-upload; the upstream's early answer was not forwarded "
                                   "(waited " << took << " ms): " << r.describe() << "\n" << p.weir->log();
    EXPECT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.body, body);
    EXPECT_LT(took, 5000) << "the early answer must arrive promptly, not after a timeout";
    EXPECT_TRUE(r.connection_close()) << "the request was cut short: the connection cannot carry another one\n"
                                      << r.describe();
    EXPECT_TRUE(client.wait_closed(5s)) << "the proxy did not close the connection after the early answer";
    // The upstream connection carrying the partial request is closed too.
    const auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_TRUE(p.up.wait_connection_closed(reqs[0].conn_id, 5s));
    EXPECT_FALSE(reqs[0].complete);
}

TEST(ReviewEarlyAnswer, Early413DuringAPausedUploadIsForwardedAtOnceAndClosesTheConnection) {
    early_answer_during_paused_upload(413, "payload too large");
}

TEST(ReviewEarlyAnswer, Early401DuringAPausedUploadIsForwardedAtOnceAndClosesTheConnection) {
    early_answer_during_paused_upload(401, "who are you");
}

// Some servers send "100 Continue" as soon as they see any upload's head,
// Expect or not. Seen while the client is between two parts of its body, it
// must not stop the rest of the body from being pumped: the upstream reads
// all 100000 bytes and answers 200, which the client gets.
TEST(ReviewEarlyAnswer, UnsolicitedContinueFromTheUpstreamDoesNotStallTheUpload) {
    std::atomic<bool> continued{false};  // before the upstream: its hook uses it
    SingleProxy p([](ConfigSpec& c) {
        c.idle_timeout = "20s";
        c.pools[0].response_timeout = "15s";
    });
    p.up.set_head_hook([&](UpstreamConn& c, const UpstreamRequest&) -> std::optional<After> {
        c.send("HTTP/1.1 100 Continue\r\n\r\n");
        continued = true;
        return std::nullopt;  // then read the whole body and call the handler
    });
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& req) {
        c.send(make_response(200, "got " + std::to_string(req.body_bytes) + (req.complete ? " complete" : " partial")));
        return After::keep_alive;
    });

    constexpr std::size_t total = 100000, first = 30000;
    const std::string body = pattern_string(total);
    RawClient client(p.port(), 10s);
    ASSERT_TRUE(client.send(upload_head(total) + body.substr(0, first)));
    ASSERT_TRUE(wait_for([&] { return continued.load(); }, 5s)) << p.weir->log();
    // A proxy forwards 1xx it did not ask for itself (RFC 9110 15.2): the
    // interim answer arriving here shows the proxy has handled it while the
    // body was still incomplete.
    ReadOptions interim;
    interim.return_interim = true;
    Response cont = client.read_response(interim);
    ASSERT_EQ(cont.status, 100) << "the upstream's 100 Continue, sent while the upload was paused, was not "
                                   "forwarded: " << cont.describe() << "\n" << p.weir->log();

    ASSERT_TRUE(client.send(body.substr(first)));
    const auto start = Clock::now();
    Response r = client.read_response();
    EXPECT_EQ(r.status, 200) << "the upload stalled after an unsolicited 100 Continue (" << ms_since(start)
                             << " ms): " << r.describe() << "\n" << p.weir->log();
    EXPECT_EQ(r.body, "got 100000 complete") << r.describe();
    EXPECT_LT(ms_since(start), 5000);
    const auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_TRUE(reqs[0].complete) << reqs[0].body_error;
    EXPECT_EQ(reqs[0].body_bytes, total);
    EXPECT_EQ(reqs[0].digest, pattern_digest(total));
}

// The same early answer when the proxy is not waiting for the client but is
// blocked writing the body to the upstream: the client streams a large
// upload; the upstream stops reading, and once the proxy can write no more
// (its unread bytes stop growing) it answers 413 and keeps the connection
// open without reading. The answer is there to read; the client must get it
// promptly, not a 504 once response_timeout (6 s) passes.
TEST(ReviewEarlyAnswer, EarlyAnswerWhileTheProxyIsBlockedWritingTheBodyIsForwarded) {
    std::atomic<bool> answered{false};  // before the upstream: its hook uses it
    std::atomic<int> unread_at_answer{0};
    SingleProxy p([](ConfigSpec& c) {
        c.idle_timeout = "20s";
        c.pools[0].response_timeout = "6s";
    });
    p.up.set_head_hook([&](UpstreamConn& c, const UpstreamRequest&) -> std::optional<After> {
        // Not reading: wait until the bytes queued on this socket stop growing.
        int last = -1, same = 0;
        wait_for(
            [&] {
                int n = 0;
                ::ioctl(c.stream().fd(), FIONREAD, &n);
                same = (n > 0 && n == last) ? same + 1 : 0;
                last = n;
                return same >= 10;  // unchanged for ~200 ms
            },
            5s, 20ms);
        unread_at_answer = last;
        c.send(make_response(413, "payload too large", "Connection: close\r\n"));
        answered = true;
        c.sleep_for(25s);  // never reads again
        return After::close;
    });

    RawClient client(p.port(), 15s);
    constexpr std::uint64_t total = 1ull << 30;
    ASSERT_TRUE(client.send(upload_head(total)));
    std::thread writer([&] {
        const Pattern& pat = Pattern::get();
        for (std::uint64_t off = 0; off < total; off += Pattern::max_slice)
            if (!client.stream().write_all(pat.at(off), Pattern::max_slice)) break;
    });
    struct Join {
        RawClient& c;
        std::thread& t;
        ~Join() {
            ::shutdown(c.fd(), SHUT_RDWR);
            t.join();
        }
    } join{client, writer};

    ASSERT_TRUE(wait_for([&] { return answered.load(); }, 10s)) << p.weir->log();
    const auto start = Clock::now();
    Response r = client.read_response();
    const auto took = ms_since(start);
    EXPECT_EQ(r.status, 413) << "the upstream answered 413 (with " << unread_at_answer.load()
                             << " body bytes it had not read) while the proxy was blocked writing the body; "
                                "the client got instead, after " << took << " ms: " << r.describe() << "\n"
                             << p.weir->log();
    EXPECT_LT(took, 3000) << "the early answer must arrive promptly, not after response_timeout";
}

// ================================================================ 2. header timeout for new connections

TEST(ReviewHeaderTimeout, SilentNewConnectionIsClosedAfterHeaderTimeoutNotIdleTimeout) {
    SingleProxy p([](ConfigSpec& c) {
        c.header_timeout = "1s";
        c.idle_timeout = "30s";
    });
    RawClient silent(p.port());
    ASSERT_TRUE(silent.connected());
    const auto start = Clock::now();
    std::string extra;
    const bool closed = silent.wait_closed(8s, &extra);
    const auto took = ms_since(start);
    EXPECT_TRUE(closed) << "a connection that never sent a byte was still open after " << took
                        << " ms (header_timeout 1s, idle_timeout 30s); got: " << extra;
    if (closed) {
        EXPECT_GE(took, 800) << "closed before header_timeout";
        EXPECT_LT(took, 5000);
    }
    EXPECT_EQ(p.up.request_count(), 0u);
}

TEST(ReviewHeaderTimeout, ServedConnectionKeepsTheKeepAliveIdleTimeout) {
    SingleProxy p([](ConfigSpec& c) {
        c.header_timeout = "1s";
        c.idle_timeout = "30s";
    });
    RawClient client(p.port());
    Response first = client.request(get_request("/first"));
    ASSERT_EQ(first.status, 200) << first.describe();
    ASSERT_FALSE(first.connection_close()) << first.describe();
    // Idle between requests: governed by idle_timeout (30 s), not header_timeout (1 s).
    std::string extra;
    EXPECT_FALSE(client.wait_closed(2500ms, &extra))
        << "a keep-alive connection that was served was closed within 2.5 s (header_timeout 1s, idle_timeout 30s)";
    EXPECT_TRUE(extra.empty()) << "unexpected bytes on an idle connection: " << extra;
    Response second = client.request(get_request("/second"));
    EXPECT_EQ(second.status, 200) << second.describe();
    EXPECT_EQ(p.up.request_count(), 2u);
}

// ================================================================ 3. drain by configured DNS name

TEST(ReviewDrainByName, DrainAndUndrainAcceptTheConfiguredNameAndTheResolvedAddress) {
    using namespace health;
    FakeUpstream a("a"), b("b");
    const std::string a_name = "localhost:" + std::to_string(a.port());  // as configured
    const std::string a_addr = a.address();                               // as GET /pools shows it
    HealthConfig cfg;
    cfg.workers = 1;
    cfg.pools = {{"stable", {a_name, b.address()}}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    auto pool = get_pool(admin, "stable");
    ASSERT_TRUE(pool) << weir.log();
    ASSERT_TRUE(pool->find(a_addr)) << "GET /pools shows the resolved address of " << a_name << ": " << pool->raw;
    ASSERT_TRUE(pool->find(b.address())) << pool->raw;
    {
        // Both endpoints serve before the drain.
        RawClient c(weir.port());
        ASSERT_TRUE(wait_for([&] { return c.request(get_request("/warm")).status == 200 && a.complete_count() > 0; },
                             5s, 1ms))
            << weir.log();
    }

    auto sample_only_b = [&](const std::string& what) {
        const auto a_before = a.request_count();
        RawClient c(weir.port());
        int from_b = 0;
        for (int i = 0; i < 40; ++i) {
            Response r = c.request(get_request("/s"));
            if (r.status == 200 && r.body.rfind("b ", 0) == 0) ++from_b;
        }
        EXPECT_EQ(from_b, 40) << what;
        EXPECT_EQ(a.request_count(), a_before) << what << ": the drained endpoint received new requests";
    };

    // Drain by the configured DNS name.
    Response r = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(a_name) + "/drain");
    ASSERT_EQ(r.status, 200) << r.describe();
    auto ep = get_endpoint(admin, "stable", a_addr);
    ASSERT_TRUE(ep);
    EXPECT_TRUE(ep->draining) << "drained by its configured name " << a_name << ", yet GET /pools says "
                              << a_addr << " is not draining";
    EXPECT_FALSE(ep->eligible);
    wait_out(1s);  // SPEC: runtime edits apply within one second on every worker
    sample_only_b("drained by " + a_name);

    // Undrain by the name (unencoded): it serves again.
    r = admin_call(admin, "POST", "/pools/stable/endpoints/" + a_name + "/undrain");
    ASSERT_EQ(r.status, 200) << r.describe();
    ep = get_endpoint(admin, "stable", a_addr);
    ASSERT_TRUE(ep);
    EXPECT_FALSE(ep->draining) << "undrained by its configured name, still draining";
    {
        const auto before = a.request_count();
        RawClient c(weir.port());
        EXPECT_TRUE(wait_for([&] { return c.request(get_request("/u")).status == 200 && a.request_count() > before; },
                             5s, 1ms))
            << "undrained endpoint gets no requests";
    }

    // The resolved address GET /pools shows works too.
    r = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(a_addr) + "/drain");
    ASSERT_EQ(r.status, 200) << "drain by the address GET /pools shows: " << r.describe();
    ep = get_endpoint(admin, "stable", a_addr);
    ASSERT_TRUE(ep);
    EXPECT_TRUE(ep->draining);
    wait_out(1s);
    sample_only_b("drained by " + a_addr);
    r = admin_call(admin, "POST", "/pools/stable/endpoints/" + a_addr + "/undrain");
    ASSERT_EQ(r.status, 200) << r.describe();
    ep = get_endpoint(admin, "stable", a_addr);
    ASSERT_TRUE(ep);
    EXPECT_FALSE(ep->draining);

    // Unknown endpoints: 404 with a JSON error, for names and addresses alike.
    for (const std::string& unknown : {"localhost:1"s, "127.0.0.1:1"s, "no-such-host.invalid:80"s}) {
        for (const char* verb : {"drain", "undrain"}) {
            Response u = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(unknown) + "/" + verb);
            EXPECT_EQ(u.status, 404) << verb << " " << unknown << ": " << u.describe();
            EXPECT_TRUE(parse_json(u.body).is_object()) << u.body;
        }
    }
    pool = get_pool(admin, "stable");
    ASSERT_TRUE(pool);
    for (const auto& e : pool->endpoints) EXPECT_FALSE(e.draining) << e.address << ": " << pool->raw;
}

// A drain made by the configured name is persisted and survives a reload and
// a restart (it is kept against the endpoints the name resolves to).
TEST(ReviewDrainByName, DrainByNameSurvivesAReloadAndARestart) {
    using namespace health;
    FakeUpstream a("a"), b("b");
    const std::string a_name = "localhost:" + std::to_string(a.port());
    TempDir state_dir;
    HealthConfig cfg;
    cfg.workers = 1;
    cfg.state_file = state_dir.path + "/weir.state.json";
    cfg.pools = {{"stable", {a_name, b.address()}}};
    auto weir = std::make_unique<WeirProcess>(cfg.yaml());
    Response r = admin_call(weir->admin_port(), "POST", "/pools/stable/endpoints/" + percent_encode(a_name) + "/drain");
    ASSERT_EQ(r.status, 200) << r.describe();
    ASSERT_TRUE(wait_endpoint(weir->admin_port(), "stable", a.address(), [](const EndpointView& e) { return e.draining; },
                              2s));

    Response reload = admin_call(weir->admin_port(), "POST", "/reload");
    ASSERT_EQ(reload.status, 200) << reload.describe() << "\n" << weir->log();
    auto e = get_endpoint(weir->admin_port(), "stable", a.address());
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->draining) << "a drain made by name was dropped by a reload\n" << weir->log();

    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir = std::make_unique<WeirProcess>(cfg.yaml());
    e = get_endpoint(weir->admin_port(), "stable", a.address());
    ASSERT_TRUE(e) << weir->log();
    EXPECT_TRUE(e->draining) << "a drain made by name did not survive a restart\n"
                             << read_file(cfg.state_file) << "\n" << weir->log();
    const auto a_before = a.request_count();
    RawClient c(weir->port());
    for (int i = 0; i < 20; ++i) EXPECT_EQ(c.request(get_request("/s")).body.rfind("b ", 0), 0u);
    EXPECT_EQ(a.request_count(), a_before);

    // Undrain by name after the restart.
    r = admin_call(weir->admin_port(), "POST", "/pools/stable/endpoints/" + a_name + "/undrain");
    ASSERT_EQ(r.status, 200) << r.describe();
    e = get_endpoint(weir->admin_port(), "stable", a.address());
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->draining);
}

// ================================================================ 4. bounded connect attempts

TEST(ReviewConnectCap, PoolOfEightRefusingEndpointsAnswers503AfterAtMostFiveAttempts) {
    std::set<std::uint16_t> ports;
    for (int i = 0; i < 100 && ports.size() < 8; ++i) ports.insert(closed_port());
    ASSERT_EQ(ports.size(), 8u);
    std::vector<std::string> addresses;
    for (auto port : ports) addresses.push_back("127.0.0.1:" + std::to_string(port));
    ConfigSpec c = ConfigSpec::single(addresses);
    c.workers = 1;
    WeirProcess weir(c.yaml());
    ASSERT_EQ(count_lines_with(weir.log(), "connect failed"), 0u) << weir.log();

    RawClient client(weir.port(), 10s);
    const auto start = Clock::now();
    Response r = client.request(get_request("/dead"));
    const auto took = ms_since(start);
    EXPECT_EQ(r.status, 503) << r.describe();
    EXPECT_LT(took, 3000) << "refused connects on loopback fail at once";
    ASSERT_TRUE(weir.wait_log("no endpoint left to try", 5s)) << weir.log();
    const std::string log = weir.log();
    const auto attempts = count_lines_with(log, "connect failed");
    EXPECT_GE(attempts, 1u) << log;
    EXPECT_LE(attempts, 5u) << "one request tried " << attempts << " endpoints (cap: 5)\n" << log;
}

// ================================================================ 5. stale pooled connections

// Every upstream connection serves one request; the next request on it finds
// that the origin has dropped it (a reset right as it is reused). "/fail"
// answers 500.
struct OneShotConnections {
    std::mutex mu;
    std::map<int, int> per_conn;
    Handler handler() {
        return [this](UpstreamConn& c, const UpstreamRequest& req) {
            int n;
            {
                std::lock_guard lk(mu);
                n = ++per_conn[c.id()];
            }
            if (n > 1) return After::reset;
            if (req.target == "/fail") c.send(make_response(500, "origin failure"));
            else c.send(make_response(200, "origin ok"));
            return After::keep_alive;
        };
    }
};

TEST(ReviewStaleReuse, StalePooledConnectionIsRetriedWithoutCountingAnErrorOrEjecting) {
    using namespace health;
    OneShotConnections a_conns, b_conns;  // before the upstreams: their handlers use them
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

// ================================================================ 6. reload during a rollout

TEST(ReviewRolloutReload, ReloadChangingTheFileSplitKeepsTheRunningRolloutsShare) {
    using namespace rollout;
    PoolBackend stable("stable", 0ms), canary("canary", 0ms);
    TempDir dir;
    ControlConfig c = control::stateful_config(dir, stable.address(), canary.address());
    RolloutBlock block;
    block.steps = "[10, 100]";
    block.step_min_duration = "5m";
    block.step_max_duration = "10m";
    block.min_samples = 100000;  // never enough: the run stays at step 0
    block.file_split = {{"stable", 100}, {"canary", 0}};
    WeirProcess weir(rollout_yaml(c, block));
    AdminClient admin(weir.admin_port());

    Response started = rollout_call(admin, "start");
    ASSERT_EQ(started.status, 200) << started.describe() << "\n" << started.body;
    RolloutView v = rollout_view(admin);
    ASSERT_EQ(v.phase, "running") << v.raw;
    ASSERT_EQ(v.step, 0) << v.raw;
    ASSERT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;

    // The file's split changes 100/0 -> 50/50 and is reloaded.
    block.file_split = {{"stable", 50}, {"canary", 50}};
    control::write_file_atomic(weir.config_path(), rollout_yaml(c, block));
    auto [status, body] = admin.reload();
    ASSERT_EQ(status, 200) << boost::json::serialize(body) << "\n" << weir.log();

    auto route = admin.route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 90}, {"canary", 10}}))
        << "after a reload that changed the file split, the route serves " << control::to_text(route.split)
        << " while the rollout is at step 0 (10% canary): " << route.raw << "\n" << weir.log();
    EXPECT_EQ(route.file_split, (SplitMap{{"stable", 50}, {"canary", 50}})) << route.raw;
    v = rollout_view(admin);
    EXPECT_EQ(v.phase, "running") << v.raw;
    EXPECT_EQ(v.step, 0) << v.raw;
    EXPECT_EQ(v.canary_percent, 10) << v.raw;
    auto w = metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}});
    ASSERT_TRUE(w.has_value());
    EXPECT_NEAR(*w, 0.1, 1e-9);

    // And the traffic follows: about 10% canary, not 50%.
    wait_out(1s);  // SPEC: within one second on every worker
    auto s = control::sample_pools(weir.port(), 400);
    EXPECT_EQ(s["error"], 0);
    EXPECT_GE(s["stable"], 330) << "stable=" << s["stable"] << " canary=" << s["canary"];
    EXPECT_LE(s["canary"], 70) << "stable=" << s["stable"] << " canary=" << s["canary"];

    // It stays that way (the next rollout tick does not undo it).
    wait_out(1500ms);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;
    EXPECT_EQ(rollout_view(admin).phase, "running");
}

// The same for a paused rollout, and across a restart with a file whose
// split changed while weir was down (the run is restored from the state file).
TEST(ReviewRolloutReload, PausedRolloutAndRestartWithAChangedFileSplitKeepTheShare) {
    using namespace rollout;
    PoolBackend stable("stable", 0ms), canary("canary", 0ms);
    TempDir dir;
    ControlConfig c = control::stateful_config(dir, stable.address(), canary.address());
    RolloutBlock block;
    block.steps = "[10, 100]";
    block.step_min_duration = "5m";
    block.step_max_duration = "10m";
    block.min_samples = 100000;
    block.file_split = {{"stable", 100}, {"canary", 0}};
    auto weir = std::make_unique<WeirProcess>(rollout_yaml(c, block));
    auto admin = std::make_unique<AdminClient>(weir->admin_port());
    ASSERT_EQ(rollout_call(*admin, "start").status, 200);
    ASSERT_EQ(rollout_call(*admin, "pause").status, 200);
    ASSERT_EQ(rollout_view(*admin).phase, "paused");

    block.file_split = {{"stable", 50}, {"canary", 50}};
    control::write_file_atomic(weir->config_path(), rollout_yaml(c, block));
    auto [status, body] = admin->reload();
    ASSERT_EQ(status, 200) << boost::json::serialize(body);
    auto route = admin->route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 90}, {"canary", 10}}))
        << "paused rollout at 10%; after a reload the route serves " << control::to_text(route.split) << ": "
        << route.raw;
    EXPECT_EQ(rollout_view(*admin).phase, "paused");

    // Down, the file changes again (70/30), up again from the state file.
    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir.reset();
    block.file_split = {{"stable", 70}, {"canary", 30}};
    weir = std::make_unique<WeirProcess>(rollout_yaml(c, block));
    admin = std::make_unique<AdminClient>(weir->admin_port());
    RolloutView v = rollout_view(*admin);
    EXPECT_EQ(v.phase, "paused") << v.raw << "\n" << weir->log();
    EXPECT_EQ(v.step, 0) << v.raw;
    route = admin->route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 90}, {"canary", 10}}))
        << "restored rollout at 10%; after a restart with a changed file split the route serves "
        << control::to_text(route.split) << ": " << route.raw << "\n" << weir->log();
}

// ================================================================ 7. monotone request counters

using Series = std::map<std::string, double>;  // "{labels}" -> value

// Every weir_requests_total sample of a Prometheus text.
Series requests_series(const std::string& text) {
    Series out;
    std::istringstream in(text);
    std::string line;
    const std::string name = "weir_requests_total{";
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) != 0) continue;
        auto close = line.find('}');
        if (close == std::string::npos) continue;
        out[line.substr(name.size() - 1, close - name.size() + 2)] = std::atof(line.c_str() + close + 1);
    }
    return out;
}

// Checks that no series decreased (or vanished) from one scrape to the next.
void expect_monotone(const std::vector<Series>& scrapes) {
    for (std::size_t i = 1; i < scrapes.size(); ++i) {
        for (const auto& [labels, before] : scrapes[i - 1]) {
            auto it = scrapes[i].find(labels);
            if (it == scrapes[i].end()) {
                ADD_FAILURE() << "scrape " << i << ": weir_requests_total" << labels << " vanished (was " << before << ")";
                continue;
            }
            EXPECT_GE(it->second, before) << "scrape " << i << ": weir_requests_total" << labels << " went from "
                                          << before << " to " << it->second;
        }
    }
}

TEST(ReviewMetrics, RequestsTotalNeverDecreasesAcrossScrapesUnderLoad) {
    SingleProxy p;
    control::LoadGen load(p.port(), 4, "/load");
    ASSERT_TRUE(load.wait_progress(200)) << control::describe(load.stats());
    std::vector<Series> scrapes;
    for (int i = 0; i < 20; ++i) {
        Response r = admin_request(p.weir->admin_port(), "GET", "/metrics");
        ASSERT_EQ(r.status, 200) << r.describe();
        scrapes.push_back(requests_series(r.body));
        ASSERT_FALSE(scrapes.back().empty()) << r.body;
        load.wait_progress(20, 2s);
    }
    load.stop();
    expect_monotone(scrapes);
    auto sum = [](const Series& s) {
        double t = 0;
        for (const auto& [_, v] : s) t += v;
        return t;
    };
    EXPECT_GT(sum(scrapes.back()), sum(scrapes.front())) << "traffic was counted";
}

// weir with its stderr on a pipe this test reads, so that reading can be
// paused: a worker that then logs blocks in write() and misses the scrape's
// gather deadline (1 s), as a busy worker would.
class PipedWeir {
public:
    explicit PipedWeir(const std::string& yaml) {
        config_path_ = dir_.path + "/weir.yaml";
        write_file(config_path_, yaml);
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        read_fd_ = fds[0];
        ::fcntl(fds[1], F_SETPIPE_SZ, 4096);  // small: quick to fill (best effort)
        std::string bin = WEIR_BINARY, run = "run", c = "-c", path = config_path_;
        char* argv[] = {bin.data(), run.data(), c.data(), path.data(), nullptr};
        pid_ = ::fork();
        if (pid_ == 0) {
            int devnull = ::open("/dev/null", O_RDWR);
            if (devnull >= 0) {
                ::dup2(devnull, 0);
                ::dup2(devnull, 1);
            }
            ::dup2(fds[1], 2);
            ::signal(SIGPIPE, SIG_DFL);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execv(argv[0], argv);
            ::_exit(127);
        }
        ::close(fds[1]);
        if (pid_ < 0) throw std::runtime_error("fork failed");
        reader_ = std::thread([this] { read_loop(); });
        const bool ready = wait_for(
            [&] {
                std::string l = log();
                auto p = logged_port(l, "listener public listening on ");
                auto a = logged_port(l, "admin listening on ");
                if (p && a) {
                    port_ = *p;
                    admin_port_ = *a;
                }
                return (p && a) || eof_;
            },
            10s, 10ms);
        if (!ready || port_ == 0) throw std::runtime_error("weir did not become ready; log:\n" + log());
    }
    ~PipedWeir() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
        }
        {
            std::lock_guard lk(mu_);
            stop_ = true;
            paused_ = false;
        }
        cv_.notify_all();
        if (reader_.joinable()) reader_.join();
        ::close(read_fd_);
    }
    PipedWeir(const PipedWeir&) = delete;
    PipedWeir& operator=(const PipedWeir&) = delete;

    std::uint16_t port() const { return port_; }
    std::uint16_t admin_port() const { return admin_port_; }
    std::string log() const {
        std::lock_guard lk(mu_);
        return log_;
    }
    void pause_reading() {
        std::lock_guard lk(mu_);
        paused_ = true;
    }
    void resume_reading() {
        {
            std::lock_guard lk(mu_);
            paused_ = false;
        }
        cv_.notify_all();
    }
    // Bytes written to the pipe and not read yet.
    int unread() const {
        int n = 0;
        ::ioctl(read_fd_, FIONREAD, &n);
        return n;
    }

private:
    void read_loop() {
        char buf[4096];
        for (;;) {
            {
                std::unique_lock lk(mu_);
                cv_.wait(lk, [&] { return stop_ || !paused_; });
                if (stop_) return;
            }
            pollfd pfd{read_fd_, POLLIN, 0};
            if (::poll(&pfd, 1, 20) <= 0) continue;
            std::unique_lock lk(mu_);
            if (paused_ || stop_) continue;  // paused between poll and read: leave it in the pipe
            ssize_t n = ::read(read_fd_, buf, sizeof buf);
            if (n > 0) {
                log_.append(buf, static_cast<std::size_t>(n));
            } else if (n == 0) {
                eof_ = true;
                return;
            }
        }
    }

    TempDir dir_;
    std::string config_path_;
    pid_t pid_ = -1;
    int read_fd_ = -1;
    std::uint16_t port_ = 0, admin_port_ = 0;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::string log_;
    bool paused_ = false;
    bool stop_ = false;
    std::atomic<bool> eof_{false};
    std::thread reader_;
};

// One of the two workers is stuck for a few seconds (here: blocked writing a
// log line to a full stderr pipe) while /metrics is scraped 20 times. The
// scrape cannot wait for it (gather deadline 1 s), but what it already
// counted must not drop out of the sums: weir_requests_total never decreases.
TEST(ReviewMetrics, RequestsTotalNeverDecreasesWhenAWorkerAnswersLate) {
    FakeUpstream up("origin");
    std::ostringstream y;
    y << "workers: 2\n"
      << "drain_timeout: 2s\n"
      << "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n"
      << "admin: {address: \"127.0.0.1:0\"}\n"
      << "limits: {header_timeout: 5s, idle_timeout: 30s}\n"
      << "pools:\n"
      << "  - name: stable\n"
      << "    endpoints: [{address: \"" << up.address() << "\"}]\n"
      << "    upstream: {connect_timeout: 1s, response_timeout: 5s}\n"
      << "routes:\n"
      << "  - name: web\n"  // the background traffic
      << "    match: {host: \"*\", path_prefix: /good}\n"
      << "    split: {stable: 1}\n"
      << "  - name: mine\n"  // only the connection whose worker gets stuck
      << "    match: {host: \"*\", path_prefix: /mine}\n"
      << "    split: {stable: 1}\n";  // anything else: 404 "no route", logged
    PipedWeir weir(y.str());

    // Background traffic on a few keep-alive connections (requests that log nothing).
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> served{0};
    std::vector<std::thread> traffic;
    for (int t = 0; t < 3; ++t) {
        traffic.emplace_back([&] {
            auto c = std::make_unique<RawClient>(weir.port(), 3s);
            auto next = Clock::now();
            while (!stop) {
                next += 10ms;  // paced: ~100 requests/s per thread
                wait_for([&] { return stop || Clock::now() >= next; }, 1s, 2ms);
                Response r = c->request(get_request("/good/load"));
                if (r.status == 200 && r.complete && !r.connection_close()) {
                    ++served;
                } else {
                    c = std::make_unique<RawClient>(weir.port(), 3s);
                }
            }
        });
    }
    struct StopTraffic {
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~StopTraffic() {
            stop = true;
            for (auto& t : threads) t.join();
        }
    } stopper{stop, traffic};

    // The connection whose worker will get stuck: it has served requests first.
    RawClient stuck(weir.port(), 2s);
    // It alone uses route "mine", so only that worker counts weir_requests_total{route="mine"}.
    for (int i = 0; i < 50; ++i) ASSERT_EQ(stuck.request(get_request("/mine")).status, 200);
    ASSERT_TRUE(wait_for([&] { return served.load() >= 100; }, 10s)) << weir.log();

    std::vector<Series> scrapes;
    std::vector<long long> took;
    auto scrape = [&] {
        const auto start = Clock::now();
        Response r = admin_request(weir.admin_port(), "GET", "/metrics");
        took.push_back(ms_since(start));
        ASSERT_EQ(r.status, 200) << r.describe();
        scrapes.push_back(requests_series(r.body));
        ASSERT_FALSE(scrapes.back().empty()) << r.body;
    };
    for (int i = 0; i < 4; ++i) {
        ASSERT_NO_FATAL_FAILURE(scrape());
        wait_for([&] { return false; }, 50ms);
    }

    // Stop reading weir's stderr and make the stuck connection's worker log
    // (404 "no route" lines) until it blocks: its requests stop being answered.
    weir.pause_reading();
    bool blocked = false;
    for (int i = 0; i < 20000 && !blocked; ++i) {
        if (!stuck.send(get_request("/nope"))) break;
        Response r = stuck.read_response();
        if (r.status == 0) blocked = true;  // no answer within 2 s
        else ASSERT_EQ(r.status, 404) << r.describe();
    }
    ASSERT_TRUE(blocked) << "could not stall a worker (pipe holds " << weir.unread() << " unread bytes)";

    for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(scrape());  // the stuck worker answers none of these
    const std::size_t stuck_from = 4, stuck_to = 7;

    weir.resume_reading();
    while (scrapes.size() < 20) {
        ASSERT_NO_FATAL_FAILURE(scrape());
        wait_for([&] { return false; }, 50ms);
    }
    long long slowest = 0;
    for (std::size_t i = stuck_from; i < stuck_to; ++i) slowest = std::max(slowest, took[i]);
    EXPECT_GE(slowest, 900) << "no scrape waited for a late worker: the scenario did not happen";

    std::string times;
    for (auto t : took) times += std::to_string(t) + " ";
    SCOPED_TRACE("scrape durations (ms): " + times);
    const std::string mine = "{code=\"200\",pool=\"stable\",route=\"mine\"}";
    for (std::size_t i = 0; i < scrapes.size(); ++i) {
        auto it = scrapes[i].find(mine);
        EXPECT_TRUE(it != scrapes[i].end() && it->second == 50)
            << "scrape " << i << ": weir_requests_total" << mine << " = "
            << (it == scrapes[i].end() ? "absent" : std::to_string(it->second)) << ", expected 50";
    }
    expect_monotone(scrapes);
}

}  // namespace
}  // namespace weir_it
