#include "proxy/session.hpp"

#include "common/log.hpp"
#include "http/parser.hpp"
#include "http/serialize.hpp"
#include "http/upgrade.hpp"
#include "proxy/access_log.hpp"
#include "proxy/exchange_steps.hpp"
#include "proxy/listener.hpp"
#include "routing/decision.hpp"
#include "routing/forwarded_client.hpp"
#include "tls/client_context.hpp"
#include "tls/server_context.hpp"

#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace weir::proxy {
namespace {

// Largest request body kept for a replay after a stale pooled connection.
constexpr std::uint64_t replay_limit = 64 * 1024;

}  // namespace

Session::Session(Worker& worker, int fd, const sockaddr_storage& peer, const Listener& from)
    : worker_(worker), listener_id_(from.id()), local_port_(from.port()), client_(fd) {
    client_.set_nodelay();
    client_.set_writable(true);
    client_ip_ = ip_text(peer);
    if (const auto& snap = worker_.snapshot()) {
        claims_.trusted_peer = snap->trusted_proxies.contains(client_ip_);
        const routing::ListenerSettings& listener = snap->listener(from.name());
        claims_.keep_underscores = listener.keep_underscores;
        http2_allowed_ = listener.http2;
        if (listener.tls) {
            // The connection keeps this context (and its certificates) for
            // its whole life, whatever a reload brings: OpenSSL's SNI and
            // ALPN callbacks point into it while the handshake runs.
            tls_context_ = listener.tls;
            if (SSL* ssl = tls_context_->new_connection()) client_.attach_tls(ssl);
            handshakes_ = listener.handshakes;
        }
    }
    worker_.add_session(*this);
}

Session::~Session() { worker_.session_closed(); }

void Session::start() {
    if (int err = worker_.loop().add(client_.fd(), this); err != 0) {
        log::error("proxy", "cannot watch a client connection: {}", std::strerror(err));
        close();
        return;
    }
    if (handshakes_) {
        if (!client_.tls()) {
            log::error("proxy", "client {}: cannot start TLS: out of memory", client_ip_);
            handshakes_->failed.fetch_add(1, std::memory_order_relaxed);
            close();
            return;
        }
        // The handshake shares the head's deadline: a connection that says
        // nothing useful in header_timeout is dropped either way.
        const auto& snap = worker_.snapshot();
        set_deadline(snap ? snap->limits.header_timeout : std::chrono::milliseconds(10000));
        wait_ = Wait::handshake;
        worker_.queue_turn(*this);
        return;
    }
    wait_request();
}

void Session::continue_handshake() {
    std::string why;
    const int rc = client_.handshake(why);
    if (rc == 0) return;  // waits for the next event
    if (rc < 0) {
        handshakes_->failed.fetch_add(1, std::memory_order_relaxed);
        client_note("client {}: TLS handshake failed: {}", client_ip_, why);
        close();
        return;
    }
    (SSL_session_reused(client_.tls()) ? handshakes_->resumed : handshakes_->full)
        .fetch_add(1, std::memory_order_relaxed);
    // With client_ca, OpenSSL has verified the certificate (or failed the
    // handshake): its subject goes upstream, in place of any the client sent.
    client_cert_subject_ = tls::verified_peer_subject(client_.tls());
    clear_deadline();
    wait_ = Wait::none;
    if (http2_allowed_) {
        const unsigned char* proto = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(client_.tls(), &proto, &len);
        if (len == 2 && proto[0] == 'h' && proto[1] == '2') {
            start_http2({});
            return;
        }
    }
    wait_request();
}

bool Session::http2_preface(std::string_view bytes, bool& complete) const {
    static constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const std::size_t n = std::min(bytes.size(), preface.size());
    complete = n == preface.size();
    return bytes.substr(0, n) == preface.substr(0, n);
}

