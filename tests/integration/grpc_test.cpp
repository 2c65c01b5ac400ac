// gRPC through Weir end to end (docs/config.md `protocol`, `grpc_error_codes`,
// `### HTTP/2`): a real gRPC client (tests/support/grpc_client.py, python3-grpcio)
// speaking h2c to a listener with `http2: true` (or h2 by ALPN over TLS), and
// pools with `protocol: h2` whose endpoints are real gRPC servers
// (tests/support/grpc_backend.py). Unary and server-streaming calls arrive
// with their replies, initial and trailing metadata; a failing status reaches
// the client with its message and counts as an error only when it is one of
// the pool's grpc_error_codes; grpc-timeout bounds the wait for a backend that
// knows no deadlines; many concurrent calls share few upstream connections; an
// endpoint answering UNAVAILABLE is ejected (outlier) and a canary answering
// UNAVAILABLE is rolled back by the judge; the pool's endpoints over TLS
// (ALPN h2), and a TLS listener.
#include "health_support.hpp"
#include "metrics_support.hpp"
#include "rollout_support.hpp"
#include "script_process.hpp"

#include "../support/certificates.hpp"

#include <boost/json.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef WEIR_SOURCE_DIR
#error "WEIR_SOURCE_DIR must be defined by the build"
#endif

