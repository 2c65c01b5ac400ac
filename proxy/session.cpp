#include "proxy/session.hpp"

#include "common/log.hpp"
#include "http/parser.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <array>

namespace weir::proxy {
namespace {

constexpr std::size_t max_response_head = 64 * 1024;
// Work done in one go before yielding to other connections of the worker.
constexpr int pump_spins = 32;
// How long an error reply waits for the client to close before closing hard.
constexpr std::chrono::milliseconds linger_time{2000};
constexpr std::size_t linger_bytes = 256 * 1024;

bool would_block(const error_code& ec) {
    return ec == asio::error::would_block || ec == asio::error::try_again;
}

bool idempotent(http::Method m) {
    using M = http::Method;
    return m == M::get || m == M::head || m == M::options || m == M::trace || m == M::put || m == M::delete_;
}

}  // namespace

Session::Session(Worker& worker, Socket socket) : worker_(worker), client_(std::move(socket)) {
    error_code ec;
    auto peer = client_.remote_endpoint(ec);
    client_ip_ = ec ? std::string("unknown") : peer.address().to_string();
    client_.set_option(tcp::no_delay(true), ec);
    client_.non_blocking(true, ec);
    worker_.add_session(*this);
}

Session::~Session() { worker_.session_closed(); }

void Session::start() { wait_request(); }

void Session::set_deadline(std::chrono::milliseconds d) {
    deadline_ms_ = worker_.now_ms() + static_cast<std::uint64_t>(d.count());
}

void Session::on_tick(std::uint64_t now_ms) {
    if (deadline_ms_ == 0 || now_ms < deadline_ms_ || phase_ == Phase::closed) return;
    deadline_ms_ = 0;
    timed_out_ = true;
    // Cancelling makes the pending wait complete with operation_aborted; its
    // handler sees timed_out_ and acts for the phase it is in.
    error_code ignored;
    client_.cancel(ignored);
    if (upstream_) upstream_->socket.cancel(ignored);
}

bool Session::take_timeout() {
    bool t = timed_out_;
    timed_out_ = false;
    return t;
}

void Session::drain() {
    draining_ = true;
    close_after_ = true;
    if (phase_ == Phase::idle) close();
}

// ---------------------------------------------------------------- request head

void Session::wait_request() {
    phase_ = Phase::idle;
    if (draining_ || worker_.draining()) {
        close();
        return;
    }
    if (ex_ && !ex_->client_in.empty()) {
        // Pipelined: the next request is already buffered.
        phase_ = Phase::read_head;
        head_started_ms_ = worker_.now_ms();
        read_head();
        return;
    }
    // Idle: give the buffers back while waiting.
    if (ex_) worker_.exchanges().give_back(std::move(ex_));
    const auto& snap = worker_.snapshot();
    set_deadline(snap ? snap->limits.idle_timeout : std::chrono::milliseconds(60000));
    client_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](const error_code& ec) { self->on_client_readable(ec); });
}

void Session::on_client_readable(const error_code& ec) {
    if (phase_ == Phase::closed) return;
    if (take_timeout()) {
        if (phase_ == Phase::idle) {
            close();  // keep-alive idle timeout: nothing to say
        } else {
            log::info("proxy", "client {}: request head not complete in time", client_ip_);
            reply(408, "request head not received in time", true);
        }
        return;
    }
    if (ec) {
        close();
        return;
    }
    if (phase_ == Phase::idle) {
        phase_ = Phase::read_head;
        head_started_ms_ = worker_.now_ms();
        if (!ex_) ex_ = worker_.exchanges().take();
    }
    read_head();
}

