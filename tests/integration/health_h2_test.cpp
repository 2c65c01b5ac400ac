// Active checks of `protocol: h2` pools end to end, against real HTTP/2
// servers started from tests/support/: the gRPC health protocol (a Python
// grpcio server whose answer the test switches at runtime: SERVING is
// healthy; NOT_SERVING, an unknown service and a failing call are not; back
// to SERVING recovers, and calls routed through Weir follow), over h2c and
// over TLS with ALPN h2; and `type: http`
// sent as an HTTP/2 GET to an h2c server, judged by its :status. Deadlines
// are generous: the machine is shared and Python is slow to start.
#include "tests/support/certificates.hpp"
#include "grpc_health_support.hpp"
#include "health_support.hpp"
#include "nginx_backend.hpp"
#include "wire.hpp"

#include <sstream>

namespace weir_it::grpc_health {
namespace {

using health::EndpointView;
using health::get_endpoint;
using health::get_pool;
using health::metric;
using health::metrics_text;
using health::wait_endpoint;

constexpr Millis deadline = 30s;

struct H2Pool {
    std::string name;
    std::string endpoint;  // several separated by spaces
    std::string health_check;  // flow mapping text
    std::string tls;           // upstream.tls flow mapping text; "" = plain TCP
};

// `http2_listener`: the listener takes h2c (prior knowledge), for gRPC calls through Weir.
std::string config_yaml(const std::vector<H2Pool>& pools, bool http2_listener = false) {
    std::ostringstream y;
    y << "workers: 1\n";
    y << "listeners: [{name: public, address: \"127.0.0.1:0\"" << (http2_listener ? ", http2: true" : "") << "}]\n";
    y << "admin: {address: \"127.0.0.1:0\"}\n";
    y << "pools:\n";
    for (const auto& p : pools) {
        y << "  - name: " << p.name << "\n";
        y << "    protocol: h2\n";
        y << "    endpoints: [";
        std::istringstream addresses(p.endpoint);
        std::string sep;
        for (std::string a; addresses >> a; sep = ", ") y << sep << "{address: \"" << a << "\", weight: 1}";
        y << "]\n";
        y << "    upstream: {connect_timeout: 2s";
        if (!p.tls.empty()) y << ", tls: " << p.tls;
        y << "}\n";
        y << "    health_check: " << p.health_check << "\n";
    }
    y << "routes:\n";
    y << "  - name: web\n";
    y << "    match: {host: \"*\", path_prefix: /}\n";
    y << "    split: {" << pools.front().name << ": 1}\n";
    return y.str();
}

// Checks every 300 ms (each bounded by 300 ms), two results in a row flip a state.
std::string grpc_check(const std::string& service = "") {
    std::string s = "{type: grpc, interval: 300ms, timeout: 300ms, healthy_threshold: 2, unhealthy_threshold: 2";
    if (!service.empty()) s += ", service: " + service;
    return s + "}";
}

bool last_check_is(std::uint16_t admin, const std::string& pool, const std::string& address, bool healthy,
                   const std::string& detail_prefix) {
    return wait_endpoint(
        admin, pool, address,
        [&](const EndpointView& e) { return e.healthy == healthy && e.last_check.rfind(detail_prefix, 0) == 0; },
        deadline);
}

std::string describe(std::uint16_t admin, const std::string& pool, const WeirProcess& weir,
                     const ScriptProcess& backend) {
    auto p = get_pool(admin, pool);
    return "pool: " + (p ? p->raw : std::string("(no answer)")) + "\nbackend output:\n" + backend.output() +
           "\nweir log:\n" + weir.log();
}

TEST(HealthH2, GrpcServingIsHealthyNotServingIsTakenOutAndServingBringsItBack) {
    TempDir dir;
    const std::string status = dir.path + "/status";
    write_file_atomic(status, "- SERVING\n");
    GrpcHealthBackend backend(status);
    ASSERT_TRUE(backend.started()) << backend.output();
    WeirProcess weir(config_yaml({{"g", backend.address(), grpc_check()}}));
    const auto admin = weir.admin_port();

    ASSERT_TRUE(last_check_is(admin, "g", backend.address(), true, "SERVING")) << describe(admin, "g", weir, backend);
    EXPECT_TRUE(wait_for([&] { return backend.lines_starting("check - SERVING deadline") >= 1; }, 10s, 20ms))
        << "the whole server (service \"\") is asked about, with the check's timeout as grpc-timeout\n"
        << backend.output();
    std::string m = metrics_text(admin);
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "g"}, {"endpoint", backend.address()}}), 1.0) << m;

    write_file_atomic(status, "- NOT_SERVING\n");
    ASSERT_TRUE(last_check_is(admin, "g", backend.address(), false, "NOT_SERVING"))
        << describe(admin, "g", weir, backend);
    auto e = get_endpoint(admin, "g", backend.address());
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->eligible) << "an unhealthy endpoint takes no traffic";
    auto p = get_pool(admin, "g");
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->available) << "its only endpoint is out\n" << p->raw;
    m = metrics_text(admin);
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "g"}, {"endpoint", backend.address()}}), 0.0) << m;
    EXPECT_TRUE(weir.wait_log("endpoint " + backend.address() + ": unhealthy after 2 failed checks (last: NOT_SERVING)"))
        << weir.log();

    write_file_atomic(status, "- SERVING\n");
    ASSERT_TRUE(last_check_is(admin, "g", backend.address(), true, "SERVING")) << describe(admin, "g", weir, backend);
    EXPECT_TRUE(weir.wait_log("endpoint " + backend.address() + ": healthy (SERVING)")) << weir.log();
    e = get_endpoint(admin, "g", backend.address());
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->eligible);
}