namespace weir_it::grpc_it {
namespace {

namespace json = boost::json;

// Debian's python3: it has python3-grpcio and python3-h2 (a python3 earlier on PATH may not).
const char* kPython = "/usr/bin/python3";
const char* kClient = WEIR_SOURCE_DIR "/tests/support/grpc_client.py";

std::string cut(const std::string& s, std::size_t n = 3000) {
    return s.size() <= n ? s : s.substr(0, n) + "... (" + std::to_string(s.size()) + " bytes)";
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

// ---------------------------------------------------------------- the backend

// tests/support/grpc_backend.py as a child process (its stdout and stderr
// kept as its log); stopped with SIGTERM at destruction.
class GrpcBackend {
public:
    explicit GrpcBackend(std::string name, std::vector<std::string> extra = {})
        : name_(name), proc_("grpc_backend.py", with_name(std::move(name), std::move(extra)), kOptions) {}

    bool started() const { return proc_.started(); }
    // SIGKILL: the backend vanishes without closing its connections properly
    // (the kernel resets or closes them).
    void kill() { proc_.kill(); }
    std::uint16_t port() const { return proc_.port(); }
    std::string address() const { return proc_.address(); }
    const std::string& name() const { return name_; }
    std::string log() const { return proc_.output(); }
    // Calls of `method` the backend received ("call METHOD" log lines).
    int calls(const std::string& method) const {
        int n = 0;
        for (const auto& line : proc_.lines())
            if (line.rfind("call " + method + " ", 0) == 0) ++n;
        return n;
    }
    // Connections accepted (logged by the --raw-h2 server only).
    int raw_connections() const {
        int n = 0;
        for (const auto& line : proc_.lines())
            if (line.rfind("connection ", 0) == 0 && line.find_first_not_of("0123456789", 11) == std::string::npos) ++n;
        return n;
    }
    // The most streams open at once on one connection ("streams K acked=B"
    // lines of --raw-h2 --max-streams), counting only those opened after the
    // peer acknowledged the SETTINGS (`acked`) or before (`!acked`).
    int most_streams(bool acked) const {
        int most = 0;
        const std::string tail = acked ? " acked=True" : " acked=False";
        for (const auto& line : proc_.lines())
            if (line.rfind("streams ", 0) == 0 && line.size() > tail.size() &&
                line.compare(line.size() - tail.size(), tail.size(), tail) == 0)
                most = std::max(most, std::atoi(line.c_str() + 8));
        return most;
    }
    // Lines starting with `prefix`.
    int count_lines(const std::string& prefix) const { return proc_.lines_starting(prefix); }
    std::vector<std::string> grpc_timeouts_seen() const {
        std::vector<std::string> out;
        for (const auto& line : proc_.lines())
            if (line.rfind("grpc-timeout ", 0) == 0) out.push_back(line.substr(13));
        return out;
    }

private:
    static constexpr ScriptOptions kOptions{.capture_stderr = true, .stop_by_sigterm = true, .grace = 5s};

    static std::vector<std::string> with_name(std::string name, std::vector<std::string> extra) {
        std::vector<std::string> args = {"--name", std::move(name)};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    std::string name_;
    ScriptProcess proc_;
};

std::vector<std::string> lines_of_log(const GrpcBackend& b) {
    std::vector<std::string> out;
    std::istringstream in(b.log());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// ---------------------------------------------------------------- the client

struct GrpcReport {
    int exit_code = -1;
    std::string out, err;
    json::value v;

    bool ok() const { return exit_code == 0 && v.is_object(); }
    std::string describe() const {
        return "grpc_client exit " + std::to_string(exit_code) + "\nstdout: " + cut(out) + "\nstderr: " + cut(err);
    }
    double count_in(const char* field, const std::string& key) const {
        if (!v.is_object()) return 0;
        const json::value* f = v.as_object().if_contains(field);
        if (!f || !f->is_object()) return 0;
        const json::value* n = f->as_object().if_contains(key);
        return n ? json_number(*n).value_or(0) : 0;
    }
    double code(const std::string& name) const { return count_in("codes", name); }
    double backend(const std::string& name) const { return count_in("backends", name); }
    double trailer(const std::string& kv) const { return count_in("trailers", kv); }
    double initial(const std::string& kv) const { return count_in("initial", kv); }
    double detail(const std::string& text) const { return count_in("details", text); }
    double number(const char* field) const {
        if (!v.is_object()) return -1;
        const json::value* f = v.as_object().if_contains(field);
        return f ? json_number(*f).value_or(-1) : -1;
    }
    // The first reported call.
    json::object first() const {
        if (!v.is_object()) return {};
        const json::value* r = v.as_object().if_contains("results");
        if (!r || !r->is_array() || r->as_array().empty() || !r->as_array()[0].is_object()) return {};
        return r->as_array()[0].as_object();
    }
};

GrpcReport run_client(const std::string& address, const std::string& method, std::vector<std::string> args = {},
                      Millis timeout = 120s) {
    std::vector<std::string> argv = {kPython, kClient, address, method};
    argv.insert(argv.end(), args.begin(), args.end());
    metrics::RunResult r = metrics::run_command(argv, "", timeout);
    GrpcReport rep;
    rep.exit_code = r.exit_code;
    rep.out = r.out;
    rep.err = r.err;
    rep.v = parse_json(r.out);
    return rep;
}

std::string local(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Established TCP connections to 127.0.0.1:port, as ss sees them (only Weir
// connects to a backend in these tests).
int established_to(std::uint16_t port) {
    metrics::RunResult r = metrics::run_command(
        {"/usr/bin/ss", "-Htn", "state", "established", "( dport = :" + std::to_string(port) + " )"}, "", 10s);
    int n = 0;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) ++n;
    return n;
}

// ---------------------------------------------------------------- config

struct GrpcPool {
    std::string name;
    std::vector<std::string> endpoints;
    std::string extra;  // more pool keys, each a line "    key: value\n"
    std::string upstream_tls;  // the pool's upstream.tls value; empty: plain TCP
    std::string response_timeout = "10s";
};

struct GrpcConfig {
    std::vector<GrpcPool> pools;
    std::vector<std::pair<std::string, double>> split;  // empty: the first pool alone
    std::string listener_tls;                           // the listener's tls value; empty: plain h2c
    std::string route_extra;                            // more route keys, lines "    key: value\n"
    std::string state_file;
    int workers = 2;

    std::string yaml() const {
        std::ostringstream y;
        y << "workers: " << workers << "\n";
        y << "drain_timeout: 5s\n";
        if (!state_file.empty()) y << "state_file: \"" << state_file << "\"\n";
        y << "listeners: [{name: public, address: \"127.0.0.1:0\", http2: true";
        if (!listener_tls.empty()) y << ", tls: " << listener_tls;
        y << "}]\n";
        y << "admin: {address: \"127.0.0.1:0\"}\n";
        y << "limits: {header_timeout: 5s, idle_timeout: 30s}\n";
        y << "pools:\n";
        for (const auto& p : pools) {
            y << "  - name: " << p.name << "\n";
            y << "    protocol: h2\n";
            y << "    endpoints:\n";
            for (const auto& e : p.endpoints) y << "      - {address: \"" << e << "\", weight: 1}\n";
            y << "    upstream: {connect_timeout: 1s, response_timeout: " << p.response_timeout;
            if (!p.upstream_tls.empty()) y << ", tls: " << p.upstream_tls;
            y << "}\n";
            y << p.extra;
        }
        y << "routes:\n";
        y << "  - name: web\n";
        y << "    match: {host: \"*\", path_prefix: /}\n";
        y << "    split: {";
        if (split.empty()) {
            y << pools.front().name << ": 1";
        } else {
            for (std::size_t i = 0; i < split.size(); ++i)
                y << (i ? ", " : "") << split[i].first << ": " << number_text(split[i].second);
        }
        y << "}\n";
        y << route_extra;
        return y.str();
    }
};

// weir check on `yaml`: the load errors, if any (so a refused config fails with its reason).
std::string check_config(const std::string& yaml) {
    TempDir dir;
    const std::string path = dir.path + "/weir.yaml";
    write_file(path, yaml);
    CommandResult r = run_weir({"check", "-c", path});
    if (r.exit_code == 0) return "";
    return "weir check exit " + std::to_string(r.exit_code) + ": " + r.out + r.err + "\n" + yaml;
}

// Starts weir on `yaml`; the test fails (fatally) with weir's own words if it does not start.
std::unique_ptr<WeirProcess> start_weir(const std::string& yaml) {
    auto w = std::make_unique<WeirProcess>(yaml);
    return w;
}

#define START_WEIR(var, yaml_text)                                                                   \
    const std::string var##_yaml = (yaml_text);                                                      \
    {                                                                                                \
        const std::string problem = check_config(var##_yaml);                                        \
        ASSERT_TRUE(problem.empty()) << problem;                                                     \
    }                                                                                                \
    auto var##_owner = start_weir(var##_yaml);                                                       \
    WeirProcess& var = *var##_owner;                                                                 \
    ASSERT_TRUE(var.running()) << var.log();

// Sum of weir_upstream_errors_total over every endpoint and kind of `pool`.
double upstream_errors(std::uint16_t admin, const std::string& pool) {
    metrics::Exposition e = metrics::parse_exposition(health::metrics_text(admin));
    return e.sum("weir_upstream_errors_total", {{"pool", pool}});
}

// weir_upstream_errors_total{kind="grpc_status"} of `pool` (every endpoint, or just `endpoint`):
// gRPC answers whose grpc-status is one of the pool's grpc_error_codes.
double grpc_status_errors(std::uint16_t admin, const std::string& pool, const std::string& endpoint = "") {
    metrics::Exposition e = metrics::parse_exposition(health::metrics_text(admin));
    metrics::Labels l{{"pool", pool}, {"kind", "grpc_status"}};
    if (!endpoint.empty()) l["endpoint"] = endpoint;
    return e.sum("weir_upstream_errors_total", l);
}

std::string error_samples(std::uint16_t admin) {
    std::string out;
    std::istringstream in(health::metrics_text(admin));
    for (std::string line; std::getline(in, line);)
        if (line.rfind("weir_upstream_errors_total", 0) == 0 || line.rfind("weir_requests_total", 0) == 0)
            out += line + "\n";
    return out;
}

// ---------------------------------------------------------------- unary and streaming

TEST(Grpc, UnaryCallsPassWithReplyAndMetadataIntact) {
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    START_WEIR(weir, cfg.yaml());

    GrpcReport r = run_client(local(weir.port()), "Unary", {"--request", "ping", "--calls", "20", "--concurrency", "4"});
    ASSERT_TRUE(r.ok()) << r.describe() << "\n" << weir.log();
    EXPECT_EQ(r.code("OK"), 20) << r.describe() << "\n" << weir.log();
    EXPECT_EQ(r.backend("alpha"), 20) << r.describe();
    EXPECT_EQ(r.initial("x-backend=alpha"), 20) << "initial metadata lost\n" << r.describe();
    EXPECT_EQ(r.trailer("x-trailer=alpha"), 20) << "trailing metadata lost\n" << r.describe();
    json::object first = r.first();
    EXPECT_EQ(json::value_to<std::string>(first["reply"]), "alpha:ping") << r.describe();
    EXPECT_EQ(b.calls("Unary"), 20) << b.log();

    // A client-streamed call (several request messages) and the health service.
    GrpcReport cs = run_client(local(weir.port()), "ClientStream", {"--request", "abcd", "--stream-messages", "5"});
    ASSERT_TRUE(cs.ok()) << cs.describe();
    EXPECT_EQ(cs.code("OK"), 1) << cs.describe() << "\n" << weir.log();
    EXPECT_EQ(json::value_to<std::string>(cs.first()["reply"]), "alpha:5:20") << cs.describe();
    EXPECT_EQ(cs.trailer("x-trailer=alpha"), 1) << cs.describe();
    GrpcReport h = run_client(local(weir.port()), "Health");
    EXPECT_EQ(h.backend("SERVING"), 1) << h.describe();

    const std::string m = health::metrics_text(weir.admin_port());
    EXPECT_GE(health::metric(m, "weir_requests_total", {{"route", "web"}, {"pool", "grpc"}, {"code", "200"}}).value_or(0),
              22.0)
        << error_samples(weir.admin_port());
    EXPECT_EQ(upstream_errors(weir.admin_port(), "grpc"), 0.0) << error_samples(weir.admin_port());

    // An HTTP/1.1 client routed to the h2 pool gets 505 (README, docs/config.md).
    Response h1 = fetch(weir.port(), "/weir.test.Echo/Unary");
    EXPECT_EQ(h1.status, 505) << h1.describe();
    EXPECT_EQ(b.calls("Unary"), 20) << "the HTTP/1.1 request reached the backend";
}

TEST(Grpc, ServerStreamingDeliversEveryMessageInOrderWithTrailers) {
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    START_WEIR(weir, cfg.yaml());

    for (int n : {1, 50, 2000}) {
        GrpcReport r = run_client(local(weir.port()), "ServerStream", {"--request", std::to_string(n)});
        ASSERT_TRUE(r.ok()) << r.describe();
        ASSERT_EQ(r.code("OK"), 1) << "N=" << n << "\n" << r.describe() << "\n" << weir.log();
        json::object first = r.first();
        ASSERT_TRUE(first["reply"].is_array()) << r.describe();
        const json::array& replies = first["reply"].as_array();
        ASSERT_EQ(replies.size(), static_cast<std::size_t>(n)) << r.describe();
        for (int i = 0; i < n; ++i)
            ASSERT_EQ(json::value_to<std::string>(replies[static_cast<std::size_t>(i)]), "alpha:" + std::to_string(i))
                << "message " << i << " of " << n;
        EXPECT_EQ(r.trailer("x-trailer=alpha"), 1) << r.describe();
        EXPECT_EQ(r.trailer("x-count=" + std::to_string(n)), 1) << r.describe();
        EXPECT_EQ(r.initial("x-backend=alpha"), 1) << r.describe();
    }
    // Several streams at once on one client connection.
    GrpcReport r = run_client(local(weir.port()), "ServerStream", {"--request", "100", "--calls", "20", "--concurrency", "10"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("OK"), 20) << r.describe() << "\n" << weir.log();
    EXPECT_EQ(r.trailer("x-count=100"), 20) << r.describe();
}

// ---------------------------------------------------------------- failing statuses

TEST(Grpc, AFailingStatusReachesTheClientAndCountsAsAnErrorOnlyWhenListed) {
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};  // grpc_error_codes: the default (INTERNAL in, NOT_FOUND out)
    START_WEIR(weir, cfg.yaml());
    const auto admin = weir.admin_port();
    const double before = upstream_errors(admin, "grpc");

    // INTERNAL (13): the status and its message reach the client, trailers too.
    GrpcReport internal = run_client(local(weir.port()), "Fail", {"--request", "13 backend exploded", "--calls", "5"});
    ASSERT_TRUE(internal.ok()) << internal.describe();
    EXPECT_EQ(internal.code("INTERNAL"), 5) << internal.describe() << "\n" << weir.log();
    EXPECT_EQ(internal.detail("INTERNAL: backend exploded"), 5) << internal.describe();
    EXPECT_EQ(internal.trailer("x-trailer=alpha"), 5) << internal.describe();
    // Counted as errors: weir_upstream_errors_total{kind="grpc_status"} (docs/metrics.md).
    EXPECT_TRUE(wait_for([&] { return grpc_status_errors(admin, "grpc", b.address()) >= 5; }, 10s))
        << "INTERNAL answers not counted as grpc_status errors\n" << error_samples(admin);
    const double after_internal = upstream_errors(admin, "grpc");
    EXPECT_EQ(after_internal, before + 5) << error_samples(admin);
    EXPECT_EQ(grpc_status_errors(admin, "grpc"), 5.0) << error_samples(admin);

    // NOT_FOUND (5), not in grpc_error_codes: reaches the client, not an error.
    GrpcReport nf = run_client(local(weir.port()), "Fail", {"--request", "5 no such thing", "--calls", "5"});
    ASSERT_TRUE(nf.ok()) << nf.describe();
    EXPECT_EQ(nf.code("NOT_FOUND"), 5) << nf.describe();
    EXPECT_EQ(nf.detail("NOT_FOUND: no such thing"), 5) << nf.describe();
    // OK calls after them: once those are counted, the NOT_FOUNDs are too.
    GrpcReport ok = run_client(local(weir.port()), "Unary", {"--calls", "3"});
    EXPECT_EQ(ok.code("OK"), 3) << ok.describe();
    const std::string m = health::metrics_text(admin);
    EXPECT_EQ(upstream_errors(admin, "grpc"), after_internal) << "NOT_FOUND counted as an error\n" << error_samples(admin);
    EXPECT_EQ(grpc_status_errors(admin, "grpc"), 5.0) << error_samples(admin);
    // Every call answered HTTP 200 (the gRPC status is in the trailers).
    EXPECT_GE(health::metric(m, "weir_requests_total", {{"route", "web"}, {"pool", "grpc"}, {"code", "200"}}).value_or(0),
              13.0)
        << error_samples(admin);
}

// A gRPC response that ends without any grpc-status is an invalid response
// (docs/config.md, gRPC outcome): the caller gets an error, not OK.
TEST(Grpc, AResponseWithoutGrpcStatusIsAnInvalidResponse) {
    GrpcBackend raw("raw", {"--raw-h2"});
    ASSERT_TRUE(raw.started()) << raw.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {raw.address()}}};
    START_WEIR(weir, cfg.yaml());
    const auto admin = weir.admin_port();

    // Straight to the backend, a gRPC client reports the missing status as an error.
    GrpcReport direct = run_client(raw.address(), "NoStatus");
    ASSERT_TRUE(direct.ok()) << direct.describe();
    EXPECT_EQ(direct.code("OK"), 0) << direct.describe();

    GrpcReport r = run_client(local(weir.port()), "NoStatus", {"--calls", "3"});
    ASSERT_TRUE(r.ok()) << r.describe();
    std::cout << "[ grpc ] no grpc-status: the client saw " << json::serialize(r.v.as_object().at("codes"))
              << " (directly: " << json::serialize(direct.v.as_object().at("codes")) << ")" << std::endl;
    EXPECT_EQ(r.code("OK"), 0) << "a response without grpc-status passed as OK\n" << r.describe();
    EXPECT_EQ(r.number("calls"), 3);
    EXPECT_TRUE(wait_for(
        [&] {
            return metrics::parse_exposition(health::metrics_text(admin))
                       .sum("weir_upstream_errors_total", {{"pool", "grpc"}, {"kind", "invalid_response"}}) >= 3;
        },
        10s))
        << error_samples(admin);
}

TEST(Grpc, WithNoGrpcErrorCodesNoStatusIsAnError) {
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}, "    grpc_error_codes: []\n"}};
    START_WEIR(weir, cfg.yaml());
    const auto admin = weir.admin_port();

    GrpcReport internal = run_client(local(weir.port()), "Fail", {"--request", "13 boom", "--calls", "5"});
    EXPECT_EQ(internal.code("INTERNAL"), 5) << internal.describe();
    GrpcReport unavailable = run_client(local(weir.port()), "Fail", {"--request", "14 down", "--calls", "5"});
    EXPECT_EQ(unavailable.code("UNAVAILABLE"), 5) << unavailable.describe();
    EXPECT_EQ(unavailable.detail("UNAVAILABLE: down"), 5) << unavailable.describe();
    GrpcReport ok = run_client(local(weir.port()), "Unary", {"--calls", "3"});
    EXPECT_EQ(ok.code("OK"), 3) << ok.describe();
    EXPECT_EQ(upstream_errors(admin, "grpc"), 0.0) << error_samples(admin);
    // And GET /config shows the empty list.
    Response c = admin_request(admin, "GET", "/config");
    EXPECT_EQ(c.status, 200) << c.describe();
    EXPECT_TRUE(contains(c.body, "grpc_error_codes")) << cut(c.body);
}

// ---------------------------------------------------------------- grpc-timeout

// The backend knows no deadlines (--raw-h2): only Weir can end the call at
// the grpc-timeout the client sent.
TEST(Grpc, GrpcTimeoutBoundsTheWaitForABackendThatIgnoresIt) {
    GrpcBackend b("raw", {"--raw-h2"});
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    START_WEIR(weir, cfg.yaml());

    // The backend answers without any timeout in the way.
    GrpcReport fine = run_client(local(weir.port()), "Slow", {"--request", "200", "--raw-grpc-timeout", "10S"});
    ASSERT_TRUE(fine.ok()) << fine.describe() << "\n" << weir.log();
    EXPECT_EQ(fine.number("grpc_status"), 0) << fine.describe() << "\n" << weir.log();

    GrpcReport r = run_client(local(weir.port()), "Slow", {"--request", "5000", "--raw-grpc-timeout", "300m"});
    ASSERT_TRUE(r.ok()) << r.describe();
    const double elapsed = r.number("elapsed_s");
    const double grpc_status = r.number("grpc_status");
    const double reset = r.number("reset");
    std::cout << "[ grpc ] grpc-timeout 300m vs a 5 s backend: ended after " << elapsed << " s, grpc-status "
              << grpc_status << ", reset " << reset << "; grpc-timeout the backend saw: "
              << (b.grpc_timeouts_seen().empty() ? "none" : b.grpc_timeouts_seen().back()) << std::endl;
    EXPECT_TRUE(grpc_status == 4 || reset >= 0) << "neither DEADLINE_EXCEEDED nor a reset\n" << r.describe();
    if (grpc_status >= 0) EXPECT_EQ(grpc_status, 4) << r.describe();
    EXPECT_LT(elapsed, 3.0) << "the call was not cut at its deadline\n" << r.describe() << "\n" << weir.log();
    EXPECT_GE(elapsed, 0.25) << "ended before its deadline\n" << r.describe();
    // The upstream stream is reset (CANCEL) rather than left to run its 5 s.
    EXPECT_TRUE(wait_for([&] { return contains(b.log(), "\nreset "); }, 3s))
        << "the backend's stream was not reset at the deadline\n" << b.log();
    // A caller's deadline is not charged to the endpoint (docs/config.md, Deadlines).
    EXPECT_EQ(upstream_errors(weir.admin_port(), "grpc"), 0.0) << error_samples(weir.admin_port());
    // Weir itself still serves.
    GrpcReport after = run_client(local(weir.port()), "Unary", {"--calls", "3"});
    EXPECT_EQ(after.code("OK"), 3) << after.describe();
}

// A deadline that passes after the response began: the messages already
// sent arrive, then the call ends with grpc-status 4 in the trailers.
TEST(Grpc, ADeadlineAfterTheResponseBeganEndsTheCallInItsTrailers) {
    GrpcBackend b("raw", {"--raw-h2"});
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    START_WEIR(weir, cfg.yaml());

    GrpcReport r = run_client(local(weir.port()), "SlowStream", {"--request", "5000", "--raw-grpc-timeout", "500m"});
    ASSERT_TRUE(r.ok()) << r.describe();
    std::cout << "[ grpc ] grpc-timeout 500m, first message at once, the second after 5 s: ended after "
              << r.number("elapsed_s") << " s, grpc-status " << r.number("grpc_status") << std::endl;
    EXPECT_EQ(r.number("status"), 200) << r.describe() << "\n" << weir.log();
    const json::value* messages = r.v.as_object().if_contains("messages");
    ASSERT_TRUE(messages && messages->is_array()) << r.describe();
    ASSERT_EQ(messages->as_array().size(), 1u) << r.describe();
    EXPECT_EQ(json::value_to<std::string>(messages->as_array()[0]), "raw:first") << r.describe();
    const json::value* trailers = r.v.as_object().if_contains("trailers");
    ASSERT_TRUE(trailers && trailers->is_array() && !trailers->as_array().empty())
        << "no trailers: the call did not end with a status after its response began\n" << r.describe();
    EXPECT_EQ(r.number("grpc_status"), 4) << r.describe();
    EXPECT_LT(r.number("elapsed_s"), 3.0) << r.describe();
    EXPECT_TRUE(wait_for([&] { return contains(b.log(), "\nreset "); }, 3s))
        << "the backend's stream was not reset at the deadline\n" << b.log();
}

// Messages of 1 MiB both ways, several calls at once: flow control on both
// HTTP/2 legs (windows of 64 KiB) passes every byte, in order.
TEST(Grpc, LargeMessagesPassBothWaysIntact) {
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    START_WEIR(weir, cfg.yaml());

    GrpcReport r = run_client(local(weir.port()), "Unary",
                              {"--request-size", "1048576", "--calls", "8", "--concurrency", "4"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("OK"), 8) << r.describe() << "\n" << weir.log();
    for (const auto& one : r.v.as_object().at("results").as_array())
        EXPECT_EQ(json::value_to<std::string>(one.as_object().at("reply")), "alpha:<1048576 bytes>") << r.describe();
    EXPECT_EQ(r.trailer("x-trailer=alpha"), 8) << r.describe();
}

// The same with the real gRPC stack on both sides (the client's deadline is
// sent as grpc-timeout; whichever side acts first, the client gets
// DEADLINE_EXCEEDED at about the deadline, not after the backend's sleep).
TEST(Grpc, AClientDeadlineEndsASlowCallWithDeadlineExceeded) {
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    START_WEIR(weir, cfg.yaml());

    GrpcReport r = run_client(local(weir.port()), "Slow", {"--request", "5000", "--timeout-ms", "300"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("DEADLINE_EXCEEDED"), 1) << r.describe() << "\n" << weir.log();
    EXPECT_LT(r.number("max_call_s"), 3.0) << r.describe();
    GrpcReport after = run_client(local(weir.port()), "Unary", {"--calls", "3"});
    EXPECT_EQ(after.code("OK"), 3) << after.describe();
}

// ---------------------------------------------------------------- connection reuse

TEST(Grpc, ManyConcurrentCallsShareFewUpstreamConnections) {
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    START_WEIR(weir, cfg.yaml());

    // 200 calls, 20 at a time, over 4 client connections (so several workers
    // may take them), while ss samples the upstream connections.
    std::atomic<bool> stop{false};
    std::atomic<int> most{0};
    std::thread sampler([&] {
        while (!stop) {
            most = std::max(most.load(), established_to(b.port()));
            std::this_thread::sleep_for(50ms);
        }
    });
    GrpcReport r = run_client(local(weir.port()), "Unary",
                              {"--calls", "200", "--concurrency", "20", "--channels", "4"});
    stop = true;
    sampler.join();
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("OK"), 200) << r.describe() << "\n" << weir.log();
    const int now = established_to(b.port());
    std::cout << "[ grpc ] 200 calls (20 at a time): at most " << most.load() << " upstream connections seen, "
              << now << " open after" << std::endl;
    EXPECT_GE(std::max(most.load(), now), 1);
    EXPECT_LE(most.load(), 4) << "calls were not multiplexed on shared connections";
    EXPECT_LE(now, 4);

}

// weir_upstream_connections{pool} is "open upstream connections of the pool,
// in use plus idle" (docs/metrics.md): for an h2 pool, the shared connections
// ss sees, during a burst of calls and after it (not the streams in flight).
TEST(Grpc, TheUpstreamConnectionsGaugeCountsH2Connections) {
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    START_WEIR(weir, cfg.yaml());
    const auto admin = weir.admin_port();

    std::atomic<bool> stop{false};
    std::atomic<int> most_gauge{0}, most_ss{0};
    std::thread sampler([&] {
        while (!stop) {
            auto g = health::metric(health::metrics_text(admin), "weir_upstream_connections", {{"pool", "grpc"}});
            most_gauge = std::max(most_gauge.load(), static_cast<int>(g.value_or(0)));
            most_ss = std::max(most_ss.load(), established_to(b.port()));
            std::this_thread::sleep_for(20ms);
        }
    });
    GrpcReport r = run_client(local(weir.port()), "Slow",
                              {"--request", "100", "--calls", "200", "--concurrency", "20", "--channels", "4"});
    stop = true;
    sampler.join();
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("OK"), 200) << r.describe();
    const int open_now = established_to(b.port());
    const auto after = health::metric(health::metrics_text(admin), "weir_upstream_connections", {{"pool", "grpc"}});
    std::cout << "[ grpc ] during the burst: gauge at most " << most_gauge.load() << ", ss at most " << most_ss.load()
              << "; after it: gauge " << after.value_or(-1) << ", ss " << open_now << std::endl;
    EXPECT_LE(most_gauge.load(), std::max(most_ss.load(), 4)) << "the gauge counts more than the connections";
    ASSERT_TRUE(after.has_value());
    EXPECT_GE(open_now, 1);
    EXPECT_EQ(*after, static_cast<double>(open_now)) << "the gauge does not count the open h2 connections";
}

// A backend that counts every connection it accepted (--raw-h2, which also
// knows no deadlines): 40 calls of 300 ms, 20 at a time, need streams side
// by side on a few connections.
TEST(Grpc, ConcurrentSlowCallsAreMultiplexedOnFewConnections) {
    GrpcBackend raw("raw", {"--raw-h2"});
    ASSERT_TRUE(raw.started()) << raw.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {raw.address()}}};
    START_WEIR(weir, cfg.yaml());

