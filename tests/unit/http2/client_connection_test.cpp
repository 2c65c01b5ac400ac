// The upstream HTTP/2 codec driven against the downstream one in memory (and
// by hand-built frames where a well-behaved server would not go): gRPC-shaped
// exchanges, flow control both ways, concurrency limits, GOAWAY, resets and
// a misbehaving upstream. Simulated time only.
#include "http2/client_connection.hpp"
#include "http2/frame_scanner.hpp"
#include "http2/server_connection.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace weir::http2 {
namespace {

using namespace std::chrono_literals;

const Clock::time_point t0{};
using Fields = std::vector<std::pair<std::string, std::string>>;

Fields fields_of(const std::vector<http::Header>& headers) {
    Fields out;
    for (const auto& h : headers) out.emplace_back(h.name, h.value);
    return out;
}

std::string frame(FrameType type, std::uint8_t flags, std::uint32_t stream_id, std::string_view payload) {
    std::string f;
    const std::size_t n = payload.size();
    for (int shift : {16, 8, 0}) f += static_cast<char>(n >> shift);
    f += static_cast<char>(type);
    f += static_cast<char>(flags);
    for (int shift : {24, 16, 8, 0}) f += static_cast<char>(stream_id >> shift);
    f.append(payload);
    return f;
}

std::string u32(std::uint32_t v) {
    std::string s;
    for (int shift : {24, 16, 8, 0}) s += static_cast<char>(v >> shift);
    return s;
}

// An HPACK header block for `fields` (a fresh encoder each time).
std::string header_block(const Fields& fields) {
    std::vector<nghttp2_nv> nv;
    for (const auto& [n, v] : fields)
        nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                      reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                      NGHTTP2_NV_FLAG_NONE});
    nghttp2_hd_deflater* d = nullptr;
    nghttp2_hd_deflate_new(&d, 4096);
    std::string out(nghttp2_hd_deflate_bound(d, nv.data(), nv.size()), '\0');
    const ssize_t n =
        nghttp2_hd_deflate_hd(d, reinterpret_cast<std::uint8_t*>(out.data()), out.size(), nv.data(), nv.size());
    nghttp2_hd_deflate_del(d);
    out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return out;
}

constexpr std::string_view client_magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// The GOAWAY error code among the frames of `bytes` (the client's output,
// maybe from its start), 0xffffffff if none.
std::uint32_t goaway_code(std::string_view bytes) {
    if (bytes.substr(0, client_magic.size()) == client_magic) bytes.remove_prefix(client_magic.size());
    std::uint32_t code = 0xffffffffu;
    std::size_t at = 0;
    while (at <= bytes.size() && bytes.size() - at >= frame_header_bytes) {
        const FrameHeader h = decode_frame_header(reinterpret_cast<const unsigned char*>(bytes.data() + at));
        if (h.type == static_cast<std::uint8_t>(FrameType::goaway) && h.length >= 8) {
            const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at + frame_header_bytes + 4);
            code = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
        }
        at += frame_header_bytes + h.length;
    }
    return code;
}

RequestHeaders grpc_call(std::string_view path, bool end_stream = false) {
    RequestHeaders r;
    r.method = "POST";
    r.scheme = "http";
    r.authority = "api.internal";
    r.path = path;
    r.headers = {{"content-type", "application/grpc"}, {"te", "trailers"}};
    r.end_stream = end_stream;
    return r;
}

// The owner of the ServerConnection: the upstream application.
struct Upstream : Events {
    struct Request {
        std::string method, path;
        Fields headers, trailers;
        std::string body;
        bool ended = false;
    };
    ServerConnection* server = nullptr;
    std::map<std::int32_t, Request> requests;
    std::map<std::int32_t, std::uint32_t> closed;
    bool consume = true;
    std::int32_t last_id = 0;

