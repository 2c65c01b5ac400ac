// H2Stream with an HTTP/2 upstream (`protocol: h2` pools): the request goes
// on as a stream of a connection shared with other exchanges (H2Upstream),
// fields, body and trailers as they are, and each flow-control window is
// handed back only once the other side has taken the bytes. A gRPC call's
// grpc-timeout bounds every wait, and its grpc-status decides whether it
// counts as an error (the pool's grpc_error_codes).
#include "common/log.hpp"
#include "http/serialize.hpp"
#include "http2/grpc.hpp"
#include "http2/translate.hpp"
#include "proxy/exchange_steps.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/h2_upstreams.hpp"
#include "proxy/session.hpp"

#include <algorithm>

namespace weir::proxy {
namespace {

constexpr std::uint32_t refused_stream = 0x7;
constexpr std::uint32_t cancel_code = 0x8;
constexpr int deadline_exceeded = 4;
// Request body kept to be sent again if the endpoint refuses the stream (a
// gRPC call's message goes out with its HEADERS, before any refusal can come).
constexpr std::size_t replay_limit = 64 * 1024;

bool has_trailers_te(const std::vector<http::Header>& headers) {
    for (const http::Header& h : headers)
        if (h.name == "te" && http::iequals(h.value, "trailers")) return true;
    return false;
}

}  // namespace

void H2Stream::h2_output() { conn_.worker().queue_flush(conn_.session()); }

void H2Stream::release_h2() {
    if (h2up_ == nullptr) return;
    if (up_id_ != 0) h2up_->cancel(up_id_);
    else h2up_->forget(*this);
    h2up_ = nullptr;
    up_id_ = 0;
}

void H2Stream::use_h2_upstream() {
    Worker& w = conn_.worker();
    H2Upstream* up = w.h2_upstreams().acquire(ex_->snapshot, *ex_->pool, *ex_->endpoint);
    if (up == nullptr) {
        // The connect failed at once (logged and charged): nothing was sent.
        ex_->last_failure_status = 502;
        pick_endpoint();
        return;
    }
    h2up_ = up;
    if (up->ready()) {
        w.stats().upstream_reuses.fetch_add(1, std::memory_order_relaxed);
        open_h2_stream();
        return;
    }
    state_ = State::connect;
    up->wait(*this);
    if (call_deadline_ms_ != 0) set_deadline(ex_->pool->upstream.connect_timeout + ex_->pool->upstream.response_timeout);
}

void H2Stream::on_h2_ready() {
    if (state_ != State::connect) return;
    open_h2_stream();
    h2_output();
}

void H2Stream::on_h2_unavailable() {
    h2up_ = nullptr;
    if (state_ != State::connect) return;
    ex_->last_failure_status = 502;
    pick_endpoint();  // nothing was sent: another endpoint is safe
    h2_output();
}

void H2Stream::open_h2_stream() {
    Worker& w = conn_.worker();
    Session& s = conn_.session();
    if (!ex_->counted) {
        w.endpoint_begin(ex_->endpoint->key);
        ex_->counted_key = ex_->endpoint->key;
        ex_->counted = true;
    }
    // The head as an HTTP/1.1 upstream would get it (forwarding fields and
    // all), then made into HTTP/2 fields: one place decides what is forwarded.
    std::string& head = ex_->stage;
    head.clear();
    http::ForwardedFor fwd{s.client_ip_,       s.client_.tls() ? "https" : "http", ex_->endpoint->name, s.local_port_,
                           s.claims_,          s.client_cert_subject_,             {}};
    http::serialize_request(head, ex_->request, fwd);
    http2::RequestHeaders up;
    up.headers = http2::head_fields_h2(head, up.authority);
    // TE is connection-specific except for "trailers", which gRPC servers
    // require to know the caller will read them (RFC 9113 §8.2.2).
    if (has_trailers_te(request_.headers)) up.headers.push_back({"te", "trailers"});
    up.method = ex_->request.method;
    up.scheme = ex_->pool->upstream.tls ? "https" : "http";
    up.path = ex_->request.target;
    const bool body_follows = !(request_ended_ && body_held_.empty() && held_trailers_.empty());
    up.end_stream = !body_follows;
    up_id_ = h2up_->open(up, *this);
    head.clear();
    if (up_id_ == 0) {
        // Nothing was sent. A connection that is full (the endpoint's stream
        // limit, known only once it was up, is below the number of requests
        // that waited for it) sends the request on to another connection to
        // the same endpoint; one that failed, to another endpoint.
        const bool full = !h2up_->closed() && !h2up_->has_room();
        h2up_ = nullptr;
        if (full) {
            use_h2_upstream();
            return;
        }
        ex_->last_failure_status = 502;
        pick_endpoint();
        return;
    }
    state_ = State::exchange;
    ex_->request_sent = !body_follows;
    if (!body_held_.empty()) {
        std::string held;
        held.swap(body_held_);
        send_h2_body(held, false);
    }
    if (request_ended_ && body_follows) end_h2_request();
    h2_wait_deadline();
}

void H2Stream::send_h2_body(std::string_view bytes, bool end) {
    if (bytes.empty() && !end) return;
    up_body_sent_ += bytes.size();
    if (up_body_sent_ <= replay_limit) ex_->replay.append(bytes);
    if (!h2up_->send_body(up_id_, bytes, end)) up_full_ = true;
    // The client's window reopens as the upstream stream takes the bytes
    // (not again for those of a replay: their window was given back then).
    std::size_t credit = bytes.size();
    const std::size_t again = std::min(credit, replayed_);
    replayed_ -= again;
    credit -= again;
    if (up_full_) held_window_ += credit;
    else if (credit > 0) conn_.codec().consumed_body(id_, credit);
    if (state_ == State::exchange) h2_wait_deadline();
}

void H2Stream::end_h2_request() {
    if (ex_->request_sent) return;
    ex_->request_sent = true;
    if (held_trailers_.empty()) {
        h2up_->send_body(up_id_, {}, true);
    } else {
        std::vector<http::Header> trailers;
        trailers.reserve(held_trailers_.size());
        for (const auto& [n, v] : held_trailers_) trailers.push_back({n, v});
        h2up_->send_trailers(up_id_, trailers);
    }
    if (state_ == State::exchange) h2_wait_deadline();
}

void H2Stream::on_h2_send_buffer(bool full) {
    up_full_ = full;
    if (full || held_window_ == 0) return;
    conn_.codec().consumed_body(id_, held_window_);
    held_window_ = 0;
    h2_output();
}

// ---------------------------------------------------------------- response

void H2Stream::on_h2_response(int status, const std::vector<http::Header>& headers, bool end_stream) {
    Worker& w = conn_.worker();
    status_ = status;
    grpc_response_ = grpc_ || http2::is_grpc(headers);
    // A gRPC response is judged by its grpc-status, at its end; any other by
    // its status, now.
    if (!grpc_response_) {
        if (status >= 500) w.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::status_5xx);
        else w.upstream_ok(ex_->endpoint->key);
    }
    // The fields are HTTP/2 fields already: lower case, and nghttp2 treats a
    // response with connection-specific ones as malformed (the stream is
    // reset), so they pass as they are; copied only to add a sticky cookie.
    std::vector<http::Header> with_cookie;
    if (!ex_->set_cookie.empty()) {
        with_cookie.reserve(headers.size() + 1);
        with_cookie.assign(headers.begin(), headers.end());
        with_cookie.push_back({"set-cookie", ex_->set_cookie});
    }
    const std::vector<http::Header>& fields = ex_->set_cookie.empty() ? headers : with_cookie;
    if (conn_.codec().submit_response(id_, status, fields, end_stream)) {
        abort_response("response head not accepted by the HTTP/2 codec");
        h2_output();
        return;
    }
    ex_->response_started = true;
    if (end_stream) {
        // Trailers-only (a gRPC error, usually): the head carries
        // grpc-status, and the upstream stream is over.
        up_id_ = 0;
        h2up_ = nullptr;
        grpc_status_ = http2::grpc_status(headers);
        trailers_sent_ = true;
        h2_response_complete();
    } else {
        state_ = State::response_body;
        set_deadline(ex_->pool->upstream.response_timeout);
    }
    h2_output();
}

