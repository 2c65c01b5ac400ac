// libFuzzer target for the HTTP/1.x head parsers, the chunked decoder and the
// serialisers. Fuzzed by tests/fuzz/run.sh; ctest FuzzReplay.http_parser replays its corpus.
//
// Every input goes to all consumers; beyond memory safety (ASan/UBSan) it checks:
//  - a complete head's length lies within the input, every view of the head
//    points into the input, and the same bytes cut to head_len parse the same;
//  - errors carry a status the session can send (4xx/5xx for requests, 502 for responses);
//  - the chunked decoder never consumes more than it was given, its data spans
//    lie inside the input, and decoding whole, byte by byte or in pieces agrees;
//  - a head fed in pieces with a resumed search (HeadScan) parses as when whole;
//  - a re-serialised head is accepted by our own parser and frames the body the same way;
//  - chunked encoding of arbitrary data round-trips through the decoder.

#include "http/chunked.hpp"
#include "http/parser.hpp"
#include "http/serialize.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace weir::http;

namespace {


[[noreturn]] void fail(const char* what, int line) {
    std::fprintf(stderr, "invariant violated (line %d): %s\n", line, what);
    std::abort();
}

#define CHECK(cond)                          \
    do {                                     \
        if (!(cond)) fail(#cond, __LINE__);  \
    } while (0)

bool inside(std::string_view v, std::string_view buf) {
    if (v.empty()) return true;
    return v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size();
}

// --------------------------------------------------------------- requests

void check_request_views(const RequestHead& h, std::string_view buf) {
    CHECK(inside(h.method, buf));
    CHECK(!h.method.empty());
    CHECK(inside(h.target, buf) || h.target == "/");  // "http://h" becomes a literal "/"
    CHECK(!h.target.empty());
    CHECK(h.path.data() == h.target.data() && h.path.size() <= h.target.size());
    CHECK(inside(h.host, buf));
    for (const Header& f : h.headers) {
        CHECK(inside(f.name, buf));
        CHECK(inside(f.value, buf));
        CHECK(!f.name.empty());
        for (char c : f.value) CHECK(c != '\r' && c != '\n' && c != '\0');
    }
}

void check_request_semantics(const RequestHead& h) {
    CHECK(h.version_minor == 0 || h.version_minor == 1);
    CHECK(h.headers.size() <= max_header_count);
    CHECK(h.method_id != Method::connect);
    switch (h.body) {
        case BodyKind::none: CHECK(h.content_length == 0); break;
        case BodyKind::content_length: CHECK(h.content_length > 0); break;
        case BodyKind::chunked: CHECK(h.content_length == 0 && h.version_minor == 1); break;
        case BodyKind::until_close: CHECK(false && "requests never read until close"); break;
    }
    if (h.expect_continue) CHECK(h.body != BodyKind::none && h.version_minor == 1);
    if (h.version_minor == 1) CHECK(!h.host.empty());
    if (h.target != "*") CHECK(h.target.front() == '/');
}

void roundtrip_request(const RequestHead& h) {
    // Ours: Host, X-Forwarded-For, Via, X-Forwarded-Proto/-Host/-Port, Transfer-Encoding.
    if (h.headers.size() + 7 > max_header_count) return;
    // Every claim policy, chosen by the input so each run is repeatable.
    const ClaimPolicy claims{.trusted_peer = h.headers.size() % 2 == 0, .keep_underscores = h.target.size() % 2 == 0};
    const ForwardedFor fwd{"192.0.2.1", "http", "fuzz.example", 8080, claims};
    std::string out;
    serialize_request(out, h, fwd);
    RequestHead again;
    std::size_t len = 0;
    ParseError err;
    CHECK(parse_request_head(out, out.size() + 1, again, len, err) == ParseStatus::complete);
    CHECK(len == out.size());
    CHECK(again.method == h.method);
    CHECK(again.target == h.target);
    CHECK(again.host == (h.host.empty() ? std::string_view("fuzz.example") : h.host));
    CHECK(again.body == h.body);  // the upstream must frame the body as we do
    CHECK(again.content_length == h.content_length);
    CHECK(again.version_minor == 1);
    CHECK(!again.expect_continue);
}

// The session feeds a growing buffer and resumes the search for the head's
// end; wherever the reads fall, the outcome is the one of a single read.
void check_resumed_request(std::string_view buf, std::size_t max, std::size_t piece, ParseStatus whole,
                           std::size_t whole_len) {
    HeadScan scan;
    RequestHead h;
    std::size_t len = 0;
    ParseError err;
    ParseStatus st = ParseStatus::incomplete;
    for (std::size_t have = 0; st == ParseStatus::incomplete && have < buf.size();) {
        have = std::min(buf.size(), have + piece);
        st = parse_request_head(buf.substr(0, have), max, h, len, err, &scan);
    }
    CHECK(st == whole);
    if (st == ParseStatus::complete) CHECK(len == whole_len);
}

void fuzz_request(std::string_view buf, std::size_t max, std::size_t piece) {
    RequestHead h;
    std::size_t len = 0;
    ParseError err;
    ParseStatus st = parse_request_head(buf, max, h, len, err);
    if (buf.size() <= 8192) check_resumed_request(buf, max, piece, st, len);
    if (st == ParseStatus::error) {
        const int s = err.status;
        CHECK(s == 400 || s == 417 || s == 431 || s == 501 || s == 505);
        CHECK(!err.reason.empty());
        return;
    }
    if (st == ParseStatus::incomplete) {
        CHECK(buf.size() <= max);
        return;
    }
    CHECK(len > 0 && len <= buf.size() && len <= max);
    CHECK(buf.substr(0, len).ends_with("\r\n\r\n"));
    check_request_views(h, buf);
    check_request_semantics(h);

    // The head is exactly its first len bytes: the same prefix parses the same,
    // one byte less is not yet a head.
    std::string_view exact = buf.substr(0, len);
    RequestHead h2;
    std::size_t len2 = 0;
    CHECK(parse_request_head(exact, max, h2, len2, err) == ParseStatus::complete);
    CHECK(len2 == len);
    CHECK(h2.method == h.method && h2.target == h.target && h2.host == h.host);
    CHECK(h2.headers.size() == h.headers.size() && h2.body == h.body && h2.content_length == h.content_length);
    CHECK(h2.keep_alive == h.keep_alive && h2.expect_continue == h.expect_continue);
    CHECK(parse_request_head(exact.substr(0, len - 1), max, h2, len2, err) == ParseStatus::incomplete);

    roundtrip_request(h);
}

// -------------------------------------------------------------- responses

void roundtrip_response(const ResponseHead& h, Method method) {
    if (h.headers.size() + 3 > max_header_count) return;
    const bool rechunk = h.body == BodyKind::chunked || h.body == BodyKind::until_close;
    std::string out;
    serialize_response(out, h, rechunk ? ClientFraming::chunked : ClientFraming::as_upstream, h.keep_alive, 1);
    ResponseHead again;
    std::size_t len = 0;
    ParseError err;
    CHECK(parse_response_head(out, out.size() + 1, method, again, len, err) == ParseStatus::complete);
    CHECK(len == out.size());
    CHECK(again.status == h.status);
    CHECK(again.body == (rechunk ? BodyKind::chunked : h.body));  // the client must frame the body as we send it
    CHECK(again.content_length == h.content_length);
    if (h.status >= 200) CHECK(again.keep_alive == h.keep_alive);  // "Connection: close" survives re-serialisation
}

void fuzz_response(std::string_view buf, std::size_t max, Method method) {
    ResponseHead h;
    std::size_t len = 0;
    ParseError err;
    ParseStatus st = parse_response_head(buf, max, method, h, len, err);
    if (st == ParseStatus::error) {
        CHECK(err.status == 502);
        CHECK(!err.reason.empty());
        return;
    }
    if (st == ParseStatus::incomplete) {
        CHECK(buf.size() <= max);
        return;
    }
    CHECK(len > 0 && len <= buf.size() && len <= max);
    CHECK(h.status >= 100 && h.status <= 999);
    CHECK(h.version_minor == 0 || h.version_minor == 1);
    CHECK(inside(h.reason, buf));
    CHECK(h.headers.size() <= max_header_count);
    for (const Header& f : h.headers) {
        CHECK(inside(f.name, buf));
        CHECK(inside(f.value, buf));
    }
    if (h.body == BodyKind::until_close) CHECK(!h.keep_alive);
    if (h.body == BodyKind::content_length) CHECK(h.content_length > 0);
    if (method == Method::head || h.status < 200 || h.status == 204 || h.status == 304) CHECK(h.body == BodyKind::none);

    ResponseHead h2;
    std::size_t len2 = 0;
    CHECK(parse_response_head(buf.substr(0, len), max, method, h2, len2, err) == ParseStatus::complete);
    CHECK(len2 == len && h2.status == h.status && h2.body == h.body && h2.keep_alive == h.keep_alive);
    CHECK(parse_response_head(buf.substr(0, len - 1), max, method, h2, len2, err) == ParseStatus::incomplete);

    roundtrip_response(h, method);
}

// ---------------------------------------------------------------- chunked

struct Outcome {
    std::string body;
    std::size_t consumed = 0;
    bool done = false;
    bool error = false;
};

// Feeds `buf` in pieces of `piece` bytes (0: all at once), each piece copied to
// its own allocation so ASan sees any read beyond what was "received".
Outcome decode(std::string_view buf, std::size_t piece, std::size_t max_trailer) {
    ChunkedDecoder dec(max_trailer);
    Outcome o;
    std::size_t off = 0;
    while (off < buf.size() && !o.done && !o.error) {
        std::size_t n = piece == 0 ? buf.size() - off : std::min(piece, buf.size() - off);
        const std::string copy(buf.substr(off, n));
        std::string_view rest = copy;
        off += n;
        while (!rest.empty()) {
            ChunkedDecoder::Step s = dec.feed(rest);
            CHECK(s.consumed <= rest.size());
            CHECK(inside(s.data, rest.substr(0, s.consumed)));
            if (s.error) {
                CHECK(!s.reason.empty());
                CHECK(!s.done);
                o.error = true;
                break;
            }
            o.body.append(s.data);
            o.consumed += s.consumed;
            rest.remove_prefix(s.consumed);
            if (s.done) {
                CHECK(dec.done());
                o.done = true;
                break;
            }
            CHECK(!s.data.empty() || rest.empty());  // progress or all eaten
            CHECK(s.consumed > 0);
        }
    }
    return o;
}

void fuzz_chunked(std::string_view buf, std::size_t piece, std::size_t max_trailer) {
    const Outcome whole = decode(buf, 0, max_trailer);
    CHECK(whole.consumed <= buf.size());
    if (whole.done) CHECK(!whole.error);
    // Where the reads fall must not change the result.
    for (std::size_t p : {piece, std::size_t{1}}) {
        if (p == 1 && buf.size() > 4096) continue;
        const Outcome split = decode(buf, p, max_trailer);
        CHECK(split.error == whole.error);
        CHECK(split.done == whole.done);
        if (!whole.error) {
            CHECK(split.body == whole.body);
            CHECK(split.consumed == whole.consumed);
        }
    }
}

std::uint64_t splitmix(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void roundtrip_chunked(std::string_view data) {
    std::uint64_t seed = data.size();
    for (unsigned char c : data.substr(0, 8)) seed = seed * 131 + c;
    std::string wire;
    std::size_t off = 0;
    while (off < data.size()) {
        std::size_t n = std::min<std::size_t>(data.size() - off, splitmix(seed) % 300);
        append_chunk(wire, data.substr(off, n));
        off += n;
    }
    append_last_chunk(wire);
    const Outcome o = decode(wire, 1 + splitmix(seed) % 64, 65536);
    CHECK(o.done && !o.error);
    CHECK(o.consumed == wire.size());
    CHECK(o.body == data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Our own copy, exactly `size` bytes long, so ASan flags any over-read.
    const std::string copy(reinterpret_cast<const char*>(data), size);
    const std::string_view buf = copy;
    const unsigned char knob = size ? static_cast<unsigned char>(copy[size - 1]) : 0;

    fuzz_request(buf, 65536, 1 + knob % 13);
    fuzz_request(buf, 64 + knob, 1);  // small limits exercise the 431 paths
    fuzz_response(buf, 65536, Method::get);
    fuzz_response(buf, 65536, Method::head);
    fuzz_response(buf, 64 + knob, Method::post);

    fuzz_chunked(buf, 1 + knob % 17, 65536);
    fuzz_chunked(buf, 2 + knob % 5, 16 + knob);

    // A chunked body behind a request or response head.
    RequestHead req;
    std::size_t len = 0;
    ParseError err;
    if (parse_request_head(buf, 65536, req, len, err) == ParseStatus::complete && req.body == BodyKind::chunked) {
        fuzz_chunked(buf.substr(len), 1 + knob % 7, 65536);
    }
    ResponseHead resp;
    if (parse_response_head(buf, 65536, Method::get, resp, len, err) == ParseStatus::complete &&
        resp.body == BodyKind::chunked) {
        fuzz_chunked(buf.substr(len), 1 + knob % 7, 65536);
    }

    if (size <= 4096) roundtrip_chunked(buf);
    return 0;
}