// Calls routed through Weir (service "traffic", which both backends serve)
// stop reaching an endpoint whose checks (the whole server, "") say
// NOT_SERVING, and reach it again once it is SERVING.
TEST(HealthH2, TrafficLeavesAnEndpointThatIsNotServingAndReturnsToIt) {
    TempDir dir;
    const std::string status_a = dir.path + "/a", status_b = dir.path + "/b";
    write_file_atomic(status_a, "- SERVING\ntraffic SERVING\n");
    write_file_atomic(status_b, "- SERVING\ntraffic SERVING\n");
    GrpcHealthBackend a(status_a), b(status_b);
    ASSERT_TRUE(a.started() && b.started()) << a.output() << b.output();
    WeirProcess weir(config_yaml({{"g", a.address() + " " + b.address(), grpc_check()}}, /*http2_listener=*/true));
    const auto admin = weir.admin_port();
    const std::string through = "127.0.0.1:" + std::to_string(weir.port());
    ASSERT_TRUE(last_check_is(admin, "g", a.address(), true, "SERVING")) << describe(admin, "g", weir, a);
    ASSERT_TRUE(last_check_is(admin, "g", b.address(), true, "SERVING")) << describe(admin, "g", weir, b);

    const auto calls_ok = [](const GrpcHealthCalls& c) { return c.lines_starting("ok 1"); };
    {
        GrpcHealthCalls calls(through, "traffic", 20);
        ASSERT_EQ(calls_ok(calls), 20) << calls.output() << weir.log();
    }
    // Backends log a call after answering it: their lines may trail the client's results.
    EXPECT_TRUE(wait_for([&] { return a.lines_starting("check traffic") > 0 && b.lines_starting("check traffic") > 0; },
                         10s, 20ms))
        << "both endpoints serve while both are SERVING\n"
        << a.output() << b.output();

    write_file_atomic(status_a, "- NOT_SERVING\ntraffic SERVING\n");
    ASSERT_TRUE(last_check_is(admin, "g", a.address(), false, "NOT_SERVING")) << describe(admin, "g", weir, a);
    const int a_before = a.lines_starting("check traffic");
    const int b_before = b.lines_starting("check traffic");
    {
        GrpcHealthCalls calls(through, "traffic", 20);
        ASSERT_EQ(calls_ok(calls), 20) << calls.output() << weir.log();
    }
    wait_for([&] { return b.lines_starting("check traffic") >= b_before + 20; }, 10s, 20ms);
    EXPECT_EQ(a.lines_starting("check traffic"), a_before) << "a NOT_SERVING endpoint still got calls";
    EXPECT_EQ(b.lines_starting("check traffic"), b_before + 20);

    write_file_atomic(status_a, "- SERVING\ntraffic SERVING\n");
    ASSERT_TRUE(last_check_is(admin, "g", a.address(), true, "SERVING")) << describe(admin, "g", weir, a);
    {
        GrpcHealthCalls calls(through, "traffic", 20);
        ASSERT_EQ(calls_ok(calls), 20) << calls.output() << weir.log();
    }
    EXPECT_TRUE(wait_for([&] { return a.lines_starting("check traffic") > a_before; }, 10s, 20ms))
        << "calls do not reach it again";
}