void H2Stream::h2_wait_deadline() {
    // Until the client has sent its whole request, the wait is the client's
    // (idle_timeout between its bytes); then the upstream's.
    set_deadline(ex_->request_sent ? ex_->pool->upstream.response_timeout : ex_->snapshot->limits.idle_timeout);
}

void H2Stream::on_h2_body(std::string_view bytes) {
    if (!conn_.codec().submit_body(id_, bytes, false)) paused_ = true;
    // Handed back to the upstream once the client's side has room: a client
    // that does not read holds the upstream stream's window, nothing more.
    if (paused_) unconsumed_ += bytes.size();
    else h2up_->consumed(up_id_, bytes.size());
    set_deadline(paused_ ? ex_->snapshot->limits.idle_timeout : ex_->pool->upstream.response_timeout);
    h2_output();
}

void H2Stream::on_h2_trailers(const std::vector<http::Header>& trailers) {
    grpc_status_ = http2::grpc_status(trailers);
    if (conn_.codec().submit_trailers(id_, trailers)) conn_.codec().submit_body(id_, {}, true);
    trailers_sent_ = true;
    h2_output();
}

void H2Stream::on_h2_end() {
    up_id_ = 0;  // complete: the upstream stream is over
    h2up_ = nullptr;
    if (state_ != State::response_body && state_ != State::exchange) return;
    if (!trailers_sent_) conn_.codec().submit_body(id_, {}, true);
    h2_response_complete();
    h2_output();
}

