// Request smuggling and malformed requests, table-driven. Each vector goes on
// a fresh connection; Weir must answer with an error, close the connection,
// and — for a malformed head — send nothing at all to the upstream.
// Every test runs twice: over plain TCP and over TLS (the listener
// terminating it), with the same assertions, so that framing that differs
// with TLS (record boundaries, close_notify against FIN, bytes held inside
// OpenSSL) shows. TLS cases are named with a "_Tls" / "/Tls" suffix.
#include "harness.hpp"

#include <cstring>
#include <tuple>

namespace weir_it {
namespace {

using namespace std::string_literals;

struct Vector {
    const char* name;
    std::string bytes;
    int status;
};

void PrintTo(const Vector& v, std::ostream* os) { *os << v.name; }

std::string req(std::string_view head_lines, std::string_view body = "") {
    return std::string(head_lines) + "\r\n" + std::string(body);
}

// Sends the vector on a fresh connection: Weir answers with its status and
// closes the connection.
void expect_refused_and_closed(SingleProxy& p, const Vector& v) {
    RawClient client = p.connect(5s);
    ASSERT_TRUE(client.connected()) << std::strerror(client.connect_errno()) << " " << client.tls_error();
    ASSERT_TRUE(client.send(v.bytes)) << std::strerror(client.stream().last_errno) << " " << client.tls_error();
    Response r = client.read_response();
    EXPECT_EQ(r.status, v.status) << r.describe();
    std::string extra;
    EXPECT_TRUE(client.wait_closed(5s, &extra)) << "connection not closed after the error; then got: " << extra;
}

// ---------------------------------------------------------------- malformed heads

const std::vector<Vector>& head_vectors() {
    static const std::vector<Vector> v = {
        // Content-Length together with Transfer-Encoding.
        {"ClThenTe", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
        {"TeThenCl", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), 400},
        {"ClZeroWithTe", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
        {"UnknownTeWithCl", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n", "hello"), 400},
        // Transfer-Encoding other than exactly "chunked".
        {"TeGzip", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n", "hello"), 400},
        {"TeGzipChunked", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 400},
        {"TeChunkedChunked", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"), 400},
        {"TeChunkedGzip", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), 400},
        {"TwoTeHeaders", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
        {"TwoTeHeadersSecondEmpty", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n", "0\r\n\r\n"), 400},
        {"TeIdentity", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n"), 400},
        {"TeChunkedSuffix", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n", "0\r\n\r\n"), 400},
        {"TeChunkedWithParam", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n", "0\r\n\r\n"), 400},
        {"TeVerticalTab", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0b" "chunked\r\n", "0\r\n\r\n"), 400},
        {"TeSpaceBeforeColon", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n", "0\r\n\r\n"), 400},
        {"TeObsFolded", req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"), 400},
        {"TeOnHttp10", req("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
        // Malformed or duplicated Content-Length.
        {"ClPlus", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n", "hello"), 400},
        {"ClNegative", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n"), 400},
        {"ClHex", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n", "0123456789abcdef"), 400},
        {"ClListDifferent", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n", "hello!"), 400},
        {"ClListSame", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n", "hello"), 400},
        {"ClEmpty", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n"), 400},
        {"ClInnerSpace", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n", "0123456789"), 400},
        {"ClExponent", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e1\r\n", "0123456789"), 400},
        {"ClOverflow", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n", "x"), 400},
        {"TwoClSame", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400},
        {"TwoClDifferent", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400},
        {"ClSpaceBeforeColon", req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n", "hello"), 400},
        // Header syntax.
        {"ObsFold", req("GET / HTTP/1.1\r\nHost: a\r\nX-Foo: a\r\n  folded\r\n"), 400},
        {"ObsFoldTab", req("GET / HTTP/1.1\r\nHost: a\r\nX-Foo: a\r\n\tfolded\r\n"), 400},
        {"WhitespaceLineAfterRequestLine", req("GET / HTTP/1.1\r\n Host: a\r\n"), 400},
        {"SpaceBeforeColon", req("GET / HTTP/1.1\r\nHost : a\r\n"), 400},
        {"TabBeforeColon", req("GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n"), 400},
        {"NulInValue", req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n"s), 400},
        {"NulInName", req("GET / HTTP/1.1\r\nHost: a\r\nX-\0A: b\r\n"s), 400},
        {"BareCrInValue", req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n"), 400},
        {"BareCrInName", req("GET / HTTP/1.1\r\nHost: a\r\nX\rA: b\r\n"), 400},
        {"BareLfInHeaderSection", req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\nX-B: c\r\n"), 400},
        {"BareLfAfterRequestLine", req("GET / HTTP/1.1\nHost: a\r\n"), 400},
        {"AllBareLf", "GET / HTTP/1.1\nHost: a\n\n", 400},
        {"BareLfEmptyLine", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
        {"CrCrLf", req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\r\n"), 400},
        {"ObsTextInName", req("GET / HTTP/1.1\r\nHost: a\r\nX-\xc3\xa9: v\r\n"), 400},
        {"DelInValue", req("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n"), 400},
        {"HeaderWithoutColon", req("GET / HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n"), 400},
        {"EmptyHeaderName", req("GET / HTTP/1.1\r\nHost: a\r\n: value\r\n"), 400},
        {"NonTokenHeaderName", req("GET / HTTP/1.1\r\nHost: a\r\nX@A: b\r\n"), 400},
        // Host.
        {"MissingHostHttp11", req("GET / HTTP/1.1\r\nX-A: b\r\n"), 400},
        {"DuplicateHost", req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n"), 400},
        {"DuplicateHostSameValue", req("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n"), 400},
        {"HostWithUserinfo", req("GET / HTTP/1.1\r\nHost: user@evil.example\r\n"), 400},
        {"HostWithSpace", req("GET / HTTP/1.1\r\nHost: a b\r\n"), 400},
        {"HostWithPath", req("GET / HTTP/1.1\r\nHost: a/b\r\n"), 400},
        // Request line.
        {"DoubleSpaceAfterMethod", req("GET  / HTTP/1.1\r\nHost: a\r\n"), 400},
        {"DoubleSpaceBeforeVersion", req("GET /  HTTP/1.1\r\nHost: a\r\n"), 400},
        {"TrailingSpaceAfterVersion", req("GET / HTTP/1.1 \r\nHost: a\r\n"), 400},
        {"LeadingSpace", req(" GET / HTTP/1.1\r\nHost: a\r\n"), 400},
        {"TabSeparators", req("GET\t/\tHTTP/1.1\r\nHost: a\r\n"), 400},
        {"MissingVersion", req("GET /\r\nHost: a\r\n"), 400},
        {"Http09", "GET /\r\n\r\n", 400},
        {"LowercaseVersion", req("GET / http/1.1\r\nHost: a\r\n"), 400},
        {"GarbageVersion", req("GET / FOO/1.1\r\nHost: a\r\n"), 400},
        {"VersionLeadingZero", req("GET / HTTP/01.1\r\nHost: a\r\n"), 400},
        {"VersionTrailingJunk", req("GET / HTTP/1.1x\r\nHost: a\r\n"), 400},
        {"Http20", req("GET / HTTP/2.0\r\nHost: a\r\n"), 505},
        {"Http30", req("GET / HTTP/3.0\r\nHost: a\r\n"), 505},
        {"InvalidMethodChar", req("G(T / HTTP/1.1\r\nHost: a\r\n"), 400},
        {"Connect", req("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n"), 501},
        // Target.
        {"SpaceInTarget", req("GET /a b HTTP/1.1\r\nHost: a\r\n"), 400},
        {"CtlInTarget", req("GET /a\x01z HTTP/1.1\r\nHost: a\r\n"), 400},
        {"DelInTarget", req("GET /a\x7fz HTTP/1.1\r\nHost: a\r\n"), 400},
        {"NulInTarget", req("GET /a\0z HTTP/1.1\r\nHost: a\r\n"s), 400},
        {"RelativeTarget", req("GET foo HTTP/1.1\r\nHost: a\r\n"), 400},
        {"AsteriskWithGet", req("GET * HTTP/1.1\r\nHost: a\r\n"), 400},
        {"AbsoluteTargetWithUserinfo", req("GET http://user@evil.example/ HTTP/1.1\r\nHost: a\r\n"), 400},
        {"AbsoluteTargetOtherScheme", req("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n"), 400},
        // Expectations Weir cannot meet.
        {"UnknownExpectation", req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n", "x"), 417},
        // Heads over max_header_bytes (8192 here) or with too many fields.
        {"HeadTooLarge", req("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(9000, 'a') + "\r\n"), 431},
        {"HugeRequestLine", req("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n"), 431},
        {"TooManyFields", [] {
             std::string h = "GET / HTTP/1.1\r\nHost: a\r\n";
             for (int i = 0; i < 200; ++i) h += "X" + std::to_string(i) + ": 1\r\n";
             return req(h);
         }(), 431},
    };
    return v;
}

// A vector and the transport it is sent over.
using Case = std::tuple<Vector, Transport>;

class SmugglingCaseTest : public ::testing::TestWithParam<Case> {
protected:
    const Vector& vec() const { return std::get<0>(GetParam()); }
    Transport transport() const { return std::get<1>(GetParam()); }
};

// The vector's name, plus "_Tls" over TLS (the plain names are unchanged).
std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    const auto& [v, t] = info.param;
    return t == Transport::plain ? std::string(v.name) : std::string(v.name) + "_" + to_string(t);
}

const auto kTransports = ::testing::Values(Transport::plain, Transport::tls);

class SmugglingHeadTest : public SmugglingCaseTest {};

// For a rejected head: the expected status, a closed connection, and not one
// byte of it at the upstream. A valid probe request sent afterwards must be
// the only thing the upstream ever sees.
TEST_P(SmugglingHeadTest, RejectedAndNothingReachesTheUpstream) {
    const Vector& v = vec();
    SingleProxy p(transport());
    ASSERT_NO_FATAL_FAILURE(expect_refused_and_closed(p, v));
    Response probe = p.fetch("/probe");
    EXPECT_EQ(probe.status, 200) << probe.describe() << p.weir->log();
    ASSERT_TRUE(p.up.wait_requests(1));
    auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 1u) << "the malformed request reached the upstream: " << reqs[0].method << " "
                               << reqs[0].target << "\n"
                               << reqs[0].headers.dump();
    EXPECT_EQ(reqs[0].target, "/probe");
}

INSTANTIATE_TEST_SUITE_P(Smuggling, SmugglingHeadTest, ::testing::Combine(::testing::ValuesIn(head_vectors()), kTransports),
                         case_name);

// ---------------------------------------------------------------- malformed bodies

// The head is valid, so the upstream may already hold it and part of the
// body; it must never see a complete request, and the client gets a 400.
std::string chunked_post(std::string_view body) {
    return "POST /body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(body);
}

const std::vector<Vector>& body_vectors() {
    static const std::vector<Vector> v = {
        {"NonHexChunkSize", chunked_post("5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n"), 400},
        {"EmptyChunkSize", chunked_post("5\r\nhello\r\n\r\nhello\r\n0\r\n\r\n"), 400},
        {"ChunkSizeOverflow", chunked_post("ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400},
        {"ChunkSizeHexPrefix", chunked_post("0x5\r\nhello\r\n0\r\n\r\n"), 400},
        {"NegativeChunkSize", chunked_post("-5\r\nhello\r\n0\r\n\r\n"), 400},
        {"ChunkSizeInnerSpace", chunked_post("5 5\r\nhello\r\n0\r\n\r\n"), 400},
        {"ChunkExtensionTooLong", chunked_post("5;" + std::string(70000, 'a') + "\r\nhello\r\n0\r\n\r\n"), 400},
        {"ChunkExtensionWithNul", chunked_post("5;a=\0\r\nhello\r\n0\r\n\r\n"s), 400},
        {"BareLfChunkLine", chunked_post("5\nhello\r\n0\r\n\r\n"), 400},
        {"BareLfAfterChunkData", chunked_post("5\r\nhello\n0\r\n\r\n"), 400},
        {"ChunkDataLongerThanSize", chunked_post("5\r\nhelloEXTRA\r\n0\r\n\r\n"), 400},
        {"BareLfLastChunk", chunked_post("5\r\nhello\r\n0\n\n"), 400},
        {"FoldedTrailer", chunked_post("5\r\nhello\r\n0\r\n folded: x\r\n\r\n"), 400},
        {"TrailerWithNul", chunked_post("5\r\nhello\r\n0\r\nX-T: a\0b\r\n\r\n"s), 400},
    };
    return v;
}

class SmugglingBodyTest : public SmugglingCaseTest {};

TEST_P(SmugglingBodyTest, RejectedAndTheUpstreamNeverGetsACompleteRequest) {
    const Vector& v = vec();
    SingleProxy p(transport());
    ASSERT_NO_FATAL_FAILURE(expect_refused_and_closed(p, v));
    // Whatever part of the request went upstream, that connection must be
    // closed before the body completes.
    auto reqs = p.up.requests();
    for (const auto& r : reqs) EXPECT_TRUE(p.up.wait_connection_closed(r.conn_id)) << "upstream connection left open";
    // Only the smuggling request (POST /body) counts: on a shared machine the
    // upstream's port may have been another test's endpoint a moment ago,
    // and that test's health checks (GET /healthz) can still reach it.
    for (const auto& r : p.up.requests()) {
        if (r.target != "/body") continue;
        EXPECT_FALSE(r.complete) << "upstream received a complete request: " << r.target << " body '" << r.body << "'";
    }

    // And Weir still serves.
    EXPECT_EQ(p.fetch("/probe").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Smuggling, SmugglingBodyTest, ::testing::Combine(::testing::ValuesIn(body_vectors()), kTransports),
                         case_name);

// ---------------------------------------------------------------- smuggling on keep-alive

class SmugglingTest : public ::testing::TestWithParam<Transport> {};

// A second request hidden in a body must be treated as body, never as a request.
TEST_P(SmugglingTest, RequestInsideContentLengthBodyIsNotARequest) {
    SingleProxy p(GetParam());
    RawClient client = p.connect();
    std::string hidden = get_request("/hidden");
    Response r = client.request("POST /outer HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(hidden.size()) +
                                "\r\n\r\n" + hidden);
    ASSERT_EQ(r.status, 200) << r.describe();
    ASSERT_TRUE(p.up.wait_complete(1));
    auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].body, hidden);
    // The connection must be idle now, not answering a second request.
    EXPECT_EQ(client.request(get_request("/next")).body, "stable GET /next");
    EXPECT_EQ(p.up.request_count(), 2u);
}

// The upstream gets a body framed the way Weir understood it: a chunked body
// stays chunked (exactly one Transfer-Encoding, no Content-Length), and a
// length-framed one keeps exactly one Content-Length.
TEST_P(SmugglingTest, UpstreamFramingIsUnambiguous) {
    SingleProxy p(GetParam());
    RawClient client = p.connect();
    ASSERT_EQ(client.request(chunked_post("3\r\nabc\r\n0\r\n\r\n")).status, 200);
    ASSERT_EQ(client.request("POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz").status, 200);
    auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].headers.count("transfer-encoding"), 1) << reqs[0].headers.dump();
    EXPECT_TRUE(iequals(reqs[0].headers.get("transfer-encoding"), "chunked")) << reqs[0].headers.dump();
    EXPECT_FALSE(reqs[0].headers.has("content-length")) << reqs[0].headers.dump();
    EXPECT_EQ(reqs[0].body, "abc");
    EXPECT_EQ(reqs[1].headers.all("content-length"), std::vector<std::string>{"3"}) << reqs[1].headers.dump();
    EXPECT_FALSE(reqs[1].headers.has("transfer-encoding")) << reqs[1].headers.dump();
    EXPECT_EQ(reqs[1].body, "xyz");
}

// Connection may name only hop-by-hop fields; naming a framing or routing
// field must not make Weir drop it (the next hop would frame differently).
TEST_P(SmugglingTest, ConnectionCannotStripContentLengthOrHost) {
    SingleProxy p(GetParam());
    RawClient client = p.connect();
    ASSERT_TRUE(client.send("POST /a HTTP/1.1\r\nHost: a.example\r\nConnection: Content-Length, Host\r\n"
                            "Content-Length: 5\r\n\r\nhello" +
                            get_request("/b")));
    Response r1 = client.read_response();
    Response r2 = client.read_response();
    EXPECT_EQ(r1.body, "stable POST /a") << r1.describe();
    EXPECT_EQ(r2.body, "stable GET /b") << r2.describe();
    auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].headers.all("content-length"), std::vector<std::string>{"5"}) << reqs[0].headers.dump();
    EXPECT_EQ(reqs[0].headers.get("host"), "a.example") << reqs[0].headers.dump();
    EXPECT_EQ(reqs[0].body, "hello");
    EXPECT_EQ(reqs[1].target, "/b");
}

TEST_P(SmugglingTest, ConnectionCannotStripTransferEncodingFraming) {
    SingleProxy p(GetParam());
    RawClient client = p.connect();
    ASSERT_TRUE(client.send("POST /a HTTP/1.1\r\nHost: a\r\nConnection: Transfer-Encoding\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
                            get_request("/b")));
    Response r1 = client.read_response();
    Response r2 = client.read_response();
    EXPECT_EQ(r1.body, "stable POST /a") << r1.describe();
    EXPECT_EQ(r2.body, "stable GET /b") << r2.describe();
    auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_TRUE(reqs[0].chunked) << reqs[0].headers.dump();
    EXPECT_EQ(reqs[0].body, "hello");
}

TEST_P(SmugglingTest, UpstreamConnectionHeaderCannotStripResponseContentLength) {
    SingleProxy p(GetParam());
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.target == "/tricky") c.send("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello");
        else c.send(make_response(200, "next"));
        return After::keep_alive;
    });
    RawClient client = p.connect();
    Response r = client.request(get_request("/tricky"));
    ASSERT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.body, "hello");
    EXPECT_TRUE(r.headers.has("content-length") || r.chunked) << r.describe();
    EXPECT_EQ(client.request(get_request("/n")).body, "next");
}

// Valid but unusual spellings must not be refused: they are not smuggling.
TEST_P(SmugglingTest, LegalVariantsAreAccepted) {
    SingleProxy p(GetParam());
    const std::vector<std::pair<const char*, std::string>> ok = {
        {"TeUppercase", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
        {"TeTrailingOws", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
        {"ClOws", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  3\t\r\n\r\nabc"},
        {"ChunkExtension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"},
        {"Trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"},
        {"LeadingEmptyLine", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"},
        {"Http10WithoutHost", "GET / HTTP/1.0\r\n\r\n"},
    };
    for (const auto& [name, bytes] : ok) {
        RawClient client = p.connect();
        Response r = client.request(bytes);
        EXPECT_EQ(r.status, 200) << name << ": " << r.describe();
    }
    EXPECT_TRUE(p.up.wait_complete(ok.size()));
    for (const auto& r : p.up.requests()) {
        if (r.method == "POST") {
            EXPECT_EQ(r.body, "abc") << r.target;
        }
    }
}

std::string transport_name(const ::testing::TestParamInfo<Transport>& info) { return to_string(info.param); }

INSTANTIATE_TEST_SUITE_P(Smuggling, SmugglingTest, kTransports, transport_name);

}  // namespace
}  // namespace weir_it