TEST(HealthH2, GrpcUnknownServiceFailedCallAndOtherStatusesAreUnhealthy) {
    TempDir dir;
    const std::string status = dir.path + "/status";
    write_file_atomic(status,
                      "- SERVING\n"
                      "my.Greeter SERVING\n"
                      "my.Broken grpc:14\n"
                      "my.Lost SERVICE_UNKNOWN\n");
    GrpcHealthBackend backend(status);
    ASSERT_TRUE(backend.started()) << backend.output();
    const std::string a = backend.address();
    WeirProcess weir(config_yaml({{"named", a, grpc_check("my.Greeter")},
                                  {"unknown", a, grpc_check("no.Such")},
                                  {"broken", a, grpc_check("my.Broken")},
                                  {"lost", a, grpc_check("my.Lost")}}));
    const auto admin = weir.admin_port();

    EXPECT_TRUE(last_check_is(admin, "named", a, true, "SERVING")) << describe(admin, "named", weir, backend);
    // The backend logs the check after answering it: its line may come a little after Weir's verdict.
    EXPECT_TRUE(wait_for([&] { return backend.lines_starting("check my.Greeter SERVING") >= 1; }, 10s, 20ms))
        << "the service name reaches the backend\n"
        << backend.output();
    // The backend answers NOT_FOUND for a service it does not know.
    EXPECT_TRUE(last_check_is(admin, "unknown", a, false, "grpc-status 5")) << describe(admin, "unknown", weir, backend);
    EXPECT_TRUE(last_check_is(admin, "broken", a, false, "grpc-status 14")) << describe(admin, "broken", weir, backend);
    EXPECT_TRUE(last_check_is(admin, "lost", a, false, "SERVICE_UNKNOWN")) << describe(admin, "lost", weir, backend);
    const std::string m = metrics_text(admin);
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "named"}, {"endpoint", a}}), 1.0) << m;
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "unknown"}, {"endpoint", a}}), 0.0) << m;
    EXPECT_EQ(metric(m, "weir_endpoint_healthy", {{"pool", "broken"}, {"endpoint", a}}), 0.0) << m;
}

TEST(HealthH2, HttpCheckIsAnHttp2GetJudgedByItsStatus) {
    TempDir dir;
    const std::string status = dir.path + "/status";
    write_file_atomic(status, "204\n");
    H2cHttpBackend backend(status);
    ASSERT_TRUE(backend.started()) << backend.output();
    const std::string check =
        "{type: http, path: /ready, interval: 300ms, timeout: 300ms, healthy_threshold: 2, unhealthy_threshold: 2, "
        "expect_status: [200, 299]}";
    WeirProcess weir(config_yaml({{"web", backend.address(), check}}));
    const auto admin = weir.admin_port();

    ASSERT_TRUE(last_check_is(admin, "web", backend.address(), true, "status 204"))
        << describe(admin, "web", weir, backend);
    EXPECT_GE(backend.lines_starting("request GET /ready 204"), 1) << backend.output();

    write_file_atomic(status, "503\n");
    ASSERT_TRUE(last_check_is(admin, "web", backend.address(), false, "status 503"))
        << describe(admin, "web", weir, backend);

    write_file_atomic(status, "200\n");
    ASSERT_TRUE(last_check_is(admin, "web", backend.address(), true, "status 200"))
        << describe(admin, "web", weir, backend);
}