void Session::read_head() {
    const auto& snap = worker_.snapshot();
    const std::size_t max_head = snap->limits.max_header_bytes;
    FlatBuffer& in = ex_->client_in;
    for (;;) {
        if (!in.empty()) {
            std::size_t head_len = 0;
            http::ParseError err;
            auto st = http::parse_request_head(in.data(), max_head, ex_->request, head_len, err);
            if (st == http::ParseStatus::complete) {
                clear_deadline();
                snapshot_ = snap;
                // The head stays in the buffer (its fields are views into it)
                // until it has been serialised upstream for the last time.
                pending_head_ = head_len;
                handle_request();
                return;
            }
            if (st == http::ParseStatus::error) {
                log::info("proxy", "client {}: {} ({})", client_ip_, err.reason, err.status);
                reply(err.status, err.reason, true);
                return;
            }
        }
        in.prepare();
        if (in.writable() == 0 && !in.grow(max_head + 1024)) {
            reply(431, "request head too large", true);
            return;
        }
        error_code ec;
        std::size_t n = client_.read_some(asio::buffer(in.prepare(), in.writable()), ec);
        if (would_block(ec)) {
            deadline_ms_ = head_started_ms_ + static_cast<std::uint64_t>(snap->limits.header_timeout.count());
            client_.async_wait(tcp::socket::wait_read,
                               [self = shared_from_this()](const error_code& e) { self->on_client_readable(e); });
            return;
        }
        if (ec) {
            // EOF between requests is a normal close; inside a head it is the client giving up.
            close();
            return;
        }
        in.commit(n);
    }
}

void Session::handle_request() {
    http::RequestHead& req = ex_->request;
    worker_.stats().requests.fetch_add(1, std::memory_order_relaxed);
    close_after_ = !req.keep_alive || draining_ || worker_.draining();
    tried_mask_ = 0;
    attempts_ = 0;
    request_sent_ = false;
    request_body_started_ = false;
    continue_sent_ = false;
    response_started_ = false;
    body_bytes_ = 0;
    last_failure_status_ = 503;

    const auto& limits = snapshot_->limits;
    if (limits.max_body_bytes > 0 && req.body == http::BodyKind::content_length &&
        req.content_length > limits.max_body_bytes) {
        reply(413, "request body too large", true);
        return;
    }
    route_ = snapshot_->match(req.host, req.path);
    if (!route_) {
        reply(404, "no route", req.body != http::BodyKind::none);
        return;
    }
    std::size_t pi = route_->pool_choice.pick(worker_.random().unit());
    if (pi == routing::WeightedChoice::npos) {
        reply(503, "no pool with weight", req.body != http::BodyKind::none);
        return;
    }
    pool_ = &snapshot_->pools[route_->pools[pi]];
    pick_endpoint();
}

void Session::pick_endpoint() {
    const auto& eps = pool_->endpoints;
    endpoint_ = nullptr;
    std::size_t i = pool_->endpoint_choice.pick(worker_.random().unit());
    if (i != routing::WeightedChoice::npos && i < 32 && (tried_mask_ & (1u << i))) {
        // Already failed for this request: take the next untried one with a weight.
        i = routing::WeightedChoice::npos;
        for (std::size_t j = 0; j < eps.size() && j < 32; ++j) {
            if (!(tried_mask_ & (1u << j)) && eps[j].weight > 0) {
                i = j;
                break;
            }
        }
    }
    if (i == routing::WeightedChoice::npos) {
        // Only connect failures (or none at all) lead here: 503, nothing was sent.
        reply(last_failure_status_, last_failure_status_ == 502 ? "upstream failed before responding"
                                                                : "no upstream endpoint available",
              true);
        return;
    }
    if (i < 32) tried_mask_ |= 1u << i;
    ++attempts_;
    endpoint_ = &eps[i];

    upstream_ = worker_.upstreams().take(endpoint_->key);
    if (upstream_) {
        worker_.stats().upstream_reuses.fetch_add(1, std::memory_order_relaxed);
        send_request();
    } else {
        connect_upstream();
    }
}

// ---------------------------------------------------------------- upstream

void Session::connect_upstream() {
    phase_ = Phase::connect;
    upstream_ = std::make_shared<UpstreamConnection>(worker_.io().get_executor());
    upstream_->endpoint_key = endpoint_->key;
    worker_.stats().upstream_connects.fetch_add(1, std::memory_order_relaxed);
    set_deadline(pool_->upstream.connect_timeout);
    upstream_->socket.async_connect(endpoint_->address,
                                    [self = shared_from_this()](const error_code& ec) { self->on_connected(ec); });
}

void Session::on_connected(const error_code& ec) {
    if (phase_ == Phase::closed) return;
    bool timeout = take_timeout();
    if (ec || timeout) {
        log::warn("proxy", "pool {} endpoint {}: connect failed: {}", pool_->name, endpoint_->name,
                  timeout ? "timeout" : ec.message());
        release_upstream(false);
        pick_endpoint();  // nothing was sent: another endpoint is safe
        return;
    }
    error_code ignored;
    upstream_->socket.set_option(tcp::no_delay(true), ignored);
    upstream_->socket.non_blocking(true, ignored);
    send_request();
}

