// Session, part four: tunnels. After a 101 the session passes bytes both ways
// between the client and the endpoint, until both have closed their sides,
// one of them fails, or a deadline comes: tunnel_idle_timeout, the tunnel's
// max_tunnel_age, or drain_timeout after a shutdown, a drain or a reload that
// took its route, pool or endpoint away. proxy/tunnel.hpp has the state.
#include "proxy/session.hpp"

#include "common/log.hpp"
#include "http/serialize.hpp"
#include "http/upgrade.hpp"
#include "proxy/access_log.hpp"

#include <cstring>
#include <utility>

namespace weir::proxy {
namespace {

// Reads one direction makes in one go before the other direction, and the
// worker's other connections, get a turn (4 MiB at most with 64 KiB reads).
constexpr int tunnel_reads_per_turn = 64;
// A tunnel's age limit is drawn between this share of max_tunnel_age and all
// of it, so tunnels opened together (after a restart) do not close together.
constexpr double min_age_share = 0.75;
// After one side has closed (its FIN passed on), how long the other may take
// to follow before both are closed: time for a WebSocket close handshake to
// finish, not for a peer that ignores the end. tunnel_idle_timeout, if
// shorter, is the limit instead.
constexpr std::uint64_t half_closed_ms = 5000;

// Why a tunnel ended when a socket failed (a reset, a refused write).
constexpr const char* client_failed = "client connection failed";
constexpr const char* upstream_failed_text = "upstream connection failed";

}  // namespace

void Session::take_turn() {
    if (wait_ == Wait::handshake) continue_handshake();
    else if (wait_ == Wait::tunnel) tunnel_pump();
}

void Session::start_tunnel(std::size_t head_len) {
    http::ResponseHead& resp = ex_->response;
    if (const std::string_view why = http::check_switch(resp, ex_->upgrade_offer); !why.empty()) {
        upstream_note("pool {} endpoint {}: {} (offered: {}): 502", ex_->pool->name, ex_->endpoint->name, why,
                      ex_->upgrade_offer);
        worker_.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::invalid_response);
        ex_->upstream_in.clear();
        release_upstream(false);
        reply(502, "invalid protocol switch from upstream", true);
        return;
    }
    worker_.upstream_ok(ex_->endpoint->key);
    auto t = std::make_unique<Tunnel>();
    // The 101 goes to the client first, then whatever either side sent past
    // its head: already bytes of the new protocol.
    std::string& head = ex_->stage;
    head.clear();
    http::serialize_response(head, resp, http::ClientFraming::as_upstream, true, 1, ex_->set_cookie);
    ex_->upstream_in.consume(head_len);
    t->down.bytes = ex_->upstream_in.size();
    t->down.keep(head, ex_->upstream_in.data());
    drop_request_head();
    t->up.bytes = ex_->client_in.size();
    if (!ex_->client_in.empty()) t->up.keep(ex_->client_in.data());

    const routing::Snapshot& snap = *ex_->snapshot;
    t->snapshot = ex_->snapshot;
    t->route_index = static_cast<std::uint32_t>(ex_->route - snap.routes.data());
    t->pool_index = static_cast<std::uint32_t>(ex_->pool - snap.pools.data());
    t->endpoint_index = static_cast<std::uint32_t>(ex_->endpoint - ex_->pool->endpoints.data());
    t->stat = ex_->route->pool_stat[t->pool_index];
    // The request's in-flight count on the endpoint stays for the tunnel's
    // life: a drain sees the tunnel as the work it is.
    t->endpoint_key = ex_->counted_key;
    ex_->counted = false;
    t->started = ex_->request_started;
    // The handshake counts as the request (its latency: time to the 101);
    // the access log line waits for the tunnel's end. Copied at its size:
    // the exchange's string has the capacity of its longest line yet.
    if (!ex_->log_prefix.empty()) {
        t->log_prefix_len = static_cast<std::uint32_t>(ex_->log_prefix.size());
        t->log_prefix = std::make_unique_for_overwrite<char[]>(t->log_prefix_len);
        std::memcpy(t->log_prefix.get(), ex_->log_prefix.data(), t->log_prefix_len);
    }
    record(101, false, false);

    const std::uint64_t now = EventLoop::clock_ms();
    t->last_active_ms = now;
    const auto max_age = t->route().tunnel.max_age.count();
    if (max_age > 0) {
        const double share = min_age_share + (1 - min_age_share) * worker_.random().unit();
        t->age_due_ms = now + static_cast<std::uint64_t>(static_cast<double>(max_age) * share);
    }
    // The exchange (both read buffers with it) goes back: an idle tunnel holds none.
    worker_.exchanges().give_back(std::move(ex_));
    worker_.tunnel_opened(*this, t->stat, t->endpoint_key);
    tunnel_ = std::move(t);
    wait_ = Wait::tunnel;
    if (draining_ || worker_.draining()) tunnel_shut_down();
    arm_tunnel_deadline();
    tunnel_pump();
}

