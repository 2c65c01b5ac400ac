// The gRPC health protocol's messages and framing, by hand: the request's
// bytes exactly as protoc's encoder writes them, responses decoded with
// unknown fields skipped, and malformed input refused rather than misread.
#include "health/grpc_health_message.hpp"

#include <gtest/gtest.h>

#include <string>

namespace weir::health {
namespace {

using namespace std::string_literals;

TEST(GrpcHealthMessage, RequestForTheWholeServerIsEmpty) { EXPECT_EQ(encode_health_request(""), ""); }

TEST(GrpcHealthMessage, RequestCarriesTheServiceAsField1) {
    EXPECT_EQ(encode_health_request("svc"), "\x0a\x03svc"s);
    // A name of 200 bytes needs a two-byte length varint (200 = 0xc8 0x01).
    const std::string long_name(200, 'a');
    EXPECT_EQ(encode_health_request(long_name), "\x0a\xc8\x01"s + long_name);
}

TEST(GrpcHealthMessage, ResponseStatusIsField1) {
    EXPECT_EQ(decode_health_response("\x08\x01"s), 1u);
    EXPECT_EQ(decode_health_response("\x08\x02"s), 2u);
    EXPECT_EQ(decode_health_response("\x08\x03"s), 3u);
    // Absent: proto3's default, UNKNOWN.
    EXPECT_EQ(decode_health_response(""), 0u);
}

TEST(GrpcHealthMessage, UnknownFieldsOfEveryWireTypeAreSkipped) {
    // field 2 varint 300, field 3 fixed64, field 4 bytes "xy", field 5 fixed32, then status SERVING.
    const std::string m = "\x10\xac\x02"s + "\x19" + std::string(8, '\x7f') + "\x22\x02xy" + "\x2d" +
                          std::string(4, '\x01') + "\x08\x01";
    EXPECT_EQ(decode_health_response(m), 1u);
    // The last occurrence of a field wins, as protobuf parsers do.
    EXPECT_EQ(decode_health_response("\x08\x02\x08\x01"s), 1u);
    // A status this side does not know is read, not refused.
    EXPECT_EQ(decode_health_response("\x08\x07"s), 7u);
}

TEST(GrpcHealthMessage, MalformedResponsesAreRefused) {
    EXPECT_EQ(decode_health_response("\x08"s), std::nullopt);            // value missing
    EXPECT_EQ(decode_health_response("\x08\x80"s), std::nullopt);        // truncated varint
    EXPECT_EQ(decode_health_response("\x22\x05xy"s), std::nullopt);      // bytes past the end
    EXPECT_EQ(decode_health_response("\x19\x01\x02"s), std::nullopt);    // short fixed64
    EXPECT_EQ(decode_health_response("\x0b\x08\x01\x0c"s), std::nullopt);  // a group
    EXPECT_EQ(decode_health_response("\x00\x01"s), std::nullopt);        // field number 0
    EXPECT_EQ(decode_health_response(std::string(11, '\xff')), std::nullopt);  // endless varint tag
}

TEST(GrpcHealthMessage, StatusNames) {
    EXPECT_EQ(serving_status_name(0), "UNKNOWN");
    EXPECT_EQ(serving_status_name(1), "SERVING");
    EXPECT_EQ(serving_status_name(2), "NOT_SERVING");
    EXPECT_EQ(serving_status_name(3), "SERVICE_UNKNOWN");
    EXPECT_EQ(serving_status_name(9), "status 9");
}

TEST(GrpcFraming, FrameIsFlagLengthMessage) {
    EXPECT_EQ(grpc_frame(""), std::string(5, '\0'));
    EXPECT_EQ(grpc_frame("\x0a\x03svc"s), "\x00\x00\x00\x00\x05\x0a\x03svc"s);
    const std::string big(0x010203, 'm');
    EXPECT_EQ(grpc_frame(big).substr(0, 5), "\x00\x00\x01\x02\x03"s);
}

TEST(GrpcFraming, UnframeTakesExactlyOneUncompressedMessage) {
    std::string error;
    // The message is a view into the body, which must outlive it.
    const std::string one = "\x00\x00\x00\x00\x02\x08\x01"s;
    auto m = grpc_unframe(one, error);
    ASSERT_TRUE(m) << error;
    EXPECT_EQ(*m, "\x08\x01"s);
    const std::string empty(5, '\0');
    m = grpc_unframe(empty, error);
    ASSERT_TRUE(m) << error;
    EXPECT_EQ(*m, "");

    EXPECT_FALSE(grpc_unframe("", error));
    EXPECT_EQ(error, "no message");
    EXPECT_FALSE(grpc_unframe("\x00\x00\x00"s, error));
    EXPECT_EQ(error, "truncated message");
    EXPECT_FALSE(grpc_unframe("\x00\x00\x00\x00\x03\x08\x01"s, error));
    EXPECT_EQ(error, "truncated message");
    EXPECT_FALSE(grpc_unframe("\x00\x00\x00\x00\x01\x08\x01"s, error));
    EXPECT_EQ(error, "more than one message");
    EXPECT_FALSE(grpc_unframe("\x01\x00\x00\x00\x02\x08\x01"s, error));
    EXPECT_EQ(error, "compressed message");
}

TEST(GrpcFraming, RoundTripOfARequest) {
    std::string error;
    const std::string framed = grpc_frame(encode_health_request("grpc.health.v1.Health"));
    auto m = grpc_unframe(framed, error);
    ASSERT_TRUE(m) << error;
    EXPECT_EQ(*m, encode_health_request("grpc.health.v1.Health"));
}

}  // namespace
}  // namespace weir::health
