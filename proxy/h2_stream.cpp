#include "proxy/h2_stream.hpp"

#include "common/log.hpp"
#include "http/chunked.hpp"
#include "http/parser.hpp"
#include "http/serialize.hpp"
#include "http2/grpc.hpp"
#include "http2/translate.hpp"
#include "proxy/exchange_steps.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/session.hpp"
#include "tls/client_context.hpp"

#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>

namespace weir::proxy {
namespace {

// RST_STREAM codes (RFC 9113 §7).
constexpr std::uint32_t internal_error = 0x2;
constexpr std::uint32_t refused_stream = 0x7;
constexpr std::uint32_t cancel_code = 0x8;

}  // namespace

H2Stream::H2Stream(H2Connection& conn, std::int32_t id) : conn_(conn), id_(id) {}

H2Stream::~H2Stream() {
    cancel();
    release_h2();
    Worker& w = conn_.worker();
    release_upstream(w, ex_.get(), upstream_, false);
    if (ex_) w.exchanges().give_back(std::move(ex_));
}

void H2Stream::set_deadline(std::chrono::milliseconds d) {
    std::uint64_t due = EventLoop::clock_ms() + static_cast<std::uint64_t>(d.count()) + 1;
    // A gRPC caller's deadline bounds every wait of its call.
    if (call_deadline_ms_ != 0 && h2up_ != nullptr) due = std::min(due, call_deadline_ms_);
    conn_.worker().loop().timers().arm(*this, due);
}

void H2Stream::on_upstream_events(std::uint32_t) { conn_.stream_event(*this, false); }

void H2Stream::on_timer() { conn_.stream_event(*this, true); }

// ---------------------------------------------------------------- request

void H2Stream::open(const http2::RequestHeaders& request) { request_ = request; }

void H2Stream::start() {
    Worker& w = conn_.worker();
    Session& s = conn_.session();
    const routing::SnapshotPtr& snap = w.snapshot();
    if (!snap) {
        state_ = State::done;
        conn_.stream_done();
        conn_.codec().reset(id_, refused_stream);
        return;
    }
    ex_ = w.exchanges().take();
    ex_->begin_request(snap, 0);
    ex_->request_started = std::chrono::steady_clock::now();
    ex_->request_counted = true;
    ex_->recorded = false;
    w.stats().requests.fetch_add(1, std::memory_order_relaxed);
    grpc_ = http2::is_grpc(request_.headers);
    if (grpc_) {
        if (auto t = http2::grpc_timeout(request_.headers))
            call_deadline_ms_ = EventLoop::clock_ms() + static_cast<std::uint64_t>(t->count()) + 1;
    }
    std::string_view why;
    const bool translated = http2::to_request_head(request_, cookie_, ex_->request, why);
    if (snap->access_log) start_access_line(w, *ex_, &ex_->request, s.claims_, s.client_ip_);
    if (!translated) {
        log::limited(w.client_log(), EventLoop::clock_ms(), log::Level::info, "proxy", "client {}: {} (501)",
                     s.client_ip_, why);
        reply(501, why);
        return;
    }
    http::RequestHead& req = ex_->request;
    const auto& limits = snap->limits;
    if (limits.max_body_bytes > 0 &&
        ((req.body == http::BodyKind::content_length && req.content_length > limits.max_body_bytes) ||
         body_bytes_ > limits.max_body_bytes)) {
        log::limited(w.client_log(), EventLoop::clock_ms(), log::Level::info, "proxy",
                     "client {}: request body over max_body_bytes {} (413)", s.client_ip_, limits.max_body_bytes);
        reply(413, "request body too large");
        return;
    }
    ex_->repeatable = repeatable(req);
    routing::RequestView view(req.headers, req.target, s.claims_);
    if (Refusal r = route_request(w, *ex_, view, s.client_ip_)) {
        reply(r.status, r.why);
        return;
    }
    pick_endpoint();
}

void H2Stream::on_body(std::string_view bytes) {
    body_bytes_ += bytes.size();
    if (state_ == State::done) return;  // answered already: the rest is not wanted (nor its window given back)
    const auto& snap = conn_.worker().snapshot();
    if (ex_ && snap && snap->limits.max_body_bytes > 0 && body_bytes_ > snap->limits.max_body_bytes) {
        log::limited(conn_.worker().client_log(), EventLoop::clock_ms(), log::Level::info, "proxy",
                     "client {}: request body over max_body_bytes {} (413)", conn_.session().client_ip_,
                     snap->limits.max_body_bytes);
        if (ex_->response_started) abort_response("request body too large");
        else reply(413, "request body too large");
        return;
    }
    if (up_id_ != 0) {
        send_h2_body(bytes, false);
    } else if (h2up_ == nullptr && upstream_ && (state_ == State::exchange || state_ == State::response_body)) {
        stage_body(bytes);
        if (!ex_->request_sent) write_request();
    } else {
        // Not connected yet: held (within the stream's flow-control window).
        body_held_.append(bytes);
    }
}

void H2Stream::on_request_trailers(const std::vector<http::Header>& trailers) {
    // Kept for an HTTP/2 upstream (the pool may not be chosen yet: the
    // trailers can come in the read that opened the stream). HTTP/1.1
    // upstreams get the body's end without them: chunked trailers are seldom
    // read, and never relied on.
    if (state_ == State::done) return;
    held_trailers_.clear();
    for (const http::Header& h : trailers) held_trailers_.emplace_back(h.name, h.value);
}

void H2Stream::on_end_of_request() {
    request_ended_ = true;
    if (up_id_ != 0) {
        end_h2_request();
        return;
    }
    if (h2up_ == nullptr && upstream_ && (state_ == State::exchange || state_ == State::response_body)) {
        stage_end();
        if (!ex_->request_sent) write_request();
    }
}

void H2Stream::stage_body(std::string_view bytes) {
    if (bytes.empty()) return;
    if (ex_->request.body == http::BodyKind::chunked) http::append_chunk(ex_->stage, bytes);
    else ex_->stage.append(bytes);
    body_staged_ += bytes.size();
}

void H2Stream::stage_end() {
    if (end_staged_ || !request_ended_) return;
    end_staged_ = true;
    if (ex_->request.body == http::BodyKind::chunked) http::append_last_chunk(ex_->stage);
}

void H2Stream::pick_endpoint() {
    Worker& w = conn_.worker();
    if (!next_endpoint(w, *ex_)) {
        reply(ex_->last_failure_status,
              ex_->last_failure_status == 502 ? "upstream failed before responding" : "no upstream endpoint available");
        return;
    }
    if (ex_->pool->protocol == routing::UpstreamProtocol::h2) {
        use_h2_upstream();
        return;
    }
    // A request that could not be repeated has the pool make sure, at the
    // cost of a peek, that the connection is still open (see Session).
    const bool survives_stale = ex_->repeatable && ex_->attempts < repeat_limit &&
                                ex_->request.body == http::BodyKind::none;
    upstream_ = w.upstreams().take(ex_->endpoint->key, EventLoop::clock_ms(), ex_->pool->upstream.tls.get(),
                                   !survives_stale);
    if (upstream_) {
        upstream_->owner = this;
        w.stats().upstream_reuses.fetch_add(1, std::memory_order_relaxed);
        send_request();
    } else {
        connect_upstream();
    }
}

void H2Stream::connect_upstream() {
    Worker& w = conn_.worker();
    const int err = open_upstream(w, *ex_, *this, upstream_);
    if (err == 0) {
        start_upstream();
        return;
    }
    if (err == EINPROGRESS) {
        state_ = State::connect;
        set_deadline(ex_->pool->upstream.connect_timeout);
        return;
    }
    if (local_shortage(err)) {
        log::limited(w.upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy",
                     "pool {} endpoint {}: cannot open a connection: {} (not counted against the endpoint)",
                     ex_->pool->name, ex_->endpoint->name, std::strerror(err));
        reply(503, "proxy out of connection resources");
        return;
    }
    connect_failed(err);
}

void H2Stream::connect_failed(int err) {
    upstream_connect_failed(conn_.worker(), *ex_, upstream_, err);
    pick_endpoint();  // nothing was sent: another endpoint is safe
}

void H2Stream::start_upstream() {
    cancel();
    if (!ex_->pool->upstream.tls) {
        send_request();
        return;
    }
    if (!attach_upstream_tls(conn_.worker(), *ex_, *upstream_)) {
        release_upstream(conn_.worker(), ex_.get(), upstream_, false);
        reply(503, "proxy out of connection resources");
        return;
    }
    state_ = State::handshake;
    set_deadline(ex_->pool->upstream.connect_timeout);
    continue_handshake();
}

void H2Stream::continue_handshake() {
    const int rc = advance_upstream_tls(conn_.worker(), *ex_, upstream_);
    if (rc == 0) return;  // waits for the next event
    cancel();
    if (rc < 0) pick_endpoint();
    else send_request();
}

void H2Stream::send_request() {
    Worker& w = conn_.worker();
    Session& s = conn_.session();
    ex_->response_scan = {};
    if (!ex_->counted) {
        w.endpoint_begin(ex_->endpoint->key);
        ex_->counted_key = ex_->endpoint->key;
        ex_->counted = true;
    }
    ex_->stage.clear();
    ex_->request_sent = false;  // a repeat after a stale pooled connection sends it all again
    stage_off_ = 0;
    body_staged_ = 0;
    end_staged_ = false;
    http::ForwardedFor fwd{s.client_ip_,       s.client_.tls() ? "https" : "http", ex_->endpoint->name, s.local_port_,
                           s.claims_,          s.client_cert_subject_,             {}};
    http::serialize_request(ex_->stage, ex_->request, fwd);
    state_ = State::exchange;
    stage_body(body_held_);
    body_held_.clear();
    body_held_.shrink_to_fit();
    stage_end();
    exchange_step();
}

bool H2Stream::write_request() {
    std::string& stage = ex_->stage;
    Socket& up = upstream_->socket;
    while (stage_off_ < stage.size()) {
        IoResult r = up.write(stage.data() + stage_off_, stage.size() - stage_off_);
        if (r.error && !r.blocked()) {
            if (ex_->response_started) abort_response("upstream write failed");
            else upstream_failed("upstream write failed", r.error);
            return false;
        }
        stage_off_ += r.bytes;
        if (stage_off_ < stage.size() && !up.writable()) {
            if (!ex_->response_started) set_deadline(ex_->pool->upstream.response_timeout);
            return false;
        }
    }
    stage.clear();
    stage_off_ = 0;
    // Written bytes make room in the client's window for more.
    if (body_staged_ > 0) {
        conn_.codec().consumed_body(id_, body_staged_);
        body_staged_ = 0;
    }
    if (end_staged_ || (request_ended_ && ex_->request.body == http::BodyKind::none)) ex_->request_sent = true;
    return true;
}

// ---------------------------------------------------------------- response

void H2Stream::step() {
    // Only an HTTP/1.1 upstream connection has steps to take; a stream on an
    // HTTP/2 one is driven by its events (h2_stream_upstream.cpp).
    if (!upstream_) return;
    switch (state_) {
        case State::connect:
            if (upstream_->socket.writable()) {
                cancel();
                if (int err = upstream_->socket.take_error(); err != 0) connect_failed(err);
                else start_upstream();
            }
            return;
        case State::handshake:
            if (upstream_->socket.readable() || upstream_->socket.writable()) continue_handshake();
            return;
        case State::exchange:
            exchange_step();
            return;
        case State::response_body:
            if (!ex_->request_sent && !write_request()) {
                if (state_ != State::response_body) return;
            }
            read_body();
            return;
        case State::opened:
        case State::done:
            return;
    }
}

void H2Stream::exchange_step() {
    if (!ex_->request_sent && !write_request() && state_ != State::exchange) return;
    read_response();
}

void H2Stream::read_response() {
    Worker& w = conn_.worker();
    FlatBuffer& in = ex_->upstream_in;
    const auto& up = ex_->pool->upstream;
    for (;;) {
        if (!in.empty()) {
            std::size_t head_len = 0;
            http::ParseError err;
            auto st = http::parse_response_head(in.data(), up.max_response_header_bytes, ex_->request.method_id,
                                                ex_->response, head_len, err, up.max_response_headers,
                                                &ex_->response_scan);
            if (st == http::ParseStatus::complete) {
                if (ex_->response.status == 101) {
                    upstream_failed("upstream switched protocols unasked", 0);
                    return;
                }
                if (ex_->response.status < 200) {
                    // Interim answers (100 Continue to an upload) are for
                    // this hop: the HTTP/2 client never asked for one.
                    in.consume(head_len);
                    ex_->response_scan = {};
                    continue;
                }
                start_response(head_len);
                return;
            }
            if (st == http::ParseStatus::error) {
                log::limited(w.upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy",
                             "pool {} endpoint {}: {}", ex_->pool->name, ex_->endpoint->name, err.reason);
                w.upstream_failed(*ex_->pool, *ex_->endpoint,
                                  err.over_limit ? UpstreamError::response_too_large : UpstreamError::invalid_response);
                in.clear();
                release_upstream(w, ex_.get(), upstream_, false);
                reply(502, err.over_limit ? "upstream response head over the configured limits"
                                          : "invalid response from upstream");
                return;
            }
        }
        Socket& s = upstream_->socket;
        if (!s.readable()) {
            // Waiting for the upstream's answer, or for the client's body.
            const bool waits_client = ex_->stage.empty() && !ex_->request_sent;
            set_deadline(waits_client ? ex_->snapshot->limits.idle_timeout : up.response_timeout);
            return;
        }
        in.prepare();
        if (in.writable() == 0 && !in.grow(up.max_response_header_bytes + 1024)) {
            w.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::response_too_large);
            release_upstream(w, ex_.get(), upstream_, false);
            reply(502, "upstream response head over the configured limits");
            return;
        }
        IoResult r = s.read(in.prepare(), in.writable());
        if (r.blocked()) continue;
        if (r.eof || r.error) {
            upstream_failed(r.eof ? "upstream closed before responding" : "upstream read failed", r.error);
            return;
        }
        in.commit(r.bytes);
    }
}

