#include "proxy/h2_connection.hpp"

#include "common/log.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/session.hpp"

#include <algorithm>

namespace weir::proxy {
namespace {

// Output the codec may hold unwritten before the connection stops reading
// the client: a client that sends without reading gets no more work done.
constexpr std::size_t max_unwritten = 256 * 1024;
constexpr std::uint64_t trim_interval_ms = 1000;

}  // namespace

H2Connection::H2Connection(Session& session, const http2::Limits& limits) : session_(session), codec_(limits, *this) {}

H2Connection::~H2Connection() { abort(); }

Worker& H2Connection::worker() { return session_.worker_; }

void H2Connection::start(std::string_view first_bytes) {
    worker().stats().http2_connections.fetch_add(1, std::memory_order_relaxed);
    in_service_ = true;
    const bool ok = first_bytes.empty() || take_input(first_bytes);
    in_service_ = false;
    if (!ok) {
        write_output();
        close();
        return;
    }
    service();
}

void H2Connection::on_client_events() { service(); }

void H2Connection::drain() {
    if (closed_) return;
    codec_.graceful_shutdown();
    if (!in_service_) service();
}

void H2Connection::abort() {
    closed_ = true;
    cancel();
    opened_.clear();
    woken_.clear();
    // Streams end with their exchanges (upstream connections closed, not
    // pooled: they carry a request nobody will read the answer of).
    streams_.clear();
    exchanges_ = 0;
}

void H2Connection::close() {
    if (closed_) return;
    abort();
    session_.close();
}

H2Stream* H2Connection::find(std::int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
}

void H2Connection::stream_event(H2Stream& stream, bool timer) {
    if (closed_) return;
    in_service_ = true;
    if (timer) stream.on_timeout();
    else stream.step();
    in_service_ = false;
    // Timers fire after the loop's flush pass: their output goes now.
    if (timer) service();
    else session_.worker_.queue_flush(session_);
}

void H2Connection::wake(H2Stream& stream) { woken_.push_back(stream.id()); }

// ---------------------------------------------------------------- codec events

void H2Connection::on_request(std::int32_t stream_id, const http2::RequestHeaders& request) {
    served_ = true;
    auto stream = std::make_unique<H2Stream>(*this, stream_id);
    stream->open(request);
    streams_.emplace(stream_id, std::move(stream));
    opened_.push_back(stream_id);
    ++exchanges_;
}

void H2Connection::on_body(std::int32_t stream_id, std::string_view bytes) {
    if (H2Stream* s = find(stream_id)) s->on_body(bytes);
}

void H2Connection::on_request_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers) {
    if (H2Stream* s = find(stream_id)) s->on_request_trailers(trailers);
}

void H2Connection::on_end_of_request(std::int32_t stream_id) {
    if (H2Stream* s = find(stream_id)) s->on_end_of_request();
}

void H2Connection::on_stream_closed(std::int32_t stream_id, std::uint32_t error_code) {
    auto it = streams_.find(stream_id);
    if (it == streams_.end()) return;
    if (!it->second->finished()) {
        it->second->closed(error_code);
        if (exchanges_ > 0) --exchanges_;
    }
    streams_.erase(it);
}

void H2Connection::on_send_buffer(std::int32_t stream_id, bool full) {
    H2Stream* s = find(stream_id);
    if (!s) return;
    if (full) s->pause();
    else s->unpause();
}

// ---------------------------------------------------------------- service

bool H2Connection::take_input(std::string_view bytes) {
    const std::error_code err = codec_.receive(bytes, std::chrono::steady_clock::now());
    if (err) {
        if (!codec_.calm_reason().empty()) {
            worker().stats().http2_calm_goaways.fetch_add(1, std::memory_order_relaxed);
            log::limited(worker().client_log(), EventLoop::clock_ms(), log::Level::warn, "proxy",
                         "client {}: HTTP/2 connection ended with ENHANCE_YOUR_CALM: {}", session_.client_ip_,
                         codec_.calm_reason());
        } else {
            log::limited(worker().client_log(), EventLoop::clock_ms(), log::Level::info, "proxy",
                         "client {}: HTTP/2 connection error: {}", session_.client_ip_, err.message());
        }
        return false;
    }
    // Streams the read opened and did not also close start now.
    for (std::size_t i = 0; i < opened_.size(); ++i) {
        if (H2Stream* s = find(opened_[i])) s->start();
    }
    opened_.clear();
    return true;
}

