// The chunked decoder must give the same payload however the wire bytes are
// split across reads, refuse every malformed framing, and round-trip the encoder.
#include "http/chunked.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weir::http {
namespace {

using namespace std::literals;

// Deterministic generator written here so the test does not depend on the
// standard library's distributions (which differ between implementations).
struct SplitMix64 {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) { return next() % n; }
};

struct Decoded {
    std::string body;
    bool done = false;
    bool error = false;
    std::string reason;
    std::size_t consumed = 0;  // total input bytes consumed
};

std::string show(std::string_view s) {
    std::string out;
    for (unsigned char c : s.substr(0, 200)) {
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c < 0x20 || c >= 0x7f) out += "\\x" + std::to_string(c);
        else out += static_cast<char>(c);
    }
    if (s.size() > 200) out += "...(" + std::to_string(s.size()) + " bytes)";
    return out;
}

// Feeds `wire` in pieces ending at the given cut offsets, the way reads from a
// socket would arrive, checking the Step invariants at every call.
Decoded decode(std::string_view wire, const std::vector<std::size_t>& cuts, std::size_t max_trailer = 65536) {
    ChunkedDecoder dec(max_trailer);
    Decoded out;
    std::size_t start = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(wire.size());
    for (std::size_t end : ends) {
        if (end < start) continue;
        // Each piece is copied so ASan catches any read past what was "received".
        const std::string piece(wire.substr(start, end - start));
        start = end;
        std::string_view rest = piece;
        while (!rest.empty()) {
            ChunkedDecoder::Step st = dec.feed(rest);
            EXPECT_LE(st.consumed, rest.size());
            if (!st.data.empty()) {
                EXPECT_GE(st.data.data(), rest.data());
                EXPECT_LE(st.data.data() + st.data.size(), rest.data() + st.consumed);
            }
            if (st.error) {
                EXPECT_FALSE(st.reason.empty());
                out.error = true;
                out.reason = std::string(st.reason);
                return out;
            }
            out.body.append(st.data);
            out.consumed += st.consumed;
            rest.remove_prefix(st.consumed);
            if (st.done) {
                EXPECT_TRUE(dec.done());
                out.done = true;
                return out;
            }
            // Without an error or the end, a step either yields data or eats the whole input.
            EXPECT_TRUE(!st.data.empty() || rest.empty()) << "stalled with " << rest.size() << " bytes left";
            if (st.consumed == 0) return out;  // no progress: give up rather than loop
        }
    }
    return out;
}

Decoded decode_whole(std::string_view wire, std::size_t max_trailer = 65536) { return decode(wire, {}, max_trailer); }

Decoded decode_bytewise(std::string_view wire, std::size_t max_trailer = 65536) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
    return decode(wire, cuts, max_trailer);
}

struct Valid {
    const char* name;
    std::string_view wire;
    std::string_view body;
};

