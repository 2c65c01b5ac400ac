// Client claims: which headers are claims, what passes for trusted and
// untrusted peers, underscores, Via counting, and the serialised result.
#include "http/claims.hpp"
#include "http/parser.hpp"
#include "http/serialize.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weir::http {
namespace {

TEST(HttpClaims, ClassifiesByExactNameAndLookAlikes) {
    EXPECT_EQ(claim_field("X-Forwarded-For"), ClaimField::x_forwarded_for);
    EXPECT_EQ(claim_field("x-forwarded-proto"), ClaimField::x_forwarded_proto);
    EXPECT_EQ(claim_field("X-FORWARDED-HOST"), ClaimField::x_forwarded_host);
    EXPECT_EQ(claim_field("X-Forwarded-Port"), ClaimField::x_forwarded_port);
    EXPECT_EQ(claim_field("X-Forwarded-Prefix"), ClaimField::other);
    EXPECT_EQ(claim_field("X-Forwarded-Ssl"), ClaimField::other);
    EXPECT_EQ(claim_field("Forwarded"), ClaimField::other);
    EXPECT_EQ(claim_field("X-Real-IP"), ClaimField::other);
    EXPECT_EQ(claim_field("Via"), ClaimField::via);
    EXPECT_EQ(claim_field("X-Client-Cert-Subject"), ClaimField::client_cert);
    EXPECT_EQ(claim_field("x_client_cert_subject"), ClaimField::other);
    // Look-alikes are claims but never the field Weir itself writes.
    EXPECT_EQ(claim_field("X_Forwarded_For"), ClaimField::other);
    EXPECT_EQ(claim_field("x_forwarded-proto"), ClaimField::other);
    EXPECT_EQ(claim_field("X_Real_IP"), ClaimField::other);
    for (const char* plain : {"X-Forwarded", "X-Forwarded-", "Forwarded-For", "X-Real-IPs", "Vias", "Accept",
                              "X_Custom", "Host", ""}) {
        EXPECT_EQ(claim_field(plain), ClaimField::none) << plain;
    }
}

TEST(HttpClaims, PolicyByPeerAndListener) {
    const ClaimPolicy untrusted{};
    const ClaimPolicy trusted{.trusted_peer = true, .keep_underscores = false};
    const ClaimPolicy legacy{.trusted_peer = false, .keep_underscores = true};
    for (const char* claim : {"Forwarded", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Prefix"}) {
        EXPECT_FALSE(untrusted.passes(claim)) << claim;
        EXPECT_TRUE(trusted.passes(claim)) << claim;
    }
    EXPECT_TRUE(untrusted.passes("X-Forwarded-For"));
    EXPECT_TRUE(untrusted.passes("Via"));
    EXPECT_TRUE(untrusted.passes("Accept"));
    EXPECT_FALSE(untrusted.passes("X_Custom"));
    EXPECT_FALSE(trusted.passes("X_Forwarded_Proto"));
    EXPECT_TRUE(legacy.passes("X_Custom"));
    EXPECT_FALSE(legacy.passes("X_Forwarded_Proto"));  // kept underscores do not make a claim true
    EXPECT_TRUE((ClaimPolicy{true, true}).passes("X_Forwarded_Proto"));
}

TEST(HttpClaims, ViaCountsOurReceivedByOnly) {
    std::vector<Header> h{{"Via", "1.1 weir, 1.0 fred, 1.1 WEIR (x, y)"},
                          {"Accept", "weir"},
                          {"via", "HTTP/1.1 weir:8080, 1.1 weirdo, weir"}};
    EXPECT_EQ(via_count(h, "weir"), 2);
    EXPECT_EQ(via_count({}, "weir"), 0);
}

struct Parsed {
    std::string bytes;
    RequestHead head;
};

std::string forwarded(const std::string& raw, ClaimPolicy claims) {
    Parsed p{raw, {}};
    std::size_t len = 0;
    ParseError err;
    EXPECT_EQ(parse_request_head(p.bytes, 65536, p.head, len, err), ParseStatus::complete) << err.reason;
    std::string out;
    serialize_request(out, p.head, ForwardedFor{"203.0.113.7", "http", "d.example", 8080, claims});
    return out;
}

constexpr const char* kClaims =
    "GET / HTTP/1.1\r\nHost: h.example\r\nForwarded: for=192.0.2.60\r\nX-Real-IP: 192.0.2.60\r\n"
    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 443\r\n"
    "X-Forwarded-Prefix: /p\r\nX_Forwarded_For: 192.0.2.61\r\nX-Forwarded-For: 192.0.2.62\r\n"
    "Via: 1.0 fred\r\nX_Custom: 1\r\n\r\n";

TEST(HttpClaims, UntrustedPeerClaimsDroppedAndReplaced) {
    const std::string out = forwarded(kClaims, {});
    EXPECT_EQ(out,
              "GET / HTTP/1.1\r\nHost: h.example\r\n"
              "X-Forwarded-For: 192.0.2.62, 203.0.113.7\r\nVia: 1.0 fred, 1.1 weir\r\n"
              "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h.example\r\nX-Forwarded-Port: 8080\r\n\r\n");
}

TEST(HttpClaims, TrustedPeerClaimsKept) {
    const std::string out = forwarded(kClaims, {.trusted_peer = true, .keep_underscores = true});
    EXPECT_EQ(out,
              "GET / HTTP/1.1\r\nHost: h.example\r\nForwarded: for=192.0.2.60\r\nX-Real-IP: 192.0.2.60\r\n"
              "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 443\r\n"
              "X-Forwarded-Prefix: /p\r\nX_Forwarded_For: 192.0.2.61\r\nX_Custom: 1\r\n"
              "X-Forwarded-For: 192.0.2.62, 203.0.113.7\r\nVia: 1.0 fred, 1.1 weir\r\n\r\n");
}

TEST(HttpClaims, AVerifiedClientSubjectReplacesAnyClaimedOne) {
    const std::string raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Client-Cert-Subject: CN=admin\r\n\r\n";
    Parsed p{raw, {}};
    std::size_t len = 0;
    ParseError err;
    ASSERT_EQ(parse_request_head(p.bytes, 65536, p.head, len, err), ParseStatus::complete) << err.reason;
    for (const bool trusted : {false, true}) {
        std::string out;
        serialize_request(out, p.head,
                          ForwardedFor{"203.0.113.7", "https", "h", 443, {.trusted_peer = trusted}, "CN=client,O=Example"});
        EXPECT_EQ(out.find("CN=admin"), std::string::npos) << out;
        EXPECT_NE(out.find("\r\nX-Client-Cert-Subject: CN=client,O=Example\r\n"), std::string::npos) << out;
    }
    // No verified certificate: an untrusted peer's claim is dropped, a trusted one's kept.
    EXPECT_EQ(forwarded(raw, {}).find("X-Client-Cert-Subject"), std::string::npos);
    EXPECT_NE(forwarded(raw, {.trusted_peer = true}).find("X-Client-Cert-Subject: CN=admin"), std::string::npos);
}

TEST(HttpClaims, ViaNamesTheReceivedProtocol) {
    const std::string out = forwarded("GET / HTTP/1.0\r\n\r\n", {});
    EXPECT_NE(out.find("\r\nVia: 1.0 weir\r\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace weir::http