void Session::send_request() {
    phase_ = Phase::send_request;
    http::RequestHead& req = ex_->request;
    ex_->stage.clear();
    http::ForwardedFor fwd{client_ip_, "http", endpoint_->name};
    http::serialize_request(ex_->stage, req, fwd);
    // A bodiless request keeps its head buffered until the response arrives,
    // so a failed attempt can be serialised again for another endpoint; with
    // a body, the head must make way for it now.
    if (req.body != http::BodyKind::none) drop_request_head();
    if (req.expect_continue && ex_->client_in.empty() && !continue_sent_) {
        // The client waits for our go-ahead before sending the body; Weir
        // gives it itself once an upstream is ready (Expect is not forwarded).
        continue_sent_ = true;
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        error_code ec;
        std::size_t n = asio::write(client_, asio::buffer(cont.data(), cont.size()), ec);
        if (ec || n != cont.size()) {
            // A client whose socket is full right after sending a head is not
            // one we can serve; treat as gone.
            release_upstream(false);
            close();
            return;
        }
    }
    start_pump(Direction::request);
}

void Session::read_response() {
    phase_ = Phase::read_response;
    FlatBuffer& in = ex_->upstream_in;
    for (;;) {
        if (!in.empty()) {
            std::size_t head_len = 0;
            http::ParseError err;
            auto st = http::parse_response_head(in.data(), max_response_head, ex_->request.method_id,
                                                ex_->response, head_len, err);
            if (st == http::ParseStatus::complete) {
                int status = ex_->response.status;
                if (status >= 100 && status < 200) {
                    // Interim responses: 101 cannot happen (Upgrade is never
                    // forwarded); others go to HTTP/1.1 clients as they are.
                    if (status == 101) {
                        upstream_failed("upstream switched protocols unasked", {});
                        return;
                    }
                    bool forward = ex_->request.version_minor == 1 && !(status == 100 && continue_sent_);
                    if (forward) {
                        std::string interim;
                        http::serialize_response(interim, ex_->response, http::ClientFraming::as_upstream, true,
                                                 1);
                        error_code ec;
                        asio::write(client_, asio::buffer(interim), ec);
                        if (ec) {
                            release_upstream(false);
                            close();
                            return;
                        }
                    }
                    in.consume(head_len);
                    continue;
                }
                clear_deadline();
                response_head_len_ = head_len;
                send_response();
                return;
            }
            if (st == http::ParseStatus::error) {
                log::warn("proxy", "pool {} endpoint {}: {}", pool_->name, endpoint_->name, err.reason);
                in.clear();
                release_upstream(false);
                reply(502, "invalid response from upstream", true);
                return;
            }
        }
        in.prepare();
        if (in.writable() == 0 && !in.grow(max_response_head + 1024)) {
            release_upstream(false);
            reply(502, "upstream response head too large", true);
            return;
        }
        error_code ec;
        std::size_t n = upstream_->socket.read_some(asio::buffer(in.prepare(), in.writable()), ec);
        if (would_block(ec)) {
            set_deadline(pool_->upstream.response_timeout);
            upstream_->socket.async_wait(
                tcp::socket::wait_read, [self = shared_from_this()](const error_code& e) { self->on_upstream_readable(e); });
            return;
        }
        if (ec) {
            upstream_failed(ec == asio::error::eof ? "upstream closed before responding" : "upstream read failed",
                            ec);
            return;
        }
        in.commit(n);
    }
}

void Session::on_upstream_readable(const error_code& ec) {
    if (phase_ == Phase::closed) return;
    if (take_timeout()) {
        log::warn("proxy", "pool {} endpoint {}: no response within {} ms", pool_->name, endpoint_->name,
                  pool_->upstream.response_timeout.count());
        ex_->upstream_in.clear();
        release_upstream(false);
        reply(504, "upstream response timeout", true);
        return;
    }
    if (ec) {
        upstream_failed("upstream wait failed", ec);
        return;
    }
    read_response();
}