void H2Stream::start_response(std::size_t head_len) {
    Worker& w = conn_.worker();
    http::ResponseHead& resp = ex_->response;
    if (resp.status >= 500) w.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::status_5xx);
    else w.upstream_ok(ex_->endpoint->key);
    std::string names;
    std::vector<http::Header> fields = http2::response_fields_h2(resp.headers, names);
    if (!ex_->set_cookie.empty()) fields.push_back({"set-cookie", ex_->set_cookie});
    const bool bodyless = resp.body == http::BodyKind::none;
    status_ = resp.status;
    if (conn_.codec().submit_response(id_, resp.status, fields, bodyless)) {
        abort_response("response head not accepted by the HTTP/2 codec");
        return;
    }
    ex_->response_started = true;
    ex_->upstream_in.consume(head_len);
    ex_->pump.framing = resp.body;
    ex_->pump.remaining = resp.content_length;
    ex_->decoder.reset();
    if (bodyless) {
        finish(resp.status, resp.status >= 500, ex_->upstream_in.empty());
        return;
    }
    state_ = State::response_body;
    read_body();
}

bool H2Stream::pass_body(bool& failed) {
    FlatBuffer& in = ex_->upstream_in;
    BodyPump& p = ex_->pump;
    http2::ServerConnection& codec = conn_.codec();
    switch (p.framing) {
        case http::BodyKind::content_length: {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), p.remaining));
            if (!codec.submit_body(id_, in.data().substr(0, n), false)) paused_ = true;
            in.consume(n);
            p.remaining -= n;
            return p.remaining == 0;
        }
        case http::BodyKind::until_close:
            if (!codec.submit_body(id_, in.data(), false)) paused_ = true;
            in.clear();
            return false;
        case http::BodyKind::chunked:
            while (!in.empty()) {
                http::ChunkedDecoder::Step st = ex_->decoder.feed(in.data());
                if (st.error) {
                    conn_.worker().upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::invalid_response);
                    abort_response(st.reason);
                    failed = true;
                    return false;
                }
                if (!st.data.empty() && !codec.submit_body(id_, st.data, false)) paused_ = true;
                in.consume(st.consumed);
                if (st.done) return true;
                if (st.consumed == 0) break;
            }
            return false;
        case http::BodyKind::none:
            return true;
    }
    return true;
}