    GrpcReport s = run_client(local(weir.port()), "Slow",
                              {"--request", "300", "--calls", "40", "--concurrency", "20", "--channels", "4"});
    ASSERT_TRUE(s.ok()) << s.describe();
    EXPECT_EQ(s.code("OK"), 40) << s.describe() << "\n" << weir.log();
    EXPECT_EQ(s.backend("raw"), 40) << s.describe();
    std::cout << "[ grpc ] 40 slow calls (20 at a time): the backend accepted " << raw.raw_connections()
              << " connections; the run took " << s.number("elapsed_s") << " s" << std::endl;
    EXPECT_GE(raw.raw_connections(), 1);
    EXPECT_LE(raw.raw_connections(), 4) << raw.log();
    // ~0.6 s when they run side by side, 12 s one after another.
    EXPECT_LT(s.number("elapsed_s"), 8.0) << "streams were not concurrent\n" << s.describe();
}

// The endpoint's SETTINGS_MAX_CONCURRENT_STREAMS is a limit Weir keeps: 40
// calls of 200 ms, 20 at a time, to a backend that takes 4 streams per
// connection; once Weir acknowledged those SETTINGS, no connection carries
// more than 4. (Streams Weir opens on a new connection before the endpoint's
// SETTINGS arrive may go beyond; the backend refuses those with
// REFUSED_STREAM, and whether they are sent again is the next test's
// subject: here every call that failed must be one of those refusals.)
TEST(Grpc, TheEndpointsStreamLimitIsKeptOnceKnown) {
    GrpcBackend raw("raw", {"--raw-h2", "--max-streams", "4"});
    ASSERT_TRUE(raw.started()) << raw.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {raw.address()}}};
    START_WEIR(weir, cfg.yaml());

    GrpcReport s = run_client(local(weir.port()), "Slow",
                              {"--request", "200", "--calls", "40", "--concurrency", "20", "--channels", "4"});
    ASSERT_TRUE(s.ok()) << s.describe();
    const int refused = raw.count_lines("refused ");
    std::cout << "[ grpc ] 40 calls of 200 ms (20 at a time) to an endpoint taking 4 streams per connection: "
              << raw.raw_connections() << " connections, at most " << raw.most_streams(true)
              << " streams on one after its SETTINGS were acknowledged (" << raw.most_streams(false)
              << " before), " << refused << " refused, " << s.code("OK") << " calls OK; the run took "
              << s.number("elapsed_s") << " s" << std::endl;
    EXPECT_GE(std::max(raw.most_streams(true), raw.most_streams(false)), 1);
    EXPECT_LE(raw.most_streams(true), 4) << "more streams than the endpoint's SETTINGS allow\n" << raw.log();
    EXPECT_GE(s.code("OK"), 40 - refused) << "calls failed for another reason than a refused stream\n"
                                          << s.describe() << "\n" << weir.log();
    int refused_after_ack = 0;
    for (const auto& line : lines_of_log(raw))
        if (line.rfind("refused ", 0) == 0 && contains(line, "acked=True")) ++refused_after_ack;
    EXPECT_EQ(refused_after_ack, 0) << "a stream beyond the limit after the SETTINGS were acknowledged\n" << raw.log();
    EXPECT_EQ(raw.count_lines("connection ended"), 0) << raw.log();
}