TEST(HealthH2, AnEndpointThatSpeaksOnlyHttp1FailsTheCheck) {
    health::Backend http1("old");
    const std::string check = "{interval: 300ms, timeout: 300ms, healthy_threshold: 2, unhealthy_threshold: 2}";
    WeirProcess weir(config_yaml({{"web", http1.address(), check}}));
    const auto admin = weir.admin_port();
    ASSERT_TRUE(wait_endpoint(admin, "web", http1.address(), [](const EndpointView& e) { return !e.healthy; }, deadline))
        << weir.log();
    auto e = get_endpoint(admin, "web", http1.address());
    ASSERT_TRUE(e);
    // An HTTP/1.1 server answers the connection preface with an HTTP/1.1
    // response: bytes that are not a SETTINGS frame.
    EXPECT_EQ(e->last_check, "not h2 (no SETTINGS first)");
    EXPECT_EQ(http1.health_checks_passed(), 0u);
}

TEST(HealthH2, GrpcOverTlsOffersAlpnH2) {
    TempDir dir;
    const auto ca = weir::test::authority("Weir Test CA");
    const auto leaf = weir::test::leaf_certificate({"grpc.test"}, &ca, 2);
    const auto files = weir::test::write_certificate(dir.path, "server", leaf);
    const std::string ca_file = dir.path + "/ca.pem";
    weir::test::write_text(ca_file, ca.cert_pem);
    const std::string status = dir.path + "/status";
    write_file_atomic(status, "- SERVING\n");
    GrpcHealthBackend backend(status, files.cert, files.key);
    ASSERT_TRUE(backend.started()) << backend.output();
    const std::string tls = "{ca_file: \"" + ca_file + "\", server_name: grpc.test}";
    // The same server, but the name verified is not the certificate's: the
    // handshake fails, and the check with it.
    const std::string wrong = "{ca_file: \"" + ca_file + "\", server_name: other.test}";
    WeirProcess weir(config_yaml({{"g", backend.address(), grpc_check(), tls},
                                  {"wrong", backend.address(), grpc_check(), wrong}}));
    const auto admin = weir.admin_port();

    ASSERT_TRUE(last_check_is(admin, "g", backend.address(), true, "SERVING")) << describe(admin, "g", weir, backend);
    EXPECT_TRUE(last_check_is(admin, "wrong", backend.address(), false, "TLS handshake failed"))
        << describe(admin, "wrong", weir, backend);

    write_file_atomic(status, "- NOT_SERVING\n");
    EXPECT_TRUE(last_check_is(admin, "g", backend.address(), false, "NOT_SERVING"))
        << describe(admin, "g", weir, backend);
}

TEST(HealthH2, ATlsEndpointThatDoesNotChooseH2FailsTheCheck) {
    std::string why;
    ASSERT_TRUE(nginx_available(why)) << why;
    TempDir dir;
    const auto ca = weir::test::authority("Weir Test CA");
    const auto files = weir::test::write_certificate(dir.path, "server", weir::test::leaf_certificate({"web.test"}, &ca, 3));
    const std::string ca_file = dir.path + "/ca.pem";
    weir::test::write_text(ca_file, ca.cert_pem);
    // nginx over TLS without http2: it never selects h2 by ALPN.
    NginxBackend nginx(NginxSpec{"tlsweb", 0, 0, 0, files.cert, files.key});
    ASSERT_TRUE(nginx.running()) << nginx.error();
    const std::string check = "{path: /, interval: 300ms, timeout: 300ms, healthy_threshold: 2, unhealthy_threshold: 2}";
    WeirProcess weir(config_yaml({{"web", nginx.address(), check, "{ca_file: \"" + ca_file + "\", server_name: web.test}"}}));
    const auto admin = weir.admin_port();
    EXPECT_TRUE(wait_endpoint(
        admin, "web", nginx.address(),
        [](const EndpointView& e) { return !e.healthy && e.last_check == "not h2 (ALPN)"; }, deadline))
        << (get_pool(admin, "web") ? get_pool(admin, "web")->raw : "") << "\n" << weir.log();
}

}  // namespace
}  // namespace weir_it::grpc_health
