// Session, part three: answers Weir gives itself (400, 404, 408, 502, ...),
// the linger that keeps a reset from destroying them, and closing.
#include "proxy/session.hpp"

#include "http/serialize.hpp"

namespace weir::proxy {
namespace {

// How long an error reply waits for the client to close before closing hard.
constexpr std::chrono::milliseconds linger_time{2000};
constexpr std::size_t linger_bytes = 256 * 1024;
// Write timeout for a local reply when no snapshot is at hand.
constexpr std::chrono::milliseconds reply_timeout{10000};

}  // namespace

void Session::reply(int status, std::string_view body, bool close_conn) {
    worker_.stats().local_replies.fetch_add(1, std::memory_order_relaxed);
    if (!ex_) ex_ = worker_.exchanges().take();
    if (!ex_->request_counted) {
        // A head that never parsed (400, 408, 431): an exchange of its own,
        // counted as it is refused, with no route or pool (those of an
        // earlier request do not apply).
        ex_->state() = ExchangeState{};
        ex_->log_prefix.clear();
        ex_->request_started = std::chrono::steady_clock::now();
        record(status, status >= 500);
    } else if (!ex_->recorded) {
        record(status, status >= 500);
    }
    release_upstream(false);
    drop_request_head();
    reply_close_ = close_conn || close_after_;
    ex_->stage.clear();
    ex_->pump.stage_off = 0;
    http::local_reply(ex_->stage, status, body, reply_close_);
    write_reply();
}

void Session::write_reply() {
    std::string& stage = ex_->stage;
    while (ex_->pump.stage_off < stage.size()) {
        IoResult r = client_.write(stage.data() + ex_->pump.stage_off, stage.size() - ex_->pump.stage_off);
        if (r.error && !r.blocked()) {
            close();
            return;
        }
        ex_->pump.stage_off += r.bytes;
        if (ex_->pump.stage_off < stage.size() && !client_.writable()) {
            wait_ = Wait::reply;
            set_deadline(ex_->snapshot ? ex_->snapshot->limits.idle_timeout : reply_timeout);
            return;
        }
    }
    clear_deadline();
    stage.clear();
    ex_->pump.stage_off = 0;
    if (reply_close_) {
        linger();
        return;
    }
    ex_->snapshot.reset();
    wait_request();
}

void Session::linger() {
    // Closing with unread input makes the kernel send a reset, which can
    // destroy the reply before the client reads it. Half-close instead and
    // drain what the client still sends, for a bounded time and size.
    wait_ = Wait::linger;
    client_.shutdown_write();
    set_deadline(linger_time);
    lingered_ = 0;
    linger_read();
}

void Session::linger_read() {
    FlatBuffer& in = ex_->client_in;
    while (client_.readable()) {
        in.clear();
        IoResult r = client_.read(in.prepare(), in.writable());
        if (r.blocked()) break;
        if (r.eof || r.error || (lingered_ += r.bytes) > linger_bytes) {
            close();
            return;
        }
    }
}

void Session::drop_request_head() {
    if (!ex_) return;
    if (ex_->pending_head > 0) ex_->client_in.consume(ex_->pending_head);
    ex_->pending_head = 0;
}

void Session::close() {
    if (wait_ == Wait::closed) return;
    if (tunnel_) finish_tunnel("closed by the proxy");  // at exit: the tunnel's line still gets written
    wait_ = Wait::closed;
    // Its streams end now; the connection object itself goes with the
    // session (one of its calls may be what closes the session).
    if (h2_) h2_->abort();
    clear_deadline();
    release_upstream(false);
    client_.close();
    // The exchange's state (its snapshot too) goes with it.
    if (ex_) worker_.exchanges().give_back(std::move(ex_));
    SessionHook::unlink();        // leave the worker's session list
    TurnHook::unlink();     // and the turn queue, if still in it
    FlushHook::unlink();    // and the flush queue
    TunnelHook::unlink();   // and the worker's tunnels
    // Events already fetched in this batch may still name this session.
    worker_.loop().retire(std::unique_ptr<IoObject>(this));
}

}  // namespace weir::proxy