// A stream the endpoint refuses with REFUSED_STREAM was never processed
// (RFC 9113 8.7): the call should be sent again (docs/config.md, Retries: "a
// stream the endpoint refuses ... is sent again on another connection, even a
// POST") and succeed. The backend refuses the first stream of each
// connection; a gRPC call's message goes out with its HEADERS, so Weir sends
// it again from the copy it keeps of a small body.
TEST(Grpc, ARefusedStreamIsSentAgain) {
    GrpcBackend raw("raw", {"--raw-h2", "--refuse-first", "1"});
    ASSERT_TRUE(raw.started()) << raw.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {raw.address()}}};
    START_WEIR(weir, cfg.yaml());

    GrpcReport r = run_client(local(weir.port()), "Unary", {"--request", "again"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(raw.count_lines("refused-first "), 1) << raw.log();
    EXPECT_EQ(r.code("OK"), 1) << "a refused stream was not sent again\n" << r.describe() << "\n" << weir.log()
                               << "\n" << raw.log();
    EXPECT_EQ(raw.calls("Unary"), 1) << raw.log();
}

// A caller that cancels its call (RST_STREAM CANCEL) has its upstream stream
// reset too, and only that stream: another call in flight on the same shared
// upstream connection finishes, and the connection stays in use.
TEST(Grpc, ACancelledCallResetsOnlyItsUpstreamStream) {
    GrpcBackend raw("raw", {"--raw-h2"});
    ASSERT_TRUE(raw.started()) << raw.log();
    GrpcConfig cfg;
    cfg.workers = 1;  // one worker: one upstream connection for both calls
    cfg.pools = {{"grpc", {raw.address()}}};
    START_WEIR(weir, cfg.yaml());

    auto slow = std::async(std::launch::async, [&] {
        return run_client(local(weir.port()), "Slow", {"--request", "2000"});
    });
    ASSERT_TRUE(wait_for([&] { return raw.calls("Slow") == 1; }, 10s)) << raw.log();
    GrpcReport c = run_client(local(weir.port()), "SlowStream",
                              {"--request", "5000", "--raw-grpc-timeout", "20S", "--raw-cancel-after-first"});
    ASSERT_TRUE(c.ok()) << c.describe();
    ASSERT_TRUE(c.v.as_object().contains("cancelled")) << "the first message never came\n" << c.describe()
                                                        << "\n" << weir.log();
    EXPECT_TRUE(wait_for([&] { return raw.count_lines("reset ") >= 1; }, 3s))
        << "the cancelled call's upstream stream was not reset\n" << raw.log();
    GrpcReport a = slow.get();
    EXPECT_EQ(a.code("OK"), 1) << "a call sharing the connection was hurt by the other's cancel\n" << a.describe()
                               << "\n" << weir.log();
    GrpcReport after = run_client(local(weir.port()), "Unary", {"--calls", "3"});
    EXPECT_EQ(after.code("OK"), 3) << after.describe();
    EXPECT_EQ(raw.raw_connections(), 1) << "the shared upstream connection was closed\n" << raw.log();
    EXPECT_EQ(raw.count_lines("reset "), 1) << raw.log();
}

// Draining an endpoint lets its call in flight finish, then its shared
// connection closes and new calls go to the other endpoint; on SIGTERM a call
// in flight finishes and Weir exits 0. (Real gRPC servers: python3-h2 stops
// answering a connection once it receives a GOAWAY.)
TEST(Grpc, CallsInFlightFinishAcrossADrainAndSigterm) {
    GrpcBackend first("first");
    GrpcBackend other("other");
    ASSERT_TRUE(first.started()) << first.log();
    ASSERT_TRUE(other.started()) << other.log();
    GrpcConfig cfg;
    cfg.workers = 1;
    cfg.pools = {{"grpc", {first.address()}}};
    std::string yaml = cfg.yaml();
    // `other` starts with weight 0: the first call goes to `first`.
    yaml = control::replace_once(yaml, "      - {address: \"" + first.address() + "\", weight: 1}\n",
                                 "      - {address: \"" + first.address() + "\", weight: 1}\n      - {address: \"" +
                                     other.address() + "\", weight: 0}\n");
    START_WEIR(weir, yaml);
    const auto admin = weir.admin_port();

    auto slow = std::async(std::launch::async,
                           [&] { return run_client(local(weir.port()), "Slow", {"--request", "1500"}); });
    ASSERT_TRUE(wait_for([&] { return first.calls("Slow") == 1; }, 10s)) << first.log();
    ASSERT_EQ(established_to(first.port()), 1);
    // `other` gets a weight (PUT /pools/grpc/endpoints), then `first` is drained.
    Response w = admin_request(admin, "PUT", "/pools/grpc/endpoints",
                               "[{\"address\": \"" + first.address() + "\", \"weight\": 1}, {\"address\": \"" +
                                   other.address() + "\", \"weight\": 1}]");
    ASSERT_EQ(w.status, 200) << w.describe() << "\n" << w.body;
    Response d = admin_request(admin, "POST", "/pools/grpc/endpoints/" + health::percent_encode(first.address()) + "/drain");
    ASSERT_EQ(d.status, 200) << d.describe() << "\n" << d.body;
    GrpcReport a = slow.get();
    EXPECT_EQ(a.code("OK"), 1) << "the call in flight on the drained endpoint did not finish\n" << a.describe()
                               << "\n" << weir.log();
    EXPECT_LT(a.number("max_call_s"), 5.0) << a.describe();
    EXPECT_TRUE(wait_for([&] { return established_to(first.port()) == 0; }, 10s))
        << "the drained endpoint's connection stayed open";
    GrpcReport next = run_client(local(weir.port()), "Unary", {"--calls", "5"});
    EXPECT_EQ(next.backend("other"), 5) << next.describe() << "\n" << weir.log();
    EXPECT_EQ(first.calls("Unary"), 0) << "a drained endpoint received calls";

    // SIGTERM with a call in flight: it finishes, Weir exits 0.
    auto last = std::async(std::launch::async,
                           [&] { return run_client(local(weir.port()), "Slow", {"--request", "1500"}); });
    ASSERT_TRUE(wait_for([&] { return other.calls("Slow") == 1; }, 10s)) << other.log() << weir.log();
    weir.signal(SIGTERM);
    GrpcReport l = last.get();
    EXPECT_EQ(l.code("OK"), 1) << "the call in flight at SIGTERM did not finish\n" << l.describe() << "\n"
                               << weir.log();
    auto code = weir.wait_exit(15s);
    ASSERT_TRUE(code.has_value()) << weir.log();
    EXPECT_EQ(*code, 0) << weir.log();
}

// An endpoint killed with calls in flight: those calls end at once with
// UNAVAILABLE (not after response_timeout), and the next calls go to the
// other endpoint.
TEST(Grpc, AKilledEndpointFailsItsCallsAtOnceAndTheOtherServes) {
    GrpcBackend doomed("doomed");
    GrpcBackend other("other");
    ASSERT_TRUE(doomed.started()) << doomed.log();
    ASSERT_TRUE(other.started()) << other.log();
    GrpcConfig cfg;
    cfg.workers = 1;
    cfg.pools = {{"grpc", {doomed.address()}, "", "", "30s"}};
    std::string yaml = control::replace_once(
        cfg.yaml(), "      - {address: \"" + doomed.address() + "\", weight: 1}\n",
        "      - {address: \"" + doomed.address() + "\", weight: 1}\n      - {address: \"" + other.address() +
            "\", weight: 0}\n");
    START_WEIR(weir, yaml);
    const auto admin = weir.admin_port();

    auto slow = std::async(std::launch::async, [&] {
        return run_client(local(weir.port()), "Slow", {"--request", "20000", "--calls", "3", "--concurrency", "3"});
    });
    ASSERT_TRUE(wait_for([&] { return doomed.calls("Slow") == 3; }, 10s)) << doomed.log();
    Response w = admin_request(admin, "PUT", "/pools/grpc/endpoints",
                               "[{\"address\": \"" + doomed.address() + "\", \"weight\": 0}, {\"address\": \"" +
                                   other.address() + "\", \"weight\": 1}]");
    ASSERT_EQ(w.status, 200) << w.describe() << "\n" << w.body;
    const auto killed_at = Clock::now();
    doomed.kill();
    GrpcReport a = slow.get();
    const double waited = std::chrono::duration<double>(Clock::now() - killed_at).count();
    std::cout << "[ grpc ] 3 calls in flight on a killed endpoint ended " << waited << " s after the kill: "
              << json::serialize(a.v.as_object().at("details")) << std::endl;
    EXPECT_EQ(a.code("UNAVAILABLE"), 3) << a.describe() << "\n" << weir.log();
    EXPECT_LT(waited, 5.0) << "the calls waited for a dead connection\n" << a.describe();
    EXPECT_GE(metrics::parse_exposition(health::metrics_text(admin))
                  .sum("weir_upstream_errors_total", {{"pool", "grpc"}, {"endpoint", doomed.address()}}),
              1.0)
        << error_samples(admin);
    GrpcReport next = run_client(local(weir.port()), "Unary", {"--calls", "5"});
    EXPECT_EQ(next.backend("other"), 5) << next.describe() << "\n" << weir.log();
}

// A reload that keeps the endpoint keeps its connection (README, docs/config.md).
TEST(Grpc, AReloadKeepsTheUpstreamConnection) {
    GrpcBackend raw("raw", {"--raw-h2"});
    ASSERT_TRUE(raw.started()) << raw.log();
    GrpcConfig cfg;
    cfg.workers = 1;  // one worker: one connection to count
    cfg.pools = {{"grpc", {raw.address()}, "", "", "10s"}};
    cfg.pools[0].extra = "";
    std::string yaml = cfg.yaml();
    // A long idle timeout, so only the reload could close it.
    yaml = control::replace_once(yaml, "response_timeout: 10s}", "response_timeout: 10s, idle_timeout: 60s}");
    START_WEIR(weir, yaml);

    GrpcReport a = run_client(local(weir.port()), "Unary", {"--calls", "20", "--concurrency", "4"});
    EXPECT_EQ(a.code("OK"), 20) << a.describe() << "\n" << weir.log();
    const int before = raw.raw_connections();
    EXPECT_EQ(before, 1) << raw.log();
    Response r = admin_request(weir.admin_port(), "POST", "/reload");
    ASSERT_EQ(r.status, 200) << r.describe() << "\n" << r.body;
    GrpcReport b = run_client(local(weir.port()), "Unary", {"--calls", "20", "--concurrency", "4"});
    EXPECT_EQ(b.code("OK"), 20) << b.describe() << "\n" << weir.log();
    EXPECT_EQ(raw.raw_connections(), before) << "the reload replaced the upstream connection\n" << raw.log();
}

// Weir's own replies reach a gRPC caller as gRPC statuses (a trailers-only
// response under HTTP 200): an endpoint that refuses connections gives
// UNAVAILABLE (14), not an HTTP 503 the client has to interpret.
TEST(Grpc, LocalRepliesReachGrpcCallersAsStatuses) {
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {"127.0.0.1:" + std::to_string(closed_port())}}};
    START_WEIR(weir, cfg.yaml());

    GrpcReport raw = run_client(local(weir.port()), "Unary", {"--raw-grpc-timeout", "10S"});
    ASSERT_TRUE(raw.ok()) << raw.describe();
    EXPECT_EQ(raw.number("status"), 200) << raw.describe();
    EXPECT_EQ(raw.number("grpc_status"), 14) << raw.describe();
    bool grpc_type = false;
    for (const auto& h : raw.v.as_object().at("headers").as_array())
        if (h.as_array()[0].as_string() == "content-type")
            grpc_type = std::string(h.as_array()[1].as_string()).rfind("application/grpc", 0) == 0;
    EXPECT_TRUE(grpc_type) << raw.describe();
    GrpcReport r = run_client(local(weir.port()), "Unary", {"--calls", "3"});
    EXPECT_EQ(r.code("UNAVAILABLE"), 3) << r.describe();
}