void H2Stream::read_body() {
    FlatBuffer& in = ex_->upstream_in;
    for (;;) {
        bool failed = false;
        if (!in.empty() || (ex_->pump.framing == http::BodyKind::content_length && ex_->pump.remaining == 0)) {
            if (pass_body(failed)) {
                finish_response(in.empty());
                return;
            }
            if (failed) return;
        }
        if (paused_) {
            // The client has not taken what it has: it gets idle_timeout to.
            set_deadline(ex_->snapshot->limits.idle_timeout);
            return;
        }
        Socket& s = upstream_->socket;
        if (!s.readable()) {
            set_deadline(ex_->pool->upstream.response_timeout);
            return;
        }
        in.prepare();
        if (in.writable() == 0) in.grow(Exchange::body_buffer);
        IoResult r = s.read(in.prepare(), in.writable());
        if (r.blocked()) continue;
        if (r.eof && ex_->pump.framing == http::BodyKind::until_close) {
            finish_response(false);
            return;
        }
        if (r.eof || r.error) {
            conn_.worker().upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::reset);
            abort_response(r.eof ? "upstream closed before the end of the body" : "upstream read failed");
            return;
        }
        in.commit(r.bytes);
    }
}

void H2Stream::finish_response(bool reusable) {
    conn_.codec().submit_body(id_, {}, true);
    finish(status_, status_ >= 500,
           reusable && ex_->response.keep_alive && ex_->pump.framing != http::BodyKind::until_close);
}

