#include "http2/server_connection.hpp"

#include "http2/nghttp2_fields.hpp"
#include "http2/outgoing_body.hpp"
#include "http2/session_setup.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>

namespace weir::http2 {
namespace {

constexpr std::size_t client_magic_bytes = 24;  // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

}  // namespace

struct ServerConnection::Stream {
    std::int32_t id = 0;
    // The request's fields, copied as they arrive; RequestHeaders views point
    // here, so it is only appended to until the head is delivered.
    std::string storage;
    Span method, scheme, authority, path;
    std::vector<std::pair<Span, Span>> fields;
    std::string trailer_storage;
    std::vector<std::pair<Span, Span>> trailers;
    std::size_t header_list_bytes = 0;
    bool delivered = false;
    bool malformed = false;  // reset by the codec: nothing more is delivered
    std::size_t unconsumed = 0;  // request body bytes the owner has not handed back

    OutgoingBody body;  // the response body
};

// The nghttp2 callbacks; user_data is the ServerConnection.
struct ServerConnection::Callbacks {
    static ServerConnection& self(void* user) { return *static_cast<ServerConnection*>(user); }

    static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
        if (frame->hd.type != NGHTTP2_HEADERS) return 0;
        ServerConnection& c = self(user);
        if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
            // Trailers are a header list of their own (RFC 9113 §6.5.2).
            if (Stream* s = c.find(frame->hd.stream_id)) s->header_list_bytes = 0;
            return 0;
        }
        // After a GOAWAY is queued but before it is written, nghttp2 still
        // opens streams above its last id: they are refused here, so that
        // what the GOAWAY says holds.
        if (c.draining_ && frame->hd.stream_id > c.drain_last_id_) {
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
            return 0;
        }
        // A stream over the advertised limit is refused on its own (RFC 9113
        // §5.1.2: a stream error); its header block is still decoded, which
        // keeps the HPACK state in step with the client's.
        if (c.streams_.size() >= c.limits_.max_concurrent_streams) {
            ++c.counters_.refused_streams;
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
            return 0;
        }
        auto* s = new Stream;
        s->id = frame->hd.stream_id;
        c.streams_[s->id] = s;
        nghttp2_session_set_stream_user_data(session, s->id, s);
        return 0;
    }

    static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags,
                         void* user) {
        ServerConnection& c = self(user);
        Stream* s = c.find(frame->hd.stream_id);
        if (frame->hd.type != NGHTTP2_HEADERS || s == nullptr || s->malformed) return 0;
        // RFC 9113 §6.5.2: the size of a field is its name, its value and 32.
        s->header_list_bytes += namelen + valuelen + 32;
        if (s->header_list_bytes > c.limits_.max_header_list_bytes) {
            c.calm("header list over SETTINGS_MAX_HEADER_LIST_SIZE");
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        const std::string_view n(reinterpret_cast<const char*>(name), namelen);
        // RFC 9113 §8.2.1: upper-case names make the request malformed, a
        // stream error. Checked here whatever the nghttp2 version checks.
        if (std::any_of(n.begin(), n.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
            s->malformed = true;
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_PROTOCOL_ERROR);
            return 0;
        }
        if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
            Span tn = keep(s->trailer_storage, name, namelen);
            s->trailers.emplace_back(tn, keep(s->trailer_storage, value, valuelen));
            return 0;
        }
        // nghttp2 has checked the pseudo-fields: known ones, each once, before
        // the regular ones.
        Span v = keep(s->storage, value, valuelen);
        if (n == ":method") s->method = v;
        else if (n == ":scheme") s->scheme = v;
        else if (n == ":authority") s->authority = v;
        else if (n == ":path") s->path = v;
        else if (!n.empty() && n[0] != ':') s->fields.emplace_back(keep(s->storage, name, namelen), v);
        return 0;
    }

    static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
        ServerConnection& c = self(user);
        const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        switch (frame->hd.type) {
            case NGHTTP2_HEADERS: {
                Stream* s = c.find(frame->hd.stream_id);
                if (s == nullptr || s->malformed) return 0;
                if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
                    RequestHeaders req;
                    req.method = view(s->storage, s->method);
                    req.scheme = view(s->storage, s->scheme);
                    req.authority = view(s->storage, s->authority);
                    req.path = view(s->storage, s->path);
                    req.end_stream = end_stream;
                    req.headers.reserve(s->fields.size());
                    for (const auto& [n, v] : s->fields) req.headers.push_back({view(s->storage, n), view(s->storage, v)});
                    s->delivered = true;
                    ++c.counters_.streams_opened;
                    // Stream ids are never reused: near the end of the space,
                    // the client is told to go on with a new connection.
                    if (static_cast<std::uint32_t>(s->id) > c.limits_.last_stream_id_before_drain) c.graceful_shutdown();
                    c.events_.on_request(s->id, req);
                } else if (s->delivered) {
                    std::vector<http::Header> trailers;
                    trailers.reserve(s->trailers.size());
                    for (const auto& [n, v] : s->trailers)
                        trailers.push_back({view(s->trailer_storage, n), view(s->trailer_storage, v)});
                    c.events_.on_request_trailers(s->id, trailers);
                }
                if (end_stream && s->delivered) c.events_.on_end_of_request(s->id);
                return 0;
            }
            case NGHTTP2_DATA: {
                Stream* s = c.find(frame->hd.stream_id);
                if (end_stream && s != nullptr && s->delivered && !s->malformed) c.events_.on_end_of_request(s->id);
                return 0;
            }
            case NGHTTP2_GOAWAY:
                c.peer_goaway_ = true;
                return 0;
            default:
                return 0;
        }
    }

    static int on_data_chunk_recv(nghttp2_session* session, std::uint8_t flags, std::int32_t stream_id,
                                  const std::uint8_t* data, std::size_t len, void* user) {
        ServerConnection& c = self(user);
        Stream* s = c.find(stream_id);
        if (s == nullptr || !s->delivered) {
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
        ServerConnection& c = self(user);
        auto it = c.streams_.find(stream_id);
        if (it == c.streams_.end()) return 0;
        Stream* s = it->second;
        c.streams_.erase(it);
        // Body bytes the owner still holds count against the connection
        // window only now that the stream's own window is gone.
        if (s->unconsumed > 0) nghttp2_session_consume_connection(session, s->unconsumed);
        const bool delivered = s->delivered;
        delete s;
        if (delivered) c.events_.on_stream_closed(stream_id, error_code);
        return 0;
    }

    static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
        if (frame->hd.type == NGHTTP2_GOAWAY) self(user).goaway_last_id_ = frame->goaway.last_stream_id;
        return 0;
    }

    static ssize_t read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* data_flags, nghttp2_data_source* source, void* user) {
        ServerConnection& c = self(user);
        auto* s = static_cast<Stream*>(source->ptr);
        bool drained = false;
        const ssize_t rv =
            s->body.read(session, stream_id, buf, length, data_flags, c.limits_.send_buffer_bytes, drained);
        if (drained) c.events_.on_send_buffer(stream_id, false);
        return rv;
    }
};

