// The Connection field read once per message: its options, the fields it
// names (marked for removal at this hop), and the fields it may not name.
#include "http/connection_field.hpp"
#include "http/parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weir::http {
namespace {

bool marked(const std::vector<Header>& hs, std::size_t i) { return hs.at(i).named_in_connection; }

TEST(HttpConnectionField, OptionsAndNamedFieldsOverSeveralConnectionFields) {
    std::vector<Header> hs = {{"Connection", " X-A ,\tx-b"}, {"X-A", "1"}, {"connection", "close,,X-C"},
                              {"x-b", "2"},                  {"X-C", "3"}, {"X-D", "4"},
                              {"X-A", "again"}};
    ConnectionOptions o = read_connection(hs);
    EXPECT_TRUE(o.close);
    EXPECT_FALSE(o.keep_alive);
    EXPECT_TRUE(o.names_fields);
    EXPECT_TRUE(marked(hs, 1));
    EXPECT_TRUE(marked(hs, 3));
    EXPECT_TRUE(marked(hs, 4));
    EXPECT_FALSE(marked(hs, 5)) << "X-D is not named";
    EXPECT_TRUE(marked(hs, 6)) << "every field of a named name goes, not only the first";
}

TEST(HttpConnectionField, OnlyCloseAndKeepAliveNameNothing) {
    std::vector<Header> hs = {{"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"}, {"X", "1"}};
    ConnectionOptions o = read_connection(hs);
    EXPECT_TRUE(o.keep_alive);
    EXPECT_FALSE(o.close);
    EXPECT_FALSE(o.names_fields);
    for (const Header& h : hs) EXPECT_FALSE(h.named_in_connection) << h.name;
}

TEST(HttpConnectionField, FramingAndHostCannotBeNamedAway) {
    std::vector<Header> hs = {{"Connection", "Content-Length, HOST, x-y"},
                              {"Content-Length", "5"},
                              {"Host", "h"},
                              {"X-Y", "1"}};
    ConnectionOptions o = read_connection(hs);
    EXPECT_TRUE(o.names_fields);
    EXPECT_FALSE(marked(hs, 1));
    EXPECT_FALSE(marked(hs, 2));
    EXPECT_TRUE(marked(hs, 3));
}

// Many tokens and many fields: every field named is marked, every other kept,
// whatever the case of either side (a table lookup, not a pairwise scan).
TEST(HttpConnectionField, ThirtyThousandTokensAgainstAHundredFields) {
    std::string conn;
    for (int i = 0; i < 31000; ++i) conn += (i ? ", " : "") + std::string("X-T") + std::to_string(i % 500);
    std::vector<std::string> names;
    for (int i = 0; i < 120; ++i) names.push_back((i % 2 ? "x-t" : "X-T") + std::to_string(i * 7));
    std::vector<Header> hs = {{"Connection", conn}};
    for (const std::string& n : names) hs.push_back({n, "v"});
    read_connection(hs);
    for (std::size_t i = 1; i < hs.size(); ++i) {
        const int number = std::stoi(std::string(hs[i].name.substr(3)));
        EXPECT_EQ(hs[i].named_in_connection, number < 500) << hs[i].name;
    }
}

// The parser resumes its search for the end of a head where it stopped:
// whatever the pieces a head arrives in, the result is the one a single read gives.
TEST(HttpHeadScan, ResumedSearchFindsTheSameHeadAtEverySplit) {
    const std::string heads[] = {
        "GET /a HTTP/1.1\r\nHost: h\r\nX-Long: " + std::string(300, 'v') + "\r\n\r\nNEXT",
        "\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /c HTTP/1.1\r\nHost: h\n\n",  // bare LF: refused, at every split alike
    };
    for (const std::string& raw : heads) {
        RequestHead whole;
        std::size_t whole_len = 0;
        ParseError whole_err;
        const ParseStatus expected = parse_request_head(raw, 65536, whole, whole_len, whole_err);
        ASSERT_NE(expected, ParseStatus::incomplete);
        for (std::size_t step = 1; step <= 7; ++step) {
            HeadScan scan;
            RequestHead head;
            std::size_t len = 0;
            ParseError err;
            ParseStatus st = ParseStatus::incomplete;
            std::size_t have = 0;
            while (st == ParseStatus::incomplete && have < raw.size()) {
                have = std::min(raw.size(), have + step);
                st = parse_request_head(std::string_view(raw).substr(0, have), 65536, head, len, err, &scan);
            }
            ASSERT_EQ(st, expected) << "step " << step;
            if (st == ParseStatus::complete) {
                EXPECT_EQ(len, whole_len) << "step " << step;
                EXPECT_EQ(head.target, whole.target);
                EXPECT_EQ(scan.checked, 0u) << "a complete head leaves the scan ready for the next";
            }
        }
    }
}

TEST(HttpHeadScan, ResponseSearchResumesToo) {
    const std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: " + std::string(100, 'y') + "\r\n\r\n";
    HeadScan scan;
    ResponseHead head;
    std::size_t len = 0;
    ParseError err;
    ParseStatus st = ParseStatus::incomplete;
    for (std::size_t have = 1; have <= raw.size() && st == ParseStatus::incomplete; ++have) {
        st = parse_response_head(std::string_view(raw).substr(0, have), 65536, Method::get, head, len, err,
                                 max_header_count, &scan);
        if (st == ParseStatus::incomplete) EXPECT_EQ(scan.checked, have);
    }
    ASSERT_EQ(st, ParseStatus::complete);
    EXPECT_EQ(len, raw.size());
    EXPECT_EQ(head.status, 200);
}

}  // namespace
}  // namespace weir::http