void H2Stream::unpause() {
    paused_ = false;
    if (up_id_ != 0) {
        // The client reads again: the upstream may send what it held back.
        if (unconsumed_ > 0) h2up_->consumed(up_id_, unconsumed_);
        unconsumed_ = 0;
        return;
    }
    conn_.wake(*this);
}

// ---------------------------------------------------------------- endings

void H2Stream::upstream_failed(std::string_view what, int error) {
    Worker& w = conn_.worker();
    const bool nothing_received = ex_->upstream_in.empty();
    const bool reused = upstream_ && upstream_->reused;
    log::limited(w.upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy", "pool {} endpoint {}: {}{}{}",
                 ex_->pool->name, ex_->endpoint->name, what, error ? ": " : "", error ? std::strerror(error) : "");
    // A pooled connection the upstream had already closed says nothing about
    // the endpoint's health: it is retried, not counted (as in Session).
    if (!(reused && nothing_received)) w.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::reset);
    ex_->upstream_in.clear();
    release_upstream(w, ex_.get(), upstream_, false);
    cancel();
    const bool may_repeat = nothing_received && ex_->repeatable && ex_->request.body == http::BodyKind::none &&
                            ex_->attempts < repeat_limit;
    if (may_repeat) {
        if (reused) {
            ++ex_->attempts;
            connect_upstream();
        } else {
            ex_->last_failure_status = 502;
            pick_endpoint();
        }
        return;
    }
    if (nothing_received && !ex_->repeatable) w.stats().retries_refused.fetch_add(1, std::memory_order_relaxed);
    reply(502, "upstream failed before responding");
}