ServerConnection::ServerConnection(const Limits& limits, Events& events) : limits_(limits), events_(events) {
    nghttp2_session_callbacks* cb = new_session_callbacks<Callbacks>();

    nghttp2_option* opt = new_session_options(limits_.max_outbound_acks, limits_.max_encoder_table_bytes);

    nghttp2_session_server_new3(&session_, cb, this, opt, static_cast<nghttp2_mem*>(memory_.mem()));
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);

    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window_bytes},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    advertise_stream_limit();
    widen_connection_window(session_, limits_.max_concurrent_streams, limits_.initial_window_bytes);
}

void ServerConnection::advertise_stream_limit() {
    // nghttp2 treats a stream over a limit it sent, once acknowledged, as a
    // connection error, and RFC 9113 §5.1.2 asks for a stream error. So
    // nghttp2 is not told the limit (it enforces none) and this codec
    // enforces it (on_begin_headers), adding it to the SETTINGS frame nghttp2
    // serialised: the first bytes of the server preface, 9 bytes of frame
    // header and 6 per setting.
    fill_output();
    std::string& out = out_.bytes;  // nothing of it is written yet
    const bool settings_first = out.size() >= 9 && out[3] == 0x4 && out[4] == 0 && out.compare(5, 4, "\0\0\0\0", 4) == 0;
    const std::uint32_t length = settings_first ? (std::uint32_t(std::uint8_t(out[0])) << 16) |
                                                      (std::uint32_t(std::uint8_t(out[1])) << 8) | std::uint8_t(out[2])
                                                : 0;
    if (!settings_first || out.size() < 9 + length) {
        // Not the expected preface (an nghttp2 that orders it otherwise):
        // nghttp2 enforces the limit itself then, as a connection error.
        const nghttp2_settings_entry limit{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams};
        nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, &limit, 1);
        return;
    }
    const std::uint32_t n = limits_.max_concurrent_streams;
    const char entry[6] = {0, 0x3, char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
    out.insert(9 + length, entry, sizeof entry);
    const std::uint32_t patched = length + sizeof entry;
    out[0] = char(patched >> 16);
    out[1] = char(patched >> 8);
    out[2] = char(patched);
}

