// Address ranges (trusted_proxies) and the client a trusted proxy forwarded for.
#include "routing/cidr.hpp"
#include "routing/forwarded_client.hpp"

#include <gtest/gtest.h>

namespace weir::routing {
namespace {

CidrSet set_of(std::initializer_list<const char*> ranges) {
    CidrSet s;
    for (const char* r : ranges) {
        CidrParse p = parse_cidr(r);
        EXPECT_TRUE(p.error.empty()) << r << ": " << p.error;
        s.add(p.value);
    }
    return s;
}

TEST(Cidr, ParsesAddressesAndRanges) {
    EXPECT_TRUE(parse_cidr("10.0.0.0/8").error.empty());
    EXPECT_TRUE(parse_cidr("192.0.2.7").error.empty());
    EXPECT_TRUE(parse_cidr("0.0.0.0/0").error.empty());
    EXPECT_TRUE(parse_cidr("2001:db8::/32").error.empty());
    EXPECT_TRUE(parse_cidr("::/0").error.empty());
    EXPECT_EQ(parse_cidr("192.0.2.7").value.bits, 128u);
    EXPECT_EQ(parse_cidr("10.0.0.0/8").value.bits, 104u);
}

TEST(Cidr, RefusesMalformedRanges) {
    for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0/8", "fd00::/129",
                            "[::1]", "::1/64/1", "host.example", "10.0.0.1/8", "fd00::1/8", "1.2.3.4 "}) {
        EXPECT_FALSE(parse_cidr(bad).error.empty()) << "'" << bad << "' was accepted";
    }
    EXPECT_NE(parse_cidr("fd00::1/8").error.find("did you mean fd00::/8?"), std::string::npos)
        << parse_cidr("fd00::1/8").error;
}

TEST(Cidr, MatchesAtThePrefixBoundary) {
    const CidrSet s = set_of({"10.0.0.0/8", "192.168.4.0/23", "2001:db8::/33", "198.51.100.7"});
    EXPECT_TRUE(s.contains("10.0.0.0"));
    EXPECT_TRUE(s.contains("10.255.255.255"));
    EXPECT_FALSE(s.contains("11.0.0.0"));
    EXPECT_FALSE(s.contains("9.255.255.255"));
    EXPECT_TRUE(s.contains("192.168.4.1"));
    EXPECT_TRUE(s.contains("192.168.5.255"));
    EXPECT_FALSE(s.contains("192.168.6.0"));
    EXPECT_TRUE(s.contains("2001:db8:7fff::1"));
    EXPECT_FALSE(s.contains("2001:db8:8000::1"));
    EXPECT_TRUE(s.contains("198.51.100.7"));
    EXPECT_FALSE(s.contains("198.51.100.8"));
    EXPECT_FALSE(s.contains("not-an-address"));
    // A v4 peer as a dual-stack listener reports it.
    EXPECT_TRUE(s.contains("::ffff:10.1.2.3"));
    EXPECT_FALSE(CidrSet().contains("10.0.0.1"));
    EXPECT_TRUE(set_of({"0.0.0.0/0"}).contains("203.0.113.9"));
    EXPECT_FALSE(set_of({"0.0.0.0/0"}).contains("2001:db8::1"));
    EXPECT_TRUE(set_of({"::/0"}).contains("2001:db8::1"));
}

std::vector<http::Header> xff(std::initializer_list<std::string_view> values) {
    std::vector<http::Header> h{{"Accept", "*/*"}};
    for (auto v : values) h.push_back({"X-Forwarded-For", v});
    return h;
}

TEST(ForwardedClient, RightMostEntryThatIsNotATrustedProxy) {
    const CidrSet trusted = set_of({"10.0.0.0/8"});
    EXPECT_EQ(forwarded_client(xff({"203.0.113.5, 198.51.100.4, 10.0.0.2"}), trusted, "10.0.0.1"), "198.51.100.4");
    EXPECT_EQ(forwarded_client(xff({"203.0.113.5", "198.51.100.4,10.0.0.2", "10.1.1.1"}), trusted, "10.0.0.1"),
              "198.51.100.4");
    // Every entry trusted: the left-most is as far as the chain goes.
    EXPECT_EQ(forwarded_client(xff({"10.0.0.9, 10.0.0.2"}), trusted, "10.0.0.1"), "10.0.0.9");
    // Ports and brackets are not part of the client.
    EXPECT_EQ(forwarded_client(xff({"198.51.100.4:4711"}), trusted, "10.0.0.1"), "198.51.100.4");
    EXPECT_EQ(forwarded_client(xff({"[2001:db8::5]:443, 10.0.0.2"}), trusted, "10.0.0.1"), "2001:db8::5");
    EXPECT_EQ(forwarded_client(xff({"2001:db8::5"}), trusted, "10.0.0.1"), "2001:db8::5");
}

TEST(ForwardedClient, PeerWhenAbsentOrUnparsable) {
    const CidrSet trusted = set_of({"10.0.0.0/8"});
    EXPECT_EQ(forwarded_client(xff({}), trusted, "10.0.0.1"), "10.0.0.1");
    EXPECT_EQ(forwarded_client(xff({""}), trusted, "10.0.0.1"), "10.0.0.1");
    EXPECT_EQ(forwarded_client(xff({"unknown, 10.0.0.2"}), trusted, "10.0.0.1"), "10.0.0.1");
    EXPECT_EQ(forwarded_client(xff({"198.51.100.4, , 10.0.0.2"}), trusted, "10.0.0.1"), "10.0.0.1");
    // Junk left of the first untrusted entry does not matter: it is never read.
    EXPECT_EQ(forwarded_client(xff({"junk, 198.51.100.4"}), trusted, "10.0.0.1"), "198.51.100.4");
}

}  // namespace
}  // namespace weir::routing
