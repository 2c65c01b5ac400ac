// Access log formatting: every line must stay valid JSON whatever bytes a
// validated head may still carry.
#include "proxy/access_log.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace weir::proxy {
namespace {

std::string as_json(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

TEST(AccessLogFormat, EscapesQuotesBackslashesControlsAndHighBytes) {
    EXPECT_EQ(as_json("plain /path?q=1"), "\"plain /path?q=1\"");
    EXPECT_EQ(as_json("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(as_json(std::string("\t\x01", 2)), "\"\\u0009\\u0001\"");
    EXPECT_EQ(as_json("\xff\x80"), "\"\\u00ff\\u0080\"");
    EXPECT_EQ(as_json("\x7f"), "\"\\u007f\"");
}

TEST(AccessLogFormat, EveryByteValueGivesParseableJson) {
    std::string all;
    for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
    boost::system::error_code ec;
    auto v = boost::json::parse(as_json(all), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(v.as_string().size(), 128u + 128u * 2u) << "ASCII stays one byte; 0x80..0xff become U+0080..U+00FF, two bytes each in UTF-8";
}

TEST(AccessLogFormat, TimeStampIsUtcWithMilliseconds) {
    TimeStamper ts;
    std::string a, b;
    ts.append(a);
    ts.append(b);
    ASSERT_EQ(a.size(), 26u) << a;  // quotes + 2026-11-27T22:35:31.187Z
    EXPECT_EQ(a[0], '"');
    EXPECT_EQ(a[11], 'T');
    EXPECT_EQ(a[20], '.');
    EXPECT_EQ(a[24], 'Z');
    EXPECT_LE(a, b) << "the second stamp is not earlier";
}

}  // namespace
}  // namespace weir::proxy