void H2Stream::abort_response(std::string_view what) {
    log::limited(conn_.worker().upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy",
                 "client {} stream {}: response cut short: {}", conn_.session().client_ip_, id_, what);
    conn_.codec().reset(id_, internal_error);
    finish(status_, true, false);
}

void H2Stream::reply(int status, std::string_view text) {
    Worker& w = conn_.worker();
    w.stats().local_replies.fetch_add(1, std::memory_order_relaxed);
    if (ex_->response_started) {
        abort_response(text);
        return;
    }
    release_h2();
    release_upstream(w, ex_.get(), upstream_, false);
    if (grpc_) {
        grpc_reply(status, text);
        return;
    }
    std::string body(text);
    body += '\n';
    const std::string length = std::to_string(body.size());
    const std::vector<http::Header> fields{{"content-type", "text/plain"}, {"content-length", length}};
    status_ = status;
    http2::ServerConnection& codec = conn_.codec();
    if (!codec.submit_response(id_, status, fields, false)) codec.submit_body(id_, body, true);
    else codec.reset(id_, internal_error);
    finish(status, status >= 500, false);
}

void H2Stream::grpc_reply(int status, std::string_view text) {
    // gRPC callers read the outcome from grpc-status, not :status (a
    // text/plain 503 is a protocol error to them): a trailers-only response,
    // with the code the gRPC spec maps the HTTP status to. Counted under the
    // HTTP status it stands for.
    const int code = http2::grpc_status_for_http(status);
    const std::string code_text = std::to_string(code);
    const std::vector<http::Header> fields{
        {"content-type", "application/grpc"}, {"grpc-status", code_text}, {"grpc-message", text}};
    status_ = status;
    grpc_status_ = code;
    http2::ServerConnection& codec = conn_.codec();
    if (codec.submit_response(id_, 200, fields, true)) codec.reset(id_, internal_error);
    finish(status, status >= 500, false);
}