    void on_request(std::int32_t id, const RequestHeaders& r) override {
        Request& q = requests[id];
        q.method = r.method;
        q.path = r.path;
        q.headers = fields_of(r.headers);
        last_id = id;
    }
    void on_body(std::int32_t id, std::string_view bytes) override {
        requests[id].body.append(bytes);
        if (consume) server->consumed_body(id, bytes.size());
    }
    void on_request_trailers(std::int32_t id, const std::vector<http::Header>& t) override {
        requests[id].trailers = fields_of(t);
    }
    void on_end_of_request(std::int32_t id) override { requests[id].ended = true; }
    void on_stream_closed(std::int32_t id, std::uint32_t code) override { closed[id] = code; }

    // A unary gRPC answer: head, one message, grpc-status trailers.
    void answer(std::int32_t id, std::string body, std::string status = "0") {
        ASSERT_FALSE(server->submit_response(id, 200, {{"content-type", "application/grpc"}}, false));
        server->submit_body(id, body, false);
        ASSERT_FALSE(server->submit_trailers(id, {{"grpc-status", status}}));
    }
};

// The owner of the ClientConnection: the proxy side.
struct Downstream : ClientEvents {
    struct Response {
        int status = 0;
        Fields headers;
        bool head_ends = false;
        std::string body;
        Fields trailers;
        bool ended = false;
        bool closed = false;
        std::uint32_t code = 0;
        std::string order;  // one letter per event: r(esponse) b(ody) t(railers) e(nd) c(losed)
    };
    ClientConnection* client = nullptr;
    std::map<std::int32_t, Response> responses;
    std::vector<std::pair<std::int32_t, bool>> buffer_events;
    int ping_acks = 0;
    bool consume = true;

    void on_response(std::int32_t id, int status, const std::vector<http::Header>& headers, bool end_stream) override {
        Response& r = responses[id];
        r.status = status;
        r.headers = fields_of(headers);
        r.head_ends = end_stream;
        r.order += 'r';
    }
    void on_body(std::int32_t id, std::string_view bytes) override {
        Response& r = responses[id];
        r.body.append(bytes);
        if (r.order.empty() || r.order.back() != 'b') r.order += 'b';
        if (consume) client->consumed_body(id, bytes.size());
    }
    void on_trailers(std::int32_t id, const std::vector<http::Header>& t) override {
        responses[id].trailers = fields_of(t);
        responses[id].order += 't';
    }
    void on_end_of_response(std::int32_t id) override {
        responses[id].ended = true;
        responses[id].order += 'e';
    }
    void on_stream_closed(std::int32_t id, std::uint32_t code) override {
        Response& r = responses[id];
        EXPECT_FALSE(r.closed) << "stream " << id << " closed twice";
        r.closed = true;
        r.code = code;
        r.order += 'c';
    }
    void on_send_buffer(std::int32_t id, bool full) override { buffer_events.emplace_back(id, full); }
    void on_ping_ack() override { ++ping_acks; }
};

// A client and a server codec wired back to back.
struct Link {
    ClientLimits client_limits;
    Limits server_limits;
    Upstream up;
    Downstream down;
    std::unique_ptr<ServerConnection> server;
    std::unique_ptr<ClientConnection> client;
    std::error_code client_error, server_error;
    Clock::time_point now = t0;

    explicit Link(ClientLimits cl = {}, Limits sl = {}) : client_limits(cl), server_limits(sl) {
        server = std::make_unique<ServerConnection>(server_limits, up);
        client = std::make_unique<ClientConnection>(client_limits, down);
        up.server = server.get();
        down.client = client.get();
    }

    // Moves bytes both ways until neither side has any to send.
    void run() {
        for (int i = 0; i < 10000; ++i) {
            const std::string to_server(client->pending_output());
            client->consumed_output(to_server.size());
            if (!to_server.empty()) {
                const std::error_code ec = server->receive(to_server, now);
                if (ec && !server_error) server_error = ec;
            }
            const std::string to_client(server->pending_output());
            server->consumed_output(to_client.size());
            if (!to_client.empty()) {
                const std::error_code ec = client->receive(to_client, now);
                if (ec && !client_error) client_error = ec;
            }
            if (to_server.empty() && to_client.empty()) return;
        }
        ADD_FAILURE() << "the exchange did not settle";
    }

