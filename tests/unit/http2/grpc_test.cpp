#include "http2/grpc.hpp"

#include <gtest/gtest.h>

namespace weir::http2 {
namespace {

using std::chrono::milliseconds;

TEST(Http2Grpc, RecognisesGrpcContentTypes) {
    EXPECT_TRUE(is_grpc({{"content-type", "application/grpc"}}));
    EXPECT_TRUE(is_grpc({{"te", "trailers"}, {"content-type", "application/grpc+proto"}}));
    EXPECT_TRUE(is_grpc({{"content-type", "Application/GRPC"}}));
    EXPECT_FALSE(is_grpc({{"content-type", "application/grpc-web"}}));
    EXPECT_FALSE(is_grpc({{"content-type", "application/json"}}));
    EXPECT_FALSE(is_grpc({}));
}

TEST(Http2Grpc, TimeoutUnitsRoundUpToMilliseconds) {
    EXPECT_EQ(parse_grpc_timeout("1H"), milliseconds(3'600'000));
    EXPECT_EQ(parse_grpc_timeout("2M"), milliseconds(120'000));
    EXPECT_EQ(parse_grpc_timeout("3S"), milliseconds(3000));
    EXPECT_EQ(parse_grpc_timeout("250m"), milliseconds(250));
    EXPECT_EQ(parse_grpc_timeout("1500u"), milliseconds(2));
    EXPECT_EQ(parse_grpc_timeout("1n"), milliseconds(1));
    EXPECT_EQ(parse_grpc_timeout("0m"), milliseconds(0));
    EXPECT_EQ(parse_grpc_timeout("99999999S"), milliseconds(99'999'999'000));
}

TEST(Http2Grpc, MalformedTimeoutsAreIgnored) {
    EXPECT_FALSE(parse_grpc_timeout(""));
    EXPECT_FALSE(parse_grpc_timeout("S"));
    EXPECT_FALSE(parse_grpc_timeout("10"));
    EXPECT_FALSE(parse_grpc_timeout("10s"));  // units are case-sensitive: s is not a unit
    EXPECT_FALSE(parse_grpc_timeout("-1S"));
    EXPECT_FALSE(parse_grpc_timeout("123456789S"));  // more than 8 digits
    EXPECT_FALSE(grpc_timeout({{"content-type", "application/grpc"}}));
    EXPECT_EQ(grpc_timeout({{"grpc-timeout", "100m"}}), milliseconds(100));
}

TEST(Http2Grpc, StatusFromFields) {
    EXPECT_EQ(grpc_status({{"grpc-status", "0"}}), 0);
    EXPECT_EQ(grpc_status({{"grpc-message", "x"}, {"grpc-status", "14"}}), 14);
    EXPECT_EQ(grpc_status({}), -1);
    EXPECT_EQ(grpc_status({{"grpc-status", "abc"}}), -1);
    EXPECT_EQ(grpc_status({{"grpc-status", ""}}), -1);
}

TEST(Http2Grpc, HttpStatusesMapToGrpcCodes) {
    EXPECT_EQ(grpc_status_for_http(400), 13);
    EXPECT_EQ(grpc_status_for_http(401), 16);
    EXPECT_EQ(grpc_status_for_http(403), 7);
    EXPECT_EQ(grpc_status_for_http(404), 12);
    EXPECT_EQ(grpc_status_for_http(429), 14);
    EXPECT_EQ(grpc_status_for_http(502), 14);
    EXPECT_EQ(grpc_status_for_http(503), 14);
    EXPECT_EQ(grpc_status_for_http(504), 14);
    EXPECT_EQ(grpc_status_for_http(413), 2);
    EXPECT_EQ(grpc_status_for_http(500), 2);
}

}  // namespace
}  // namespace weir::http2
