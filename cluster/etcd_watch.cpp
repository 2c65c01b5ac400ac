#include "cluster/etcd_watch.hpp"

#include "cluster/etcd_error.hpp"
#include "cluster/etcd_watch_stream.hpp"

#include <boost/asio/post.hpp>

namespace weir::cluster {

namespace asio = boost::asio;

// The body of a refused watch is a short JSON error; more is not kept.
constexpr std::size_t max_error_body = 64 * 1024;

EtcdWatch::EtcdWatch(std::shared_ptr<WatchStream> stream) : stream_(std::move(stream)) {}
EtcdWatch::~EtcdWatch() { cancel(); }
void EtcdWatch::cancel() {
    if (stream_) stream_->cancel();
}
std::string EtcdWatch::endpoint() const { return stream_ ? stream_->endpoint() : std::string(); }
bool EtcdWatch::established() const { return stream_ && stream_->established(); }

WatchStream::WatchStream(std::shared_ptr<ClientCore> core, std::string key, std::string range_end,
                         std::int64_t start_revision, OnEvents on_events, OnEnd on_end)
    : core_(std::move(core)), timer_(core_->io()), probe_timer_(core_->io()), key_(std::move(key)),
      range_end_(std::move(range_end)), start_revision_(start_revision), probe_body_(encode_probe(key_)),
      on_events_(std::move(on_events)), on_end_(std::move(on_end)) {}

void WatchStream::start() {
    core_->add(shared_from_this());
    order_ = core_->order();
    // Connecting, authenticating and etcd's "created" share one deadline.
    arm_timer();
    auto self = shared_from_this();
    asio::post(core_->io(), [self] { self->next_endpoint(); });
}

void WatchStream::cancel() {
    if (ended_) return;
    ended_ = true;
    timer_.cancel();
    probe_timer_.cancel();
    if (exchange_) exchange_->cancel();
    if (probe_exchange_) probe_exchange_->cancel();
    on_events_ = nullptr;
    on_end_ = nullptr;
}

void WatchStream::endpoint_down(std::size_t endpoint, std::error_code why) {
    if (endpoint == current_ && !ended_) end(why, 0);
}

std::string WatchStream::endpoint() const {
    return current_ < core_->endpoint_count() ? core_->url(current_) : std::string();
}

void WatchStream::next_endpoint() {
    if (ended_) return;
    if (pos_ >= order_.size()) {
        std::error_code ec = last_connect_error_;
        if (!ec)
            ec = order_.empty() ? make_etcd_error(EtcdCode::invalid_argument, "no usable etcd endpoint")
                                : std::make_error_code(std::errc::host_unreachable);
        return end(ec, 0);
    }
    current_ = order_[pos_++];
    auth_retried_ = false;
    if (core_->needs_auth() && core_->token().empty()) return get_token();
    send();
}

void WatchStream::get_token() {
    auto self = shared_from_this();
    exchange_ = authenticate(core_, current_, [self](std::error_code ec, bool sent) {
        if (self->ended_) return;
        if (!ec) return self->send();
        if (ec.category() == etcd_category()) return self->end(ec, 0);
        self->on_stream_end(ec, sent);
    });
}

void WatchStream::send() {
    HttpPost post;
    core_->address(current_, post.to);
    post.target = "/v3/watch";
    post.body = encode_watch_create(key_, range_end_, start_revision_);
    used_token_ = core_->token();
    post.authorization = used_token_;
    status_ = 0;
    error_body_.clear();
    decoder_.reset();
    exchange_ = make_http_exchange(core_->io());
    auto self = shared_from_this();
    HttpExchange::StreamHandlers h;
    h.on_head = [self](int status) { self->on_head(status); };
    h.on_data = [self](std::string_view data) { self->on_data(data); };
    h.on_end = [self](std::error_code ec, bool sent) { self->on_stream_end(ec, sent); };
    exchange_->post_stream(std::move(post), std::move(h));
}

void WatchStream::on_head(int status) { status_ = status; }

void WatchStream::on_data(std::string_view data) {
    if (ended_) return;
    if (status_ != 200) {
        error_body_.append(data.substr(0, max_error_body - std::min(max_error_body, error_body_.size())));
        return;
    }
    if (created_) arm_timer();  // anything at all shows the stream is alive
    std::vector<boost::json::value> values;
    const auto ec = decoder_.feed(data, values);
    for (const auto& v : values) {
        handle(decode_watch_message(v));
        if (ended_) return;
    }
    if (ec) end(ec, 0);
}

bool WatchStream::reauthenticate(std::error_code err) {
    if (!is_invalid_token(err) || !core_->needs_auth() || auth_retried_) return false;
    auth_retried_ = true;
    core_->drop_token(used_token_);
    exchange_->cancel();
    probe_timer_.cancel();
    if (probe_exchange_) probe_exchange_->cancel();
    created_ = false;
    arm_timer();  // the establishment deadline again
    get_token();
    return true;
}

void WatchStream::handle(const WatchMessage& m) {
    if (m.error) {
        if (reauthenticate(m.error)) return;
        return end(m.error, 0);
    }
    if (m.compact_revision > 0) return end({}, m.compact_revision);
    if (m.canceled) {
        // etcd 3.4 creates the watch, then cancels it for a bad token.
        const auto err = make_etcd_error(EtcdCode::cancelled,
                                         m.cancel_reason.empty() ? "etcd canceled the watch" : m.cancel_reason);
        if (reauthenticate(err)) return;
        return end(err, 0);
    }
    if (m.created && !created_) {
        created_ = true;
        if (start_revision_ == 0 && m.revision > 0) start_revision_ = m.revision + 1;
        core_->mark_up(current_);
        arm_timer();
        schedule_probe();
    }
    if (m.events.empty()) return;  // "created" or a progress notification
    // The events' own revisions, not the header's: catching up over many
    // revisions, etcd sends them in parts, each with the store's current
    // revision in its header.
    for (const auto& e : m.events)
        if (e.kv.mod_revision >= start_revision_) start_revision_ = e.kv.mod_revision + 1;
    auto on_events = on_events_;  // a copy: the callback may cancel the watch
    if (on_events) on_events(m.events, m.revision);
}

void WatchStream::on_stream_end(std::error_code ec, bool sent) {
    if (ended_) return;
    if (!sent) {  // no connection: etcd never saw it, the next endpoint may do
        core_->mark_down(current_, ec);
        last_connect_error_ = ec;
        return next_endpoint();
    }
    if (status_ != 0 && status_ != 200) {
        auto err = decode_error(status_, error_body_);
        if (!err) err = make_etcd_error(EtcdCode::bad_response, "etcd refused the watch");
        if (reauthenticate(err)) return;
        return end(err, 0);
    }
    // The stream broke (endpoint killed, restarted, shut down): it is down
    // until shown otherwise, which also ends this watch (endpoint_down) before
    // its owner's on_end can watch again, so a new watch starts elsewhere.
    core_->mark_down(current_, ec);
    if (!ended_) end(ec, 0);
}

void WatchStream::arm_timer() {
    std::chrono::milliseconds limit = created_ ? core_->options().watch_idle_timeout : core_->options().request_timeout;
    if (limit.count() <= 0) {
        timer_.cancel();
        return;
    }
    timer_.expires_after(limit);
    std::weak_ptr<WatchStream> weak = shared_from_this();
    timer_.async_wait([weak](boost::system::error_code ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->on_timer();
    });
}

void WatchStream::on_timer() {
    if (ended_) return;
    const auto ec = std::make_error_code(std::errc::timed_out);
    if (exchange_) exchange_->cancel();
    if (current_ < core_->endpoint_count()) core_->mark_down(current_, ec);
    if (!ended_) end(ec, 0);
}

void WatchStream::schedule_probe() {
    const auto interval = core_->options().watch_probe_interval;
    if (interval.count() <= 0 || ended_) return;
    probe_timer_.expires_after(interval);
    std::weak_ptr<WatchStream> weak = shared_from_this();
    probe_timer_.async_wait([weak](boost::system::error_code ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->probe();
    });
}

void WatchStream::probe() {
    if (ended_) return;
    // Its own endpoint, not the client's choice: the point is this stream's member.
    HttpPost post;
    core_->address(current_, post.to);
    post.target = "/v3/kv/range";
    post.body = probe_body_;
    post.authorization = core_->token();
    probe_exchange_ = make_http_exchange(core_->io());
    std::weak_ptr<WatchStream> weak = shared_from_this();
    probe_exchange_->post(std::move(post), [weak](std::error_code ec, bool, int status, std::string body) {
        if (auto self = weak.lock()) self->on_probe(ec, status, body);
    });
    probe_timer_.expires_after(core_->options().request_timeout);
    probe_timer_.async_wait([weak](boost::system::error_code ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->on_probe(std::make_error_code(std::errc::timed_out), 0, {});
    });
}

void WatchStream::on_probe(std::error_code ec, int status, const std::string& body) {
    if (ended_) return;
    probe_timer_.cancel();
    if (probe_exchange_) probe_exchange_->cancel();
    probe_exchange_.reset();
    if (!ec) {
        // Any answer shows the member is alive; only "no leader" says its
        // watches are cut off. Other refusals (say, a token that just
        // expired) are the calls' business, not the stream's.
        const auto err = decode_error(status, body);
        if (err && err.message().find("no leader") != std::string::npos) ec = err;
    }
    if (!ec) return schedule_probe();
    core_->mark_down(current_, ec);  // ends this watch too (endpoint_down)
    if (!ended_) end(ec, 0);
}

void WatchStream::end(std::error_code ec, std::int64_t compact_revision) {
    if (ended_) return;
    ended_ = true;
    timer_.cancel();
    probe_timer_.cancel();
    if (exchange_) exchange_->cancel();
    if (probe_exchange_) probe_exchange_->cancel();
    on_events_ = nullptr;
    auto on_end = std::move(on_end_);
    if (on_end && !core_->closed()) on_end(ec, compact_revision);
}

}  // namespace weir::cluster
