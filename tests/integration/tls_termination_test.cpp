// TLS termination as clients see it, with the real binary and real clients
// (curl, openssl s_client): the certificate SNI asks for, chain verification,
// old protocol versions refused, sessions resumed on any worker, certificates
// rotated by a reload for new connections while open ones finish, a bad
// certificate at reload refused with the old one kept, client certificates
// (mTLS) required and named upstream, and every handshake outcome counted.
#include "harness.hpp"
#include "metrics_support.hpp"
#include "tests/support/certificates.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <thread>

namespace weir_it {
namespace {

using metrics::run_command;
using metrics::RunResult;

const char* kOpenssl = "/usr/bin/openssl";
const char* kCurl = "/usr/bin/curl";

using CertFiles = weir::test::CertificateFiles;
using weir::test::write_certificate;

using weir::test::leaf_certificate;

std::string tls_yaml(const std::vector<CertFiles>& certs, const std::string& extra = "") {
    std::string y = "{certificates: [";
    for (std::size_t i = 0; i < certs.size(); ++i)
        y += (i ? ", " : "") + std::string("{cert: ") + certs[i].cert + ", key: " + certs[i].key + "}";
    return y + "]" + extra + "}";
}

std::string config(const std::string& upstream, const std::string& tls, int workers = 1,
                   const std::string& limits = "") {
    return "workers: " + std::to_string(workers) +
           "\n"
           "listeners: [{name: public, address: \"127.0.0.1:0\", tls: " +
           tls +
           "}]\n"
           "admin: {address: \"127.0.0.1:0\"}\n" +
           limits +
           "pools: [{name: app, endpoints: [{address: \"" + upstream +
           "\"}]}]\n"
           "routes: [{name: all, match: {path_prefix: /}, split: {app: 100}}]\n";
}

// openssl s_client's report of one connection: a handshake, then one
// request whose answer closes the connection (so TLS 1.3 session tickets,
// sent after the handshake, are read too).
RunResult s_client(std::uint16_t port, std::vector<std::string> extra) {
    std::vector<std::string> argv = {kOpenssl, "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-ign_eof"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n", 20s);
}

std::string subject_of(const RunResult& r) {
    const auto at = r.out.find("subject=");
    if (at == std::string::npos) return "(none)";
    return r.out.substr(at, r.out.find('\n', at) - at);
}

double handshakes(std::uint16_t admin, const std::string& result) {
    const std::string m = admin_request(admin, "GET", "/metrics").body;
    return metric_value(m, "weir_tls_handshakes_total", {{"listener", "public"}, {"result", result}}).value_or(0);
}

class TlsTermination : public ::testing::Test {
protected:
    // Runs curl with `args`, expects it to succeed with `body`, and returns
    // the request the upstream received.
    UpstreamRequest curl_ok(std::vector<std::string> args, const std::string& body) {
        args.insert(args.begin(), kCurl);
        RunResult r = run_command(args, "");
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, body);
        if (!up.wait_requests(1)) {
            ADD_FAILURE() << "no request reached the upstream";
            return {};
        }
        return up.requests().back();
    }

    TempDir dir;
    FakeUpstream up{"app"};
};

TEST_F(TlsTermination, TheCertificateIsChosenBySni) {
    const CertFiles a = write_certificate(dir.path, "a", leaf_certificate({"a.test"}));
    const CertFiles b = write_certificate(dir.path, "b", leaf_certificate({"b.test"}, nullptr, 1, /*rsa=*/true));
    const CertFiles w = write_certificate(dir.path, "w", leaf_certificate({"*.w.test"}));
    WeirProcess weir(config(up.address(), tls_yaml({a, b, w})));
    const auto port = weir.port();
    EXPECT_EQ(subject_of(s_client(port, {"-servername", "b.test"})), "subject=CN = b.test");
    EXPECT_EQ(subject_of(s_client(port, {"-servername", "B.Test"})), "subject=CN = b.test");
    EXPECT_EQ(subject_of(s_client(port, {"-servername", "x.w.test"})), "subject=CN = *.w.test");
    // No SNI, an unknown name, or two labels under a wildcard: the first certificate.
    EXPECT_EQ(subject_of(s_client(port, {"-noservername"})), "subject=CN = a.test");
    EXPECT_EQ(subject_of(s_client(port, {"-servername", "other.test"})), "subject=CN = a.test");
    EXPECT_EQ(subject_of(s_client(port, {"-servername", "y.x.w.test"})), "subject=CN = a.test");
    EXPECT_GE(handshakes(weir.admin_port(), "full"), 6.0);
}

TEST_F(TlsTermination, CurlVerifiesTheChainAndTheUpstreamIsToldHttps) {
    weir::test::CertificateSpec root_spec;
    root_spec.common_name = "Weir Test Root";
    root_spec.ca = true;
    const auto root = weir::test::make_certificate(root_spec);
    weir::test::CertificateSpec mid_spec;
    mid_spec.common_name = "Weir Test Intermediate";
    mid_spec.ca = true;
    mid_spec.issuer = &root;
    const auto mid = weir::test::make_certificate(mid_spec);
    const CertFiles site = write_certificate(dir.path, "site", leaf_certificate({"site.test"}, &mid, 7), mid.cert_pem);
    weir::test::write_text(dir.path + "/root.pem", root.cert_pem);
    WeirProcess weir(config(up.address(), tls_yaml({site})));
    const std::string port = std::to_string(weir.port());
    const UpstreamRequest req = curl_ok({"-sS", "--cacert", dir.path + "/root.pem", "--resolve",
                                         "site.test:" + port + ":127.0.0.1", "-H", "X-Forwarded-Proto: http",
                                         "https://site.test:" + port + "/hello"},
                                        "app GET /hello");
    EXPECT_EQ(req.headers.get("X-Forwarded-Proto"), "https") << req.raw_head;
    // Without the chain's root, curl refuses the certificate.
    RunResult r = run_command({kCurl, "-sS", "--resolve", "site.test:" + port + ":127.0.0.1", "https://site.test:" + port + "/"},
                    "");
    EXPECT_NE(r.exit_code, 0);
}

TEST_F(TlsTermination, OldProtocolVersionsAreRefused) {
    const CertFiles a = write_certificate(dir.path, "a", leaf_certificate({"a.test"}));
    {
        WeirProcess weir(config(up.address(), tls_yaml({a})));
        // The client is allowed TLS 1.1 (security level 0); Weir is not.
        RunResult r = s_client(weir.port(), {"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});
        EXPECT_NE(r.out.find("Cipher is (NONE)"), std::string::npos) << r.out << r.err;
        RunResult ok = s_client(weir.port(), {"-tls1_2"});
        EXPECT_NE(ok.out.find("Protocol  : TLSv1.2"), std::string::npos) << ok.out << ok.err;
        EXPECT_TRUE(wait_for([&] { return handshakes(weir.admin_port(), "failed") >= 1; }, 10s, 100ms));
        EXPECT_TRUE(weir.wait_log("TLS handshake failed")) << weir.log();
    }
    WeirProcess weir13(config(up.address(), tls_yaml({a}, ", min_version: \"1.3\"")));
    RunResult r = s_client(weir13.port(), {"-tls1_2"});
    EXPECT_NE(r.out.find("Cipher is (NONE)"), std::string::npos) << r.out << r.err;
    RunResult ok = s_client(weir13.port(), {"-tls1_3"});
    EXPECT_NE(ok.out.find("Protocol  : TLSv1.3"), std::string::npos) << ok.out << ok.err;
}

TEST_F(TlsTermination, SessionsResumeOnAnyWorker) {
    const CertFiles a = write_certificate(dir.path, "a", leaf_certificate({"a.test"}));
    WeirProcess weir(config(up.address(), tls_yaml({a}), /*workers=*/2));
    for (const std::string version : {"-tls1_2", "-tls1_3"}) {
        SCOPED_TRACE(version);
        const std::string session = dir.path + "/session" + version;
        RunResult first = s_client(weir.port(), {version, "-sess_out", session});
        ASSERT_NE(first.out.find("New, TLS"), std::string::npos) << first.out << first.err;
        // Connections land on either worker (SO_REUSEPORT); every one resumes.
        for (int i = 0; i < 8; ++i) {
            RunResult again = s_client(weir.port(), {version, "-sess_in", session});
            EXPECT_NE(again.out.find("Reused, TLS"), std::string::npos) << i << "\n" << again.out << again.err;
        }
    }
    EXPECT_GE(handshakes(weir.admin_port(), "resumed"), 16.0);
}

// TLS 1.3 clients use a ticket once (OpenSSL's client cache drops it after
// the resumption, as wrk and curl do): each resumed connection must carry a
// new ticket, and that one must resume the next connection, or every
// other connection of such a client is a full handshake.
TEST_F(TlsTermination, EveryTls13ResumptionCarriesTheTicketForTheNext) {
    const CertFiles a = write_certificate(dir.path, "a", leaf_certificate({"a.test"}));
    WeirProcess weir(config(up.address(), tls_yaml({a})));
    std::string session = dir.path + "/chain0";
    RunResult first = s_client(weir.port(), {"-tls1_3", "-sess_out", session});
    ASSERT_NE(first.out.find("New, TLS"), std::string::npos) << first.out << first.err;
    for (int i = 1; i <= 5; ++i) {
        const std::string next = dir.path + "/chain" + std::to_string(i);
        RunResult r = s_client(weir.port(), {"-tls1_3", "-msg", "-sess_in", session, "-sess_out", next});
        EXPECT_NE(r.out.find("Reused, TLS"), std::string::npos) << i << "\n" << r.out << r.err;
        EXPECT_NE(r.out.find("NewSessionTicket"), std::string::npos) << "resumed connection " << i << " got no new ticket\n"
                                                                    << r.out;
        session = next;
    }
    EXPECT_EQ(handshakes(weir.admin_port(), "full"), 1.0);
    EXPECT_EQ(handshakes(weir.admin_port(), "resumed"), 5.0);
}

TEST_F(TlsTermination, AReloadRotatesCertificatesForNewConnectionsOnly) {
    const CertFiles live{dir.path + "/live.pem", dir.path + "/live.key"};
    const auto old_cert = leaf_certificate({"old.test"});
    weir::test::write_text(live.cert, old_cert.cert_pem);
    weir::test::write_text(live.key, old_cert.key_pem);
    // A slow answer keeps one connection open across the reload.
    up.set_handler([](UpstreamConn& c, const UpstreamRequest& req) {
        if (req.target == "/slow") std::this_thread::sleep_for(2s);
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        return After::keep_alive;
    });
    WeirProcess weir(config(up.address(), tls_yaml({live})));
    const std::string port = std::to_string(weir.port());
    EXPECT_EQ(subject_of(s_client(weir.port(), {})), "subject=CN = old.test");

    RunResult slow;
    std::thread during([&] {
        slow = run_command({kCurl, "-sSk", "https://127.0.0.1:" + port + "/slow"}, "");
    });
    ASSERT_TRUE(up.wait_requests(1));
    const auto new_cert = leaf_certificate({"new.test"}, nullptr, 2);
    weir::test::write_text(live.cert, new_cert.cert_pem);
    weir::test::write_text(live.key, new_cert.key_pem);
    Response reload = admin_request(weir.admin_port(), "POST", "/reload");
    EXPECT_EQ(reload.status, 200) << reload.body;
    EXPECT_EQ(subject_of(s_client(weir.port(), {})), "subject=CN = new.test");
    during.join();
    EXPECT_EQ(slow.exit_code, 0) << slow.err;
    EXPECT_EQ(slow.out, "ok");

    // A key that does not match: the reload fails and the certificate in
    // force stays.
    weir::test::write_text(live.key, old_cert.key_pem);
    reload = admin_request(weir.admin_port(), "POST", "/reload");
    EXPECT_NE(reload.status, 200);
    EXPECT_NE(reload.body.find("does not match"), std::string::npos) << reload.body;
    EXPECT_EQ(subject_of(s_client(weir.port(), {})), "subject=CN = new.test");
}

// Up to `n` bytes from `fd`, waiting at most 10 s in all.
std::string read_bytes(int fd, std::size_t n) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) != 1) continue;
        char buf[4096];
        const ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
        if (r <= 0) break;
        out.append(buf, static_cast<std::size_t>(r));
    }
    return out;
}