ServerConnection::~ServerConnection() {
    nghttp2_session_del(session_);  // calls no callbacks
    for (auto& [id, s] : streams_) delete s;
}

ServerConnection::Stream* ServerConnection::find(std::int32_t stream_id) {
    auto it = streams_.find(stream_id);
    return it == streams_.end() ? nullptr : it->second;
}

void ServerConnection::calm(std::string_view reason) {
    if (calm_reason_.empty()) calm_reason_ = reason;
}

std::error_code ServerConnection::fail(Error e, std::uint32_t goaway_code) {
    if (failed_) return failed_;
    failed_ = e;
    if (e == Error::enhance_your_calm) ++counters_.calm_goaways;
    nghttp2_session_terminate_session2(session_, nghttp2_session_get_last_proc_stream_id(session_), goaway_code);
    return failed_;
}

void ServerConnection::scan_input(std::string_view bytes, Clock::time_point now) {
    if (preface_left_ > 0) {
        const std::size_t n = std::min(preface_left_, bytes.size());
        preface_left_ -= n;
        bytes.remove_prefix(n);
    }
    scanner_.feed(bytes, [&](const FrameHeader& h) {
        const std::string_view flood =
            header_block_.on_frame(h, limits_.max_continuations, limits_.max_header_list_bytes);
        if (!flood.empty()) calm(flood);
        switch (static_cast<FrameType>(h.type)) {
            case FrameType::rst_stream:
                // Counted here, before nghttp2 sees the read: a flood in one
                // large read must stop at the bound, not after nghttp2 has
                // opened (and its own limit ended) thousands of streams.
                ++counters_.client_resets;
                if (resets_.add(now, limits_.abuse_window) > limits_.max_client_resets)
                    calm("rapid reset: too many RST_STREAM frames");
                break;
            case FrameType::settings:
            case FrameType::ping:
                if ((h.flags & flag_ack) != 0) break;
                ++counters_.control_frames;
                if (control_.add(now, limits_.abuse_window) > limits_.max_control_frames)
                    calm("SETTINGS or PING flood");
                break;
            default:
                break;
        }
    });
}

std::error_code ServerConnection::receive(std::string_view bytes, Clock::time_point now) {
    if (failed_) return failed_;
    now_ = now;
    // The bounds nghttp2 lacks are checked before it spends any work; when
    // one is crossed, nothing of this piece reaches nghttp2 (the connection
    // ends anyway, and the GOAWAY names the last stream it did process).
    scan_input(bytes, now);
    if (!calm_reason_.empty()) return fail(Error::enhance_your_calm, NGHTTP2_ENHANCE_YOUR_CALM);
    const ssize_t rv =
        nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (!calm_reason_.empty()) return fail(Error::enhance_your_calm, NGHTTP2_ENHANCE_YOUR_CALM);
    if (rv < 0) {
        switch (rv) {
            case NGHTTP2_ERR_BAD_CLIENT_MAGIC: return fail(Error::bad_preface, NGHTTP2_PROTOCOL_ERROR);
            case NGHTTP2_ERR_FLOODED:
                calm("acknowledgements not read (SETTINGS or PING flood)");
                return fail(Error::enhance_your_calm, NGHTTP2_ENHANCE_YOUR_CALM);
            case NGHTTP2_ERR_NOMEM:
            case NGHTTP2_ERR_CALLBACK_FAILURE: return fail(Error::internal, NGHTTP2_INTERNAL_ERROR);
            default: return fail(Error::protocol, NGHTTP2_PROTOCOL_ERROR);
        }
    }
    // A connection error nghttp2 answered itself: once its GOAWAY is
    // serialised it reads no more, though nobody asked it to stop.
    fill_output();
    if (nghttp2_session_want_read(session_) == 0 && !draining_ && !peer_goaway_) {
        failed_ = Error::protocol;
        return failed_;
    }
    return {};
}