// ---------------------------------------------------------------- passive ejection

TEST(Grpc, AnEndpointAnsweringUnavailableIsEjectedWhileTheOtherServes) {
    GrpcBackend good("good");
    GrpcBackend bad("bad", {"--fail-code", "14"});
    ASSERT_TRUE(good.started()) << good.log();
    ASSERT_TRUE(bad.started()) << bad.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {good.address(), bad.address()}, "    outlier: {consecutive_failures: 3, ejection_time: 30s}\n"}};
    START_WEIR(weir, cfg.yaml());
    const auto admin = weir.admin_port();

    int unavailable_seen = 0;
    bool ejected = false;
    const auto start = Clock::now();
    while (!ejected && Clock::now() - start < 30s) {
        GrpcReport r = run_client(local(weir.port()), "Unary", {"--calls", "10"});
        ASSERT_TRUE(r.ok()) << r.describe();
        unavailable_seen += static_cast<int>(r.code("UNAVAILABLE"));
        auto e = health::get_endpoint(admin, "grpc", bad.address());
        ASSERT_TRUE(e) << "endpoint missing from GET /pools";
        ejected = e->ejected;
    }
    ASSERT_TRUE(ejected) << "the UNAVAILABLE endpoint was never ejected (" << unavailable_seen
                         << " UNAVAILABLE answers seen)\n" << error_samples(admin) << weir.log();
    std::cout << "[ grpc ] UNAVAILABLE answers seen before the ejection: " << unavailable_seen << std::endl;
    auto g = health::get_endpoint(admin, "grpc", good.address());
    ASSERT_TRUE(g);
    EXPECT_FALSE(g->ejected);
    EXPECT_GE(grpc_status_errors(admin, "grpc", bad.address()), 3.0) << error_samples(admin);
    EXPECT_EQ(grpc_status_errors(admin, "grpc", good.address()), 0.0) << error_samples(admin);

    // While ejected: every call is served by the other endpoint.
    const int bad_calls = bad.calls("Unary");
    GrpcReport r = run_client(local(weir.port()), "Unary", {"--calls", "50", "--concurrency", "5"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("OK"), 50) << r.describe();
    EXPECT_EQ(r.backend("good"), 50) << r.describe();
    EXPECT_EQ(bad.calls("Unary"), bad_calls) << "an ejected endpoint received calls";
    EXPECT_EQ(health::metric(health::metrics_text(admin), "weir_endpoint_healthy",
                             {{"pool", "grpc"}, {"endpoint", bad.address()}}),
              0.0);
}