void Session::start_http2(std::string_view first_bytes) {
    clear_deadline();
    wait_ = Wait::http2;
    served_ = true;
    const auto& snap = worker_.snapshot();
    http2::Limits limits;
    if (snap) limits.max_header_list_bytes = static_cast<std::uint32_t>(std::min<std::size_t>(snap->limits.max_header_bytes, UINT32_MAX));
    h2_ = std::make_unique<H2Connection>(*this, limits);
    // The bytes go to the codec before the buffers they sit in are given back.
    h2_->start(first_bytes);
    if (wait_ == Wait::closed) return;
    if (ex_) worker_.exchanges().give_back(std::move(ex_));
    if (draining_ || worker_.draining()) h2_->drain();
}

void Session::on_events(std::uint32_t events) {
    client_.on_events(events);
    if (h2_) {
        h2_->on_client_events();
        return;
    }
    // A reset client (not a half-close: that one still wants its answer)
    // while Weir waits on the upstream: stop waiting and free the upstream.
    if ((events & (EPOLLERR | EPOLLHUP)) &&
        (wait_ == Wait::connect || wait_ == Wait::upstream_handshake || wait_ == Wait::response_head ||
         (wait_ == Wait::pump_read && ex_->pump.dir == Direction::response))) {
        log::debug("proxy", "client {}: went away while the upstream was busy", client_ip_);
        release_upstream(false);
        close();
        return;
    }
    resume();
}

void Session::on_upstream_events(std::uint32_t) { resume(); }

void Session::resume() {
    switch (wait_) {
        case Wait::handshake:
            // Still waiting for its turn: what the socket said is kept in
            // its readiness flags until then.
            if (!TurnHook::is_linked()) continue_handshake();
            break;
        case Wait::idle:
        case Wait::request_head:
            if (client_.readable()) read_head();
            break;
        case Wait::connect:
            if (upstream_ && upstream_->socket.writable()) on_connected();
            break;
        case Wait::upstream_handshake:
            if (upstream_ && (upstream_->socket.readable() || upstream_->socket.writable())) continue_upstream_handshake();
            break;
        case Wait::pump_read:
        case Wait::pump_write:
            if (ex_->pump.dir == Direction::request && upstream_ && upstream_->socket.readable()) {
                // The upstream answers (or closes) before the body is complete,
                // whether Weir waits for the client's next bytes or for room
                // to write them: e.g. an early 401 or 413. Forward it; a final
                // answer cuts the request short (send_response closes after
                // it), an interim one resumes the upload.
                wait_ = Wait::none;
                clear_deadline();
                read_response();
            } else if (wait_ == Wait::pump_read ? ex_->pump.src->readable() : ex_->pump.dst->writable()) {
                pump();
            }
            break;
        case Wait::response_head:
            if (upstream_ && upstream_->socket.readable()) read_response();
            break;
        case Wait::reply:
            if (client_.writable()) write_reply();
            break;
        case Wait::linger:
            if (client_.readable()) linger_read();
            break;
        case Wait::tunnel:
            tunnel_pump();
            break;
        case Wait::http2:
            h2_->on_client_events();
            break;
        case Wait::none:
        case Wait::closed:
            break;
    }
}

std::chrono::milliseconds Session::idle_limit(const routing::Limits& limits) const {
    // A connection that never sent a request gets no more than the header
    // timeout: opening sockets and staying silent must not hold slots for a minute.
    return served_ ? limits.idle_timeout : std::min(limits.idle_timeout, limits.header_timeout);
}

void Session::set_deadline(std::chrono::milliseconds d) {
    set_deadline_at(EventLoop::clock_ms() + static_cast<std::uint64_t>(d.count()));
}

void Session::set_deadline_at(std::uint64_t due_ms) {
    // Due times count whole milliseconds of a truncated clock: armed at
    // 1000.9 ms "+500" would be due at 1500.0, 499.1 ms later. One more
    // millisecond keeps every deadline at or after its full duration.
    worker_.loop().timers().arm(*this, due_ms + 1);
}

void Session::on_timer() {
    if (wait_ == Wait::closed) return;
    on_timeout();
}