const Valid kValid[] = {
    {"single", "5\r\nhello\r\n0\r\n\r\n"sv, "hello"sv},
    {"empty_body", "0\r\n\r\n"sv, ""sv},
    {"two_chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"sv, "hello world"sv},
    {"hex_upper_lower", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n"sv, "0123456789abcdefghijk"sv},
    {"leading_zeros", "0005\r\nhello\r\n000\r\n\r\n"sv, "hello"sv},
    {"fifteen_digits", "000000000000003\r\nabc\r\n0\r\n\r\n"sv, "abc"sv},
    {"crlf_inside_data", "4\r\n\r\n\r\n\r\n0\r\n\r\n"sv, "\r\n\r\n"sv},
    {"binary_data", "3\r\n\0\xff\n\r\n0\r\n\r\n"sv, "\0\xff\n"sv},
    {"extension", "5;foo=bar\r\nhello\r\n0\r\n\r\n"sv, "hello"sv},
    {"extension_quoted", "5;name=\"va;l ue\"\r\nhello\r\n0;last\r\n\r\n"sv, "hello"sv},
    {"extension_bws", "5 ;a=b\r\nhello\r\n0\t;z\r\n\r\n"sv, "hello"sv},
    {"extension_many", "5;a;b=c;d=\"e\"\r\nhello\r\n0\r\n\r\n"sv, "hello"sv},
    {"trailer", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"sv, "hello"sv},
    {"two_trailers", "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: two words\r\n\r\n"sv, "hello"sv},
    {"trailer_empty_value", "0\r\nX-A:\r\n\r\n"sv, ""sv},
};

TEST(HttpChunkedDecoder, ValidBodiesWholeBytewiseAndEverySplit) {
    for (const Valid& v : kValid) {
        SCOPED_TRACE(v.name);
        Decoded whole = decode_whole(v.wire);
        ASSERT_FALSE(whole.error) << whole.reason;
        EXPECT_TRUE(whole.done);
        EXPECT_EQ(whole.body, v.body);
        EXPECT_EQ(whole.consumed, v.wire.size());

        Decoded bytes = decode_bytewise(v.wire);
        ASSERT_FALSE(bytes.error) << bytes.reason;
        EXPECT_TRUE(bytes.done);
        EXPECT_EQ(bytes.body, v.body);
        EXPECT_EQ(bytes.consumed, v.wire.size());

        for (std::size_t i = 0; i <= v.wire.size(); ++i) {
            Decoded split = decode(v.wire, {i});
            ASSERT_FALSE(split.error) << "split at " << i << ": " << split.reason;
            EXPECT_TRUE(split.done) << "split at " << i;
            EXPECT_EQ(split.body, v.body) << "split at " << i;
            EXPECT_EQ(split.consumed, v.wire.size()) << "split at " << i;
        }
        // And every pair of split points, for the short ones.
        if (v.wire.size() <= 40) {
            for (std::size_t i = 0; i <= v.wire.size(); ++i) {
                for (std::size_t j = i; j <= v.wire.size(); ++j) {
                    Decoded split = decode(v.wire, {i, j});
                    ASSERT_TRUE(split.done && !split.error) << "split at " << i << "," << j << ": " << split.reason;
                    EXPECT_EQ(split.body, v.body) << "split at " << i << "," << j;
                }
            }
        }
    }
}

TEST(HttpChunkedDecoder, StopsAtEndOfBodyLeavingPipelinedBytes) {
    const std::string body = "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
    const std::string wire = body + "GET / HTTP/1.1\r\n";
    ChunkedDecoder dec;
    std::string_view rest = wire;
    std::string got;
    for (int guard = 0; guard < 10 && !rest.empty(); ++guard) {
        auto st = dec.feed(rest);
        ASSERT_FALSE(st.error) << st.reason;
        got.append(st.data);
        rest.remove_prefix(st.consumed);
        if (st.done) break;
    }
    EXPECT_TRUE(dec.done());
    EXPECT_EQ(got, "hello");
    EXPECT_EQ(rest, "GET / HTTP/1.1\r\n");
    // Once done, further input is left alone.
    auto again = dec.feed(rest);
    EXPECT_TRUE(again.done);
    EXPECT_EQ(again.consumed, 0u);
    EXPECT_TRUE(again.data.empty());
}

TEST(HttpChunkedDecoder, DataSpanIsBoundedByChunkSize) {
    ChunkedDecoder dec;
    const std::string wire = "3\r\nabcdef";  // the chunk is 3 bytes; "def" is framing, not data
    auto st = dec.feed(wire);
    EXPECT_EQ(st.data, "abc");
    EXPECT_EQ(st.consumed, 6u);
    auto bad = dec.feed(std::string_view(wire).substr(st.consumed));
    EXPECT_TRUE(bad.error);
}

TEST(HttpChunkedDecoder, ResetAllowsReuse) {
    ChunkedDecoder dec;
    auto st = dec.feed("zz\r\n");
    ASSERT_TRUE(st.error);
    dec.reset();
    EXPECT_FALSE(dec.done());
    std::string_view in = "3\r\nabc\r\n0\r\n\r\n";
    std::string got;
    while (!in.empty()) {
        auto s = dec.feed(in);
        ASSERT_FALSE(s.error) << s.reason;
        got.append(s.data);
        in.remove_prefix(s.consumed);
        if (s.done) break;
    }
    EXPECT_TRUE(dec.done());
    EXPECT_EQ(got, "abc");
    dec.reset();
    EXPECT_FALSE(dec.done());
    // A reset mid-body forgets the chunk in progress.
    dec.feed("10\r\nabc");
    dec.reset();
    auto s = dec.feed("0\r\n\r\n");
    EXPECT_TRUE(s.done);
}

struct Invalid {
    const char* name;
    std::string wire;
    std::size_t max_trailer = 65536;
};

std::vector<Invalid> invalid_cases() {
    std::vector<Invalid> v = {
        {"non_hex_size", "g\r\nhello\r\n0\r\n\r\n"},
        {"hex_then_garbage", "5x\r\nhello\r\n0\r\n\r\n"},
        {"hex_prefix_0x", "0x5\r\nhello\r\n0\r\n\r\n"},
        {"negative_size", "-5\r\nhello\r\n0\r\n\r\n"},
        {"plus_size", "+5\r\nhello\r\n0\r\n\r\n"},
        {"empty_size", "\r\nhello\r\n0\r\n\r\n"},
        {"empty_size_with_ext", ";ext\r\n0\r\n\r\n"},
        {"leading_space_size", " 5\r\nhello\r\n0\r\n\r\n"},
        {"space_then_crlf", "5 \r\nhello\r\n0\r\n\r\n"},
        {"space_inside_size", "1 0\r\n0123456789abcdef\r\n0\r\n\r\n"},
        {"sixteen_hex_digits", "0000000000000005\r\nhello\r\n0\r\n\r\n"},
        {"huge_size", "ffffffffffffffffff\r\n"},
        {"missing_crlf_after_data", "5\r\nhelloX\r\n0\r\n\r\n"},
        {"data_longer_than_size", "5\r\nhello world\r\n0\r\n\r\n"},
        {"cr_without_lf_after_data", "5\r\nhello\rX0\r\n\r\n"},
        {"bare_lf_after_data", "5\r\nhello\n0\r\n\r\n"},
        {"bare_lf_after_size", "5\nhello\r\n0\r\n\r\n"},
        {"bare_lf_after_extension", "5;a=b\nhello\r\n0\r\n\r\n"},
        {"bare_lf_last_chunk", "0\n\r\n"},
        {"bare_lf_final", "0\r\n\n"},
        {"bare_lf_trailer", "0\r\nX-A: 1\n\r\n"},
        {"cr_cr_after_size", "5\r\rhello\r\n0\r\n\r\n"},
        {"ctl_in_extension", "5;a\x01\r\nhello\r\n0\r\n\r\n"},
        {"nul_in_extension", std::string("5;a\0b\r\nhello\r\n0\r\n\r\n", 19)},
        {"trailer_obs_fold", "0\r\nX-A: 1\r\n folded\r\n\r\n"},
        {"trailer_leading_space", "0\r\n X-A: 1\r\n\r\n"},
        {"trailer_bad_name_char", "0\r\n(X: 1\r\n\r\n"},
        {"trailer_without_colon", "0\r\nX-A\r\n\r\n"},
        {"trailer_space_before_colon", "0\r\nX-A : 1\r\n\r\n"},
        {"trailer_bad_char_in_name", "0\r\nX(A: 1\r\n\r\n"},
        {"trailer_second_line_without_colon", "0\r\nX-A: 1\r\nnot a field\r\n\r\n"},
        {"trailer_ctl_in_value", "0\r\nX-A: a\x01\r\n\r\n"},
        {"final_cr_without_lf", "0\r\n\rX"},
        {"extension_over_limit", "5;" + std::string(ChunkedDecoder::max_extension_bytes + 1, 'e') + "\r\nhello\r\n0\r\n\r\n"},
        {"last_chunk_extension_over_limit",
         "0;" + std::string(ChunkedDecoder::max_extension_bytes + 1, 'e') + "\r\n\r\n"},
        {"extension_70kb", "1;" + std::string(70 * 1024, 'x') + "\r\na\r\n0\r\n\r\n"},
        {"trailer_too_large", "0\r\nX-Big: " + std::string(200, 'v') + "\r\n\r\n", 100},
        {"trailer_too_large_default", "0\r\nX-Big: " + std::string(70000, 'v') + "\r\n\r\n"},
        {"trailer_too_large_many_lines", [] {
             std::string w = "0\r\n";
             for (int i = 0; i < 20; ++i) w += "X-" + std::to_string(i) + ": 0123456789\r\n";
             return w + "\r\n";
         }(), 100},
    };
    return v;
}

TEST(HttpChunkedDecoder, RejectsMalformedFraming) {
    for (const Invalid& c : invalid_cases()) {
        SCOPED_TRACE(std::string(c.name) + ": " + show(c.wire));
        Decoded whole = decode_whole(c.wire, c.max_trailer);
        EXPECT_TRUE(whole.error) << "accepted whole; done=" << whole.done;
        EXPECT_FALSE(whole.done);
        Decoded bytes = decode_bytewise(c.wire, c.max_trailer);
        EXPECT_TRUE(bytes.error) << "accepted byte by byte; done=" << bytes.done;
        if (c.wire.size() < 200) {
            for (std::size_t i = 0; i <= c.wire.size(); ++i) {
                EXPECT_TRUE(decode(c.wire, {i}, c.max_trailer).error) << "split at " << i;
            }
        }
    }
}

TEST(HttpChunkedDecoder, ExtensionLimitIsInclusive) {
    const std::string at_limit =
        "5;" + std::string(ChunkedDecoder::max_extension_bytes, 'e') + "\r\nhello\r\n0\r\n\r\n";
    Decoded d = decode_whole(at_limit);
    EXPECT_FALSE(d.error) << d.reason;
    EXPECT_TRUE(d.done);
    EXPECT_EQ(d.body, "hello");
    // The limit is per size line, not per body.
    std::string many;
    for (int i = 0; i < 4; ++i) many += "1;" + std::string(ChunkedDecoder::max_extension_bytes, 'e') + "\r\nx\r\n";
    many += "0\r\n\r\n";
    Decoded m = decode_bytewise(many);
    EXPECT_FALSE(m.error) << m.reason;
    EXPECT_EQ(m.body, "xxxx");
}

TEST(HttpChunkedDecoder, TrailerWithinLimitAccepted) {
    const std::string wire = "0\r\nX-A: " + std::string(50, 'v') + "\r\n\r\n";
    Decoded d = decode_whole(wire, 100);
    EXPECT_FALSE(d.error) << d.reason;
    EXPECT_TRUE(d.done);
}

// The trailer budget must bound the whole trailer section however it is cut
// into lines. Regression: the first byte of each field line and the line ends
// were not counted, so endless one-byte lines ("a\r\n") passed any limit.
TEST(HttpChunkedDecoder, TrailerLimitCoversShortLines) {
    std::string wire = "0\r\n";
    for (int i = 0; i < 1000; ++i) wire += "a\r\n";
    wire += "\r\n";
    Decoded d = decode_whole(wire, 100);
    EXPECT_TRUE(d.error) << "1000 one-byte trailer lines (3000 bytes) passed a 100-byte trailer limit; done="
                         << d.done;
}

// The size line is bounded by max_extension_bytes. Regression: whitespace
// between the size and ';' (BWS) was not counted, so one size line could be
// arbitrarily long.
TEST(HttpChunkedDecoder, SizeLineWhitespaceIsBounded) {
    const std::string wire = "5" + std::string(ChunkedDecoder::max_extension_bytes * 4, ' ') + ";x\r\nhello\r\n0\r\n\r\n";
    Decoded d = decode_whole(wire);
    EXPECT_TRUE(d.error) << "a " << ChunkedDecoder::max_extension_bytes * 4
                         << "-byte run of BWS on one chunk-size line was accepted; done=" << d.done;
}

TEST(HttpChunkedEncoder, FormatChunkSize) {
    const std::pair<std::uint64_t, std::string_view> cases[] = {
        {0, "0\r\n"},
        {1, "1\r\n"},
        {15, "f\r\n"},
        {16, "10\r\n"},
        {255, "ff\r\n"},
        {4096, "1000\r\n"},
        {0xdeadbeefULL, "deadbeef\r\n"},
        {0x0fffffffffffffffULL, "fffffffffffffff\r\n"},
        {~0ULL, "ffffffffffffffff\r\n"},
    };
    for (auto [n, text] : cases) {
        char buf[20];
        std::size_t len = format_chunk_size(buf, n);
        EXPECT_EQ(std::string_view(buf, len), text) << n;
    }
}

TEST(HttpChunkedEncoder, AppendChunkAndLastChunk) {
    std::string out;
    append_chunk(out, "");
    EXPECT_EQ(out, "");  // an empty chunk would end the body
    append_chunk(out, "hello");
    EXPECT_EQ(out, "5\r\nhello\r\n");
    append_chunk(out, std::string(26, 'z'));
    EXPECT_EQ(out, "5\r\nhello\r\n1a\r\n" + std::string(26, 'z') + "\r\n");
    append_last_chunk(out);
    EXPECT_TRUE(out.ends_with("\r\n0\r\n\r\n"));
    Decoded d = decode_whole(out);
    EXPECT_TRUE(d.done);
    EXPECT_EQ(d.body, "hello" + std::string(26, 'z'));
}

TEST(HttpChunkedEncoder, RoundTripRandomData) {
    SplitMix64 rng{20240531};
    for (int iter = 0; iter < 300; ++iter) {
        std::string wire;
        std::string expected;
        const int chunks = static_cast<int>(rng.below(8));
        for (int c = 0; c < chunks; ++c) {
            std::size_t size;
            switch (rng.below(4)) {
                case 0: size = rng.below(4); break;        // tiny, including empty (skipped)
                case 1: size = rng.below(64); break;
                case 2: size = rng.below(4096); break;
                default: size = rng.below(70000); break;   // > 0xffff: 5 hex digits
            }
            std::string data(size, '\0');
            for (char& ch : data) {
                // Bias towards framing bytes so CR/LF/'0' inside data get exercised.
                std::uint64_t r = rng.next();
                static constexpr char special[] = {'\r', '\n', '0', ';', ' '};
                ch = (r & 3) == 0 ? special[(r >> 8) % 5] : static_cast<char>(r >> 16);
            }
            append_chunk(wire, data);
            expected += data;
        }
        append_last_chunk(wire);

        // Random read boundaries.
        std::vector<std::size_t> cuts;
        std::size_t pos = 0;
        while (true) {
            pos += 1 + rng.below(rng.below(2) ? 16 : 9000);
            if (pos >= wire.size()) break;
            cuts.push_back(pos);
        }
        Decoded d = decode(wire, cuts);
        ASSERT_FALSE(d.error) << "iteration " << iter << ": " << d.reason;
        ASSERT_TRUE(d.done) << "iteration " << iter;
        ASSERT_EQ(d.consumed, wire.size()) << "iteration " << iter;
        ASSERT_EQ(d.body, expected) << "iteration " << iter;
    }
}

TEST(HttpChunkedEncoder, RoundTripBytewiseSmall) {
    SplitMix64 rng{7};
    for (int iter = 0; iter < 50; ++iter) {
        std::string wire;
        std::string expected;
        for (int c = 0; c < 3; ++c) {
            std::string data(rng.below(40), '\0');
            for (char& ch : data) ch = static_cast<char>(rng.next());
            append_chunk(wire, data);
            expected += data;
        }
        append_last_chunk(wire);
        Decoded d = decode_bytewise(wire);
        ASSERT_TRUE(d.done && !d.error) << d.reason;
        ASSERT_EQ(d.body, expected);
    }
}

}  // namespace
}  // namespace weir::http