bool Session::tunnel_flow(TunnelFlow& f, bool& more, const char*& why) {
    const bool from_client = &f == &tunnel_->up;
    Socket& src = from_client ? client_ : upstream_->socket;
    Socket& dst = from_client ? upstream_->socket : client_;
    const auto failed = [&](bool reading) {
        why = reading == from_client ? client_failed : upstream_failed_text;
        return false;
    };
    // Between two plain sockets bytes move through a pipe, never copied
    // into this process; TLS on either side needs them in user space.
    const bool plain = !src.tls() && !dst.tls();
    for (int reads = 0;;) {
        if (f.has_pending()) {
            IoResult w = dst.write(f.pending.get() + f.pending_off, f.pending_len - f.pending_off);
            if (w.error && !w.blocked()) return failed(false);
            f.pending_off += static_cast<std::uint32_t>(w.bytes);
            if (f.has_pending()) return true;  // the destination's next writable edge goes on
            f.drop_pending();  // back-pressure is over: its memory goes back too
        }
        if (f.in_pipe > 0) {
            IoResult w = dst.splice_out(f.pipe.read_fd, f.in_pipe);
            if (w.error && !w.blocked()) return failed(false);
            f.in_pipe -= static_cast<std::uint32_t>(w.bytes);
            if (f.in_pipe > 0) return true;
            worker_.pipes().give_back(std::exchange(f.pipe, Pipe{}));
        }
        if (f.src_done) {
            if (!f.dst_shut) {
                // The end is passed on, after every byte before it.
                dst.shutdown_write();
                f.dst_shut = true;
            }
            return true;
        }
        if (!src.readable()) return true;
        if (reads == tunnel_reads_per_turn) {
            more = true;
            return true;
        }
        ++reads;
        if (plain && !f.pipe) f.pipe = worker_.pipes().take();  // none: out of descriptors, copy instead
        const bool piped = plain && f.pipe;
        char* buf = piped ? nullptr : worker_.tunnel_buffer();
        IoResult r = piped ? src.splice_in(f.pipe.write_fd, PipePool::capacity) : src.read(buf, Worker::tunnel_buffer_size);
        if (piped && r.bytes == 0) worker_.pipes().give_back(std::exchange(f.pipe, Pipe{}));  // still empty
        if (r.blocked()) continue;  // readable() is false now
        if (r.eof) {
            f.src_done = true;
            continue;
        }
        if (r.error) return failed(true);
        f.bytes += r.bytes;
        tunnel_->last_active_ms = EventLoop::clock_ms();
        if (piped) {
            f.in_pipe = static_cast<std::uint32_t>(r.bytes);
            continue;  // out at the top of the loop
        }
        IoResult w = dst.write(buf, r.bytes);
        if (w.error && !w.blocked()) return failed(false);
        // What the destination cannot take now waits, and the source is not
        // read again until it is gone (at the top of the loop).
        if (w.bytes < r.bytes) f.keep(std::string_view(buf + w.bytes, r.bytes - w.bytes));
    }
}

void Session::tunnel_pump() {
    Tunnel& t = *tunnel_;
    bool more = false;
    const char* why = nullptr;
    if (!tunnel_flow(t.up, more, why) || !tunnel_flow(t.down, more, why)) {
        // One side is gone: the other is closed at once, not left to time
        // out. An endpoint resetting a tunnel is an upstream failure like a
        // reset mid-response; a client doing it is routine (a closed tab).
        if (why == upstream_failed_text) {
            upstream_note("pool {} endpoint {}: tunnel reset by the upstream", t.pool().name, t.endpoint().name);
            worker_.upstream_failed(t.pool(), t.endpoint(), UpstreamError::reset);
        }
        finish_tunnel(why);
        close();
        return;
    }
    if (t.up.finished() && t.down.finished()) {
        finish_tunnel("closed by both sides");
        close();
        return;
    }
    if ((t.up.finished() || t.down.finished()) && t.half_closed_due_ms == 0) {
        t.half_closed_due_ms =
            EventLoop::clock_ms() +
            std::min<std::uint64_t>(half_closed_ms, static_cast<std::uint64_t>(t.route().tunnel.idle_timeout.count()));
        arm_tunnel_deadline();
    }
    // A busy tunnel yields to the worker's other connections and goes on at its next turn.
    if (more) worker_.queue_turn(*this);
}

void Session::arm_tunnel_deadline() {
    const Tunnel& t = *tunnel_;
    std::uint64_t due = t.last_active_ms + static_cast<std::uint64_t>(t.route().tunnel.idle_timeout.count());
    if (t.age_due_ms != 0) due = std::min(due, t.age_due_ms);
    if (t.leave_due_ms != 0) due = std::min(due, t.leave_due_ms);
    if (t.half_closed_due_ms != 0) due = std::min(due, t.half_closed_due_ms);
    set_deadline_at(due);
}

