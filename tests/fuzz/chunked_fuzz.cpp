// libFuzzer target for the chunked decoder alone (http/chunked). The first
// input byte chooses the trailer limit and how the rest is cut into reads;
// the rest is the body. Beyond memory safety it checks:
//  - the decoder agrees with a whole-buffer reference decoder written here
//    from the grammar it documents (RFC 9112 §7.1 with its limits): same
//    outcome (done / needs more / error), same payload, same bytes consumed;
//  - the outcome does not depend on how the input is cut into reads;
//  - a decoded payload, re-encoded with append_chunk/append_last_chunk,
//    decodes back to itself.
#include "fuzz_check.hpp"
#include "http/chunked.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using weir::http::ChunkedDecoder;

namespace {

enum class Outcome { done, more, error };

struct Result {
    Outcome outcome = Outcome::more;
    std::string body;          // payload delivered before the outcome
    std::size_t consumed = 0;  // bytes used, when done
};

// ------------------------------------------------------------- reference

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
// field-vchar / obs-text, and HTAB / SP (RFC 9110 §5.5).
bool vchar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}
bool tchar(char c) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// chunked-body = *chunk last-chunk trailer-section CRLF, where
//   chunk-size  = 1*15HEXDIG; an extension (BWS ";" then field-vchars, at most
//                 max_extension_bytes of BWS and extension per line);
//   trailer-section: lines of a tchar then field-vchars, all of its bytes
//                 counted against max_trailer up to and including the final CR.
Result reference(std::string_view in, std::size_t max_trailer) {
    Result r;
    std::size_t i = 0;
    const std::size_t n = in.size();
    auto more = [&] {
        r.outcome = Outcome::more;
        return r;
    };
    auto error = [&] {
        r.outcome = Outcome::error;
        return r;
    };
    for (;;) {
        std::uint64_t size = 0;
        int digits = 0;
        while (i < n && hex(in[i]) >= 0) {
            if (++digits > 15) return error();
            size = size * 16 + static_cast<std::uint64_t>(hex(in[i++]));
        }
        if (i == n) return more();
        if (digits == 0) return error();
        std::size_t ext = 0;
        if (in[i] == ' ' || in[i] == '\t') {
            while (i < n && (in[i] == ' ' || in[i] == '\t')) {
                if (++ext > ChunkedDecoder::max_extension_bytes) return error();
                ++i;
            }
            if (i == n) return more();
            if (in[i] != ';') return error();
        }
        if (in[i] == ';') {
            ++i;
            while (i < n && in[i] != '\r') {
                if (!vchar(in[i]) || ++ext > ChunkedDecoder::max_extension_bytes) return error();
                ++i;
            }
            if (i == n) return more();
        }
        if (in[i++] != '\r') return error();
        if (i == n) return more();
        if (in[i++] != '\n') return error();
        if (size == 0) break;
        const std::size_t avail = static_cast<std::size_t>(std::min<std::uint64_t>(size, n - i));
        r.body.append(in.substr(i, avail));
        i += avail;
        if (avail < size || i == n) return more();
        if (in[i++] != '\r') return error();
        if (i == n) return more();
        if (in[i++] != '\n') return error();
    }
    std::size_t trailer = 0;
    for (;;) {
        if (i == n) return more();
        if (++trailer > max_trailer) return error();
        if (in[i] == '\r') {
            ++i;
            if (i == n) return more();
            if (in[i++] != '\n') return error();
            r.outcome = Outcome::done;
            r.consumed = i;
            return r;
        }
        if (!tchar(in[i++])) return error();
        while (i < n && in[i] != '\r') {
            if (!vchar(in[i]) || ++trailer > max_trailer) return error();
            ++i;
        }
        if (i == n) return more();
        if (++trailer > max_trailer) return error();
        ++i;
        if (i == n) return more();
        if (in[i] != '\n' || ++trailer > max_trailer) return error();
        ++i;
    }
}

// ------------------------------------------------------------- decoder

// Feeds `in` in reads of `piece` bytes (0: all at once), each its own
// allocation so ASan sees a read past what was "received".
Result decode(std::string_view in, std::size_t piece, std::size_t max_trailer) {
    ChunkedDecoder dec(max_trailer);
    Result r;
    std::size_t off = 0;
    while (off < in.size()) {
        const std::size_t len = piece == 0 ? in.size() - off : std::min(piece, in.size() - off);
        const std::string copy(in.substr(off, len));
        std::string_view rest = copy;
        while (!rest.empty()) {
            const ChunkedDecoder::Step s = dec.feed(rest);
            FUZZ_CHECK(s.consumed <= rest.size());
            if (!s.data.empty()) {
                FUZZ_CHECK(s.data.data() >= rest.data() && s.data.data() + s.data.size() <= rest.data() + s.consumed);
            }
            if (s.error) {
                FUZZ_CHECK(!s.done && !s.reason.empty());
                r.outcome = Outcome::error;
                return r;
            }
            r.body.append(s.data);
            rest.remove_prefix(s.consumed);
            if (s.done) {
                FUZZ_CHECK(dec.done());
                r.outcome = Outcome::done;
                r.consumed = off + (len - rest.size());
                return r;
            }
            FUZZ_CHECK(s.consumed > 0);  // progress on every call with input
        }
        off += len;
    }
    FUZZ_CHECK(!dec.done());
    return r;
}

void expect_same(const Result& a, const Result& b) {
    FUZZ_CHECK(a.outcome == b.outcome);
    FUZZ_CHECK(a.body == b.body);
    FUZZ_CHECK(a.consumed == b.consumed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const unsigned knob = data[0];
    const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
    // Small limits reach the trailer checks; 64 KiB is the proxy's own.
    const std::size_t max_trailer = knob & 0x80 ? 65536 : 1 + (knob & 0x3f);
    const std::size_t piece = 1 + (knob % 13);

    const Result want = reference(input, max_trailer);
    const Result whole = decode(input, 0, max_trailer);
    expect_same(whole, want);
    expect_same(decode(input, piece, max_trailer), want);
    if (input.size() <= 4096) expect_same(decode(input, 1, max_trailer), want);

    if (want.outcome == Outcome::done) {
        std::string wire;
        std::size_t off = 0;
        while (off < want.body.size()) {
            const std::size_t len = std::min<std::size_t>(want.body.size() - off, 1 + (knob * 37 + off) % 700);
            weir::http::append_chunk(wire, std::string_view(want.body).substr(off, len));
            off += len;
        }
        weir::http::append_last_chunk(wire);
        const Result again = decode(wire, piece, 65536);
        FUZZ_CHECK(again.outcome == Outcome::done && again.body == want.body && again.consumed == wire.size());
    }
    return 0;
}
