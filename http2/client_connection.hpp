// The upstream side of one HTTP/2 connection (RFC 9113) as a pure codec on
// libnghttp2, for pools with `protocol: h2` (gRPC backends): many concurrent
// streams to one endpoint. Same shape as ServerConnection: bytes in
// (receive), bytes out (pending_output), streams opened with submit_request
// and reported through ClientEvents. No sockets and no clock.
//
// The owner's pooling reads can_open_stream() / open_streams() /
// goaway_received() to decide where the next request goes, and submit_ping()
// / ping_outstanding() to tell an idle connection that still works from one
// that silently died.
//
// An upstream is trusted less than its name suggests: the response header
// list is bounded (a stream error), and SETTINGS/PING floods, unread
// acknowledgements and CONTINUATION floods end the connection with
// GOAWAY(ENHANCE_YOUR_CALM), like the downstream side. Anything that does not
// begin with a SETTINGS frame (an HTTP/1.1 server answering the preface) is
// Error::bad_preface.
#pragma once

#include "http/message.hpp"
#include "http2/error.hpp"
#include "http2/frame_scanner.hpp"
#include "http2/header_block_bound.hpp"
#include "http2/output_buffer.hpp"
#include "http2/rate_window.hpp"
#include "http2/request_headers.hpp"
#include "http2/server_connection.hpp"  // Clock

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

struct ClientLimits {
    // Streams this side opens at most, whatever the upstream's
    // SETTINGS_MAX_CONCURRENT_STREAMS allows (the lower of the two applies).
    std::uint32_t max_concurrent_streams = 100;
    // SETTINGS_MAX_HEADER_LIST_SIZE, for response heads and trailers each
    // (RFC 9113 §6.5.2: name + value + 32 per field). A stream whose upstream
    // sends more is reset with ENHANCE_YOUR_CALM; the connection goes on.
    std::uint32_t max_header_list_bytes = 65536;
    // Per-stream receive window: bounds the response body bytes the owner may
    // hold unconsumed (see consumed_body).
    std::uint32_t initial_window_bytes = 65535;
    // Unsent request body bytes a stream buffers before it reports itself full.
    std::size_t send_buffer_bytes = 64 * 1024;
    // Output serialised ahead of the owner's writes (see ServerConnection).
    std::size_t output_buffer_bytes = 64 * 1024;

    // Abuse bounds, as on the downstream side (a window is a fixed interval
    // that starts at its first event).
    std::chrono::milliseconds abuse_window{1000};
    std::uint32_t max_control_frames = 100;  // SETTINGS and PING (not acks) per window
    std::size_t max_outbound_acks = 100;     // acknowledgements queued unsent
    std::uint32_t max_continuations = 8;     // CONTINUATION frames after one HEADERS
    std::size_t max_encoder_table_bytes = 4096;
    // No stream is opened above this id (RFC 9113 §5.1.1: ids are never
    // reused); then the connection closes once its streams are done and the
    // owner opens a new one. Lowered by tests.
    std::uint32_t last_stream_id = 0x7fffffffu;
};

// What the owner learns about its streams, in this order per stream:
// on_response, on_body*, on_trailers?, on_end_of_response, on_stream_closed;
// a stream reset or refused skips to on_stream_closed. Nothing is reported
// for a stream submit_request did not return. Called from inside receive()
// (and pending_output(): send buffer events, and streams refused before they
// were sent); they may call submit_*, reset, consumed_body, not receive or
// pending_output.
class ClientEvents {
public:
    virtual ~ClientEvents() = default;
    // The final response head (interim 1xx heads are not reported: the codec
    // skips them). With end_stream the response is this head alone; for gRPC
    // that is a trailers-only response, whose grpc-status and grpc-message
    // are among `headers`. Otherwise they come with on_trailers. The views
    // are valid during the call only.
    virtual void on_response(std::int32_t stream_id, int status, const std::vector<http::Header>& headers,
                             bool end_stream) = 0;
    // Response body bytes; hand them back with consumed_body once forwarded.
    virtual void on_body(std::int32_t stream_id, std::string_view bytes) = 0;
    // The response's trailer fields (valid during the call only).
    virtual void on_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers) {}
    // The upstream finished its response (after the head, body and trailers).
    virtual void on_end_of_response(std::int32_t stream_id) {}
    // The stream is gone, once per stream: error_code 0 after a complete
    // exchange, else the RST_STREAM code (the upstream's or this side's).
    // REFUSED_STREAM (0x7) means the upstream never processed the request
    // (above a GOAWAY's last stream id, or refused by it): safe to retry
    // elsewhere. ENHANCE_YOUR_CALM (0xb) from this side means the response
    // head or trailers exceeded max_header_list_bytes.
    virtual void on_stream_closed(std::int32_t stream_id, std::uint32_t error_code) = 0;
    // A stream's unsent request body reached ClientLimits::send_buffer_bytes
    // (full) or has gone below half of it again (drained).
    virtual void on_send_buffer(std::int32_t stream_id, bool full) {}
    // The acknowledgement of this side's PING arrived (see submit_ping).
    virtual void on_ping_ack() {}
};