void ServerConnection::fill_output() {
    while (out_.unsent() < limits_.output_buffer_bytes) {
        const std::uint8_t* p = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session_, &p);
        if (n < 0) {
            fail(Error::internal, NGHTTP2_INTERNAL_ERROR);
            return;
        }
        if (n == 0) return;
        output_since_release_ = true;
        out_.bytes.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    }
}

std::string_view ServerConnection::pending_output() {
    out_.reset_if_written();
    fill_output();
    return out_.pending();
}

void ServerConnection::consumed_output(std::size_t n) { out_.consumed(n); }

bool ServerConnection::wants_close() {
    if (!pending_output().empty()) return false;
    if (failed_) return true;
    return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

std::error_code ServerConnection::submit_response(std::int32_t stream_id, int status,
                                                  const std::vector<http::Header>& headers, bool end_stream) {
    Stream* s = find(stream_id);
    if (s == nullptr || !s->delivered || status < 100 || status > 999)
        return std::make_error_code(std::errc::invalid_argument);
    char code[4] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10), 0};
    std::vector<nghttp2_nv> nv;
    nv.reserve(headers.size() + 1);
    nv.push_back(make_nv(":status", std::string_view(code, 3)));
    for (const auto& h : headers) nv.push_back(make_nv(h.name, h.value));
    nghttp2_data_provider provider{};
    provider.source.ptr = s;
    provider.read_callback = &Callbacks::read_body;
    s->body.has_provider = !end_stream && status >= 200;
    const int rv = nghttp2_submit_headers(session_, end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE,
                                          stream_id, nullptr, nv.data(), nv.size(), nullptr);
    if (rv < 0) return make_error_code(Error::internal);
    // An interim (1xx) head is just HEADERS; a final one carries the body.
    if (s->body.has_provider && nghttp2_submit_data(session_, NGHTTP2_FLAG_END_STREAM, stream_id, &provider) != 0)
        return make_error_code(Error::internal);
    return {};
}

bool ServerConnection::submit_body(std::int32_t stream_id, std::string_view bytes, bool end_stream) {
    Stream* s = find(stream_id);
    if (s == nullptr || !s->body.open()) return true;  // the stream is gone or ended
    if (s->body.append(session_, stream_id, bytes, end_stream, limits_.send_buffer_bytes))
        events_.on_send_buffer(stream_id, true);
    return !s->body.full;
}

std::error_code ServerConnection::submit_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers) {
    Stream* s = find(stream_id);
    if (s == nullptr || !s->body.open()) return std::make_error_code(std::errc::invalid_argument);
    s->body.end_with_trailers(session_, stream_id, trailers);
    return {};
}

void ServerConnection::reset(std::int32_t stream_id, std::uint32_t code) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, code);
}

void ServerConnection::consumed_body(std::int32_t stream_id, std::size_t n) {
    Stream* s = find(stream_id);
    if (s == nullptr) return;  // closed: the connection window got them back then
    n = std::min(n, s->unconsumed);
    s->unconsumed -= n;
    nghttp2_session_consume(session_, stream_id, n);
}

void ServerConnection::release_idle_memory() {
    if (!streams_.empty() || out_.unsent() > 0 || nghttp2_session_want_write(session_) != 0) return;
    memory_.release_idle();
    output_since_release_ = false;
    // Nor does an idle connection keep the heap blocks its last exchange
    // left: the output buffer (a burst's, or just a response head's) and
    // the stream table's buckets (the table is empty).
    std::string().swap(out_.bytes);
    out_.sent = 0;
    decltype(streams_)().swap(streams_);
}

void ServerConnection::graceful_shutdown() {
    if (draining_) return;
    draining_ = true;
    drain_last_id_ = nghttp2_session_get_last_proc_stream_id(session_);
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, drain_last_id_, NGHTTP2_NO_ERROR, nullptr, 0);
}

}  // namespace weir::http2
