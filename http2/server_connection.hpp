// The downstream side of one HTTP/2 connection (RFC 9113) as a pure codec on
// libnghttp2: bytes in (receive), bytes out (pending_output), streams reported
// to an owner through Events and answered through submit_*. No sockets and no
// clock: the owner feeds what it read, writes what is pending, and passes the
// current time, so tests run on simulated time.
//
// Beyond what nghttp2 checks itself (preface, frame shapes, flow control,
// pseudo-headers, connection-specific fields, upper-case names, TE other than
// "trailers", Content-Length against DATA), it bounds the known ways a client
// makes a server work for nothing; each ends the connection with
// GOAWAY(ENHANCE_YOUR_CALM): rapid reset (CVE-2023-44487), SETTINGS and PING
// floods, CONTINUATION floods (CVE-2024-27316 and kin), HPACK bombs.
#pragma once

#include "http/message.hpp"
#include "http2/error.hpp"
#include "http2/frame_scanner.hpp"
#include "http2/header_block_bound.hpp"
#include "http2/output_buffer.hpp"
#include "http2/rate_window.hpp"
#include "http2/request_headers.hpp"
#include "http2/session_memory.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

struct nghttp2_session;

namespace weir::http2 {

using Clock = std::chrono::steady_clock;

struct Limits {
    std::uint32_t max_concurrent_streams = 100;
    // SETTINGS_MAX_HEADER_LIST_SIZE: decoded name + value + 32 per field
    // (RFC 9113 §6.5.2). A client that sends more after being told is an HPACK
    // bomb or close to one: the connection ends.
    std::uint32_t max_header_list_bytes = 65536;
    // Per-stream receive window, which bounds the request body bytes the owner
    // may hold unconsumed (see consumed_body). 65535 is the protocol default.
    std::uint32_t initial_window_bytes = 65535;
    // Unsent response body bytes a stream buffers before it reports itself
    // full (Events::on_send_buffer) so the owner stops reading its upstream.
    std::size_t send_buffer_bytes = 64 * 1024;
    // Output the codec serialises ahead of the owner's writes; beyond it,
    // frames stay queued inside nghttp2, where `max_outbound_acks` applies.
    std::size_t output_buffer_bytes = 64 * 1024;

    // Abuse bounds. A window is a fixed interval that starts at its first event.
    std::chrono::milliseconds abuse_window{1000};
    // Client RST_STREAMs per window (rapid reset): cancelling a stream is
    // normal, opening and cancelling streams faster than they can be served
    // is the attack.
    std::uint32_t max_client_resets = 200;
    // SETTINGS and PING frames (not acknowledgements) per window.
    std::uint32_t max_control_frames = 100;
    // SETTINGS/PING acknowledgements queued unsent because the client does not
    // read (nghttp2_option_set_max_outbound_ack).
    std::size_t max_outbound_acks = 100;
    // CONTINUATION frames after one HEADERS frame. The block's wire bytes are
    // bounded by max_header_list_bytes too: a field costs its name, value and
    // 32 bytes decoded, more than any sane encoding of it on the wire.
    std::uint32_t max_continuations = 8;
    // HPACK table this side keeps for its own responses, whatever size the
    // client's SETTINGS_HEADER_TABLE_SIZE allows.
    std::size_t max_encoder_table_bytes = 4096;
    // A client stream id above this starts a graceful shutdown: stream ids
    // cannot be reused, the client must open a new connection (RFC 9113 §5.1.1).
    std::uint32_t last_stream_id_before_drain = 0x7fffffffu - 2000;
};

// What the owner learns about streams. Called from inside receive() (and the
// send buffer ones from pending_output()); they may call submit_*, reset and
// graceful_shutdown, not receive or pending_output.
class Events {
public:
    virtual ~Events() = default;
    // A complete, valid request head on a new stream.
    virtual void on_request(std::int32_t stream_id, const RequestHeaders& request) = 0;
    // Request body bytes; hand them back with consumed_body once forwarded.
    virtual void on_body(std::int32_t stream_id, std::string_view bytes) = 0;
    // Trailer fields of the request (valid during the call only); on_end_of_request follows.
    virtual void on_request_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers) {}
    // The client finished sending its request.
    virtual void on_end_of_request(std::int32_t stream_id) = 0;
    // The stream is gone, once per stream on_request was called for: error_code
    // is 0 after a complete exchange, else the RST_STREAM code (the client's or
    // the codec's) or that of the connection's end.
    virtual void on_stream_closed(std::int32_t stream_id, std::uint32_t error_code) = 0;
    // A stream's unsent response body reached Limits::send_buffer_bytes (full)
    // or has gone below half of it again (drained).
    virtual void on_send_buffer(std::int32_t stream_id, bool full) {}
};

