#include "http2/client_connection.hpp"

#include "http2/nghttp2_fields.hpp"
#include "http2/outgoing_body.hpp"
#include "http2/session_setup.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>

namespace weir::http2 {
namespace {

// Until the upstream's SETTINGS arrive (RFC 9113 §6.5.2 leaves it unlimited;
// nghttp2 and most servers use 100).
constexpr std::uint32_t assumed_peer_concurrency = 100;

}  // namespace

struct ClientConnection::Stream {
    std::int32_t id = 0;
    // The header list being received (head, interim head or trailers); only
    // appended to until it is delivered.
    std::string storage;
    std::vector<std::pair<Span, Span>> fields;
    int status = 0;
    std::size_t header_list_bytes = 0;
    bool head_done = false;  // the final head was reported: a further header list is trailers
    bool oversized = false;  // reset by the codec: nothing more is delivered
    bool ended = false;      // on_end_of_response was reported
    std::uint32_t reset_code = NGHTTP2_REFUSED_STREAM;  // reported if its request is never sent
    std::size_t unconsumed = 0;  // response body bytes the owner has not handed back

    OutgoingBody body;  // the request body

    std::vector<http::Header> header_list() const {
        std::vector<http::Header> out;
        out.reserve(fields.size());
        for (const auto& [n, v] : fields) out.push_back({view(storage, n), view(storage, v)});
        return out;
    }
};

// The nghttp2 callbacks; user_data is the ClientConnection.
struct ClientConnection::Callbacks {
    static ClientConnection& self(void* user) { return *static_cast<ClientConnection*>(user); }

    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        if (frame->hd.type != NGHTTP2_HEADERS) return 0;
        // Each header list is bounded on its own (RFC 9113 §6.5.2).
        if (Stream* s = self(user).find(frame->hd.stream_id)) {
            s->storage.clear();
            s->fields.clear();
            s->status = 0;
            s->header_list_bytes = 0;
        }
        return 0;
    }