void Session::upstream_failed(std::string_view what, const error_code& ec) {
    const bool nothing_received = ex_->upstream_in.empty();
    const bool reused = upstream_ && upstream_->reused;
    log::warn("proxy", "pool {} endpoint {}: {}{}{}", pool_->name, endpoint_->name, what, ec ? ": " : "",
              ec ? ec.message() : "");
    ex_->upstream_in.clear();
    release_upstream(false);
    // A retry is safe when nothing came back and either the request can be
    // repeated or the connection was a reused idle one the upstream had
    // closed. Requests with a body are not retried: the body is gone.
    const bool bodyless = ex_->request.body == http::BodyKind::none;
    if (nothing_received && bodyless && !response_started_ && (reused || idempotent(ex_->request.method_id)) &&
        attempts_ < 3) {
        ++attempts_;
        if (reused) {
            // The idle connection was stale; the same endpoint deserves a fresh one.
            connect_upstream();
            return;
        }
        last_failure_status_ = 502;
        pick_endpoint();
        return;
    }
    reply(502, "upstream failed before responding", true);
}

void Session::send_response() {
    phase_ = Phase::send_response;
    http::ResponseHead& resp = ex_->response;
    const int client_minor = ex_->request.version_minor;
    http::ClientFraming framing = http::ClientFraming::as_upstream;
    encode_chunked_ = false;
    if (resp.body == http::BodyKind::chunked || resp.body == http::BodyKind::until_close) {
        if (client_minor == 1) {
            framing = http::ClientFraming::chunked;
            encode_chunked_ = true;
        } else {
            framing = http::ClientFraming::until_close;
            close_after_ = true;  // an HTTP/1.0 client learns the end from the close
        }
    }
    if (!request_sent_) close_after_ = true;
    ex_->stage.clear();
    http::serialize_response(ex_->stage, resp, framing, !close_after_, client_minor);
    ex_->upstream_in.consume(response_head_len_);
    drop_request_head();
    response_started_ = true;
    start_pump(Direction::response);
}

// ---------------------------------------------------------------- body pump

void Session::start_pump(Direction dir) {
    dir_ = dir;
    stage_off_ = 0;
    view_len_ = 0;
    source_done_ = false;
    if (dir == Direction::request) {
        src_ = &client_;
        dst_ = &upstream_->socket;
        in_ = &ex_->client_in;
        framing_ = ex_->request.body;
        remaining_ = ex_->request.content_length;
        // Chunked stays chunked upstream (re-encoded after validation).
        encode_chunked_ = framing_ == http::BodyKind::chunked;
    } else {
        src_ = &upstream_->socket;
        dst_ = &client_;
        in_ = &ex_->upstream_in;
        framing_ = ex_->response.body;
        remaining_ = ex_->response.content_length;
    }
    if (framing_ == http::BodyKind::chunked) ex_->decoder.reset();
    if (framing_ == http::BodyKind::none || (framing_ == http::BodyKind::content_length && remaining_ == 0))
        source_done_ = true;
    pump();
}

// Claims buffered input for output: content-length bytes are written straight
// from the input buffer; chunked bodies are decoded and re-encoded into the
// stage. Returns false on malformed framing (already handled).
bool Session::fill() {
    FlatBuffer& in = *in_;
    switch (framing_) {
        case http::BodyKind::none:
            source_done_ = true;
            return true;
        case http::BodyKind::content_length: {
            std::uint64_t n = std::min<std::uint64_t>(remaining_, in.size());
            view_len_ = static_cast<std::size_t>(n);
            remaining_ -= n;
            if (remaining_ == 0) source_done_ = true;
            return true;
        }
        case http::BodyKind::until_close:
            if (encode_chunked_) {
                http::append_chunk(ex_->stage, in.data());
                in.consume(in.size());
            } else {
                view_len_ = in.size();
            }
            return true;
        case http::BodyKind::chunked:
            while (!in.empty()) {
                auto step = ex_->decoder.feed(in.data());
                if (step.error) {
                    pump_failed(true, {}, step.reason);
                    return false;
                }
                if (!step.data.empty()) {
                    if (encode_chunked_) http::append_chunk(ex_->stage, step.data);
                    else ex_->stage.append(step.data);
                    body_bytes_ += step.data.size();
                }
                in.consume(step.consumed);
                if (step.done) {
                    if (encode_chunked_) http::append_last_chunk(ex_->stage);
                    source_done_ = true;
                    break;
                }
                if (ex_->stage.size() >= 64 * 1024) break;  // write before decoding more
            }
            if (dir_ == Direction::request) {
                std::uint64_t max = snapshot_->limits.max_body_bytes;
                if (max > 0 && body_bytes_ > max) {
                    pump_failed(true, {}, "request body too large");
                    return false;
                }
            }
            return true;
    }
    return true;
}

