// libFuzzer target for the upstream HTTP/2 codec (http2/client_connection).
// The input is two control bytes, then what an upstream server sends. The
// first byte cuts the input into pieces (and steps simulated time between
// them); the second picks whether the owner hands response bodies back and
// whether the target sends the server's SETTINGS frame itself (so mutations
// need not keep it). Before any input the owner opens three streams: one
// without a body, one with a body, one with a body and trailers; it opens
// another whenever one closes and the connection allows, up to eight, and
// pings now and then.
// Beyond memory safety it checks:
//  - what the codec writes is the client magic, then a sequence of whole
//    frames of known types no longer than the default maximum, starting
//    with SETTINGS;
//  - events come only for streams submit_request returned, in order per
//    stream: one final head (status 200..999), then body, then trailers,
//    then the end of the response, and one close, after which nothing;
//  - header fields reported have lower-case names and no pseudo-fields;
//  - response body bytes the owner has not handed back never exceed the
//    stream's window (flow control holds);
//  - open_streams() is the number of streams not yet reported closed, and
//    never more than the local cap; after a GOAWAY no stream above its last
//    id is left open once the output is written;
//  - once receive fails it keeps failing (error() says the same), and the
//    connection then wants to close as soon as its output is written.
#include "fuzz_check.hpp"
#include "h2_output_frames.hpp"
#include "http2/client_connection.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

using namespace weir::http2;

namespace {

constexpr std::string_view client_magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Owner : ClientEvents {
    enum class State { opened, head, trailers, ended, closed };
    struct Stream {
        State state = State::opened;
        std::size_t unconsumed = 0;
    };
    ClientConnection* conn = nullptr;
    ClientLimits limits;
    bool consume = true;
    std::map<std::int32_t, Stream> streams;
    int opened = 0;

    void open_one() {
        if (opened >= 8 || !conn->can_open_stream()) return;
        RequestHeaders r;
        r.method = "POST";
        r.scheme = "http";
        r.authority = "api.internal";
        r.path = "/pkg.Svc/Call";
        r.headers = {{"content-type", "application/grpc"}, {"te", "trailers"}};
        const int kind = opened % 3;
        r.end_stream = kind == 0;
        const auto o = conn->submit_request(r);
        FUZZ_CHECK(!o.error && o.stream_id > 0 && o.stream_id % 2 == 1);
        FUZZ_CHECK(streams.count(o.stream_id) == 0);
        streams[o.stream_id];
        ++opened;
        if (kind == 1) conn->submit_body(o.stream_id, std::string(3000, 'q'), true);
        if (kind == 2) {
            conn->submit_body(o.stream_id, "msg", false);
            conn->submit_trailers(o.stream_id, {{"x-sum", "3"}});
        }
    }

    Stream& known(std::int32_t id) {
        FUZZ_CHECK(streams.count(id) == 1);
        Stream& s = streams[id];
        FUZZ_CHECK(s.state != State::closed);
        return s;
    }
    static void check_fields(const std::vector<weir::http::Header>& headers) {
        for (const auto& h : headers) {
            FUZZ_CHECK(!h.name.empty() && h.name[0] != ':');
            for (char c : h.name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
        }
    }

    void on_response(std::int32_t id, int status, const std::vector<weir::http::Header>& headers,
                     bool end_stream) override {
        Stream& s = known(id);
        FUZZ_CHECK(s.state == State::opened);
        FUZZ_CHECK(status >= 200 && status <= 999);
        check_fields(headers);
        s.state = State::head;
    }
    void on_body(std::int32_t id, std::string_view bytes) override {
        Stream& s = known(id);
        FUZZ_CHECK(s.state == State::head);
        s.unconsumed += bytes.size();
        FUZZ_CHECK(s.unconsumed <= limits.initial_window_bytes);
        if (consume) {
            conn->consumed_body(id, s.unconsumed);
            s.unconsumed = 0;
        }
    }
    void on_trailers(std::int32_t id, const std::vector<weir::http::Header>& trailers) override {
        Stream& s = known(id);
        FUZZ_CHECK(s.state == State::head);
        check_fields(trailers);
        s.state = State::trailers;
    }
    void on_end_of_response(std::int32_t id) override {
        Stream& s = known(id);
        FUZZ_CHECK(s.state == State::head || s.state == State::trailers);
        s.state = State::ended;
    }
    void on_stream_closed(std::int32_t id, std::uint32_t) override {
        known(id).state = State::closed;
        open_one();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t piece = data[0] == 0 ? size : 1 + data[0] % 97;
    const auto step = std::chrono::milliseconds(50 * (data[0] % 8));

    Owner owner;
    owner.limits.max_concurrent_streams = 4;
    owner.limits.max_header_list_bytes = 4096;
    owner.limits.send_buffer_bytes = 1024;
    owner.limits.max_control_frames = 20;
    owner.limits.max_outbound_acks = 20;
    owner.limits.output_buffer_bytes = 4096;
    owner.limits.last_stream_id = 21;
    owner.consume = (data[1] & 1) == 0;
    ClientConnection conn(owner.limits, owner);
    owner.conn = &conn;
    for (int i = 0; i < 3; ++i) owner.open_one();

    std::string input;
    if ((data[1] & 2) == 0) input.append("\0\0\0\x04\0\0\0\0\0", 9);  // the server's SETTINGS
    input.append(reinterpret_cast<const char*>(data + 2), size - 2);

    std::string magic;
    weir::fuzz::H2OutputFrames out;
    auto drain = [&] {
        for (std::string_view p = conn.pending_output(); !p.empty(); p = conn.pending_output()) {
            const std::size_t n = p.size();
            if (magic.size() < client_magic.size()) {
                const std::size_t m = std::min(client_magic.size() - magic.size(), p.size());
                magic.append(p.substr(0, m));
                p.remove_prefix(m);
                FUZZ_CHECK(client_magic.substr(0, magic.size()) == magic);
            }
            out.feed(p);
            conn.consumed_output(n);
        }
        out.check_boundary();
        std::size_t open = 0;
        for (const auto& [id, s] : owner.streams) {
            if (s.state == Owner::State::closed) continue;
            ++open;
            // (After a connection error, open streams stay as they were.)
            if (conn.goaway_received() && !conn.error()) FUZZ_CHECK(id <= conn.goaway_last_stream_id());
        }
        FUZZ_CHECK(conn.open_streams() == open);
        FUZZ_CHECK(open <= owner.limits.max_concurrent_streams);
    };

    drain();
    Clock::time_point now{};
    std::error_code failed;
    int pieces = 0;
    for (std::size_t at = 0; at < input.size(); at += piece) {
        const std::error_code ec = conn.receive(std::string_view(input).substr(at, piece), now);
        if (failed) FUZZ_CHECK(ec == failed);
        if (ec) failed = ec;
        FUZZ_CHECK(ec == conn.error());
        if (++pieces % 5 == 0) conn.submit_ping();
        drain();
        now += step;
    }
    drain();
    if (conn.error()) FUZZ_CHECK(conn.wants_close());
    return 0;
}