void Session::on_timeout() {
    switch (wait_) {
        case Wait::handshake:
            handshakes_->timeout.fetch_add(1, std::memory_order_relaxed);
            client_note("client {}: TLS handshake not complete in time", client_ip_);
            close();
            return;
        case Wait::idle:
            close();  // keep-alive idle timeout: nothing to say
            return;
        case Wait::request_head:
            client_note("client {}: request head not complete in time", client_ip_);
            reply(408, "request head not received in time", true);
            return;
        case Wait::connect:
            upstream_connect_failed(worker_, *ex_, upstream_, ETIMEDOUT);
            pick_endpoint();  // nothing was sent: another endpoint is safe
            return;
        case Wait::upstream_handshake:
            wait_ = Wait::none;
            upstream_tls_timed_out(worker_, *ex_, upstream_);
            pick_endpoint();
            return;
        case Wait::pump_read:
        case Wait::pump_write:
            pump_failed(wait_ == Wait::pump_read, BodyFailure::io, ETIMEDOUT, "timeout");
            return;
        case Wait::response_head:
            upstream_note("pool {} endpoint {}: no response within {} ms", ex_->pool->name, ex_->endpoint->name,
                      ex_->pool->upstream.response_timeout.count());
            worker_.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::timeout);
            release_upstream(false);
            reply(504, "upstream response timeout", true);
            return;
        case Wait::reply:
        case Wait::linger:
            close();
            return;
        case Wait::tunnel:
            tunnel_timer();
            return;
        case Wait::http2:  // the HTTP/2 connection keeps its own deadlines
        case Wait::none:
        case Wait::closed:
            return;
    }
}

void Session::drain() {
    draining_ = true;
    close_after_ = true;
    if (h2_) {
        h2_->drain();
        return;
    }
    if (wait_ == Wait::idle) close();
    if (tunnel_) tunnel_shut_down();
}

// ---------------------------------------------------------------- request head

void Session::wait_request() {
    if (draining_ || worker_.draining()) {
        close();
        return;
    }
    if ((ex_ && !ex_->client_in.empty()) || client_.readable()) {
        // Pipelined, or already arrived: no need to wait for an edge.
        head_started_ms_ = EventLoop::clock_ms();
        read_head();
        return;
    }
    // Idle: give the buffers back while waiting.
    if (ex_) worker_.exchanges().give_back(std::move(ex_));
    const auto& snap = worker_.snapshot();
    set_deadline(snap ? idle_limit(snap->limits) : routing::Limits{}.header_timeout);
    wait_ = Wait::idle;
}

void Session::read_head() {
    const auto& snap = worker_.snapshot();
    if (!snap) {
        close();
        return;
    }
    if (wait_ == Wait::idle || wait_ == Wait::none) head_started_ms_ = EventLoop::clock_ms();
    if (!ex_) ex_ = worker_.exchanges().take();
    const std::size_t max_head = snap->limits.max_header_bytes;
    FlatBuffer& in = ex_->client_in;
    for (;;) {
        bool preface_complete = false;
        if (http2_allowed_ && !served_ && !in.empty() && http2_preface(in.data(), preface_complete)) {
            // h2c with prior knowledge (RFC 9113 §3.3): the connection preface
            // where a request line would be. Read on until it is whole.
            if (preface_complete) {
                start_http2(in.data());
                return;
            }
        } else if (!in.empty()) {
            std::size_t head_len = 0;
            http::ParseError err;
            auto st = http::parse_request_head(in.data(), max_head, ex_->request, head_len, err, &head_scan_);
            if (st == http::ParseStatus::complete) {
                clear_deadline();
                // A new exchange state; the head stays in the buffer (its
                // fields are views into it) until it has been serialised
                // upstream for the last time.
                ex_->begin_request(snap, head_len);
                handle_request();
                return;
            }
            if (st == http::ParseStatus::error) {
                client_note("client {}: {} ({})", client_ip_, err.reason, err.status);
                reply(err.status, err.reason, true);
                return;
            }
        }
        if (!client_.readable()) {
            wait_ = in.empty() ? Wait::idle : Wait::request_head;
            if (in.empty()) {
                set_deadline(idle_limit(snap->limits));
                worker_.exchanges().give_back(std::move(ex_));  // idle: hold no buffers
            } else {
                set_deadline_at(head_started_ms_ + static_cast<std::uint64_t>(snap->limits.header_timeout.count()));
            }
            return;
        }
        in.prepare();
        if (in.writable() == 0 && !in.grow(max_head + 1024)) {
            client_note("client {}: request head larger than {} bytes (431)", client_ip_, max_head);
            reply(431, "request head too large", true);
            return;
        }
        IoResult r = client_.read(in.prepare(), in.writable());
        if (r.blocked()) continue;  // readable() is now false: wait above
        if (r.eof || r.error) {
            // EOF between requests is a normal close; inside a head it is the client giving up.
            close();
            return;
        }
        if (in.empty()) head_started_ms_ = EventLoop::clock_ms();
        in.commit(r.bytes);
    }
}