void Session::pump() {
    FlatBuffer& in = *in_;
    std::string& stage = ex_->stage;
    for (int spin = 0; spin < pump_spins; ++spin) {
        if (stage_off_ < stage.size() || view_len_ > 0) {
            std::array<asio::const_buffer, 2> bufs{
                asio::buffer(stage.data() + stage_off_, stage.size() - stage_off_),
                asio::buffer(in.data().data(), view_len_)};
            error_code ec;
            std::size_t n = dst_->write_some(bufs, ec);
            if (would_block(ec)) {
                set_deadline(dir_ == Direction::request ? pool_->upstream.response_timeout
                                                        : snapshot_->limits.idle_timeout);
                dst_->async_wait(tcp::socket::wait_write,
                                 [self = shared_from_this()](const error_code& e) { self->on_pump_io(e); });
                return;
            }
            if (ec) {
                pump_failed(false, ec, "write failed");
                return;
            }
            std::size_t from_stage = std::min(n, stage.size() - stage_off_);
            stage_off_ += from_stage;
            n -= from_stage;
            if (n > 0) {
                in.consume(n);
                view_len_ -= n;
            }
            if (stage_off_ == stage.size()) {
                stage.clear();
                stage_off_ = 0;
            }
            continue;
        }
        if (source_done_) {
            pump_done();
            return;
        }
        if (!in.empty()) {
            if (!fill()) return;
            continue;
        }
        error_code ec;
        std::size_t n = src_->read_some(asio::buffer(in.prepare(), in.writable()), ec);
        if (would_block(ec)) {
            set_deadline(dir_ == Direction::request ? snapshot_->limits.idle_timeout
                                                    : pool_->upstream.response_timeout);
            src_->async_wait(tcp::socket::wait_read,
                             [self = shared_from_this()](const error_code& e) { self->on_pump_io(e); });
            return;
        }
        if (ec == asio::error::eof && framing_ == http::BodyKind::until_close) {
            source_done_ = true;
            if (encode_chunked_) http::append_last_chunk(stage);
            continue;
        }
        if (ec) {
            pump_failed(true, ec, ec == asio::error::eof ? "closed before the end of the body" : "read failed");
            return;
        }
        in.commit(n);
    }
    // Long transfer: let the worker's other connections run.
    clear_deadline();
    asio::post(worker_.io(), [self = shared_from_this()] { self->on_pump_io({}); });
}

void Session::on_pump_io(const error_code& ec) {
    if (phase_ == Phase::closed) return;
    if (take_timeout()) {
        pump_failed(true, asio::error::timed_out, "timeout");
        return;
    }
    if (ec && ec != asio::error::operation_aborted) {
        // A failed wait: the read or write that follows reports the real error.
    }
    pump();
}

void Session::pump_done() {
    clear_deadline();
    if (dir_ == Direction::request) {
        request_sent_ = true;
        read_response();
    } else {
        finish_exchange();
    }
}

void Session::pump_failed(bool source_side, const error_code& ec, std::string_view what) {
    clear_deadline();
    const bool client_side = (dir_ == Direction::request) == source_side;
    if (dir_ == Direction::request) {
        if (client_side) {
            // The client sent a bad or short body, or went away: the upstream
            // saw a partial request and cannot be reused.
            log::info("proxy", "client {}: request body: {}{}{}", client_ip_, what, ec ? ": " : "",
                      ec ? ec.message() : "");
            release_upstream(false);
            if (ec == asio::error::timed_out) reply(408, "request body not received in time", true);
            else if (what == "request body too large") reply(413, what, true);
            else if (!ec) reply(400, what, true);
            else close();
        } else {
            // The upstream stopped reading: it may have answered early (e.g.
            // 413). Read what it said; the connection is not reusable.
            close_after_ = true;
            if (ec == asio::error::timed_out) {
                release_upstream(false);
                reply(504, "upstream did not accept the request in time", true);
                return;
            }
            read_response();
        }
        return;
    }
    // Response direction: the head is already out, so no error reply is
    // possible; closing tells the client the response is incomplete.
    log::warn("proxy", "{} {}: response body: {}{}{}", client_side ? "client" : "pool",
              client_side ? client_ip_ : pool_->name + " endpoint " + endpoint_->name, what, ec ? ": " : "",
              ec ? ec.message() : "");
    release_upstream(false);
    close();
}