// ---------------------------------------------------------------- rollout

TEST(Grpc, ACanaryAnsweringUnavailableIsRolledBack) {
    GrpcBackend stable("stable");
    GrpcBackend canary("canary", {"--fail-code", "14"});
    ASSERT_TRUE(stable.started()) << stable.log();
    ASSERT_TRUE(canary.started()) << canary.log();
    TempDir dir;
    GrpcConfig cfg;
    cfg.state_file = dir.path + "/weir.state.json";
    cfg.pools = {{"stable", {stable.address()}}, {"canary", {canary.address()}}};
    cfg.split = {{"stable", 100}, {"canary", 0}};
    // The fast settings of rollout_e2e_test (RolloutBlock's defaults).
    const rollout::RolloutBlock block;
    std::ostringstream r;
    r << "    rollout: {canary: canary, baseline: stable, steps: " << block.steps
      << ", step_min_duration: " << block.step_min_duration << ", step_max_duration: " << block.step_max_duration
      << ", min_samples: " << block.min_samples << ", max_latency_ratio: " << block.max_latency_ratio
      << ", max_error_rate_increase: " << block.max_error_rate_increase
      << ", on_inconclusive: " << block.on_inconclusive << "}\n";
    cfg.route_extra = r.str();
    START_WEIR(weir, cfg.yaml());
    rollout::AdminClient admin(weir.admin_port());

    // Continuous calls from a client thread (batches of 100, 4 at a time).
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, unavailable{0}, other{0}, batches{0};
    std::thread load([&] {
        while (!stop) {
            GrpcReport b = run_client(local(weir.port()), "Unary", {"--calls", "100", "--concurrency", "4"});
            ok += static_cast<int>(b.code("OK"));
            unavailable += static_cast<int>(b.code("UNAVAILABLE"));
            other += static_cast<int>(b.number("calls") - b.code("OK") - b.code("UNAVAILABLE"));
            ++batches;
        }
    });
    struct Join {
        std::atomic<bool>& stop;
        std::thread& t;
        ~Join() {
            stop = true;
            if (t.joinable()) t.join();
        }
    } join{stop, load};

    ASSERT_TRUE(wait_for([&] { return ok.load() >= 100; }, 30s)) << "ok " << ok << "\n" << weir.log();
    EXPECT_EQ(canary.calls("Unary"), 0) << "split {stable: 100, canary: 0} before the rollout starts";

    const auto started = Clock::now();
    Response s = rollout::rollout_call(admin, "start");
    ASSERT_EQ(s.status, 200) << s.describe() << "\n" << s.body;
    rollout::RolloutView v =
        rollout::wait_rollout(admin, [](const rollout::RolloutView& x) { return x.phase != "running"; }, 60s);
    const double took = std::chrono::duration<double>(Clock::now() - started).count();
    ASSERT_EQ(v.phase, "rolled_back") << "after " << took << " s: " << rollout::kinds_text(v) << "\nok " << ok
                                      << " unavailable " << unavailable << " other " << other << "\n"
                                      << v.raw.substr(0, 4000) << "\n" << error_samples(weir.admin_port());
    const rollout::RolloutView::Decision* rb = v.last("rollback");
    ASSERT_NE(rb, nullptr);
    const std::string trigger = rollout::str_at(rb->evidence, {"trigger"});
    EXPECT_TRUE(trigger == "errors" || trigger == "failure_streak") << trigger << ": " << rb->reason;
    EXPECT_EQ(admin.route().split, (rollout::SplitMap{{"stable", 100}, {"canary", 0}})) << admin.route().raw;

    // Once the calls in flight at the rollback are done, nothing reaches the canary.
    const int mark_batches = batches.load();
    ASSERT_TRUE(wait_for([&] { return batches.load() >= mark_batches + 2; }, 60s));
    const int canary_calls = canary.calls("Unary");
    const int mark2 = batches.load();
    ASSERT_TRUE(wait_for([&] { return batches.load() >= mark2 + 2; }, 60s));
    EXPECT_EQ(canary.calls("Unary"), canary_calls) << "calls reached the canary after the rollback";
    stop = true;
    load.join();
    std::cout << "[ grpc ] canary answering UNAVAILABLE: rolled back " << took << " s after start (trigger " << trigger
              << "); the canary got " << canary_calls << " calls, clients saw " << unavailable.load()
              << " UNAVAILABLE; reason: " << rb->reason << std::endl;
    // Every canary answer reached its client as it was (no retry hid it), and nothing else failed.
    EXPECT_GE(unavailable.load(), 1);
    EXPECT_EQ(unavailable.load(), canary_calls);
    EXPECT_EQ(other.load(), 0) << "calls that were neither OK nor the canary's UNAVAILABLE";
    EXPECT_EQ(rollout::metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", "rollback"}}), 1.0);
}

// ---------------------------------------------------------------- TLS

struct TlsFiles {
    TempDir dir;
    weir::test::TestCertificate ca = weir::test::authority("weir grpc test CA");
    std::string ca_file = dir.path + "/ca.pem";
    weir::test::CertificateFiles backend;
    weir::test::CertificateFiles listener;
    TlsFiles() {
        weir::test::write_text(ca_file, ca.cert_pem);
        backend = weir::test::write_certificate(dir.path, "backend",
                                                weir::test::leaf_certificate({"backend.test"}, &ca, 2));
        listener = weir::test::write_certificate(dir.path, "listener",
                                                 weir::test::leaf_certificate({"weir.test"}, &ca, 3));
    }
};

TEST(Grpc, UnaryCallsReachEndpointsOverTlsWithAlpnH2) {
    TlsFiles tls;
    GrpcBackend b("secure", {"--tls", tls.backend.cert, tls.backend.key});
    ASSERT_TRUE(b.started()) << b.log();
    // The backend speaks TLS only, and h2 by ALPN (checked directly).
    GrpcReport direct = run_client(b.address(), "Unary",
                                   {"--tls", tls.ca_file, "--server-name", "backend.test"});
    ASSERT_EQ(direct.code("OK"), 1) << direct.describe();

    GrpcConfig cfg;
    GrpcPool p{"grpc", {b.address()}};
    p.upstream_tls = "{ca_file: \"" + tls.ca_file + "\", server_name: backend.test}";
    cfg.pools = {p};
    START_WEIR(weir, cfg.yaml());

    GrpcReport r = run_client(local(weir.port()), "Unary", {"--request", "over-tls", "--calls", "20", "--concurrency", "4"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("OK"), 20) << r.describe() << "\n" << weir.log();
    EXPECT_EQ(r.trailer("x-trailer=secure"), 20) << r.describe();
    EXPECT_EQ(r.initial("x-backend=secure"), 20) << r.describe();
    EXPECT_EQ(json::value_to<std::string>(r.first()["reply"]), "secure:over-tls") << r.describe();
    const std::string m = health::metrics_text(weir.admin_port());
    EXPECT_GE(health::metric(m, "weir_upstream_tls_handshakes_total", {{"pool", "grpc"}, {"result", "full"}}).value_or(0),
              1.0)
        << m;
    EXPECT_EQ(health::metric(m, "weir_upstream_tls_handshakes_total", {{"pool", "grpc"}, {"result", "failed"}}).value_or(0),
              0.0);
}

// An endpoint whose TLS does not choose h2 by ALPN is never spoken to as
// HTTP/1.1: its handshakes fail, counted as `tls` errors (docs/config.md,
// HTTP/2 to endpoints), and the caller gets UNAVAILABLE.
TEST(Grpc, AnEndpointWithoutAlpnH2FailsTheHandshake) {
    TlsFiles tls;
    GrpcBackend b("http1-only", {"--tls-no-h2", tls.backend.cert, tls.backend.key});
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    GrpcPool p{"grpc", {b.address()}};
    p.upstream_tls = "{ca_file: \"" + tls.ca_file + "\", server_name: backend.test}";
    cfg.pools = {p};
    START_WEIR(weir, cfg.yaml());
    const auto admin = weir.admin_port();

    GrpcReport r = run_client(local(weir.port()), "Unary", {"--calls", "3"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("UNAVAILABLE"), 3) << r.describe() << "\n" << weir.log();
    EXPECT_EQ(b.count_lines("handshake "), b.count_lines("handshake failed")
                                               + b.count_lines("handshake None") + b.count_lines("handshake http/1.1"))
        << b.log();
    EXPECT_GE(b.count_lines("handshake"), 1) << "Weir never reached the endpoint\n" << b.log();
    std::cout << "[ grpc ] an endpoint without ALPN h2: " << b.count_lines("handshake None") << " handshakes without ALPN, "
              << b.count_lines("handshake failed") << " failed at the endpoint, " << b.count_lines("handshake http/1.1")
              << " chose http/1.1" << std::endl;
    const std::string m = health::metrics_text(admin);
    EXPECT_GE(health::metric(m, "weir_upstream_tls_handshakes_total", {{"pool", "grpc"}, {"result", "failed"}})
                  .value_or(0),
              1.0)
        << error_samples(admin);
    EXPECT_GE(metrics::parse_exposition(m).sum("weir_upstream_errors_total", {{"pool", "grpc"}, {"kind", "tls"}}), 1.0)
        << error_samples(admin);
    EXPECT_EQ(b.count_lines("data "), 0) << "Weir sent bytes over a connection without h2\n" << b.log();
}

TEST(Grpc, ATlsListenerServesGrpcOverAlpnH2) {
    TlsFiles tls;
    GrpcBackend b("alpha");
    ASSERT_TRUE(b.started()) << b.log();
    GrpcConfig cfg;
    cfg.pools = {{"grpc", {b.address()}}};
    cfg.listener_tls = "{cert: \"" + tls.listener.cert + "\", key: \"" + tls.listener.key + "\"}";
    START_WEIR(weir, cfg.yaml());

    GrpcReport r = run_client(local(weir.port()), "Unary",
                              {"--tls", tls.ca_file, "--server-name", "weir.test", "--calls", "10", "--concurrency", "2"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.code("OK"), 10) << r.describe() << "\n" << weir.log();
    EXPECT_EQ(r.trailer("x-trailer=alpha"), 10) << r.describe();
    GrpcReport s = run_client(local(weir.port()), "ServerStream",
                              {"--tls", tls.ca_file, "--server-name", "weir.test", "--request", "30"});
    EXPECT_EQ(s.code("OK"), 1) << s.describe();
    EXPECT_EQ(s.trailer("x-count=30"), 1) << s.describe();
}

}  // namespace
}  // namespace weir_it::grpc_it
