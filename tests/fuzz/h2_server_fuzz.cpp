// libFuzzer target for the downstream HTTP/2 codec (http2/server_connection).
// The input is two control bytes, then what a client sends after its
// connection preface (the target sends the preface itself). The first byte
// cuts the input into pieces (and steps simulated time between them), the
// second picks whether the owner hands request bodies back. The owner answers
// every finished request, with a body and sometimes trailers.
// Beyond memory safety it checks:
//  - what the codec writes is a sequence of whole frames of known types no
//    longer than the default maximum, starting with SETTINGS;
//  - events come in order per stream: one request, then body and its end,
//    one close; none for a stream above the id of a GOAWAY already written;
//  - request heads are well-formed (lower-case names, no connection-specific
//    fields, the pseudo-fields a method needs) and their HTTP/1.1 form has
//    no stray CR, LF or NUL to smuggle a second request with;
//  - request body bytes the owner has not handed back never exceed the
//    stream's window (flow control holds);
//  - once receive fails it keeps failing, and the connection then wants to
//    close as soon as its output is written.
#include "fuzz_check.hpp"
#include "h2_output_frames.hpp"
#include "http2/server_connection.hpp"
#include "http/serialize.hpp"
#include "http2/translate.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

using namespace weir::http2;
namespace http = weir::http;

namespace {

constexpr std::string_view client_magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

bool connection_specific(std::string_view n) {
    return n == "connection" || n == "keep-alive" || n == "proxy-connection" || n == "transfer-encoding" ||
           n == "upgrade";
}

struct Owner : Events {
    enum class State { open, ended, closed };
    struct Stream {
        State state = State::open;
        std::size_t unconsumed = 0;
    };
    ServerConnection* conn = nullptr;
    Limits limits;
    bool consume = true;
    std::map<std::int32_t, Stream> streams;
    std::int32_t last_id = 0;

    void on_request(std::int32_t id, const RequestHeaders& r) override {
        FUZZ_CHECK(id > last_id && id % 2 == 1);
        last_id = id;
        const std::int32_t goaway = conn->goaway_last_stream_id();
        FUZZ_CHECK(goaway < 0 || id <= goaway);
        FUZZ_CHECK(streams.count(id) == 0);
        streams[id];
        FUZZ_CHECK(!r.method.empty());
        if (r.method != "CONNECT") FUZZ_CHECK(!r.path.empty() && !r.scheme.empty());
        for (const auto& h : r.headers) {
            FUZZ_CHECK(!h.name.empty() && h.name[0] != ':');
            for (char c : h.name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
            FUZZ_CHECK(!connection_specific(h.name));
            if (h.name == "te") FUZZ_CHECK(h.value == "trailers");
        }
        std::string cookie, head;
        http::RequestHead h1;
        std::string_view why;
        if (!to_request_head(r, cookie, h1, why)) {
            FUZZ_CHECK(r.method == "CONNECT");
            return;
        }
        FUZZ_CHECK((!h1.target.empty() && h1.target[0] == '/') || h1.target == "*");
        http::serialize_request(head, h1, http::ForwardedFor{.client_ip = "192.0.2.1", .proto = "https", .port = 443});
        std::size_t at = 0;
        for (std::size_t eol = head.find("\r\n"); eol != std::string::npos; eol = head.find("\r\n", at)) {
            for (std::size_t i = at; i < eol; ++i) FUZZ_CHECK(head[i] != '\r' && head[i] != '\n' && head[i] != '\0');
            at = eol + 2;
        }
        FUZZ_CHECK(at == head.size());
    }
    void on_body(std::int32_t id, std::string_view bytes) override {
        FUZZ_CHECK(streams.count(id) == 1 && streams[id].state == State::open);
        Stream& s = streams[id];
        s.unconsumed += bytes.size();
        FUZZ_CHECK(s.unconsumed <= limits.initial_window_bytes);
        if (consume) {
            conn->consumed_body(id, s.unconsumed);
            s.unconsumed = 0;
        }
    }
    void on_request_trailers(std::int32_t id, const std::vector<weir::http::Header>&) override {
        FUZZ_CHECK(streams.count(id) == 1 && streams[id].state == State::open);
    }
    void on_end_of_request(std::int32_t id) override {
        FUZZ_CHECK(streams.count(id) == 1 && streams[id].state != State::closed);
        if (streams[id].state == State::ended) return;
        streams[id].state = State::ended;
        // Answered at once: a head, a body larger than the send buffer, and
        // trailers on every other stream.
        conn->submit_response(id, 200, {{"content-type", "text/plain"}}, false);
        conn->submit_body(id, std::string(1500, 'r'), id % 4 == 1);
        if (id % 4 == 3) conn->submit_trailers(id, {{"x-done", "1"}});
    }
    void on_stream_closed(std::int32_t id, std::uint32_t) override {
        FUZZ_CHECK(streams.count(id) == 1 && streams[id].state != State::closed);
        streams[id].state = State::closed;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t piece = data[0] == 0 ? size : 1 + data[0] % 97;
    const auto step = std::chrono::milliseconds(50 * (data[0] % 8));

    Owner owner;
    owner.limits.max_concurrent_streams = 8;
    owner.limits.max_header_list_bytes = 4096;
    owner.limits.send_buffer_bytes = 1024;
    owner.limits.max_client_resets = 10;
    owner.limits.max_control_frames = 20;
    owner.limits.max_outbound_acks = 20;
    owner.limits.output_buffer_bytes = 4096;
    owner.limits.last_stream_id_before_drain = 101;
    owner.consume = (data[1] & 1) == 0;
    ServerConnection conn(owner.limits, owner);
    owner.conn = &conn;

    std::string input(client_magic);
    input.append(reinterpret_cast<const char*>(data + 2), size - 2);
    weir::fuzz::H2OutputFrames out;
    auto drain = [&] {
        for (std::string_view p = conn.pending_output(); !p.empty(); p = conn.pending_output()) {
            out.feed(p);
            conn.consumed_output(p.size());
        }
        out.check_boundary();
    };

    Clock::time_point now{};
    std::error_code failed;
    for (std::size_t at = 0; at < input.size(); at += piece) {
        const std::error_code ec = conn.receive(std::string_view(input).substr(at, piece), now);
        if (failed) FUZZ_CHECK(ec == failed);
        if (ec) failed = ec;
        drain();
        now += step;
    }
    drain();
    if (failed) FUZZ_CHECK(conn.wants_close());
    return 0;
}