void Session::handle_request() {
    wait_ = Wait::none;
    served_ = true;
    if (ex_->snapshot->access_log) start_access_line(&ex_->request);
    ex_->request_started = std::chrono::steady_clock::now();
    ex_->request_counted = true;
    ex_->recorded = false;
    http::RequestHead& req = ex_->request;
    worker_.stats().requests.fetch_add(1, std::memory_order_relaxed);
    close_after_ = !req.keep_alive || draining_ || worker_.draining();
    ex_->repeatable = repeatable(req);

    const auto& limits = ex_->snapshot->limits;
    if (limits.max_body_bytes > 0 && req.body == http::BodyKind::content_length &&
        req.content_length > limits.max_body_bytes) {
        client_note("client {}: request body of {} bytes over max_body_bytes {} (413)", client_ip_,
                  req.content_length, limits.max_body_bytes);
        reply(413, "request body too large", true);
        return;
    }
    routing::RequestView view(req.headers, req.target, claims_);
    if (Refusal r = route_request(worker_, *ex_, view, client_ip_)) {
        reply(r.status, r.why, req.body != http::BodyKind::none);
        return;
    }
    if (!req.upgrade.empty()) {
        // Only the protocols the route allows are asked of the upstream;
        // with none, the request goes on as an ordinary one (Upgrade is
        // hop-by-hop), as a server may ignore Upgrade (RFC 9110 §7.8).
        ex_->upgrade_offer = http::upgrade_offer(req.upgrade, ex_->route->tunnel.upgrade);
        if (!ex_->upgrade_offer.empty()) {
            // Bytes after the head belong to the new protocol once it is
            // switched to: a body would leave it unclear where one ends.
            if (req.body != http::BodyKind::none) {
                client_note("client {}: route {}: upgrade request with a body (400)", client_ip_, ex_->route->name);
                reply(400, "upgrade request with a body", true);
                return;
            }
            // Switched or not, the connection ends with this exchange: what
            // the client sent after the head may already be the new protocol.
            close_after_ = true;
        }
    }
    pick_endpoint();
}

void Session::pick_endpoint() {
    if (!next_endpoint(worker_, *ex_)) {
        reply(ex_->last_failure_status,
              ex_->last_failure_status == 502 ? "upstream failed before responding" : "no upstream endpoint available",
              true);
        return;
    }
    if (ex_->pool->protocol == routing::UpstreamProtocol::h2) {
        // The pool's endpoints speak HTTP/2 (gRPC backends): requests reach
        // them from HTTP/2 clients only.
        client_note("client {}: route {} pool {}: the pool speaks HTTP/2 to its endpoints, HTTP/1.1 requests are "
                    "not forwarded to it (505)",
                    client_ip_, ex_->route->name, ex_->pool->name);
        reply(505, "this route is served over HTTP/2 only", true);
        return;
    }
    // A request that could not be repeated has the pool make sure, at the cost
    // of a peek, that the connection is still open; for the others a closed one
    // costs a repeat, which is rarer than a syscall on every request.
    upstream_ = worker_.upstreams().take(ex_->endpoint->key, EventLoop::clock_ms(), ex_->pool->upstream.tls.get(),
                                         !survives_stale_connection());
    if (upstream_) {
        upstream_->owner = this;
        worker_.stats().upstream_reuses.fetch_add(1, std::memory_order_relaxed);
        send_request();
    } else {
        connect_upstream();
    }
}

// ---------------------------------------------------------------- upstream