// The first TLS record a client sends: openssl s_client's ClientHello (with
// SNI and ALPN), caught by a listener that answers nothing.
std::string recorded_client_hello() {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(listener, reinterpret_cast<sockaddr*>(&a), len);
    ::listen(listener, 1);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    std::thread client([port = ntohs(a.sin_port)] {
        run_command({kOpenssl, "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-servername", "a.test",
                     "-alpn", "http/1.1"},
                    "", 10s);
    });
    std::string hello;
    const int conn = ::accept(listener, nullptr, nullptr);
    if (conn >= 0) {
        // Record header (5 bytes: type, version, length), then the record.
        const std::string head = read_bytes(conn, 5);
        if (head.size() == 5) {
            const std::size_t n = (static_cast<unsigned char>(head[3]) << 8) | static_cast<unsigned char>(head[4]);
            hello = head + read_bytes(conn, n);
        }
        ::close(conn);
    }
    ::close(listener);
    client.join();
    return hello;
}

TEST_F(TlsTermination, AHandshakeStartedBeforeAReloadFinishesAfterIt) {
    // Accepted under the old certificates, the connection's ClientHello
    // arrives after a reload replaced them: the handshake still runs against
    // what it was accepted with (the SNI and ALPN callbacks included).
    const std::string hello = recorded_client_hello();
    ASSERT_GT(hello.size(), 5u);
    ASSERT_EQ(hello[0], '\x16');
    const CertFiles a = write_certificate(dir.path, "a", leaf_certificate({"a.test"}));
    WeirProcess weir(config(up.address(), tls_yaml({a})));
    RawClient early(weir.port(), 10s);
    ASSERT_TRUE(early.connected());
    ASSERT_EQ(handshakes(weir.admin_port(), "full"), 0.0);  // accepted by now: the scrape came after it
    const CertFiles b = write_certificate(dir.path, "a2", leaf_certificate({"a.test"}, nullptr, 3));
    std::filesystem::rename(b.cert, a.cert);
    std::filesystem::rename(b.key, a.key);
    ASSERT_EQ(admin_request(weir.admin_port(), "POST", "/reload").status, 200);
    // Let every worker drop the old snapshot.
    ASSERT_TRUE(weir.wait_log("reloaded, config version 2")) << weir.log();
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(early.send(hello));
    EXPECT_EQ(read_bytes(early.fd(), 1), "\x16") << "no ServerHello: " << weir.log();
    EXPECT_EQ(admin_request(weir.admin_port(), "GET", "/healthz").status, 200) << weir.log();
}