class ClientConnection {
public:
    // Queues the client connection preface and SETTINGS (ENABLE_PUSH 0, the
    // receive window and header list size of `limits`).
    ClientConnection(const ClientLimits& limits, ClientEvents& events);
    // Streams still open get no on_stream_closed, as after a connection error:
    // the owner ends their exchanges itself.
    ~ClientConnection();
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    // Feeds bytes read from the upstream. An error is a connection error: the
    // GOAWAY (if any) is queued, write what is pending and close; streams
    // still open get no on_stream_closed, and none of them is known to be
    // unprocessed. The upstream closing its end is the owner's to notice.
    std::error_code receive(std::string_view bytes, Clock::time_point now);

    // The connection error, once there is one: what receive() returned, or
    // found while serialising output (the GOAWAY of an error nghttp2 saw in
    // the last input goes out only when the output has room).
    std::error_code error() const { return failed_; }

    // Bytes to write to the upstream (empty: nothing now), then how many were
    // written. The view is valid until the next call of either.
    std::string_view pending_output();
    void consumed_output(std::size_t n);

    // True once nothing more will be read or written: after a connection
    // error, or with no stream left once no new one can be opened (GOAWAY
    // either way, stream ids exhausted), once the output is written.
    bool wants_close();

    // Whether submit_request would open a stream now: not failed, no GOAWAY
    // either way, stream ids left (up to ClientLimits::last_stream_id), and fewer streams open than both the
    // upstream's SETTINGS_MAX_CONCURRENT_STREAMS (100 until its SETTINGS
    // arrive) and ClientLimits::max_concurrent_streams.
    bool can_open_stream() const;

    struct Opened {
        std::int32_t stream_id = 0;  // > 0 when opened
        std::error_code error;       // Error::no_stream when !can_open_stream()
    };
    // Opens a stream with a request head; with end_stream false the body
    // follows with submit_body and the request ends with submit_body(..., true)
    // or submit_trailers. Names must be lower case, without connection-specific
    // fields (RFC 9113 §8.2.2; nothing here checks, the upstream would reset
    // the stream); the views need to live during the call only. An empty
    // scheme, authority or path is left out (CONNECT).
    Opened submit_request(const RequestHeaders& request);
    // Appends to the stream's unsent request body; sent as flow control
    // allows. False when the buffer is full afterwards (on_send_buffer says
    // so too): the owner stops producing until it drains.
    bool submit_body(std::int32_t stream_id, std::string_view bytes, bool end_stream);
    // Ends the request with trailer fields, after the buffered body.
    std::error_code submit_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers);
    // RST_STREAM with `code` (e.g. 0x8 CANCEL); on_stream_closed follows with it.
    void reset(std::int32_t stream_id, std::uint32_t code);
    // Returns response body bytes to the upstream's flow-control windows.
    void consumed_body(std::int32_t stream_id, std::size_t n);
    // GOAWAY(NO_ERROR): no new streams; open ones finish, then wants_close().
    void shutdown();

    // A PING with fresh opaque data. ping_outstanding() stays true until its
    // acknowledgement arrives (on_ping_ack): an owner that finds it still
    // true after its timeout closes the connection. A new PING while one is
    // outstanding replaces it.
    void submit_ping();
    bool ping_outstanding() const { return ping_outstanding_; }

    // Whether the upstream's SETTINGS have arrived. Until then its stream
    // limit is unknown (nghttp2 takes it as unlimited): an owner that opens
    // many streams before may see most of them refused.
    bool settings_received() const { return settings_received_; }
    // Streams open (submitted, not yet reported closed).
    std::size_t open_streams() const { return streams_.size(); }
    bool goaway_received() const { return peer_goaway_; }
    // From the upstream's GOAWAY (-1 before any): streams above the id were
    // reported closed with REFUSED_STREAM; the code says why it went away.
    std::int32_t goaway_last_stream_id() const { return peer_goaway_last_id_; }
    std::uint32_t goaway_error_code() const { return peer_goaway_code_; }
    // Which abuse bound ended the connection (static text), empty if none.
    std::string_view calm_reason() const { return calm_reason_; }

private:
    struct Stream;
    struct Callbacks;  // the nghttp2 callbacks, with access to the members

    void scan_input(std::string_view bytes, Clock::time_point now);
    void calm(std::string_view reason);
    std::error_code fail(Error e, std::uint32_t goaway_code);
    Stream* find(std::int32_t stream_id);
    void close_stream(std::int32_t stream_id, std::uint32_t error_code);
    void fill_output();

    ClientLimits limits_;
    ClientEvents& events_;
    nghttp2_session* session_ = nullptr;
    std::unordered_map<std::int32_t, Stream*> streams_;
    std::vector<std::int32_t> unsent_requests_;  // request HEADERS nghttp2 gave up on
    OutputBuffer out_;
    FrameScanner scanner_;
    bool first_frame_ = true;
    bool bad_preface_ = false;  // the first frame was not SETTINGS
    HeaderBlockBound header_block_;
    RateWindow control_;
    std::string_view calm_reason_;
    std::error_code failed_;
    bool shutdown_ = false;
    bool peer_goaway_ = false;
    std::int32_t peer_goaway_last_id_ = -1;
    std::uint32_t peer_goaway_code_ = 0;
    bool ping_outstanding_ = false;
    bool settings_received_ = false;
    std::uint64_t ping_counter_ = 0;
    Clock::time_point now_{};
};

}  // namespace weir::http2