    std::int32_t open(const RequestHeaders& r) {
        const auto opened = client->submit_request(r);
        EXPECT_FALSE(opened.error) << opened.error.message();
        return opened.stream_id;
    }
};

// A client fed hand-built upstream bytes; returns what it writes.
struct Raw {
    Downstream down;
    ClientConnection client;
    std::error_code error;
    explicit Raw(ClientLimits l = {}) : client(l, down) { down.client = &client; }
    std::string output() {
        std::string out;
        for (std::string_view p = client.pending_output(); !p.empty(); p = client.pending_output()) {
            out.append(p);
            client.consumed_output(p.size());
        }
        return out;
    }
    std::string feed(std::string_view bytes, Clock::time_point now = t0) {
        const std::error_code ec = client.receive(bytes, now);
        if (ec && !error) error = ec;
        return output();
    }
};

std::string server_settings() { return frame(FrameType::settings, 0, 0, ""); }

std::string response_head(std::uint32_t id, const Fields& f, bool end_stream) {
    return frame(FrameType::headers, flag_end_headers | (end_stream ? flag_end_stream : 0), id, header_block(f));
}

TEST(Http2Client, PrefaceAndSettingsAreQueuedAtOnce) {
    Raw r;
    const std::string out = r.output();
    ASSERT_GE(out.size(), 24u + frame_header_bytes);
    EXPECT_EQ(out.substr(0, 24), client_magic);
    const FrameHeader h = decode_frame_header(reinterpret_cast<const unsigned char*>(out.data() + 24));
    EXPECT_EQ(h.type, static_cast<std::uint8_t>(FrameType::settings));
    // ENABLE_PUSH 0 among the settings (id 2, value 0).
    const std::string payload = out.substr(24 + frame_header_bytes, h.length);
    bool push_off = false;
    for (std::size_t i = 0; i + 6 <= payload.size(); i += 6)
        push_off = push_off || (payload.substr(i, 6) == std::string("\0\x02\0\0\0\0", 6));
    EXPECT_TRUE(push_off);
}

TEST(Http2Client, UnaryCallWithTrailers) {
    Link l;
    const std::int32_t id = l.open(grpc_call("/pkg.Svc/Get"));
    EXPECT_EQ(id, 1);
    EXPECT_EQ(l.client->open_streams(), 1u);
    EXPECT_TRUE(l.client->submit_body(id, std::string("\0\0\0\0\x03" "abc", 8), true));
    l.run();
    ASSERT_EQ(l.up.requests.size(), 1u);
    const auto& q = l.up.requests[id];
    EXPECT_EQ(q.method, "POST");
    EXPECT_EQ(q.path, "/pkg.Svc/Get");
    EXPECT_EQ(q.headers, (Fields{{"content-type", "application/grpc"}, {"te", "trailers"}}));
    EXPECT_EQ(q.body.size(), 8u);
    EXPECT_TRUE(q.ended);

    l.up.answer(id, "reply");
    l.run();
    const auto& r = l.down.responses[id];
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers, (Fields{{"content-type", "application/grpc"}}));
    EXPECT_FALSE(r.head_ends);
    EXPECT_EQ(r.body, "reply");
    EXPECT_EQ(r.trailers, (Fields{{"grpc-status", "0"}}));
    EXPECT_EQ(r.order, "rbtec");
    EXPECT_EQ(r.code, 0u);
    EXPECT_EQ(l.client->open_streams(), 0u);
    EXPECT_TRUE(l.client->can_open_stream());
    EXPECT_FALSE(l.client->wants_close());
    EXPECT_FALSE(l.client_error);
    EXPECT_FALSE(l.server_error);
}

