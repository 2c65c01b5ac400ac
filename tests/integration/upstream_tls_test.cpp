// TLS to upstreams against a real TLS server (nginx with its own test CA):
// the endpoint's certificate verified against the pool's CA (by IP address,
// or by server_name, which is also sent as SNI); a certificate from another
// CA, or for another name, answered 502 as an upstream error of kind "tls"
// and never sent in clear; verify: false warned about at load; sessions
// resumed on new connections; pooled TLS connections reused across
// requests; a client certificate presented to an endpoint that requires
// one; megabytes through TLS on both legs; and active health checks made
// over TLS with the same checks; a handshake never answered bounded by
// connect_timeout. Handshakes are counted by outcome per pool.
// Each test runs against a TLS 1.2 and a TLS 1.3 server: 1.3 sends its
// session tickets after the handshake, onto connections Weir keeps idle.
#include "harness.hpp"
#include "health_support.hpp"
#include "metrics_support.hpp"
#include "nginx_backend.hpp"
#include "tests/support/certificates.hpp"
#include "tests/support/loopback_listener.hpp"

#include <chrono>

namespace weir_it {
namespace {

using weir::test::CertificateFiles;

// One pool "app" on `endpoint` with these upstream.tls settings behind a
// catch-all route; `listener_tls` (a tls mapping) makes the listener TLS too.
std::string one_pool_config(const std::string& endpoint, const std::string& tls, const std::string& pool_extra = "",
                            int max_idle = 16, const std::string& listener_tls = "") {
    return "workers: 1\n"
           "listeners: [{name: public, address: \"127.0.0.1:0\"" +
           (listener_tls.empty() ? "" : ", tls: " + listener_tls) +
           "}]\n"
           "admin: {address: \"127.0.0.1:0\"}\n"
           "pools:\n"
           "  - name: app\n"
           "    endpoints: [{address: \"" + endpoint + "\"}]\n"
           "    upstream: {max_idle_per_endpoint: " + std::to_string(max_idle) + ", tls: " + tls + "}\n" +
           pool_extra +
           "routes: [{name: all, split: {app: 1}}]\n";
}

class UpstreamTls : public ::testing::TestWithParam<const char*> {
protected:
    void SetUp() override {
        std::string why;
        ASSERT_TRUE(nginx_available(why)) << why;
        weir::test::CertificateSpec s;
        s.common_name = "backend.test";
        s.dns = {"backend.test"};
        s.ip = {"127.0.0.1"};
        s.issuer = &ca_;
        server_ = weir::test::write_certificate(dir_.path, "backend", weir::test::make_certificate(s));
        weir::test::write_text(ca_file(), ca_.cert_pem);
        weir::test::write_text(other_ca_file(), other_ca_.cert_pem);
        backend_ = std::make_unique<NginxBackend>(NginxSpec{"tlsapp", 0, 0, 0, server_.cert, server_.key, GetParam()});
        ASSERT_TRUE(backend_->running()) << backend_->error();
    }

    std::string ca_file() const { return dir_.path + "/ca.pem"; }
    std::string other_ca_file() const { return dir_.path + "/other-ca.pem"; }

    // One pool "app" on the TLS backend with these upstream.tls settings.
    std::string config(const std::string& tls, const std::string& pool_extra = "", int max_idle = 16) const {
        return one_pool_config(backend_->address(), tls, pool_extra, max_idle);
    }

    double tls_errors(const WeirProcess& weir) const {
        const std::string m = admin_request(weir.admin_port(), "GET", "/metrics").body;
        return metric_value(m, "weir_upstream_errors_total",
                            {{"pool", "app"}, {"endpoint", backend_->address()}, {"kind", "tls"}})
            .value_or(0);
    }

    // weir_upstream_tls_handshakes_total of pool "app" for `result`.
    double handshakes(const WeirProcess& weir, const std::string& result) const {
        const std::string m = admin_request(weir.admin_port(), "GET", "/metrics").body;
        return metric_value(m, "weir_upstream_tls_handshakes_total", {{"pool", "app"}, {"result", result}})
            .value_or(-1);
    }