class ServerConnection {
public:
    // Queues the server's SETTINGS (the connection preface, RFC 9113 §3.4).
    ServerConnection(const Limits& limits, Events& events);
    // Streams still open get no on_stream_closed: the owner that destroys
    // the connection ends its exchanges itself.
    ~ServerConnection();
    ServerConnection(const ServerConnection&) = delete;
    ServerConnection& operator=(const ServerConnection&) = delete;

    // Feeds bytes read from the client, and serialises what it answers (up to
    // output_buffer_bytes). An error is a connection error: the GOAWAY is
    // queued, write what is pending and close.
    std::error_code receive(std::string_view bytes, Clock::time_point now);

    // Bytes to write to the client (empty: nothing to write now), then how many
    // were written. The view is valid until the next call of either.
    std::string_view pending_output();
    void consumed_output(std::size_t n);

    // True once nothing more will be read or written: after a connection
    // error, or after GOAWAY (either way) when no stream is left, once the
    // output is written.
    bool wants_close();

    // The response head; with end_stream false the body follows with
    // submit_body and the stream ends with submit_body(..., true) or
    // submit_trailers. Names must be lower case (see response_fields_h2).
    std::error_code submit_response(std::int32_t stream_id, int status, const std::vector<http::Header>& headers,
                                    bool end_stream);
    // Appends to the stream's unsent body; sent as flow control allows. When
    // the buffer is full afterwards, returns false (on_send_buffer says so too)
    // and the owner stops producing until it drains.
    bool submit_body(std::int32_t stream_id, std::string_view bytes, bool end_stream);
    // Ends the response with trailer fields, after the buffered body.
    std::error_code submit_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers);
    // RST_STREAM with `code` (an nghttp2_error_code, e.g. 0x8 CANCEL).
    void reset(std::int32_t stream_id, std::uint32_t code);
    // Returns request body bytes to the client's flow-control windows.
    void consumed_body(std::int32_t stream_id, std::size_t n);
    // GOAWAY(NO_ERROR) naming the last stream accepted: streams up to it
    // finish, later ones are refused; used for drain.
    void graceful_shutdown();

    // Counters for the abuse bounds and the statistics around them.
    struct Counters {
        std::uint64_t streams_opened = 0;
        std::uint64_t client_resets = 0;
        std::uint64_t control_frames = 0;
        std::uint64_t calm_goaways = 0;  // 0 or 1: which bound is in `calm_reason`
        std::uint64_t refused_streams = 0;  // streams over max_concurrent_streams, refused one by one
    };
    const Counters& counters() const { return counters_; }
    // Which abuse bound ended the connection (static text), empty if none.
    std::string_view calm_reason() const { return calm_reason_; }
    // Streams the codec holds (a request head begun, not yet closed).
    std::size_t open_streams() const { return streams_.size(); }
    // Nothing under way (no stream, nothing to write): gives back the pages
    // of the buffers an idle connection does not need (session_memory.hpp).
    void release_idle_memory();
    // Whether there is anything for release_idle_memory to give back: output
    // was serialised (into nghttp2's frame buffer) since it last ran.
    bool idle_memory_to_release() const { return output_since_release_; }
    // The last stream id of the GOAWAY written so far, -1 before any.
    std::int32_t goaway_last_stream_id() const { return goaway_last_id_; }

private:
    struct Stream;
    struct Callbacks;  // the nghttp2 callbacks, with access to the members

    void scan_input(std::string_view bytes, Clock::time_point now);
    void calm(std::string_view reason);
    std::error_code fail(Error e, std::uint32_t goaway_code);
    Stream* find(std::int32_t stream_id);
    void fill_output();
    void advertise_stream_limit();

    Limits limits_;
    Events& events_;
    SessionMemory memory_;  // before session_: the session allocates through it
    nghttp2_session* session_ = nullptr;
    std::unordered_map<std::int32_t, Stream*> streams_;
    OutputBuffer out_;
    FrameScanner scanner_;
    bool output_since_release_ = true;  // the SETTINGS of the server preface, at least
    std::size_t preface_left_ = 24;  // client magic bytes not yet seen by the scanner
    HeaderBlockBound header_block_;
    RateWindow resets_;
    RateWindow control_;
    Counters counters_;
    std::string_view calm_reason_;
    std::error_code failed_;
    bool draining_ = false;
    std::int32_t drain_last_id_ = 0;
    bool peer_goaway_ = false;
    std::int32_t goaway_last_id_ = -1;
    Clock::time_point now_{};
};

}  // namespace weir::http2
