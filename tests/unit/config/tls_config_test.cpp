// listeners[].tls at load: both forms, the certificate checks that refuse a
// file before anything serves with it (missing, mismatched key, expired, not
// yet valid, no name), each reported at the key that named it; the SNI choice
// between certificates; and the section's round trip through GET /config.
// pools[].upstream.tls likewise: `true`, the mapping, its errors, and the
// client context's SNI and resumption choices.
#include "config/to_json.hpp"
#include "tests/support/certificates.hpp"
#include "tests/unit/config/test_support.hpp"
#include "tls/certificate.hpp"
#include "tls/client_context.hpp"
#include "tls/server_context.hpp"

#include <openssl/ssl.h>

#include <boost/json.hpp>

#include <filesystem>

namespace weir::config {
namespace {

using namespace config_test;

class TlsFiles : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("weir-tls-config-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // Writes `<name>.pem` and `<name>.key`; returns the directory's path prefix for them.
    std::string write(const std::string& name, const test::TestCertificate& c) {
        test::write_text(path(name + ".pem"), c.cert_pem);
        test::write_text(path(name + ".key"), c.key_pem);
        return path(name);
    }
    std::string path(const std::string& file) const { return (dir_ / file).string(); }

    LoadResult load_listener_tls(const std::string& tls_yaml) {
        return load_config_text("listeners:\n"
                                "  - name: public\n"
                                "    address: 127.0.0.1:0\n"
                                "    tls: " + tls_yaml + "\n"
                                "pools: [{name: p, endpoints: [{address: 127.0.0.1:9001}]}]\n"
                                "routes: [{name: r, split: {p: 1}}]\n",
                                path("weir.yaml"));
    }

    LoadResult load_upstream_tls(const std::string& tls_yaml) {
        return load_config_text("listeners: [{name: public, address: 127.0.0.1:0}]\n"
                                "pools:\n"
                                "  - name: p\n"
                                "    endpoints: [{address: 127.0.0.1:9001}]\n"
                                "    upstream:\n"
                                "      tls: " + tls_yaml + "\n"
                                "routes: [{name: r, split: {p: 1}}]\n",
                                path("weir.yaml"));
    }

    std::filesystem::path dir_;
};

// Column (1-based) of `needle` in the config line "      tls: <tls_yaml>".
int upstream_col(const std::string& tls_yaml, const std::string& needle) {
    return 12 + static_cast<int>(tls_yaml.find(needle));
}

// Column (1-based) of `needle` in the config line "    tls: <tls_yaml>".
int col(const std::string& tls_yaml, const std::string& needle) {
    return 10 + static_cast<int>(tls_yaml.find(needle));
}

test::TestCertificate cert_for(std::vector<std::string> names, bool rsa = false) {
    test::CertificateSpec s;
    s.common_name = names.front();
    s.dns = std::move(names);
    s.rsa = rsa;
    return test::make_certificate(s);
}

TEST_F(TlsFiles, ShortFormLoadsTheCertificateAndItsNames) {
    const std::string a = write("a", cert_for({"a.test", "*.a.test"}));
    const auto r = load_listener_tls("{cert: " + a + ".pem, key: " + a + ".key}");
    const Config& c = ok(r);
    ASSERT_TRUE(c.listeners[0].tls.has_value());
    const ListenerTlsConfig& tls = *c.listeners[0].tls;
    EXPECT_EQ(tls.min_version, "1.2");
    ASSERT_EQ(tls.loaded.size(), 1u);
    EXPECT_EQ(tls.loaded[0]->names, (std::vector<std::string>{"a.test", "*.a.test"}));
    EXPECT_EQ(tls.loaded[0]->key_type, "ECDSA P-256");
    EXPECT_GT(tls.loaded[0]->not_after, 0);
}

TEST_F(TlsFiles, RelativePathsAreResolvedAgainstTheConfigFile) {
    write("a", cert_for({"a.test"}));
    const auto r = load_listener_tls("{cert: a.pem, key: a.key}");
    const Config& c = ok(r);
    EXPECT_EQ(c.listeners[0].tls->certificates[0].cert, path("a.pem"));
}

TEST_F(TlsFiles, ListFormKeepsTheOrderAndMinVersion) {
    const std::string a = write("a", cert_for({"a.test"}));
    const std::string b = write("b", cert_for({"b.test"}, /*rsa=*/true));
    const auto r = load_listener_tls("{certificates: [{cert: " + a + ".pem, key: " + a + ".key}, {cert: " + b +
                                     ".pem, key: " + b + ".key}], min_version: \"1.3\"}");
    const Config& c = ok(r);
    const ListenerTlsConfig& tls = *c.listeners[0].tls;
    ASSERT_EQ(tls.loaded.size(), 2u);
    EXPECT_EQ(tls.loaded[1]->key_type, "RSA 2048");
    EXPECT_EQ(tls.min_version, "1.3");
}

TEST_F(TlsFiles, AMissingFileIsAnErrorAtItsKey) {
    const std::string y = "{cert: " + path("none.pem") + ", key: " + path("none.key") + "}";
    const auto r = load_listener_tls(y);
    EXPECT_FALSE(r.config);
    EXPECT_TRUE(has_error(r, 4, col(y, "/"), "cannot read " + path("none.pem"))) << dump(r.errors);
}

TEST_F(TlsFiles, AKeyOfAnotherCertificateIsRefused) {
    const std::string a = write("a", cert_for({"a.test"}));
    const std::string b = write("b", cert_for({"b.test"}));
    const std::string y = "{cert: " + a + ".pem, key: " + b + ".key}";
    const auto r = load_listener_tls(y);
    EXPECT_FALSE(r.config);
    EXPECT_TRUE(has_error(r, 4, col(y, "/"), "does not match the certificate")) << dump(r.errors);
}

TEST_F(TlsFiles, ExpiredAndNotYetValidCertificatesAreRefused) {
    test::CertificateSpec old;
    old.dns = {"old.test"};
    old.valid_from = -10 * 86400;
    old.valid_until = -86400;
    const std::string o = write("old", test::make_certificate(old));
    std::string y = "{cert: " + o + ".pem, key: " + o + ".key}";
    auto r = load_listener_tls(y);
    EXPECT_TRUE(has_error(r, 4, col(y, "/"), "expired")) << dump(r.errors);

    test::CertificateSpec early;
    early.dns = {"early.test"};
    early.valid_from = 86400;
    const std::string e = write("early", test::make_certificate(early));
    y = "{cert: " + e + ".pem, key: " + e + ".key}";
    r = load_listener_tls(y);
    EXPECT_TRUE(has_error(r, 4, col(y, "/"), "not valid yet")) << dump(r.errors);
}

TEST_F(TlsFiles, AFileWithoutACertificateIsRefused) {
    const std::string a = write("a", cert_for({"a.test"}));
    test::write_text(path("empty.pem"), "not a certificate\n");
    const std::string y = "{cert: " + path("empty.pem") + ", key: " + a + ".key}";
    const auto r = load_listener_tls(y);
    EXPECT_TRUE(has_error(r, 4, col(y, "/"), "no PEM certificate")) << dump(r.errors);
}

TEST_F(TlsFiles, ShapeErrors) {
    const std::string a = write("a", cert_for({"a.test"}));
    std::string y = "{cert: " + a + ".pem, key: " + a + ".key, certificates: [{cert: " + a + ".pem, key: " + a + ".key}]}";
    auto r = load_listener_tls(y);
    EXPECT_TRUE(has_error(r, 4, col(y, "[{"), "either cert and key, or certificates")) << dump(r.errors);
    y = "{cert: " + a + ".pem}";
    r = load_listener_tls(y);
    EXPECT_TRUE(has_error(r, 4, 10, "cert given without key")) << dump(r.errors);
    y = "{min_version: \"1.2\"}";
    r = load_listener_tls(y);
    EXPECT_TRUE(has_error(r, 4, 10, "needs a certificate")) << dump(r.errors);
    y = "{cert: " + a + ".pem, key: " + a + ".key, min_version: \"1.1\"}";
    r = load_listener_tls(y);
    EXPECT_TRUE(has_error(r, 4, col(y, "\"1.1"), "not a TLS version Weir speaks")) << dump(r.errors);
    y = "{cert: " + a + ".pem, key: " + a + ".key, ciphers: ALL}";
    r = load_listener_tls(y);
    EXPECT_TRUE(has_error(r, 4, col(y, "ciphers"), "ciphers")) << dump(r.errors);
}

TEST_F(TlsFiles, GetConfigShowsTheSectionAndItLoadsAgain) {
    const std::string a = write("a", cert_for({"a.test"}));
    const auto r = load_listener_tls("{cert: " + a + ".pem, key: " + a + ".key, min_version: \"1.3\"}");
    const Config& c = ok(r);
    auto shown = boost::json::parse(to_json(c, 1)).as_object();
    const auto& tls = shown.at("listeners").at(0).at("tls");
    EXPECT_EQ(tls.at("min_version"), "1.3");
    EXPECT_EQ(tls.at("certificates").at(0).at("cert").as_string(), a + ".pem");
    shown.erase("version");
    shown.erase("source");
    const LoadResult reloaded = load_config_text(boost::json::serialize(shown), path("again.yaml"));
    const Config& again = ok(reloaded);
    ASSERT_TRUE(again.listeners[0].tls.has_value());
    EXPECT_EQ(again.listeners[0].tls->min_version, "1.3");
    EXPECT_EQ(again.listeners[0].tls->loaded.size(), 1u);
}

TEST_F(TlsFiles, SniChoosesExactNamesBeforeWildcardsAndFallsBackToTheFirst) {
    const auto a = test::make_certificate({.common_name = "a.test", .dns = {"a.test"}});
    const auto wild = test::make_certificate({.common_name = "wild", .dns = {"*.b.test"}});
    const auto exact = test::make_certificate({.common_name = "x.b.test", .dns = {"x.b.test"}});
    tls::ServerSettings settings;
    for (const auto& [name, c] : {std::pair{"a", &a}, {"w", &wild}, {"x", &exact}}) {
        const std::string p = write(name, *c);
        auto loaded = tls::load_certificate(p + ".pem", p + ".key", std::time(nullptr));
        ASSERT_TRUE(loaded.certificate) << loaded.error;
        settings.certificates.push_back(loaded.certificate);
    }
    std::string error;
    auto ctx = tls::ServerContext::create(settings, error);
    ASSERT_TRUE(ctx) << error;
    EXPECT_EQ(ctx->choose("a.test"), 0u);
    EXPECT_EQ(ctx->choose("x.b.test"), 2u);  // exact beats the wildcard listed before it
    EXPECT_EQ(ctx->choose("y.b.test"), 1u);
    EXPECT_EQ(ctx->choose("b.test"), 0u);    // a wildcard stands for one label, not none
    EXPECT_EQ(ctx->choose("z.y.b.test"), 0u);  // nor two
    EXPECT_EQ(ctx->choose("unknown.test"), 0u);
}

TEST(TlsNames, WildcardsCoverExactlyOneLabel) {
    EXPECT_TRUE(tls::name_matches("a.test", "a.test"));
    EXPECT_FALSE(tls::name_matches("a.test", "b.test"));
    EXPECT_TRUE(tls::name_matches("*.a.test", "x.a.test"));
    EXPECT_FALSE(tls::name_matches("*.a.test", "a.test"));
    EXPECT_FALSE(tls::name_matches("*.a.test", "y.x.a.test"));
    EXPECT_FALSE(tls::name_matches("*.a.test", ".a.test"));
}

TEST_F(TlsFiles, UpstreamTlsTrueVerifiesAgainstTheSystemCas) {
    const auto r = load_upstream_tls("true");
    const Config& c = ok(r);
    ASSERT_TRUE(c.pools[0].upstream.tls.has_value());
    const UpstreamTlsConfig& tls = *c.pools[0].upstream.tls;
    EXPECT_TRUE(tls.verify);
    EXPECT_TRUE(tls.ca_file.empty());
    EXPECT_TRUE(tls.server_name.empty());
    EXPECT_FALSE(tls.client_loaded);
}

TEST_F(TlsFiles, UpstreamTlsMappingReadsEveryKey) {
    const auto ca = test::authority("Test CA");
    test::write_text(path("ca.pem"), ca.cert_pem);
    write("client", cert_for({"weir.test"}));
    const auto r =
        load_upstream_tls("{ca_file: ca.pem, server_name: API.Internal, verify: true, cert: client.pem, key: client.key}");
    const Config& c = ok(r);
    const UpstreamTlsConfig& tls = *c.pools[0].upstream.tls;
    EXPECT_EQ(tls.ca_file, path("ca.pem"));
    EXPECT_EQ(tls.server_name, "api.internal");
    EXPECT_TRUE(tls.verify);
    EXPECT_EQ(tls.client.cert, path("client.pem"));
    ASSERT_TRUE(tls.client_loaded);
    EXPECT_EQ(tls.client_loaded->names, std::vector<std::string>{"weir.test"});
}

TEST_F(TlsFiles, UpstreamTlsErrorsAreReportedAtTheirKeys) {
    write("client", cert_for({"weir.test"}));
    test::write_text(path("ca.pem"), cert_for({"ca.test"}).cert_pem);
    struct Case {
        std::string yaml;
        std::string at;  // the text the error points at
        std::string message;
    };
    const Case cases[] = {
        {"{ca_file: missing.pem}", "missing", "cannot read " + path("missing.pem")},
        {"{verify: false, ca_file: ca.pem}", "ca.pem", "has no effect with verify: false"},
        {"{cert: client.pem}", "client.pem", "cert given without key"},
        {"{server_name: \"api.internal:443\"}", "\"api", "is not a host name or an IP address"},
        {"{verify: no}", "no", "expected true or false"},
        {"{ciphers: ALL}", "ciphers", "unknown key 'ciphers'"},
    };
    for (const Case& c : cases) {
        const auto r = load_upstream_tls(c.yaml);
        EXPECT_FALSE(r.config) << c.yaml;
        EXPECT_TRUE(has_error(r, 6, upstream_col(c.yaml, c.at), c.message)) << c.yaml << "\n" << dump(r.errors);
    }

    test::CertificateSpec old;
    old.dns = {"old.test"};
    old.valid_from = -10 * 86400;
    old.valid_until = -86400;
    write("old", test::make_certificate(old));
    const std::string y = "{cert: old.pem, key: old.key}";
    const auto r = load_upstream_tls(y);
    EXPECT_TRUE(has_error(r, 6, upstream_col(y, "old.pem"), "expired")) << dump(r.errors);
    EXPECT_FALSE(r.config);
}

TEST_F(TlsFiles, GetConfigShowsUpstreamTlsAndItLoadsAgain) {
    const auto r = load_upstream_tls("{server_name: api.internal, verify: false}");
    const Config& c = ok(r);
    auto shown = boost::json::parse(to_json(c, 1)).as_object();
    const auto& tls = shown.at("pools").at(0).at("upstream").at("tls");
    EXPECT_EQ(tls.at("server_name"), "api.internal");
    EXPECT_EQ(tls.at("verify"), false);
    shown.erase("version");
    shown.erase("source");
    const LoadResult reloaded = load_config_text(boost::json::serialize(shown), path("again.yaml"));
    const Config& again = ok(reloaded);
    ASSERT_TRUE(again.pools[0].upstream.tls.has_value());
    EXPECT_FALSE(again.pools[0].upstream.tls->verify);
    EXPECT_EQ(again.pools[0].upstream.tls->server_name, "api.internal");

    const auto off = load_upstream_tls("false");
    EXPECT_EQ(boost::json::parse(to_json(ok(off), 1)).at("pools").at(0).at("upstream").at("tls"), false);
}

// The name an upstream connection announces: the pool's server_name, else
// the endpoint's host, and never an IP address (RFC 6066 §3).
TEST(UpstreamTlsContext, SniIsTheServerNameOrTheEndpointHostButNeverAnAddress) {
    std::string error;
    auto by_host = tls::ClientContext::create(tls::ClientSettings{}, error);
    ASSERT_TRUE(by_host) << error;
    auto sni = [](const std::shared_ptr<const tls::ClientContext>& ctx, const char* host) {
        SSL* ssl = ctx->new_connection(host, std::string(host) + ":443");
        const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        std::string out = name ? name : "";
        SSL_free(ssl);
        return out;
    };
    EXPECT_EQ(sni(by_host, "backend.test"), "backend.test");
    EXPECT_EQ(sni(by_host, "127.0.0.1"), "");
    EXPECT_EQ(sni(by_host, "::1"), "");
    tls::ClientSettings named;
    named.server_name = "api.internal";
    auto fixed = tls::ClientContext::create(named, error);
    ASSERT_TRUE(fixed) << error;
    EXPECT_EQ(sni(fixed, "127.0.0.1"), "api.internal");
    EXPECT_EQ(sni(fixed, "backend.test"), "api.internal");
}

}  // namespace
}  // namespace weir::config