    TempDir dir_;
    const weir::test::TestCertificate ca_ = weir::test::authority("Weir Test Upstream CA");
    const weir::test::TestCertificate other_ca_ = weir::test::authority("Some Other CA");
    CertificateFiles server_;
    std::unique_ptr<NginxBackend> backend_;
};

TEST_P(UpstreamTls, TheEndpointIsVerifiedByItsAddressAgainstThePoolsCa) {
    WeirProcess weir(config("{ca_file: " + ca_file() + "}"));
    const Response r = metrics::http_get(weir.port(), "/");
    EXPECT_EQ(r.status, 200) << r.describe() << weir.log();
    EXPECT_EQ(r.body, "tlsapp ok\n");
    EXPECT_EQ(r.headers.get("x-tls-protocol"), GetParam());
    // An address is verified against the certificate's IP entries and is
    // never sent as SNI.
    EXPECT_EQ(r.headers.get("x-tls-sni"), "sni=") << r.describe();
    EXPECT_EQ(tls_errors(weir), 0);
}

TEST_P(UpstreamTls, ServerNameIsSentAsSniAndIsTheNameVerified) {
    {
        WeirProcess weir(config("{ca_file: " + ca_file() + ", server_name: backend.test}"));
        const Response r = metrics::http_get(weir.port(), "/");
        EXPECT_EQ(r.status, 200) << r.describe() << weir.log();
        EXPECT_EQ(r.headers.get("x-tls-sni"), "sni=backend.test");
    }
    {
        // The right CA, but a certificate for another name: refused.
        WeirProcess weir(config("{ca_file: " + ca_file() + ", server_name: elsewhere.test}"));
        const Response r = metrics::http_get(weir.port(), "/");
        EXPECT_EQ(r.status, 502) << r.describe();
        EXPECT_TRUE(weir.wait_log("TLS handshake failed: certificate verify failed")) << weir.log();
        EXPECT_GE(tls_errors(weir), 1);
    }
}

TEST_P(UpstreamTls, ACertificateFromAnotherCaIsA502OfKindTlsAndNothingGoesInClear) {
    WeirProcess weir(config("{ca_file: " + other_ca_file() + "}"));
    for (int i = 0; i < 3; ++i) {
        const Response r = metrics::http_get(weir.port(), "/");
        EXPECT_EQ(r.status, 502) << r.describe();
        // Weir's own answer: nginx would have said 400 to a plain request
        // on its TLS port, and "tlsapp ok" over TLS.
        EXPECT_EQ(r.body.find("tlsapp"), std::string::npos) << r.describe();
        EXPECT_FALSE(r.headers.has("x-tls-sni")) << r.describe();
    }
    EXPECT_TRUE(weir.wait_log("certificate verify failed: unable to get local issuer certificate")) << weir.log();
    EXPECT_TRUE(wait_for([&] { return tls_errors(weir) >= 3; }, 10s)) << tls_errors(weir);
    EXPECT_TRUE(wait_for([&] { return handshakes(weir, "failed") >= 3; }, 10s)) << handshakes(weir, "failed");
    EXPECT_EQ(handshakes(weir, "full") + handshakes(weir, "resumed"), 0);
}

TEST_P(UpstreamTls, VerifyFalseIsWarnedAboutAndAcceptsAnyCertificate) {
    WeirProcess weir(config("{verify: false}"));
    EXPECT_TRUE(weir.wait_log("upstream.tls.verify is false")) << weir.log();
    const Response r = metrics::http_get(weir.port(), "/");
    EXPECT_EQ(r.status, 200) << r.describe() << weir.log();
    EXPECT_EQ(r.body, "tlsapp ok\n");
}

TEST_P(UpstreamTls, NewConnectionsResumeTheEndpointsLastSession) {
    // No idle connections kept: every request opens a new one.
    WeirProcess weir(config("{ca_file: " + ca_file() + "}", "", /*max_idle=*/0));
    std::vector<std::string> reused, connections;
    for (int i = 0; i < 4; ++i) {
        const Response r = metrics::http_get(weir.port(), "/");
        ASSERT_EQ(r.status, 200) << r.describe() << weir.log();
        reused.push_back(r.headers.get("x-tls-reused"));
        connections.push_back(r.headers.get("x-connection"));
    }
    EXPECT_EQ(reused[0], ".") << "the first connection has no session to resume";
    for (int i = 1; i < 4; ++i) {
        EXPECT_EQ(reused[i], "r") << "connection " << i << " was a full handshake" << weir.log();
        EXPECT_NE(connections[i], connections[i - 1]) << "max_idle_per_endpoint 0 still reused a connection";
    }
    // Weir counts them the same way.
    EXPECT_TRUE(wait_for([&] { return handshakes(weir, "resumed") == 3; }, 10s)) << handshakes(weir, "resumed");
    EXPECT_EQ(handshakes(weir, "full"), 1);
    EXPECT_EQ(handshakes(weir, "failed"), 0);
}

// Connections opened together, before a new ticket can arrive, all offer
// the endpoint's last session, and all resume.
TEST_P(UpstreamTls, ConnectionsOpenedTogetherAllResumeTheLastSession) {
    WeirProcess weir(config("{ca_file: " + ca_file() + "}", "", /*max_idle=*/0));
    const Response first = metrics::http_get(weir.port(), "/");
    ASSERT_EQ(first.status, 200) << first.describe() << weir.log();
    ASSERT_EQ(first.headers.get("x-tls-reused"), ".");
    // A second one for the session to be there (TLS 1.3 tickets come after
    // the handshake, with the first response).
    ASSERT_EQ(metrics::http_get(weir.port(), "/").headers.get("x-tls-reused"), "r");
    constexpr int together = 8;
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < together; ++i) clients.push_back(std::make_unique<RawClient>(weir.port()));
    for (auto& c : clients) ASSERT_TRUE(c->send(get_request("/together")));
    for (int i = 0; i < together; ++i) {
        const Response r = clients[i]->read_response();
        ASSERT_EQ(r.status, 200) << i << ": " << r.describe() << weir.log();
        EXPECT_EQ(r.headers.get("x-tls-reused"), "r") << "connection " << i << " of " << together
                                                      << " opened together was a full handshake";
    }
    EXPECT_EQ(handshakes(weir, "full"), 1);
}

TEST_P(UpstreamTls, PooledTlsConnectionsCarryRequestAfterRequest) {
    WeirProcess weir(config("{ca_file: " + ca_file() + "}"));
    std::map<std::string, int> by_connection;
    for (int i = 0; i < 10; ++i) {
        // Each client request on a new client connection: only the upstream
        // side can be shared.
        const Response r = metrics::http_get(weir.port(), "/");
        ASSERT_EQ(r.status, 200) << r.describe() << weir.log();
        ++by_connection[r.headers.get("x-connection")];
        // Between requests the upstream connection sits idle in the pool,
        // with TLS 1.3 session tickets (records without data) arriving.
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(by_connection.size(), 1u) << "requests went over " << by_connection.size() << " TLS connections";
}

TEST_P(UpstreamTls, HealthChecksSpeakTlsWithThePoolsVerification) {
    const std::string check = "    health_check: {path: /, interval: 200ms, timeout: 150ms}\n";
    {
        WeirProcess weir(config("{ca_file: " + ca_file() + "}", check));
        std::optional<health::EndpointView> seen;
        ASSERT_TRUE(wait_for(
            [&] {
                seen = health::get_endpoint(weir.admin_port(), "app", backend_->address());
                return seen && seen->last_check == "status 200";
            },
            10s))
            << (seen ? seen->last_check : "no endpoint") << "\n" << weir.log();
        EXPECT_TRUE(seen->healthy);
    }
    {
        WeirProcess weir(config("{ca_file: " + other_ca_file() + "}", check));
        std::optional<health::EndpointView> seen;
        ASSERT_TRUE(wait_for(
            [&] {
                seen = health::get_endpoint(weir.admin_port(), "app", backend_->address());
                return seen && !seen->healthy;
            },
            10s))
            << (seen ? seen->last_check : "no endpoint") << "\n" << weir.log();
        EXPECT_NE(seen->last_check.find("TLS handshake failed: certificate verify failed"), std::string::npos)
            << seen->last_check;
    }
}

// An endpoint that requires a client certificate (mTLS): Weir presents the
// pool's cert and key; without them nginx refuses the request (400).
TEST_P(UpstreamTls, TheClientCertificateIsPresentedWhenTheEndpointAsksForIt) {
    const auto client_ca = weir::test::authority("Endpoint Client CA");
    weir::test::write_text(dir_.path + "/client-ca.pem", client_ca.cert_pem);
    const auto client =
        weir::test::write_certificate(dir_.path, "weir-client", weir::test::leaf_certificate({"weir.client"}, &client_ca, 7));
    NginxSpec spec{"mtls", 0, 0, 0, server_.cert, server_.key, GetParam()};
    spec.tls_client_ca = dir_.path + "/client-ca.pem";
    NginxBackend strict(spec);
    ASSERT_TRUE(strict.running()) << strict.error();
    const auto weir_for = [&](const std::string& tls) { return one_pool_config(strict.address(), tls); };
    {
        WeirProcess weir(weir_for("{ca_file: " + ca_file() + ", cert: " + client.cert + ", key: " + client.key + "}"));
        const Response r = metrics::http_get(weir.port(), "/");
        EXPECT_EQ(r.status, 200) << r.describe() << weir.log();
        EXPECT_EQ(r.body, "mtls ok\n");
    }
    {
        WeirProcess weir(weir_for("{ca_file: " + ca_file() + "}"));
        const Response r = metrics::http_get(weir.port(), "/");
        EXPECT_EQ(r.status, 400) << r.describe();
        EXPECT_NE(r.body.find("No required SSL certificate was sent"), std::string::npos) << r.describe();
    }
}

// Megabytes through TLS on both legs (a TLS listener, a TLS upstream), read
// by a slow client: Weir's writes to the client block again and again, each
// retried with the bytes OpenSSL was offered, and the body arrives whole.
TEST_P(UpstreamTls, ALargeBodyCrossesBothTlsLegsIntactToASlowReader) {
    NginxBackend big(NginxSpec{"big", 0, 3u << 20, 0, server_.cert, server_.key, GetParam()});
    ASSERT_TRUE(big.running()) << big.error();
    const auto site = weir::test::write_certificate(dir_.path, "site", weir::test::leaf_certificate({"weir.test"}));
    WeirProcess weir(one_pool_config(big.address(), "{ca_file: " + ca_file() + "}", "", 16,
                                     "{cert: " + site.cert + ", key: " + site.key + "}"));
    const std::string direct = dir_.path + "/direct.bin", proxied = dir_.path + "/proxied.bin";
    const auto fetch = [](const std::string& url, const std::string& out, std::vector<std::string> extra) {
        std::vector<std::string> argv = {"/usr/bin/curl", "-sk", "-o", out, "-w", "%{http_code}", url};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return metrics::run_command(argv, "", 60s);
    };
    const auto d = fetch("https://" + big.address() + "/", direct, {});
    ASSERT_EQ(d.out, "200") << d.err;
    const auto p = fetch("https://127.0.0.1:" + std::to_string(weir.port()) + "/", proxied, {"--limit-rate", "1500k"});
    ASSERT_EQ(p.out, "200") << p.err << weir.log();
    const std::string expected = read_file(direct), got = read_file(proxied);
    EXPECT_EQ(expected.size(), 3u << 20);
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << "the body changed on the way";
}

// A pool turned to TLS by a reload, with a plain connection to the same
// endpoint idle in the pool: that connection is not used, and the endpoint
// (which speaks only plain HTTP) gets no request in clear: the handshake
// fails and the client gets 502.
TEST(UpstreamTlsReload, APlainPooledConnectionNeverCarriesARequestForATlsPool) {
    FakeUpstream plain("plain");
    const auto yaml = [&](const std::string& tls) { return one_pool_config(plain.address(), tls); };
    WeirProcess weir(yaml("false"));
    const Response first = metrics::http_get(weir.port(), "/");
    ASSERT_EQ(first.status, 200) << first.describe() << weir.log();
    ASSERT_TRUE(plain.wait_requests(1));

    write_file_atomic(weir.config_path(), yaml("{verify: false}"));
    const Response reload = admin_request(weir.admin_port(), "POST", "/reload");
    ASSERT_EQ(reload.status, 200) << reload.describe();
    const Response second = metrics::http_get(weir.port(), "/");
    EXPECT_EQ(second.status, 502) << second.describe();
    EXPECT_TRUE(weir.wait_log("TLS handshake failed")) << weir.log();
    EXPECT_EQ(plain.request_count(), 1u) << "a request went to the endpoint in clear";
}

// An endpoint that takes the connection but never answers the hello: the
// handshake is given upstream.connect_timeout, then the request gets 502 and
// the pool's handshake counters say "timeout".
TEST(UpstreamTlsTimeout, AHandshakeNeverAnsweredEndsWithinConnectTimeoutAsA502) {
    // Listening but never accepting: the kernel completes the TCP handshake
    // and keeps the ClientHello unread.
    weir::test::LoopbackListener mute;
    const std::string endpoint = mute.address();

    WeirProcess weir(one_pool_config(endpoint, "{verify: false}, connect_timeout: 300ms"));
    const auto start = std::chrono::steady_clock::now();
    const Response r = metrics::http_get(weir.port(), "/");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.status, 502) << r.describe() << weir.log();
    EXPECT_LT(took, 20s) << "the handshake was not bounded by connect_timeout";
    EXPECT_TRUE(weir.wait_log("handshake not complete in 300 ms")) << weir.log();
    const auto count = [&](const std::string& result) {
        const std::string m = admin_request(weir.admin_port(), "GET", "/metrics").body;
        return metric_value(m, "weir_upstream_tls_handshakes_total", {{"pool", "app"}, {"result", result}})
            .value_or(-1);
    };
    EXPECT_TRUE(wait_for([&] { return count("timeout") >= 1; }, 10s)) << count("timeout");
    EXPECT_EQ(count("failed"), 0);
    EXPECT_EQ(count("full"), 0);
}

INSTANTIATE_TEST_SUITE_P(Versions, UpstreamTls, ::testing::Values("TLSv1.2", "TLSv1.3"),
                         [](const auto& p) { return std::string(p.param) == "TLSv1.2" ? "Tls12" : "Tls13"; });

}  // namespace
}  // namespace weir_it