TEST_F(TlsTermination, ReloadsUnderLoadFailNoRequest) {
    const CertFiles live{dir.path + "/live.pem", dir.path + "/live.key"};
    auto write_live = [&](long serial) {
        const auto c = leaf_certificate({"live.test"}, nullptr, serial);
        weir::test::write_text(live.cert, c.cert_pem);
        weir::test::write_text(live.key, c.key_pem);
    };
    write_live(1);
    WeirProcess weir(config(up.address(), tls_yaml({live}), /*workers=*/2));
    const std::string url = "https://127.0.0.1:" + std::to_string(weir.port()) + "/";
    std::atomic<bool> done{false};
    std::atomic<int> failures{0}, successes{0};
    std::string last_error;
    std::thread load([&] {
        while (!done) {
            // New connections (each curl) and keep-alive ones (two URLs each).
            RunResult r = run_command({kCurl, "-sSk", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} ",
                                       url, url},
                                      "");
            if (r.exit_code == 0 && r.out == "200 200 ") ++successes;
            else {
                ++failures;
                last_error = r.out + r.err;
            }
        }
    });
    for (long serial = 2; serial <= 6; ++serial) {
        std::this_thread::sleep_for(300ms);
        write_live(serial);
        EXPECT_EQ(admin_request(weir.admin_port(), "POST", "/reload").status, 200);
    }
    std::this_thread::sleep_for(300ms);
    done = true;
    load.join();
    EXPECT_EQ(failures.load(), 0) << last_error;
    EXPECT_GE(successes.load(), 5);
}