TEST(Http2Client, TrailersOnlyResponseIsAHeadThatEnds) {
    Link l;
    const std::int32_t id = l.open(grpc_call("/pkg.Svc/Get", true));
    l.run();
    ASSERT_FALSE(l.up.server->submit_response(
        id, 200, {{"content-type", "application/grpc"}, {"grpc-status", "14"}, {"grpc-message", "down"}}, true));
    l.run();
    const auto& r = l.down.responses[id];
    EXPECT_TRUE(r.head_ends);
    EXPECT_EQ(r.headers,
              (Fields{{"content-type", "application/grpc"}, {"grpc-status", "14"}, {"grpc-message", "down"}}));
    EXPECT_TRUE(r.trailers.empty());
    EXPECT_EQ(r.order, "rec");
}

TEST(Http2Client, InterimHeadsAreSkipped) {
    Link l;
    const std::int32_t id = l.open(grpc_call("/a", true));
    l.run();
    ASSERT_FALSE(l.up.server->submit_response(id, 103, {{"link", "</x>; rel=preload"}}, false));
    ASSERT_FALSE(l.up.server->submit_response(id, 204, {}, true));
    l.run();
    EXPECT_EQ(l.down.responses[id].status, 204);
    EXPECT_TRUE(l.down.responses[id].headers.empty());
    EXPECT_EQ(l.down.responses[id].order, "rec");
}

TEST(Http2Client, RequestTrailersReachTheServer) {
    Link l;
    const std::int32_t id = l.open(grpc_call("/a"));
    l.client->submit_body(id, "msg", false);
    ASSERT_FALSE(l.client->submit_trailers(id, {{"x-checksum", "7"}}));
    l.run();
    EXPECT_EQ(l.up.requests[id].body, "msg");
    EXPECT_EQ(l.up.requests[id].trailers, (Fields{{"x-checksum", "7"}}));
    EXPECT_TRUE(l.up.requests[id].ended);
    EXPECT_TRUE(l.client->submit_trailers(id, {{"x", "1"}}));  // already ended
}

TEST(Http2Client, LargeRequestBodyFollowsTheServersWindow) {
    Link l;
    l.up.consume = false;
    const std::int32_t id = l.open(grpc_call("/upload"));
    const std::string mib(1 << 20, 'u');
    EXPECT_FALSE(l.client->submit_body(id, mib, true));  // over send_buffer_bytes: full
    ASSERT_EQ(l.down.buffer_events.size(), 1u);
    EXPECT_EQ(l.down.buffer_events[0], std::make_pair(id, true));
    l.run();
    EXPECT_EQ(l.up.requests[id].body.size(), 65535u);  // the server's stream window, then nothing
    std::size_t handed_back = 0;
    for (int i = 0; i < 100 && !l.up.requests[id].ended; ++i) {
        const std::size_t got = l.up.requests[id].body.size();
        l.server->consumed_body(id, got - handed_back);
        handed_back = got;
        l.run();
        EXPECT_GT(l.up.requests[id].body.size(), got);
    }
    EXPECT_TRUE(l.up.requests[id].ended);
    EXPECT_TRUE(l.up.requests[id].body == mib) << l.up.requests[id].body.size();
    ASSERT_EQ(l.down.buffer_events.size(), 2u);
    EXPECT_EQ(l.down.buffer_events[1], std::make_pair(id, false));  // drained
}

TEST(Http2Client, LargeResponseBodyWaitsForTheOwnerToConsume) {
    Link l;
    l.down.consume = false;
    const std::int32_t id = l.open(grpc_call("/download", true));
    l.run();
    const std::string mib(1 << 20, 'd');
    ASSERT_FALSE(l.server->submit_response(id, 200, {}, false));
    l.server->submit_body(id, mib, false);
    l.server->submit_trailers(id, {{"grpc-status", "0"}});
    l.run();
    auto& r = l.down.responses[id];
    EXPECT_EQ(r.body.size(), 65535u);  // the client's stream window
    EXPECT_FALSE(r.ended);
    std::size_t handed_back = 0;
    for (int i = 0; i < 100 && !r.ended; ++i) {
        const std::size_t got = r.body.size();
        l.client->consumed_body(id, got - handed_back);
        handed_back = got;
        l.run();
        EXPECT_GT(r.body.size(), got);
    }
    EXPECT_TRUE(r.body == mib) << r.body.size();
    EXPECT_EQ(r.trailers, (Fields{{"grpc-status", "0"}}));
    EXPECT_EQ(r.order, "rbtec");
}