void H2Stream::on_timeout() {
    Worker& w = conn_.worker();
    if (h2up_ != nullptr && call_deadline_ms_ != 0 && EventLoop::clock_ms() >= call_deadline_ms_) {
        grpc_deadline_passed();
        return;
    }
    switch (state_) {
        case State::connect:
            // A shared HTTP/2 connection keeps its own connect_timeout.
            if (h2up_ == nullptr) connect_failed(ETIMEDOUT);
            return;
        case State::handshake:
            upstream_tls_timed_out(w, *ex_, upstream_);
            pick_endpoint();
            return;
        case State::exchange: {
            // HTTP/1.1: nothing staged and not all sent means the client's
            // body is what is missing; HTTP/2 hands the body over as it comes.
            const bool client_late = !ex_->request_sent && (h2up_ != nullptr || ex_->stage.empty());
            if (client_late) {
                log::limited(w.client_log(), EventLoop::clock_ms(), log::Level::info, "proxy",
                             "client {} stream {}: request body not received in time (408)",
                             conn_.session().client_ip_, id_);
                reply(408, "request body not received in time");
                return;
            }
            log::limited(w.upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy",
                         "pool {} endpoint {}: no response within {} ms", ex_->pool->name, ex_->endpoint->name,
                         ex_->pool->upstream.response_timeout.count());
            w.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::timeout);
            if (h2up_ != nullptr) h2up_->suspect();  // its other streams may be waiting on a dead connection
            reply(504, "upstream response timeout");  // lets go of the upstream, of either kind
            return;
        }
        case State::response_body:
            if (paused_) {
                // The client stopped reading (or gives no window): its stream
                // ends, the upstream is not to blame.
                conn_.codec().reset(id_, cancel_code);
                finish(status_, false, false);
                return;
            }
            w.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::timeout);
            abort_response("upstream body timeout");
            return;
        case State::opened:
        case State::done:
            return;
    }
}

void H2Stream::finish(int status, bool error, bool reusable) {
    Worker& w = conn_.worker();
    cancel();
    release_h2();
    if (!ex_->recorded) record_exchange(w, *ex_, status, error, conn_.session().client_ip_);
    release_upstream(w, ex_.get(), upstream_, reusable && ex_->request_sent && ex_->upstream_in.empty());
    w.exchanges().give_back(std::move(ex_));
    body_held_.clear();
    state_ = State::done;
    conn_.stream_done();
}

void H2Stream::closed(std::uint32_t error_code) {
    // The client reset the stream (or the connection ended) before the
    // exchange was over: the upstream connection goes with it, unpooled.
    Worker& w = conn_.worker();
    if (error_code != 0) w.stats().http2_client_resets.fetch_add(1, std::memory_order_relaxed);
    cancel();
    release_h2();
    release_upstream(w, ex_.get(), upstream_, false);
    if (ex_) w.exchanges().give_back(std::move(ex_));
    state_ = State::done;
}

}  // namespace weir::proxy