TEST_F(TlsTermination, SilentAndPlainTextClientsAreCountedAndDropped) {
    const CertFiles a = write_certificate(dir.path, "a", leaf_certificate({"a.test"}));
    WeirProcess weir(config(up.address(), tls_yaml({a}), 1, "limits: {header_timeout: 1s}\n"));
    RawClient silent(weir.port(), 15s);
    ASSERT_TRUE(silent.connected());
    RawClient plain(weir.port(), 15s);
    ASSERT_TRUE(plain.connected());
    plain.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    EXPECT_TRUE(wait_for([&] { return handshakes(weir.admin_port(), "failed") >= 1; }, 10s, 100ms));
    EXPECT_TRUE(wait_for([&] { return handshakes(weir.admin_port(), "timeout") >= 1; }, 10s, 100ms));
    // OpenSSL may answer the plain request with an alert before closing.
    std::string alert;
    EXPECT_TRUE(plain.wait_closed(10s, &alert) || plain.wait_closed(10s));
    EXPECT_TRUE(silent.wait_closed(10s));
    EXPECT_EQ(up.request_count(), 0u);
}

TEST_F(TlsTermination, ClientCertificatesAreRequiredVerifiedAndNamedUpstream) {
    const auto ca = weir::test::authority("Weir Test Client CA");
    weir::test::write_text(dir.path + "/clients.pem", ca.cert_pem);
    const CertFiles client = write_certificate(dir.path, "client", leaf_certificate({"client.test"}, &ca, 9));
    const CertFiles stranger = write_certificate(dir.path, "stranger", leaf_certificate({"stranger.test"}));
    const CertFiles site = write_certificate(dir.path, "site", leaf_certificate({"site.test"}));
    WeirProcess weir(config(up.address(), tls_yaml({site}, ", client_ca: " + dir.path + "/clients.pem")));
    const std::string url = "https://127.0.0.1:" + std::to_string(weir.port()) + "/who";

    // A certificate the CA signed: served, and the upstream is told who it is
    // (a subject the client claims itself is replaced).
    const UpstreamRequest req =
        curl_ok({"-sSk", "--cert", client.cert, "--key", client.key, "-H", "X-Client-Cert-Subject: CN=admin", url},
                "app GET /who");
    EXPECT_EQ(req.headers.get("X-Client-Cert-Subject"), "CN=client.test") << req.raw_head;
    EXPECT_EQ(req.raw_head.find("CN=admin"), std::string::npos) << req.raw_head;

    // No certificate, or one the CA did not sign: refused in the handshake.
    RunResult r = run_command({kCurl, "-sSk", url}, "");
    EXPECT_NE(r.exit_code, 0) << r.out;
    r = run_command({kCurl, "-sSk", "--cert", stranger.cert, "--key", stranger.key, url}, "");
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_EQ(up.request_count(), 1u);
    EXPECT_TRUE(wait_for([&] { return handshakes(weir.admin_port(), "failed") >= 2; }, 10s, 100ms));
}