TEST(Http2Client, ConcurrentStreamsUpToThePeersLimit) {
    Limits sl;
    sl.max_concurrent_streams = 5;
    Link l({}, sl);
    l.run();  // the server's SETTINGS arrive
    std::vector<std::int32_t> ids;
    while (l.client->can_open_stream()) ids.push_back(l.open(grpc_call("/s", true)));
    EXPECT_EQ(ids.size(), 5u);
    EXPECT_EQ(l.client->open_streams(), 5u);
    const auto refused = l.client->submit_request(grpc_call("/s", true));
    EXPECT_EQ(refused.stream_id, 0);
    EXPECT_EQ(refused.error, make_error_code(Error::no_stream));
    l.run();
    EXPECT_EQ(l.up.requests.size(), 5u);
    EXPECT_TRUE(l.server_error == std::error_code{});
    // Answered in reverse order; each slot frees as its stream closes.
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) l.up.answer(*it, "r" + std::to_string(*it));
    l.run();
    for (std::int32_t id : ids) {
        EXPECT_EQ(l.down.responses[id].body, "r" + std::to_string(id));
        EXPECT_EQ(l.down.responses[id].order, "rbtec");
    }
    EXPECT_EQ(l.client->open_streams(), 0u);
    EXPECT_TRUE(l.client->can_open_stream());
}

TEST(Http2Client, LocalCapBelowThePeersLimit) {
    ClientLimits cl;
    cl.max_concurrent_streams = 3;
    Link l(cl);
    l.run();
    int opened = 0;
    while (l.client->can_open_stream()) opened += l.open(grpc_call("/s", true)) > 0;
    EXPECT_EQ(opened, 3);
}

TEST(Http2Client, ManyStreamsAnsweredOutOfOrder) {
    Link l;
    l.run();
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 100; ++i) {
        const std::int32_t id = l.open(grpc_call("/m/" + std::to_string(i)));
        l.client->submit_body(id, std::string(1000 + i, 'q'), true);
        ids.push_back(id);
    }
    EXPECT_FALSE(l.client->can_open_stream());  // the server's default limit: 100
    l.run();
    ASSERT_EQ(l.up.requests.size(), 100u);
    for (int i = 99; i >= 0; --i) l.up.answer(ids[i], std::string(2000 + i, 'a'));
    l.run();
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(l.up.requests[ids[i]].path, "/m/" + std::to_string(i));
        EXPECT_EQ(l.up.requests[ids[i]].body.size(), 1000u + i);
        EXPECT_EQ(l.down.responses[ids[i]].body.size(), 2000u + i);
        EXPECT_EQ(l.down.responses[ids[i]].code, 0u);
    }
    EXPECT_EQ(l.client->open_streams(), 0u);
}

TEST(Http2Client, GracefulGoawayFromTheServer) {
    Link l;
    const std::int32_t id = l.open(grpc_call("/a", true));
    l.run();
    l.server->graceful_shutdown();
    l.run();
    EXPECT_TRUE(l.client->goaway_received());
    EXPECT_EQ(l.client->goaway_last_stream_id(), id);
    EXPECT_EQ(l.client->goaway_error_code(), 0u);
    EXPECT_FALSE(l.client->can_open_stream());
    EXPECT_EQ(l.client->submit_request(grpc_call("/b", true)).error, make_error_code(Error::no_stream));
    EXPECT_FALSE(l.client->wants_close());  // stream 1 still runs
    l.up.answer(id, "last");
    l.run();
    EXPECT_EQ(l.down.responses[id].order, "rbtec");
    EXPECT_TRUE(l.client->wants_close());
    EXPECT_FALSE(l.client_error);
}