    static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags,
                         void* user) {
        ClientConnection& c = self(user);
        Stream* s = c.find(frame->hd.stream_id);
        if (frame->hd.type != NGHTTP2_HEADERS || s == nullptr || s->oversized) return 0;
        s->header_list_bytes += namelen + valuelen + 32;
        if (s->header_list_bytes > c.limits_.max_header_list_bytes) {
            // A stream error: nghttp2 still decodes the rest of the block, so
            // the HPACK state stays in step and the other streams go on.
            s->oversized = true;
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_ENHANCE_YOUR_CALM);
            return 0;
        }
        const std::string_view n(reinterpret_cast<const char*>(name), namelen);
        // nghttp2 has checked the head: :status once, three digits, before
        // the regular fields; none in trailers; names in lower case.
        if (n == ":status") {
            if (valuelen == 3 && std::all_of(value, value + 3, [](std::uint8_t d) { return d >= '0' && d <= '9'; }))
                s->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
        } else if (!n.empty() && n[0] != ':') {
            Span sn = keep(s->storage, name, namelen);
            s->fields.emplace_back(sn, keep(s->storage, value, valuelen));
        }
        return 0;
    }

    static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
        ClientConnection& c = self(user);
        const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        switch (frame->hd.type) {
            case NGHTTP2_HEADERS: {
                Stream* s = c.find(frame->hd.stream_id);
                if (s == nullptr || s->oversized) return 0;
                if (!s->head_done) {
                    // Interim heads (100, 103) mean nothing to a proxy's
                    // client that the final one will not say; nghttp2 has
                    // checked that the final one follows.
                    if (s->status < 200) return 0;
                    s->head_done = true;
                    c.events_.on_response(s->id, s->status, s->header_list(), end_stream);
                } else {
                    c.events_.on_trailers(s->id, s->header_list());
                }
                if (end_stream && !s->ended) {
                    s->ended = true;
                    c.events_.on_end_of_response(s->id);
                }
                return 0;
            }
            case NGHTTP2_DATA: {
                Stream* s = c.find(frame->hd.stream_id);
                if (!end_stream || s == nullptr || !s->head_done || s->oversized || s->ended) return 0;
                s->ended = true;
                c.events_.on_end_of_response(s->id);
                return 0;
            }
            case NGHTTP2_SETTINGS:
                if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) c.settings_received_ = true;
                return 0;
            case NGHTTP2_GOAWAY:
                // nghttp2 closes the streams above the last id with
                // REFUSED_STREAM after this returns.
                c.peer_goaway_ = true;
                c.peer_goaway_last_id_ = frame->goaway.last_stream_id;
                c.peer_goaway_code_ = frame->goaway.error_code;
                return 0;
            case NGHTTP2_PING: {
                if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 || !c.ping_outstanding_) return 0;
                std::uint64_t opaque = 0;
                for (std::uint8_t b : frame->ping.opaque_data) opaque = (opaque << 8) | b;
                if (opaque != c.ping_counter_) return 0;  // an old PING's, or one never sent
                c.ping_outstanding_ = false;
                c.events_.on_ping_ack();
                return 0;
            }
            default:
                return 0;
        }
    }

    static int on_data_chunk_recv(nghttp2_session* session, std::uint8_t flags, std::int32_t stream_id,
                                  const std::uint8_t* data, std::size_t len, void* user) {
        ClientConnection& c = self(user);
        Stream* s = c.find(stream_id);
        if (s == nullptr || !s->head_done || s->oversized) {
            // Nobody will forward these: the windows get them back at once.
            nghttp2_session_consume(session, stream_id, len);
            return 0;
        }
        s->unconsumed += len;
        c.events_.on_body(stream_id, std::string_view(reinterpret_cast<const char*>(data), len));
        return 0;
    }

    static int on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t error_code,
                               void* user) {
        self(user).close_stream(stream_id, error_code);
        return 0;
    }

    static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        // A connection error nghttp2 found and answered itself (after a
        // GOAWAY from the upstream, want_read no longer tells).
        ClientConnection& c = self(user);
        if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR && !c.failed_)
            c.failed_ = Error::protocol;
        return 0;
    }

    static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error_code, void* user) {
        // A request nghttp2 would not send (a GOAWAY arrived while it was
        // queued): it closes the stream itself when it opened one; the
        // codec makes sure the owner hears of it either way.
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
            self(user).unsent_requests_.push_back(frame->hd.stream_id);
        return 0;
    }

    static ssize_t read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* data_flags, nghttp2_data_source* source, void* user) {
        ClientConnection& c = self(user);
        auto* s = static_cast<Stream*>(source->ptr);
        bool drained = false;
        const ssize_t rv =
            s->body.read(session, stream_id, buf, length, data_flags, c.limits_.send_buffer_bytes, drained);
        if (drained) c.events_.on_send_buffer(stream_id, false);
        return rv;
    }
};

ClientConnection::ClientConnection(const ClientLimits& limits, ClientEvents& events)
    : limits_(limits), events_(events) {
    nghttp2_session_callbacks* cb = new_session_callbacks<Callbacks>();
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, &Callbacks::on_frame_not_send);

    nghttp2_option* opt = new_session_options(limits_.max_outbound_acks, limits_.max_encoder_table_bytes);
    nghttp2_option_set_peer_max_concurrent_streams(opt, assumed_peer_concurrency);

    nghttp2_session_client_new2(&session_, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);

    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window_bytes},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    widen_connection_window(session_, limits_.max_concurrent_streams, limits_.initial_window_bytes);
}

ClientConnection::~ClientConnection() {
    nghttp2_session_del(session_);  // calls no callbacks
    for (auto& [id, s] : streams_) delete s;
}

ClientConnection::Stream* ClientConnection::find(std::int32_t stream_id) {
    auto it = streams_.find(stream_id);
    return it == streams_.end() ? nullptr : it->second;
}

