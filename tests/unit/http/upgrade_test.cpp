// Protocol upgrades: what a request asks for, what Weir offers upstream for
// a route's list, and which 101 answers it stands behind.
#include "http/parser.hpp"
#include "http/serialize.hpp"
#include "http/upgrade.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weir::http {
namespace {

const std::vector<std::string> kWebsocket{"websocket"};

struct Request {
    std::string raw;
    RequestHead head;
    ParseStatus status = ParseStatus::incomplete;
    ParseError err;
};

Request parse_request(std::string raw) {
    Request r{std::move(raw), {}, {}, {}};
    std::size_t len = 0;
    r.status = parse_request_head(r.raw, 65536, r.head, len, r.err);
    return r;
}

struct Response {
    std::string raw;
    ResponseHead head;
};

Response parse_101(std::string fields) {
    Response r{"HTTP/1.1 101 Switching Protocols\r\n" + std::move(fields) + "\r\n", {}};
    std::size_t len = 0;
    ParseError err;
    EXPECT_EQ(parse_response_head(r.raw, 65536, Method::get, r.head, len, err), ParseStatus::complete) << err.reason;
    EXPECT_EQ(len, r.raw.size());
    return r;
}

TEST(HttpUpgradeRequest, AsksOnlyWithConnectionUpgradeOnHttp11) {
    auto asks = parse_request("GET /c HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
    ASSERT_EQ(asks.status, ParseStatus::complete);
    EXPECT_EQ(asks.head.upgrade, "websocket");

    // Upgrade without the connection option is not a request to switch (RFC 9110 §7.8).
    auto no_option = parse_request("GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
    ASSERT_EQ(no_option.status, ParseStatus::complete);
    EXPECT_TRUE(no_option.head.upgrade.empty());

    // HTTP/1.0: ignored, as the RFC requires of a server.
    auto old = parse_request("GET /c HTTP/1.0\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    ASSERT_EQ(old.status, ParseStatus::complete);
    EXPECT_TRUE(old.head.upgrade.empty());
}

TEST(HttpUpgradeRequest, TwoUpgradeFieldsOrAnEmptyOneAreRefused) {
    auto twice = parse_request(
        "GET /c HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n");
    EXPECT_EQ(twice.status, ParseStatus::error);
    EXPECT_EQ(twice.err.status, 400);
    auto empty = parse_request("GET /c HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: \r\n\r\n");
    EXPECT_EQ(empty.status, ParseStatus::error);
    EXPECT_EQ(empty.err.status, 400);
}

TEST(HttpUpgradeOffer, OnlyAllowedWellFormedProtocolsAreOffered) {
    EXPECT_EQ(upgrade_offer("websocket", kWebsocket), "websocket");
    EXPECT_EQ(upgrade_offer("WebSocket", kWebsocket), "WebSocket");  // names compare without case
    EXPECT_EQ(upgrade_offer("h2c, websocket/13", kWebsocket), "websocket/13");
    EXPECT_EQ(upgrade_offer("h2c", kWebsocket), "");
    EXPECT_EQ(upgrade_offer("websocket", {}), "");
    EXPECT_EQ(upgrade_offer("web socket, websocket/", kWebsocket), "");  // malformed entries are never offered
    EXPECT_EQ(upgrade_offer("websocket, h2c", {"websocket", "h2c"}), "websocket, h2c");
    EXPECT_EQ(upgrade_offer(" , websocket ,, ", kWebsocket), "websocket");
}

TEST(HttpUpgradeOffer, ProtocolSyntax) {
    EXPECT_TRUE(valid_upgrade_protocol("websocket"));
    EXPECT_TRUE(valid_upgrade_protocol("HTTP/2.0"));
    EXPECT_FALSE(valid_upgrade_protocol(""));
    EXPECT_FALSE(valid_upgrade_protocol("a/"));
    EXPECT_FALSE(valid_upgrade_protocol("/1"));
    EXPECT_FALSE(valid_upgrade_protocol("a b"));
    EXPECT_FALSE(valid_upgrade_protocol("a/1/2"));
}

TEST(HttpUpgradeSwitch, A101NamingAnOfferedProtocolIsASwitch) {
    EXPECT_EQ(check_switch(parse_101("Upgrade: websocket\r\nConnection: Upgrade\r\n").head, "websocket"), "");
    EXPECT_EQ(check_switch(parse_101("Upgrade: WEBSOCKET\r\n").head, "websocket/13"), "");
}

TEST(HttpUpgradeSwitch, A101WeCannotStandBehindIsRefused) {
    EXPECT_NE(check_switch(parse_101("Connection: upgrade\r\n").head, "websocket"), "");
    EXPECT_NE(check_switch(parse_101("Upgrade: h2c\r\n").head, "websocket"), "");
    EXPECT_NE(check_switch(parse_101("Upgrade: websocket, h2c\r\n").head, "websocket"), "");
    EXPECT_NE(check_switch(parse_101("Upgrade: websocket\r\nUpgrade: websocket\r\n").head, "websocket"), "");
    EXPECT_NE(check_switch(parse_101("Upgrade: websocket\r\nContent-Length: 5\r\n").head, "websocket"), "");
    EXPECT_NE(check_switch(parse_101("Upgrade: websocket\r\nContent-Length: 0\r\n").head, "websocket"), "");
    EXPECT_NE(check_switch(parse_101("Upgrade: websocket\r\nTransfer-Encoding: chunked\r\n").head, "websocket"), "");
    EXPECT_NE(check_switch(parse_101("Upgrade: ,\r\n").head, "websocket"), "");
}

TEST(HttpUpgradeSerialize, OnlyTheOfferGoesUpstreamWithTheConnectionOption) {
    auto r = parse_request(
        "GET /c HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, X-Secret\r\nX-Secret: 1\r\nUpgrade: h2c, websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    ASSERT_EQ(r.status, ParseStatus::complete);
    const std::string offer = upgrade_offer(r.head.upgrade, kWebsocket);
    ForwardedFor fwd{"203.0.113.7", "http", "h"};
    fwd.upgrade = offer;
    std::string out;
    serialize_request(out, r.head, fwd);
    EXPECT_NE(out.find("\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("h2c"), std::string::npos) << out;
    EXPECT_EQ(out.find("X-Secret"), std::string::npos) << out;
    EXPECT_NE(out.find("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), std::string::npos) << out;

    // Parsed again, the request sent upstream asks for exactly the offer.
    auto again = parse_request(out);
    ASSERT_EQ(again.status, ParseStatus::complete) << again.err.reason;
    EXPECT_EQ(again.head.upgrade, "websocket");

    // Without an offer, neither Upgrade nor the option goes on.
    std::string plain;
    serialize_request(plain, r.head, ForwardedFor{"203.0.113.7", "http", "h"});
    EXPECT_EQ(plain.find("pgrade"), std::string::npos) << plain;
}

TEST(HttpUpgradeSerialize, The101KeepsItsUpgradeAndSaysUpgradeNotKeepAlive) {
    auto r = parse_101("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n");
    std::string out;
    serialize_response(out, r.head, ClientFraming::as_upstream, true, 1);
    EXPECT_EQ(out,
              "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
}

}  // namespace
}  // namespace weir::http