TEST_F(TlsTermination, WithoutMtlsAClaimedClientSubjectIsDropped) {
    const CertFiles site = write_certificate(dir.path, "site", leaf_certificate({"site.test"}));
    WeirProcess weir(config(up.address(), tls_yaml({site})));
    const UpstreamRequest req = curl_ok(
        {"-sSk", "-H", "X-Client-Cert-Subject: CN=admin", "https://127.0.0.1:" + std::to_string(weir.port()) + "/"},
        "app GET /");
    EXPECT_EQ(req.raw_head.find("X-Client-Cert-Subject"), std::string::npos) << req.raw_head;
}

TEST_F(TlsTermination, CertificateExpiryIsExported) {
    weir::test::CertificateSpec s;
    s.common_name = "a.test";
    s.dns = {"a.test", "*.a.test"};
    s.valid_until = 10 * 86400;
    const auto cert = weir::test::make_certificate(s);
    const CertFiles a = write_certificate(dir.path, "a", cert);
    const double expected = static_cast<double>(std::time(nullptr) + 10 * 86400);
    WeirProcess weir(config(up.address(), tls_yaml({a})));
    const std::string m = admin_request(weir.admin_port(), "GET", "/metrics").body;
    for (const std::string name : {"a.test", "*.a.test"}) {
        auto v = metric_value(m, "weir_tls_certificate_expiry_seconds", {{"listener", "public"}, {"name", name}});
        ASSERT_TRUE(v.has_value()) << name << "\n" << m;
        EXPECT_NEAR(*v, expected, 120.0);
    }
    EXPECT_TRUE(weir.wait_log("serves a.test, *.a.test; expires")) << weir.log();
}

}  // namespace
}  // namespace weir_it