void ClientConnection::close_stream(std::int32_t stream_id, std::uint32_t error_code) {
    auto it = streams_.find(stream_id);
    if (it == streams_.end()) return;
    Stream* s = it->second;
    streams_.erase(it);
    // Body bytes the owner still holds count against the connection window
    // only now that the stream's own window is gone.
    if (s->unconsumed > 0) nghttp2_session_consume_connection(session_, s->unconsumed);
    delete s;
    events_.on_stream_closed(stream_id, error_code);
}

void ClientConnection::calm(std::string_view reason) {
    if (calm_reason_.empty()) calm_reason_ = reason;
}

std::error_code ClientConnection::fail(Error e, std::uint32_t goaway_code) {
    if (failed_) return failed_;
    failed_ = e;
    nghttp2_session_terminate_session(session_, goaway_code);
    return failed_;
}

void ClientConnection::scan_input(std::string_view bytes, Clock::time_point now) {
    scanner_.feed(bytes, [&](const FrameHeader& h) {
        if (first_frame_) {
            first_frame_ = false;
            // RFC 9113 §3.4: the server's preface is a SETTINGS frame. An
            // HTTP/1.1 server's "HTTP/1.1 400" decodes as something else.
            if (h.type != static_cast<std::uint8_t>(FrameType::settings) || h.stream_id != 0 ||
                (h.flags & flag_ack) != 0)
                bad_preface_ = true;
        }
        const std::string_view flood =
            header_block_.on_frame(h, limits_.max_continuations, limits_.max_header_list_bytes);
        if (!flood.empty()) calm(flood);
        switch (static_cast<FrameType>(h.type)) {
            case FrameType::settings:
            case FrameType::ping:
                if ((h.flags & flag_ack) != 0) break;
                if (control_.add(now, limits_.abuse_window) > limits_.max_control_frames)
                    calm("SETTINGS or PING flood");
                break;
            default:
                break;
        }
    });
}

std::error_code ClientConnection::receive(std::string_view bytes, Clock::time_point now) {
    if (failed_) return failed_;
    now_ = now;
    // As on the downstream side: the bounds nghttp2 lacks are checked before
    // it sees the bytes.
    scan_input(bytes, now);
    if (bad_preface_) return fail(Error::bad_preface, NGHTTP2_PROTOCOL_ERROR);
    if (!calm_reason_.empty()) return fail(Error::enhance_your_calm, NGHTTP2_ENHANCE_YOUR_CALM);
    const ssize_t rv =
        nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (rv < 0) {
        switch (rv) {
            case NGHTTP2_ERR_FLOODED:
                calm("acknowledgements not read (SETTINGS or PING flood)");
                return fail(Error::enhance_your_calm, NGHTTP2_ENHANCE_YOUR_CALM);
            case NGHTTP2_ERR_NOMEM:
            case NGHTTP2_ERR_CALLBACK_FAILURE: return fail(Error::internal, NGHTTP2_INTERNAL_ERROR);
            default: return fail(Error::protocol, NGHTTP2_PROTOCOL_ERROR);
        }
    }
    // A connection error nghttp2 answered itself: its GOAWAY, once
    // serialised, says so (on_frame_send), and it reads no more.
    fill_output();
    if (!failed_ && nghttp2_session_want_read(session_) == 0 && !shutdown_ && !peer_goaway_) failed_ = Error::protocol;
    return failed_;
}

void ClientConnection::fill_output() {
    while (out_.unsent() < limits_.output_buffer_bytes) {
        const std::uint8_t* p = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session_, &p);
        if (n < 0) {
            fail(Error::internal, NGHTTP2_INTERNAL_ERROR);
            return;
        }
        if (n > 0) out_.bytes.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
        // Requests refused (or reset by the owner) before they were sent
        // and not closed by nghttp2 (it had not opened their streams yet).
        while (!unsent_requests_.empty()) {
            const std::int32_t id = unsent_requests_.back();
            unsent_requests_.pop_back();
            if (Stream* s = find(id)) close_stream(id, s->reset_code);
        }
        if (n == 0) return;
    }
}