void Session::connect_upstream() {
    const int err = open_upstream(worker_, *ex_, *this, upstream_);
    if (err == 0) {
        start_upstream();
        return;
    }
    if (err == EINPROGRESS) {
        wait_ = Wait::connect;
        set_deadline(ex_->pool->upstream.connect_timeout);
        return;
    }
    if (local_shortage(err)) {
        // Weir itself is out of descriptors (or ports, or socket memory):
        // not the endpoint's fault, and every other endpoint would fail the same.
        upstream_note("pool {} endpoint {}: cannot open a connection: {} (not counted against the endpoint)",
                      ex_->pool->name, ex_->endpoint->name, std::strerror(err));
        reply(503, "proxy out of connection resources", true);
        return;
    }
    upstream_connect_failed(worker_, *ex_, upstream_, err);
    pick_endpoint();
}

void Session::on_connected() {
    clear_deadline();
    int err = upstream_->socket.take_error();
    if (err != 0) {
        upstream_connect_failed(worker_, *ex_, upstream_, err);
        pick_endpoint();  // nothing was sent: another endpoint is safe
        return;
    }
    start_upstream();
}

void Session::start_upstream() {
    if (!ex_->pool->upstream.tls) {
        send_request();
        return;
    }
    if (!attach_upstream_tls(worker_, *ex_, *upstream_)) {
        release_upstream(false);
        reply(503, "proxy out of connection resources", true);
        return;
    }
    wait_ = Wait::upstream_handshake;
    set_deadline(ex_->pool->upstream.connect_timeout);
    continue_upstream_handshake();
}

void Session::continue_upstream_handshake() {
    const int rc = advance_upstream_tls(worker_, *ex_, upstream_);
    if (rc == 0) return;  // waits for the next event
    clear_deadline();
    wait_ = Wait::none;
    if (rc < 0) pick_endpoint();
    else send_request();
}

void Session::send_request() {
    ex_->response_scan = {};  // a new attempt: its response starts a new search
    if (!ex_->counted) {
        worker_.endpoint_begin(ex_->endpoint->key);
        ex_->counted_key = ex_->endpoint->key;
        ex_->counted = true;
    }
    if (ex_->replaying) {
        // A stale pooled connection failed this request before any answer:
        // send the same bytes again on a fresh connection.
        ex_->stage = ex_->replay;
        start_pump(Direction::request, /*staged_whole=*/true);
        return;
    }
    http::RequestHead& req = ex_->request;
    ex_->stage.clear();
    http::ForwardedFor fwd{client_ip_,  client_.tls() ? "https" : "http", ex_->endpoint->name, local_port_, claims_,
                           client_cert_subject_, ex_->upgrade_offer};
    http::serialize_request(ex_->stage, req, fwd);
    // A bodiless request keeps its head buffered until the response arrives,
    // so a failed attempt can be serialised again for another endpoint; with
    // a body, the head must make way for it now.
    ex_->replay.clear();
    if (req.body != http::BodyKind::none) {
        drop_request_head();
        // On a reused idle connection the upstream may have closed just as we
        // write; a small body that has fully arrived is kept so the request can
        // be replayed once on a fresh connection.
        if (ex_->repeatable && upstream_->reused && body_kept_for_replay()) {
            ex_->replay = ex_->stage;
            ex_->replay.append(ex_->client_in.data().substr(0, static_cast<std::size_t>(req.content_length)));
        }
    }
    if (req.expect_continue && ex_->client_in.empty() && !ex_->continue_sent) {
        // The client waits for a go-ahead before sending the body; Weir gives
        // it itself once an upstream is ready (Expect is not forwarded).
        ex_->continue_sent = true;
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        IoResult r = client_.write(cont.data(), cont.size());
        if (r.error || r.bytes != cont.size()) {
            // A client whose socket buffer is full right after sending only a
            // head is not one to wait for.
            release_upstream(false);
            close();
            return;
        }
    }
    start_pump(Direction::request);
}

bool Session::body_kept_for_replay() const {
    const http::RequestHead& req = ex_->request;
    // Before the head is sent, the buffer starts with it.
    return req.body == http::BodyKind::content_length && req.content_length <= replay_limit &&
           ex_->client_in.size() - ex_->pending_head >= req.content_length;
}