void Session::tunnel_timer() {
    // Activity does not move the timer (that would cost a timer update per
    // read); the deadline is checked against the last activity when it comes.
    const Tunnel& t = *tunnel_;
    const std::uint64_t now = EventLoop::clock_ms();
    const char* why = nullptr;
    if (t.leave_due_ms != 0 && now >= t.leave_due_ms) why = tunnel_leave_text(t.leave);
    else if (t.half_closed_due_ms != 0 && now >= t.half_closed_due_ms)
        why = t.up.finished() ? "client closed, upstream did not follow" : "upstream closed, client did not follow";
    else if (t.age_due_ms != 0 && now >= t.age_due_ms) why = "max_tunnel_age reached";
    else if (now >= t.last_active_ms + static_cast<std::uint64_t>(t.route().tunnel.idle_timeout.count()))
        why = "tunnel_idle_timeout";
    if (!why) {
        arm_tunnel_deadline();
        return;
    }
    finish_tunnel(why);
    close();
}

void Session::tunnel_leave(std::uint64_t due_ms, TunnelLeave why) {
    Tunnel& t = *tunnel_;
    if (t.leave_due_ms != 0 && t.leave_due_ms <= due_ms) return;
    t.leave_due_ms = due_ms;
    t.leave = why;
    arm_tunnel_deadline();
}

void Session::tunnel_shut_down() {
    const auto& current = worker_.snapshot();
    const auto grace = (current ? *current : *tunnel_->snapshot).drain_timeout;
    tunnel_leave(EventLoop::clock_ms() + static_cast<std::uint64_t>(grace.count()), TunnelLeave::shutdown);
}

void Session::rebind_tunnel(const routing::SnapshotPtr& next, const SnapshotNames& names) {
    if (!tunnel_) return;
    Tunnel& t = *tunnel_;
    const routing::Route* route = names.route(t.route().name);
    const std::size_t pool = names.pool(t.pool().name);
    // The route must still send to the pool (its statistics pair lives on),
    // and the pool still hold the endpoint, not draining.
    std::size_t endpoint = SnapshotNames::npos;
    if (route && pool != SnapshotNames::npos && route->pool_stat[pool] != routing::no_stat) {
        const auto& eps = next->pools[pool].endpoints;
        for (std::size_t i = 0; i < eps.size(); ++i) {
            if (eps[i].key == t.endpoint_key) {
                endpoint = i;
                break;
            }
        }
    }
    if (endpoint == SnapshotNames::npos || next->pools[pool].endpoints[endpoint].draining) {
        // Keeps its current binding (and that snapshot) until it closes.
        tunnel_leave(EventLoop::clock_ms() + static_cast<std::uint64_t>(next->drain_timeout.count()),
                     endpoint == SnapshotNames::npos ? TunnelLeave::removed : TunnelLeave::drained);
        return;
    }
    t.snapshot = next;
    t.route_index = static_cast<std::uint32_t>(route - next->routes.data());
    t.pool_index = static_cast<std::uint32_t>(pool);
    t.endpoint_index = static_cast<std::uint32_t>(endpoint);
    // Undrained, or back in the configuration, before its time was up.
    if (t.leave != TunnelLeave::none && t.leave != TunnelLeave::shutdown) {
        t.leave_due_ms = 0;
        t.leave = TunnelLeave::none;
    }
    arm_tunnel_deadline();  // tunnel_idle_timeout may have changed
}

void Session::finish_tunnel(std::string_view why) {
    std::unique_ptr<Tunnel> t = std::move(tunnel_);
    // A pipe still holding bytes cannot serve another tunnel.
    for (TunnelFlow* f : {&t->up, &t->down}) {
        if (f->in_pipe > 0) PipePool::discard(f->pipe);
        else worker_.pipes().give_back(f->pipe);
    }
    worker_.tunnel_closed(t->stat, t->endpoint_key);
    worker_.endpoint_end(t->endpoint_key);
    TunnelHook::unlink();
    const auto elapsed = std::chrono::steady_clock::now() - t->started;
    log::debug("proxy", "client {}: tunnel to pool {} endpoint {} ended ({}) after {} s, {} bytes from the client, {} "
               "from the upstream", client_ip_, t->pool().name, t->endpoint().name, why,
               std::chrono::duration_cast<std::chrono::seconds>(elapsed).count(), t->up.bytes, t->down.bytes);
    // The line goes to the log file of the configuration now in force.
    const auto& snap = worker_.snapshot();
    if (snap && snap->access_log) {
        std::string started;  // the access log was off when the tunnel opened
        if (!t->log_prefix) begin_access_line(started, worker_.time_stamper(), client_ip_, nullptr);
        const TunnelBytes bytes{t->up.bytes, t->down.bytes, why};
        end_access_line(worker_.access_buffer(), t->log_prefix ? t->log_line_start() : started, 101, t->route().name,
                        t->pool().name, t->endpoint().name, std::chrono::duration<double, std::milli>(elapsed).count(),
                        &bytes);
        worker_.access_flush_if_full();
    }
}

}  // namespace weir::proxy