TEST(Http2Client, GoawayRefusesStreamsAboveItsLastId) {
    Raw r;
    const std::int32_t a = r.client.submit_request(grpc_call("/a", true)).stream_id;
    const std::int32_t b = r.client.submit_request(grpc_call("/b", true)).stream_id;
    const std::int32_t c = r.client.submit_request(grpc_call("/c", true)).stream_id;
    r.output();  // all three sent
    r.feed(server_settings() + frame(FrameType::goaway, 0, 0, u32(a) + u32(NGHTTP2_NO_ERROR)));
    EXPECT_FALSE(r.error);
    EXPECT_TRUE(r.client.goaway_received());
    EXPECT_EQ(r.client.goaway_last_stream_id(), a);
    EXPECT_EQ(r.down.responses[b].code, static_cast<std::uint32_t>(NGHTTP2_REFUSED_STREAM));
    EXPECT_EQ(r.down.responses[c].code, static_cast<std::uint32_t>(NGHTTP2_REFUSED_STREAM));
    EXPECT_EQ(r.down.responses[b].order, "c");
    EXPECT_EQ(r.down.responses.count(a), 0u);
    EXPECT_EQ(r.client.open_streams(), 1u);
    EXPECT_FALSE(r.client.wants_close());
    r.feed(response_head(a, {{":status", "200"}, {"grpc-status", "0"}}, true));
    EXPECT_EQ(r.down.responses[a].order, "rec");
    EXPECT_TRUE(r.client.wants_close());
}

TEST(Http2Client, RequestsQueuedWhenAGoawayArrivesAreRefused) {
    Raw r;
    r.output();
    const std::int32_t id = r.client.submit_request(grpc_call("/late", true)).stream_id;
    ASSERT_GT(id, 0);
    // The GOAWAY arrives before the request's HEADERS were written.
    r.feed(server_settings() + frame(FrameType::goaway, 0, 0, u32(0) + u32(NGHTTP2_NO_ERROR)));
    EXPECT_EQ(r.down.responses[id].order, "c");
    EXPECT_EQ(r.down.responses[id].code, static_cast<std::uint32_t>(NGHTTP2_REFUSED_STREAM));
    EXPECT_EQ(r.client.open_streams(), 0u);
    EXPECT_TRUE(r.client.wants_close());
}

TEST(Http2Client, ServerResetsOneStream) {
    Link l;
    const std::int32_t a = l.open(grpc_call("/a", true));
    const std::int32_t b = l.open(grpc_call("/b", true));
    l.run();
    l.server->reset(a, NGHTTP2_CANCEL);
    l.up.answer(b, "fine");
    l.run();
    EXPECT_EQ(l.down.responses[a].order, "c");
    EXPECT_EQ(l.down.responses[a].code, static_cast<std::uint32_t>(NGHTTP2_CANCEL));
    EXPECT_EQ(l.down.responses[b].order, "rbtec");
    EXPECT_FALSE(l.client_error);
    EXPECT_TRUE(l.client->can_open_stream());
}

TEST(Http2Client, ClientResetsAStream) {
    Link l;
    const std::int32_t id = l.open(grpc_call("/a"));
    l.client->submit_body(id, "part", false);
    l.run();
    l.client->reset(id, NGHTTP2_CANCEL);
    l.run();
    EXPECT_EQ(l.down.responses[id].code, static_cast<std::uint32_t>(NGHTTP2_CANCEL));
    EXPECT_EQ(l.up.closed[id], static_cast<std::uint32_t>(NGHTTP2_CANCEL));
    EXPECT_EQ(l.client->open_streams(), 0u);
}

TEST(Http2Client, ResetBeforeTheRequestWasSent) {
    Link l;
    l.run();
    const std::int32_t id = l.open(grpc_call("/a", true));
    l.client->reset(id, NGHTTP2_CANCEL);
    l.run();
    EXPECT_EQ(l.down.responses[id].order, "c");
    EXPECT_EQ(l.down.responses[id].code, static_cast<std::uint32_t>(NGHTTP2_CANCEL));
    EXPECT_TRUE(l.up.requests.empty());
    EXPECT_EQ(l.client->open_streams(), 0u);
    EXPECT_FALSE(l.server_error);
    const std::int32_t next = l.open(grpc_call("/b", true));  // the connection goes on
    l.run();
    EXPECT_EQ(l.up.requests.count(next), 1u);
}