std::string_view ClientConnection::pending_output() {
    out_.reset_if_written();
    fill_output();
    return out_.pending();
}

void ClientConnection::consumed_output(std::size_t n) { out_.consumed(n); }

bool ClientConnection::wants_close() {
    if (!pending_output().empty()) return false;
    if (failed_) return true;
    const bool no_new_streams =
        shutdown_ || peer_goaway_ || nghttp2_session_get_next_stream_id(session_) > limits_.last_stream_id;
    if (no_new_streams && streams_.empty()) return true;
    return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

bool ClientConnection::can_open_stream() const {
    if (failed_ || shutdown_ || peer_goaway_) return false;
    if (nghttp2_session_get_next_stream_id(session_) > limits_.last_stream_id) return false;
    const std::uint32_t peer =
        nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return streams_.size() < std::min(peer, limits_.max_concurrent_streams);
}

ClientConnection::Opened ClientConnection::submit_request(const RequestHeaders& request) {
    if (!can_open_stream()) return {0, make_error_code(Error::no_stream)};
    std::vector<nghttp2_nv> nv;
    nv.reserve(request.headers.size() + 4);
    nv.push_back(make_nv(":method", request.method));
    if (!request.scheme.empty()) nv.push_back(make_nv(":scheme", request.scheme));
    if (!request.authority.empty()) nv.push_back(make_nv(":authority", request.authority));
    if (!request.path.empty()) nv.push_back(make_nv(":path", request.path));
    for (const auto& h : request.headers) nv.push_back(make_nv(h.name, h.value));
    auto* s = new Stream;
    nghttp2_data_provider provider{};
    provider.source.ptr = s;
    provider.read_callback = &Callbacks::read_body;
    s->body.has_provider = !request.end_stream;
    const std::int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                                   s->body.has_provider ? &provider : nullptr, s);
    if (id < 0) {
        delete s;
        if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) return {0, make_error_code(Error::no_stream)};
        if (id == NGHTTP2_ERR_INVALID_ARGUMENT) return {0, std::make_error_code(std::errc::invalid_argument)};
        return {0, make_error_code(Error::internal)};
    }
    s->id = id;
    streams_[id] = s;
    return {id, {}};
}

bool ClientConnection::submit_body(std::int32_t stream_id, std::string_view bytes, bool end_stream) {
    Stream* s = find(stream_id);
    if (s == nullptr || !s->body.open()) return true;  // the stream is gone or ended
    if (s->body.append(session_, stream_id, bytes, end_stream, limits_.send_buffer_bytes))
        events_.on_send_buffer(stream_id, true);
    return !s->body.full;
}

std::error_code ClientConnection::submit_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers) {
    Stream* s = find(stream_id);
    if (s == nullptr || !s->body.open()) return std::make_error_code(std::errc::invalid_argument);
    s->body.end_with_trailers(session_, stream_id, trailers);
    return {};
}

void ClientConnection::reset(std::int32_t stream_id, std::uint32_t code) {
    Stream* s = find(stream_id);
    if (s == nullptr) return;
    s->reset_code = code;
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, code);
}

void ClientConnection::consumed_body(std::int32_t stream_id, std::size_t n) {
    Stream* s = find(stream_id);
    if (s == nullptr) return;  // closed: the connection window got them back then
    n = std::min(n, s->unconsumed);
    s->unconsumed -= n;
    nghttp2_session_consume(session_, stream_id, n);
}

void ClientConnection::shutdown() {
    if (shutdown_ || failed_) return;
    shutdown_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
}

void ClientConnection::submit_ping() {
    if (failed_) return;
    std::uint8_t opaque[8];
    const std::uint64_t n = ++ping_counter_;
    for (int i = 0; i < 8; ++i) opaque[i] = static_cast<std::uint8_t>(n >> (56 - 8 * i));
    if (nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, opaque) == 0) ping_outstanding_ = true;
}

}  // namespace weir::http2