bool H2Connection::write_output() {
    Socket& client = session_.client_;
    for (;;) {
        const std::string_view out = codec_.pending_output();
        if (out.empty()) return true;
        if (!client.writable()) return true;
        IoResult r = client.write(out.data(), out.size());
        if (r.error && !r.blocked()) return false;
        codec_.consumed_output(r.bytes);
        if (r.bytes < out.size() && !client.writable()) return true;
    }
}

void H2Connection::service() {
    if (closed_ || in_service_) return;
    in_service_ = true;
    Socket& client = session_.client_;
    bool ok = true;
    while (ok) {
        // Streams whose response body has room again take their step; what
        // they hand to the codec goes out below.
        while (!woken_.empty()) {
            std::vector<std::int32_t> woken;
            woken.swap(woken_);
            for (std::int32_t id : woken)
                if (H2Stream* s = find(id)) s->step();
        }
        if (!write_output()) {
            ok = false;
            break;
        }
        if (!woken_.empty()) continue;  // writing made room in a stream's buffer
        if (codec_.pending_output().size() > max_unwritten || !client.readable()) break;
        char* buf = worker().tunnel_buffer();
        IoResult r = client.read(buf, Worker::tunnel_buffer_size);
        if (r.blocked()) continue;
        if (r.eof || r.error) {
            ok = false;
            break;
        }
        if (!take_input(std::string_view(buf, r.bytes))) {
            write_output();  // the GOAWAY, if the socket takes it
            ok = false;
            break;
        }
    }
    in_service_ = false;
    if (!ok || codec_.wants_close()) {
        close();
        return;
    }
    arm_deadline();
}

void H2Connection::arm_deadline() {
    const auto& snap = worker().snapshot();
    const routing::Limits limits = snap ? snap->limits : routing::Limits{};
    // Idle (no exchange under way): idle_timeout, or the header timeout before
    // the first request, as for HTTP/1.1. With exchanges under way, their own
    // deadlines apply; the connection's only covers a client that stops
    // reading what it asked for.
    std::chrono::milliseconds limit{0};
    if (exchanges_ == 0) limit = served_ ? limits.idle_timeout : std::min(limits.idle_timeout, limits.header_timeout);
    else if (!codec_.pending_output().empty()) limit = limits.idle_timeout;
    if (limit.count() == 0) {
        cancel();
        return;
    }
    const std::uint64_t now = EventLoop::clock_ms();
    // Re-armed on every pass: the deadline counts from the last activity.
    deadline_ms_ = now + static_cast<std::uint64_t>(limit.count()) + 1;
    std::uint64_t wake = deadline_ms_;
    if (exchanges_ == 0 && codec_.idle_memory_to_release()) {
        // Idle: its buffers' pages go back. At most once a second, so a
        // connection that is idle between each of its requests does not pay
        // a system call per request; one that went quiet within the second
        // (its last frames written just after a release) is woken for it.
        if (now >= trimmed_ms_ + trim_interval_ms) {
            release_idle_memory();
            trimmed_ms_ = now;
        } else {
            wake = std::min(wake, trimmed_ms_ + trim_interval_ms);
        }
    }
    worker().loop().timers().arm(*this, wake);
}

void H2Connection::on_timer() {
    if (closed_) return;
    const std::uint64_t now = EventLoop::clock_ms();
    if (now < deadline_ms_) {
        // Woken to give idle memory back (see arm_deadline), not for the
        // deadline, which stands.
        if (exchanges_ == 0 && codec_.idle_memory_to_release()) {
            release_idle_memory();
            trimmed_ms_ = now;
        }
        worker().loop().timers().arm(*this, deadline_ms_);
        return;
    }
    if (exchanges_ == 0) {
        // Idle: say so (GOAWAY, NO_ERROR) and close once it is written.
        codec_.graceful_shutdown();
        write_output();
    } else {
        log::limited(worker().client_log(), EventLoop::clock_ms(), log::Level::info, "proxy",
                     "client {}: HTTP/2 client not reading its responses, closing", session_.client_ip_);
    }
    close();
}

void H2Connection::release_idle_memory() {
    codec_.release_idle_memory();
    // The stream table's buckets and the lists' capacity, left by the last
    // exchanges, when nothing is in them.
    if (streams_.empty()) decltype(streams_)().swap(streams_);
    if (opened_.empty()) std::vector<std::int32_t>().swap(opened_);
    if (woken_.empty()) std::vector<std::int32_t>().swap(woken_);
}

void H2Connection::stream_done() {
    if (exchanges_ > 0) --exchanges_;
}

}  // namespace weir::proxy