TEST(Http2Client, PingAcknowledged) {
    Link l;
    l.run();
    EXPECT_FALSE(l.client->ping_outstanding());
    l.client->submit_ping();
    EXPECT_TRUE(l.client->ping_outstanding());
    l.run();
    EXPECT_FALSE(l.client->ping_outstanding());
    EXPECT_EQ(l.down.ping_acks, 1);
}

TEST(Http2Client, UnsolicitedPingAckIsIgnored) {
    Raw r;
    r.output();
    r.client.submit_ping();
    r.output();
    r.feed(server_settings() + frame(FrameType::ping, flag_ack, 0, std::string(8, 'x')));
    EXPECT_FALSE(r.error);
    EXPECT_TRUE(r.client.ping_outstanding());
    EXPECT_EQ(r.down.ping_acks, 0);
}

TEST(Http2Client, Http1AnswerIsABadPreface) {
    Raw r;
    r.client.submit_request(grpc_call("/a", true));
    r.output();
    const std::string out = r.feed("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(r.error, make_error_code(Error::bad_preface));
    EXPECT_EQ(goaway_code(out), static_cast<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR));
    EXPECT_TRUE(r.client.wants_close());
    EXPECT_FALSE(r.client.can_open_stream());
    EXPECT_EQ(r.client.receive("more", t0), make_error_code(Error::bad_preface));
}

TEST(Http2Client, GarbageFramesAreAConnectionError) {
    Raw r;
    r.client.submit_request(grpc_call("/a", true));
    r.output();
    const std::string out = r.feed(server_settings() + frame(FrameType::data, 0, 0, "garbage"));
    EXPECT_EQ(r.error, make_error_code(Error::protocol));
    EXPECT_EQ(goaway_code(out), static_cast<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR));
    EXPECT_TRUE(r.client.wants_close());
}

TEST(Http2Client, ConnectionErrorAfterAGoawayIsStillAnError) {
    Raw r;
    const std::int32_t id = r.client.submit_request(grpc_call("/a", true)).stream_id;
    r.output();
    r.feed(server_settings() + frame(FrameType::goaway, 0, 0, u32(id) + u32(NGHTTP2_NO_ERROR)));
    EXPECT_FALSE(r.error);
    const std::string out = r.feed(frame(FrameType::data, 0, 0, "garbage"));
    EXPECT_EQ(r.error, make_error_code(Error::protocol));
    EXPECT_EQ(r.client.error(), make_error_code(Error::protocol));
    EXPECT_EQ(goaway_code(out), static_cast<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR));
    EXPECT_TRUE(r.client.wants_close());
}

TEST(Http2Client, PushPromiseIsAConnectionError) {
    Raw r;
    const std::int32_t id = r.client.submit_request(grpc_call("/a", true)).stream_id;
    r.output();
    const std::string promise = u32(2) + header_block({{":method", "GET"}, {":scheme", "http"},
                                                       {":authority", "a"}, {":path", "/p"}});
    // After the server acknowledged SETTINGS_ENABLE_PUSH 0.
    r.feed(server_settings() + frame(FrameType::settings, flag_ack, 0, "") +
           frame(FrameType::push_promise, flag_end_headers, id, promise));
    EXPECT_EQ(r.error, make_error_code(Error::protocol));
    EXPECT_TRUE(r.client.wants_close());
}

TEST(Http2Client, OversizedResponseHeadResetsTheStream) {
    ClientLimits cl;
    cl.max_header_list_bytes = 4096;
    Raw r(cl);
    const std::int32_t a = r.client.submit_request(grpc_call("/a", true)).stream_id;
    const std::int32_t b = r.client.submit_request(grpc_call("/b", true)).stream_id;
    r.output();
    const std::string out = r.feed(server_settings() +
                                   response_head(a, {{":status", "200"}, {"x-big", std::string(5000, 'h')}}, true) +
                                   response_head(b, {{":status", "200"}}, true));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.down.responses[a].order, "c");
    EXPECT_EQ(r.down.responses[a].code, static_cast<std::uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
    EXPECT_EQ(r.down.responses[b].order, "rec");
}