bool Session::survives_stale_connection() const {
    // The conditions upstream_failed repeats a request under.
    return ex_->repeatable && ex_->attempts < repeat_limit &&
           (ex_->request.body == http::BodyKind::none || body_kept_for_replay());
}

bool Session::forward_interim() {
    int status = ex_->response.status;
    if (status == 101) {
        // No upgrade was offered for this request (upgrading ones never get here).
        upstream_failed("upstream switched protocols unasked", 0);
        return false;
    }
    if (ex_->request.version_minor == 1 && !(status == 100 && ex_->continue_sent)) {
        std::string interim;
        http::serialize_response(interim, ex_->response, http::ClientFraming::as_upstream, true, 1);
        IoResult r = client_.write(interim.data(), interim.size());
        if (r.error || r.bytes != interim.size()) {
            release_upstream(false);
            close();
            return false;
        }
    }
    return true;
}

void Session::read_response() {
    FlatBuffer& in = ex_->upstream_in;
    for (;;) {
        if (!in.empty()) {
            std::size_t head_len = 0;
            http::ParseError err;
            auto st = http::parse_response_head(in.data(), ex_->pool->upstream.max_response_header_bytes,
                                                ex_->request.method_id, ex_->response, head_len, err,
                                                ex_->pool->upstream.max_response_headers, &ex_->response_scan);
            if (st == http::ParseStatus::complete) {
                if (ex_->response.status == 101 && !ex_->upgrade_offer.empty()) {
                    clear_deadline();
                    start_tunnel(head_len);
                    return;
                }
                if (ex_->response.status < 200) {
                    if (!forward_interim()) return;
                    in.consume(head_len);
                    if (!ex_->request_sent && in.empty() && ex_->pump.dir == Direction::request) {
                        // Only an interim answer (some servers send 100 to
                        // every upload): the body still has to go out.
                        pump();
                        return;
                    }
                    continue;
                }
                clear_deadline();
                ex_->response_head_len = head_len;
                send_response();
                return;
            }
            if (st == http::ParseStatus::error) {
                if (err.over_limit) {
                    upstream_note(
                              "pool {} endpoint {}: {} (upstream.max_response_header_bytes {}, max_response_headers {})",
                              ex_->pool->name, ex_->endpoint->name, err.reason, ex_->pool->upstream.max_response_header_bytes,
                              ex_->pool->upstream.max_response_headers);
                } else {
                    upstream_note("pool {} endpoint {}: {}", ex_->pool->name, ex_->endpoint->name, err.reason);
                }
                worker_.upstream_failed(*ex_->pool, *ex_->endpoint,
                                        err.over_limit ? UpstreamError::response_too_large
                                                       : UpstreamError::invalid_response);
                in.clear();
                release_upstream(false);
                reply(502, err.over_limit ? "upstream response head over the configured limits"
                                          : "invalid response from upstream",
                      true);
                return;
            }
        }
        Socket& s = upstream_->socket;
        if (!s.readable()) {
            wait_ = Wait::response_head;
            set_deadline(ex_->pool->upstream.response_timeout);
            return;
        }
        in.prepare();
        if (in.writable() == 0 && !in.grow(ex_->pool->upstream.max_response_header_bytes + 1024)) {
            upstream_note("pool {} endpoint {}: response head over {} bytes (upstream.max_response_header_bytes)",
                      ex_->pool->name, ex_->endpoint->name, ex_->pool->upstream.max_response_header_bytes);
            worker_.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::response_too_large);
            release_upstream(false);
            reply(502, "upstream response head over the configured limits", true);
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

void Session::upstream_failed(std::string_view what, int error) {
    const bool nothing_received = ex_->upstream_in.empty();
    const bool reused = upstream_ && upstream_->reused;
    upstream_note("pool {} endpoint {}: {}{}{}", ex_->pool->name, ex_->endpoint->name, what, error ? ": " : "",
              error ? std::strerror(error) : "");
    // A pooled connection the upstream had already closed says nothing about
    // the endpoint's health: it is retried, not counted.
    if (!(reused && nothing_received)) worker_.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::reset);
    ex_->upstream_in.clear();
    release_upstream(false);
    // Once bytes of the request went out, the upstream may have acted on it:
    // it is sent again only when nothing came back and repeating it is
    // harmless (`ex_->repeatable`). A reused idle connection the upstream had
    // closed is retried on a fresh one to the same endpoint; otherwise another
    // endpoint is tried. A body is replayed only when it was kept whole.
    const bool bodyless = ex_->request.body == http::BodyKind::none;
    const bool may_repeat = nothing_received && ex_->repeatable && !ex_->response_started && ex_->attempts < repeat_limit;
    if (may_repeat && reused && !ex_->replay.empty()) {
        ++ex_->attempts;
        ex_->replaying = true;
        skip_unsent_body();
        connect_upstream();
        return;
    }
    if (may_repeat && bodyless) {
        if (reused) {
            ++ex_->attempts;
            connect_upstream();
            return;
        }
        ex_->last_failure_status = 502;
        pick_endpoint();
        return;
    }
    if (nothing_received && !ex_->response_started && !ex_->repeatable) {
        worker_.stats().retries_refused.fetch_add(1, std::memory_order_relaxed);
        upstream_note("pool {} endpoint {}: request not sent again (not idempotent, no Idempotency-Key): 502",
                      ex_->pool->name, ex_->endpoint->name);
    }
    reply(502, "upstream failed before responding", true);
}

void Session::skip_unsent_body() {
    // The first attempt may have stopped part-way through the body (a short
    // write, then the reset). The replay sends the kept copy whole, so what
    // the first attempt had not claimed yet must leave the client buffer now:
    // read later, those bytes would be parsed as the client's next request.
    if (ex_->pump.dir != Direction::request || ex_->pump.in != &ex_->client_in) return;
    const std::uint64_t unsent = static_cast<std::uint64_t>(ex_->pump.view_len) + ex_->pump.remaining;
    ex_->client_in.consume(static_cast<std::size_t>(std::min<std::uint64_t>(unsent, ex_->client_in.size())));
    ex_->pump.view_len = 0;
    ex_->pump.remaining = 0;
}

void Session::send_response() {
    http::ResponseHead& resp = ex_->response;
    if (resp.status >= 500) worker_.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::status_5xx);
    else worker_.upstream_ok(ex_->endpoint->key);
    const int client_minor = ex_->request.version_minor;
    http::ClientFraming framing = http::ClientFraming::as_upstream;
    ex_->pump.encode_chunked = false;
    if (resp.body == http::BodyKind::chunked || resp.body == http::BodyKind::until_close) {
        if (client_minor == 1) {
            framing = http::ClientFraming::chunked;
            ex_->pump.encode_chunked = true;
        } else {
            framing = http::ClientFraming::until_close;
            close_after_ = true;  // an HTTP/1.0 client learns the end from the close
        }
    }
    if (!ex_->request_sent) close_after_ = true;
    ex_->stage.clear();
    http::serialize_response(ex_->stage, resp, framing, !close_after_, client_minor, ex_->set_cookie);
    ex_->upstream_in.consume(ex_->response_head_len);
    drop_request_head();
    ex_->response_started = true;
    start_pump(Direction::response);
}

void Session::record(int status, bool error, bool log_line) {
    record_exchange(worker_, *ex_, status, error, client_ip_, log_line);
}

void Session::start_access_line(const http::RequestHead* req) {
    proxy::start_access_line(worker_, *ex_, req, claims_, client_ip_);
}

void Session::finish_exchange() {
    if (!ex_->recorded) record(ex_->response.status, ex_->response.status >= 500);
    // The upstream can carry another request only when both messages ended
    // exactly on their framing and nothing extra arrived.
    const bool reusable = ex_->response.keep_alive && ex_->request_sent && ex_->upstream_in.empty() &&
                          ex_->pump.framing != http::BodyKind::until_close;
    release_upstream(reusable);
    ex_->upstream_in.clear();
    ex_->snapshot.reset();
    if (close_after_) {
        // Unread request bytes would turn the close into a reset.
        if (!ex_->request_sent) linger();
        else close();
        return;
    }
    wait_request();
}

void Session::release_upstream(bool reusable) { proxy::release_upstream(worker_, ex_.get(), upstream_, reusable); }

}  // namespace weir::proxy
