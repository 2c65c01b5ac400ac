#include "proxy/h2_upstream.hpp"

#include "common/log.hpp"
#include "proxy/exchange_steps.hpp"
#include "proxy/h2_upstreams.hpp"

#include <cerrno>
#include <cstring>

namespace weir::proxy {
namespace {

constexpr std::uint32_t cancel_code = 0x8;

template <class... Args>
void note(Worker& w, fmt::format_string<Args...> f, Args&&... args) {
    log::limited(w.upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy", f, std::forward<Args>(args)...);
}

}  // namespace

H2Upstream::H2Upstream(Worker& worker, routing::SnapshotPtr snapshot, const routing::Pool& pool,
                       const routing::Endpoint& endpoint)
    : worker_(worker),
      snapshot_(std::move(snapshot)),
      pool_(&pool),
      endpoint_(&endpoint),
      key_(endpoint.key),
      codec_(http2::ClientLimits{}, *this) {
    const int err = open_upstream(worker_, endpoint, *this, conn_);
    if (err == 0) {
        connected();
    } else if (err == EINPROGRESS) {
        arm();
    } else {
        if (local_shortage(err)) {
            note(worker_, "pool {} endpoint {}: cannot open a connection: {} (not counted against the endpoint)",
                 pool_->name, endpoint_->name, std::strerror(err));
        } else {
            note(worker_, "pool {} endpoint {}: connect failed: {}", pool_->name, endpoint_->name, std::strerror(err));
            worker_.upstream_failed(*pool_, *endpoint_, UpstreamError::connect, err);
        }
        unavailable();
    }
}

H2Upstream::~H2Upstream() {
    Timer::cancel();
    worker_.upstreams().discard(std::move(conn_));
}

bool H2Upstream::serves(const routing::Pool& pool, const routing::Endpoint& endpoint) const {
    return pool.upstream.tls == pool_->upstream.tls && endpoint.address == endpoint_->address;
}

void H2Upstream::rebind(const routing::SnapshotPtr& snapshot, const routing::Pool& pool,
                        const routing::Endpoint& endpoint) {
    if (snapshot_ == snapshot) return;
    pool_ = &pool;
    endpoint_ = &endpoint;
    snapshot_ = snapshot;
}

bool H2Upstream::has_room() const {
    if (retired_) return false;
    switch (state_) {
        case State::connecting:
        case State::handshake:
            return waiters_.size() < http2::ClientLimits{}.max_concurrent_streams;
        case State::ready:
            return codec_.can_open_stream();
        case State::closed:
            return false;
    }
    return false;
}

void H2Upstream::wait(H2UpstreamUser& user) { waiters_.push_back(&user); }

void H2Upstream::forget(H2UpstreamUser& user) { std::erase(waiters_, &user); }

std::int32_t H2Upstream::open(const http2::RequestHeaders& request, H2UpstreamUser& user) {
    if (state_ != State::ready) return 0;
    const http2::ClientConnection::Opened o = codec_.submit_request(request);
    if (o.stream_id <= 0) return 0;
    users_.emplace(o.stream_id, &user);
    Timer::cancel();  // not idle
    queue_output();
    return o.stream_id;
}

bool H2Upstream::send_body(std::int32_t id, std::string_view bytes, bool end_stream) {
    const bool room = codec_.submit_body(id, bytes, end_stream);
    queue_output();
    return room;
}

void H2Upstream::send_trailers(std::int32_t id, const std::vector<http::Header>& trailers) {
    codec_.submit_trailers(id, trailers);
    queue_output();
}

void H2Upstream::consumed(std::int32_t id, std::size_t n) {
    codec_.consumed_body(id, n);
    queue_output();
}

void H2Upstream::cancel(std::int32_t id) {
    if (users_.erase(id) == 0) return;
    codec_.reset(id, cancel_code);
    queue_output();
    arm();
}

void H2Upstream::retire() {
    if (retired_ || state_ == State::closed) return;
    retired_ = true;
    if (state_ != State::ready) return;  // its waiters still get their streams
    codec_.shutdown();
    queue_output();
}

void H2Upstream::close() {
    if (state_ == State::closed) return;
    const bool was_ready = state_ == State::ready;
    state_ = State::closed;
    Timer::cancel();
    worker_.upstreams().discard(std::move(conn_));
    worker_.h2_upstreams().closed();
    std::vector<H2UpstreamUser*> waiters;
    waiters.swap(waiters_);
    std::unordered_map<std::int32_t, H2UpstreamUser*> users;
    users.swap(users_);
    if (!was_ready) {
        for (H2UpstreamUser* u : waiters) u->on_h2_unavailable();
    }
    for (auto& [id, u] : users) u->on_h2_closed(H2UpstreamUser::connection_lost);
}

// ---------------------------------------------------------------- connecting

void H2Upstream::connected() {
    if (!pool_->upstream.tls) {
        became_ready();
        return;
    }
    if (!attach_upstream_tls(worker_, *pool_, *endpoint_, *conn_, true)) {
        unavailable();
        return;
    }
    state_ = State::handshake;
    arm();
    handshake_step();
}

void H2Upstream::handshake_step() {
    const int rc = advance_upstream_tls(worker_, *pool_, *endpoint_, conn_, true);
    if (rc == 0) return;
    if (rc < 0) unavailable();  // logged, counted and charged; conn_ is closed
    else became_ready();
}

void H2Upstream::became_ready() {
    state_ = State::ready;
    Timer::cancel();
    if (retired_) codec_.shutdown();
    std::vector<H2UpstreamUser*> waiters;
    waiters.swap(waiters_);
    for (H2UpstreamUser* u : waiters) u->on_h2_ready();
    queue_output();
    arm();
}

void H2Upstream::unavailable() {
    // close() tells the waiters; the connection never carried a stream.
    close();
}

// ---------------------------------------------------------------- events

void H2Upstream::on_upstream_events(std::uint32_t) {
    switch (state_) {
        case State::connecting:
            if (!conn_->socket.writable()) return;
            if (int err = conn_->socket.take_error(); err != 0) {
                note(worker_, "pool {} endpoint {}: connect failed: {}", pool_->name, endpoint_->name,
                     std::strerror(err));
                worker_.upstream_failed(*pool_, *endpoint_, UpstreamError::connect, err);
                unavailable();
                return;
            }
            connected();
            return;
        case State::handshake:
            handshake_step();
            return;
        case State::ready:
            read_input();
            return;
        case State::closed:
            return;
    }
}

void H2Upstream::read_input() {
    Socket& s = conn_->socket;
    while (s.readable()) {
        char* buf = worker_.tunnel_buffer();
        IoResult r = s.read(buf, Worker::tunnel_buffer_size);
        if (r.blocked()) break;
        if (r.eof || r.error) {
            if (!users_.empty()) {
                note(worker_, "pool {} endpoint {}: HTTP/2 connection {} with {} streams open", pool_->name,
                     endpoint_->name, r.eof ? "closed by the endpoint" : "failed", users_.size());
            }
            close();
            return;
        }
        in_input_ = true;
        const std::error_code err = codec_.receive(std::string_view(buf, r.bytes), std::chrono::steady_clock::now());
        in_input_ = false;
        if (state_ == State::closed) return;
        if (err) {
            note(worker_, "pool {} endpoint {}: HTTP/2 connection error: {}{}{}", pool_->name, endpoint_->name,
                 err.message(), codec_.calm_reason().empty() ? "" : ": ", codec_.calm_reason());
            worker_.upstream_failed(*pool_, *endpoint_, UpstreamError::invalid_response);
            write_output();  // the GOAWAY, if the socket takes it
            close();
            return;
        }
    }
    if (write_output() && codec_.wants_close()) close();
}

bool H2Upstream::write_output() {
    if (state_ != State::ready) return false;
    Socket& s = conn_->socket;
    for (;;) {
        const std::string_view out = codec_.pending_output();
        if (out.empty() || !s.writable()) return true;
        IoResult r = s.write(out.data(), out.size());
        if (r.error && !r.blocked()) {
            if (!users_.empty()) {
                note(worker_, "pool {} endpoint {}: HTTP/2 write failed: {}", pool_->name, endpoint_->name,
                     std::strerror(r.error));
            }
            close();
            return false;
        }
        codec_.consumed_output(r.bytes);
        if (r.bytes < out.size() && !s.writable()) return true;
    }
}

void H2Upstream::queue_output() {
    if (state_ == State::ready && !in_input_) worker_.queue_flush(*this);
}

void H2Upstream::flush() {
    if (state_ != State::ready) return;
    if (write_output() && codec_.wants_close()) close();
    else arm();
}

void H2Upstream::arm() {
    const auto& up = pool_->upstream;
    std::chrono::milliseconds d{0};
    switch (state_) {
        case State::connecting:
        case State::handshake:
            d = up.connect_timeout;
            break;
        case State::ready:
            if (!users_.empty()) {
                Timer::cancel();  // each stream keeps its own deadline
                return;
            }
            if (retired_) {
                // Its last stream is over: nothing more will use it.
                worker_.queue_flush(*this);
                return;
            }
            // Idle: kept for upstream.idle_timeout, unless pooling is off.
            d = up.max_idle_per_endpoint == 0 ? std::chrono::milliseconds(0) : up.idle_timeout;
            break;
        case State::closed:
            return;
    }
    worker_.loop().timers().arm(*this, EventLoop::clock_ms() + static_cast<std::uint64_t>(d.count()) + 1);
}

void H2Upstream::on_timer() {
    switch (state_) {
        case State::connecting:
            note(worker_, "pool {} endpoint {}: connect timeout after {} ms", pool_->name, endpoint_->name,
                 pool_->upstream.connect_timeout.count());
            worker_.upstream_failed(*pool_, *endpoint_, UpstreamError::connect, ETIMEDOUT);
            unavailable();
            return;
        case State::handshake:
            upstream_tls_timed_out(worker_, *pool_, *endpoint_, conn_);
            unavailable();
            return;
        case State::ready:
            if (!users_.empty()) return;
            // Idle past its time: say goodbye and close.
            codec_.shutdown();
            write_output();
            close();
            return;
        case State::closed:
            return;
    }
}

// ---------------------------------------------------------------- streams

H2UpstreamUser* H2Upstream::user(std::int32_t id) {
    auto it = users_.find(id);
    return it == users_.end() ? nullptr : it->second;
}

void H2Upstream::on_response(std::int32_t id, int status, const std::vector<http::Header>& headers,
                             bool end_stream) {
    auto it = users_.find(id);
    if (it == users_.end()) return;
    H2UpstreamUser* u = it->second;
    if (end_stream) users_.erase(it);  // complete with its head: nothing more is said to it
    u->on_h2_response(status, headers, end_stream);
}

void H2Upstream::on_body(std::int32_t id, std::string_view bytes) {
    if (H2UpstreamUser* u = user(id)) u->on_h2_body(bytes);
    else codec_.consumed_body(id, bytes.size());  // nobody reads it: the window stays open for the others
}

void H2Upstream::on_trailers(std::int32_t id, const std::vector<http::Header>& trailers) {
    if (H2UpstreamUser* u = user(id)) u->on_h2_trailers(trailers);
}

void H2Upstream::on_end_of_response(std::int32_t id) {
    auto it = users_.find(id);
    if (it == users_.end()) return;
    H2UpstreamUser* u = it->second;
    users_.erase(it);  // complete: nothing more is said to it
    u->on_h2_end();
}

void H2Upstream::on_stream_closed(std::int32_t id, std::uint32_t error_code) {
    auto it = users_.find(id);
    if (it != users_.end()) {
        H2UpstreamUser* u = it->second;
        users_.erase(it);
        u->on_h2_closed(error_code == 0 ? cancel_code : error_code);
    }
    if (users_.empty()) arm();
}

void H2Upstream::on_send_buffer(std::int32_t id, bool full) {
    if (H2UpstreamUser* u = user(id)) u->on_h2_send_buffer(full);
}

}  // namespace weir::proxy