TEST(Http2Client, SettingsFloodEndsTheConnection) {
    Raw r;
    r.output();
    std::string bytes = server_settings();
    for (int i = 0; i < 150; ++i) bytes += frame(FrameType::settings, 0, 0, "");
    const std::string out = r.feed(bytes);
    EXPECT_EQ(r.error, make_error_code(Error::enhance_your_calm));
    EXPECT_FALSE(r.client.calm_reason().empty());
    EXPECT_EQ(goaway_code(out), static_cast<std::uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
    EXPECT_TRUE(r.client.wants_close());
}

TEST(Http2Client, PingsSpreadOverTimeAreFine) {
    Raw r;
    r.output();
    r.feed(server_settings());
    Clock::time_point now = t0;
    for (int i = 0; i < 300; ++i) {
        if (i % 50 == 0) now += 1s;
        r.feed(frame(FrameType::ping, 0, 0, std::string(8, 'p')), now);
    }
    EXPECT_FALSE(r.error);
}

TEST(Http2Client, UnreadAcknowledgementsEndTheConnection) {
    ClientLimits cl;
    cl.max_control_frames = 100000;  // only the outbound bound
    cl.output_buffer_bytes = 1024;
    Raw r(cl);
    std::string bytes = server_settings();
    for (int i = 0; i < 300; ++i) bytes += frame(FrameType::ping, 0, 0, std::string(8, 'p'));
    r.client.receive(bytes, t0);  // nothing written
    EXPECT_EQ(r.client.receive(frame(FrameType::ping, 0, 0, std::string(8, 'p')), t0),
              make_error_code(Error::enhance_your_calm));
    EXPECT_EQ(goaway_code(r.output()), static_cast<std::uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
}

TEST(Http2Client, ContinuationFloodEndsTheConnection) {
    Raw r;
    const std::int32_t id = r.client.submit_request(grpc_call("/a", true)).stream_id;
    r.output();
    std::string bytes = server_settings() + frame(FrameType::headers, 0, id, header_block({{":status", "200"}}));
    for (int i = 0; i < 20; ++i) bytes += frame(FrameType::continuation, 0, id, "");
    r.feed(bytes);
    EXPECT_EQ(r.error, make_error_code(Error::enhance_your_calm));
    EXPECT_EQ(r.down.responses.count(id), 0u);
}

TEST(Http2Client, ShutdownLetsOpenStreamsFinish) {
    Link l;
    const std::int32_t id = l.open(grpc_call("/a", true));
    l.run();
    l.client->shutdown();
    EXPECT_FALSE(l.client->can_open_stream());
    l.run();
    EXPECT_FALSE(l.client->wants_close());
    l.up.answer(id, "x");
    l.run();
    EXPECT_EQ(l.down.responses[id].order, "rbtec");
    EXPECT_TRUE(l.client->wants_close());
}

TEST(Http2Client, StreamIdsRunOut) {
    ClientLimits cl;
    cl.last_stream_id = 5;  // ids 1, 3, 5
    Link l(cl);
    std::vector<std::int32_t> ids;
    while (l.client->can_open_stream()) ids.push_back(l.open(grpc_call("/s", true)));
    EXPECT_EQ(ids, (std::vector<std::int32_t>{1, 3, 5}));
    EXPECT_EQ(l.client->submit_request(grpc_call("/s", true)).error, make_error_code(Error::no_stream));
    l.run();
    for (std::int32_t id : ids) l.up.answer(id, "x");
    l.run();
    EXPECT_EQ(l.client->open_streams(), 0u);
    EXPECT_FALSE(l.client->can_open_stream());
    EXPECT_TRUE(l.client->wants_close());
}

}  // namespace
}  // namespace weir::http2