void H2Stream::h2_response_complete() {
    Worker& w = conn_.worker();
    bool error = status_ >= 500;
    if (grpc_response_) {
        // No grpc-status at all is a broken call (gRPC clients report INTERNAL).
        const bool failed = grpc_status_ < 0 || (grpc_status_ <= routing::max_grpc_status &&
                                                 (ex_->pool->grpc_error_codes & routing::grpc_status_bit(grpc_status_)));
        if (failed) {
            error = true;
            w.upstream_failed(*ex_->pool, *ex_->endpoint,
                              grpc_status_ < 0 ? UpstreamError::invalid_response : UpstreamError::grpc_status);
        } else if (status_ < 500) {
            w.upstream_ok(ex_->endpoint->key);
        }
    }
    finish(status_, error, false);
}

void H2Stream::on_h2_closed(std::uint32_t code) {
    Worker& w = conn_.worker();
    up_id_ = 0;
    h2up_ = nullptr;
    if (state_ != State::exchange && state_ != State::response_body) return;
    if (ex_->response_started) {
        w.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::reset);
        abort_response(code == H2UpstreamUser::connection_lost ? "upstream connection lost"
                                                               : "upstream reset the stream");
        h2_output();
        return;
    }
    // REFUSED_STREAM: the upstream says it never processed the request
    // (RFC 9113 §8.7), so even a POST may go again, if its body is still
    // whole: none was sent yet, or all of it is kept.
    const bool refused = code == refused_stream;
    const bool body_whole = up_body_sent_ == 0 || (refused && up_body_sent_ <= replay_limit);
    const bool may_repeat = body_whole && (refused || ex_->repeatable) && ex_->attempts < attempt_limit;
    if (!refused) {
        log::limited(w.upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy",
                     "pool {} endpoint {}: stream {} before the response (code {:#x})", ex_->pool->name,
                     ex_->endpoint->name, code == H2UpstreamUser::connection_lost ? "lost" : "reset",
                     code == H2UpstreamUser::connection_lost ? 0u : code);
        w.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::reset);
    }
    cancel();
    release_upstream(w, ex_.get(), upstream_, false);  // the endpoint's in-flight count
    if (may_repeat) {
        ex_->request_sent = false;
        if (up_body_sent_ > 0) {
            // Sent again from the copy, before whatever the client sends next.
            replayed_ = ex_->replay.size();
            ex_->replay.append(body_held_);
            body_held_.swap(ex_->replay);
            ex_->replay.clear();
            up_body_sent_ = 0;
        }
        if (refused && ex_->attempts < repeat_limit) {
            // The same endpoint, on a connection that takes streams (a
            // GOAWAY's refusals come from one that does not any more).
            ++ex_->attempts;
            use_h2_upstream();
        } else {
            ex_->last_failure_status = 502;
            pick_endpoint();
        }
    } else {
        if (!ex_->repeatable) w.stats().retries_refused.fetch_add(1, std::memory_order_relaxed);
        reply(502, "upstream failed before responding");
    }
    h2_output();
}

// ---------------------------------------------------------------- deadlines

void H2Stream::grpc_deadline_passed() {
    Worker& w = conn_.worker();
    log::limited(w.client_log(), EventLoop::clock_ms(), log::Level::info, "proxy",
                 "client {} stream {}: grpc-timeout passed, call ended with DEADLINE_EXCEEDED", conn_.session().client_ip_,
                 id_);
    release_h2();
    release_upstream(w, ex_.get(), upstream_, false);
    grpc_status_ = deadline_exceeded;
    http2::ServerConnection& codec = conn_.codec();
    const std::vector<http::Header> status{{"grpc-status", "4"}, {"grpc-message", "deadline exceeded at the proxy"}};
    if (ex_->response_started) {
        if (codec.submit_trailers(id_, status)) codec.reset(id_, cancel_code);
    } else {
        status_ = 200;
        std::vector<http::Header> fields{{"content-type", "application/grpc"}};
        fields.insert(fields.end(), status.begin(), status.end());
        if (codec.submit_response(id_, 200, fields, true)) codec.reset(id_, cancel_code);
    }
    // The caller's deadline says nothing certain about the endpoint: counted
    // for the pool as the code says, not charged to the endpoint.
    const bool error = (ex_->pool->grpc_error_codes & routing::grpc_status_bit(deadline_exceeded)) != 0;
    finish(status_, error, false);
}

}  // namespace weir::proxy