void Session::finish_exchange() {
    // The upstream can carry another request only when both messages ended
    // exactly on their framing and nothing extra arrived.
    const bool reusable = ex_->response.keep_alive && request_sent_ && ex_->upstream_in.empty() &&
                          framing_ != http::BodyKind::until_close;
    release_upstream(reusable);
    ex_->upstream_in.clear();
    snapshot_.reset();
    if (close_after_) {
        // Unread request bytes would turn the close into a reset.
        if (!request_sent_) linger();
        else close();
        return;
    }
    wait_request();
}

void Session::release_upstream(bool reusable) {
    if (!upstream_) return;
    if (reusable && pool_) {
        upstream_->reused = false;
        worker_.upstreams().give_back(std::move(upstream_), pool_->upstream.max_idle_per_endpoint, worker_.now_ms());
    } else {
        error_code ignored;
        upstream_->socket.close(ignored);
    }
    upstream_.reset();
}

// ---------------------------------------------------------------- local replies

void Session::reply(int status, std::string_view body, bool close) {
    worker_.stats().local_replies.fetch_add(1, std::memory_order_relaxed);
    phase_ = Phase::local_reply;
    release_upstream(false);
    if (!ex_) ex_ = worker_.exchanges().take();
    drop_request_head();
    close = close || close_after_;
    ex_->stage.clear();
    http::local_reply(ex_->stage, status, body, close);
    set_deadline(snapshot_ ? snapshot_->limits.idle_timeout : std::chrono::milliseconds(10000));
    asio::async_write(client_, asio::buffer(ex_->stage),
                      [self = shared_from_this(), close](const error_code& ec, std::size_t) {
                          self->on_reply_written(ec, close);
                      });
}

void Session::on_reply_written(const error_code& ec, bool close_conn) {
    clear_deadline();
    if (phase_ == Phase::closed) return;
    if (take_timeout() || ec) {
        close();
        return;
    }
    ex_->stage.clear();
    if (close_conn) {
        linger();
        return;
    }
    snapshot_.reset();
    wait_request();
}

void Session::linger() {
    // Closing with unread input makes the kernel send a reset, which can
    // destroy the reply before the client reads it. Half-close instead and
    // drain what the client still sends, for a bounded time and size.
    phase_ = Phase::linger;
    error_code ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    deadline_ms_ = worker_.now_ms() + static_cast<std::uint64_t>(linger_time.count());
    ex_->client_in.clear();
    struct Drainer {
        std::shared_ptr<Session> self;
        std::size_t seen = 0;
        void operator()(const error_code& ec) {
            Session& s = *self;
            if (s.phase_ == Phase::closed) return;
            if (s.take_timeout() || ec) {
                s.close();
                return;
            }
            for (;;) {
                error_code rec;
                std::size_t n = s.client_.read_some(asio::buffer(s.ex_->client_in.prepare(), s.ex_->client_in.writable()), rec);
                if (would_block(rec)) break;
                if (rec || (seen += n) > linger_bytes) {
                    s.close();
                    return;
                }
                s.ex_->client_in.clear();
            }
            s.client_.async_wait(tcp::socket::wait_read, std::move(*this));
        }
    };
    client_.async_wait(tcp::socket::wait_read, Drainer{shared_from_this()});
}

void Session::drop_request_head() {
    if (pending_head_ > 0 && ex_) ex_->client_in.consume(pending_head_);
    pending_head_ = 0;
}

void Session::close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    deadline_ms_ = 0;
    release_upstream(false);
    error_code ignored;
    client_.close(ignored);
    snapshot_.reset();
    if (ex_) worker_.exchanges().give_back(std::move(ex_));
    unlink();  // leave the worker's session list
}

}  // namespace weir::proxy
