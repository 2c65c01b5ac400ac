#include "proxy/upstream_pool.hpp"

#include <algorithm>

namespace weir::proxy {

void UpstreamConnection::on_events(std::uint32_t events) {
    socket.on_events(events);
    if (owner) owner->on_upstream_events(events);
    else if (pool) pool->on_idle_event(this);
}

UpstreamPtr UpstreamPool::take(std::uint32_t key, std::uint64_t now_ms, const tls::ClientContext* tls, bool peek) {
    if (key >= idle_.size()) return nullptr;
    auto& list = idle_[key];
    while (!list.empty()) {
        UpstreamPtr conn = std::move(list.back());
        list.pop_back();
        conn->pool = nullptr;
        // Bytes or a close that arrived while idle make the connection
        // unusable, and so does the end of its idle time (the upstream may be
        // closing it right now). The peek catches a close whose event the
        // loop has not fetched yet: sending on it would cost a request that
        // cannot be repeated.
        if (conn->tls.get() != tls || conn->socket.readable() || conn->idle_until_ms <= now_ms ||
            (peek && !conn->socket.quiet())) {
            discard(std::move(conn));
            continue;
        }
        conn->reused = true;
        return conn;
    }
    return nullptr;
}

void UpstreamPool::give_back(UpstreamPtr conn, std::size_t max_idle, std::uint64_t now_ms,
                             std::uint64_t idle_timeout_ms) {
    std::uint32_t key = conn->endpoint_key;
    if (key >= idle_.size()) idle_.resize(key + 1);
    auto& list = idle_[key];
    conn->owner = nullptr;
    // A TLS read says nothing about the socket when it returns data (one
    // record at a time), so "readable" is still set after a response: the
    // peek tells whether anything did come after it.
    const bool silent = !conn->socket.readable() || (conn->socket.tls() && conn->socket.quiet());
    if (list.size() >= max_idle || !silent) {
        discard(std::move(conn));
        return;
    }
    conn->pool = this;
    conn->idle_until_ms = now_ms + idle_timeout_ms;
    list.push_back(std::move(conn));
}

std::size_t UpstreamPool::trim(std::uint32_t key, std::size_t keep) {
    if (key >= idle_.size() || idle_[key].size() <= keep) return 0;
    auto& list = idle_[key];
    const auto surplus = static_cast<std::ptrdiff_t>(list.size() - keep);
    for (auto it = list.begin(); it != list.begin() + surplus; ++it) discard(std::move(*it));
    list.erase(list.begin(), list.begin() + surplus);
    return static_cast<std::size_t>(surplus);
}

void UpstreamPool::discard(UpstreamPtr conn) {
    if (!conn) return;
    conn->owner = nullptr;
    conn->pool = nullptr;
    conn->socket.close();
    loop_.retire(std::move(conn));
}

void UpstreamPool::on_idle_event(UpstreamConnection* conn) {
    // An idle upstream connection must stay silent: any byte or close means it
    // cannot carry another request. (A pure "writable" edge is harmless, and
    // so are TLS records that carry no data, such as TLS 1.3 session tickets:
    // quiet() takes those in.)
    if (!conn->socket.readable()) return;
    if (conn->socket.tls() && conn->socket.quiet()) return;
    if (conn->endpoint_key >= idle_.size()) return;
    auto& list = idle_[conn->endpoint_key];
    auto it = std::find_if(list.begin(), list.end(), [&](const UpstreamPtr& p) { return p.get() == conn; });
    if (it == list.end()) return;
    UpstreamPtr keep = std::move(*it);
    list.erase(it);
    discard(std::move(keep));
}

void UpstreamPool::expire(std::uint64_t now_ms) {
    // An endpoint in several pools may hold connections with different idle
    // timeouts, so every one is checked (the lists are at most max_idle long).
    for (auto& list : idle_) {
        std::erase_if(list, [&](UpstreamPtr& c) {
            if (c->idle_until_ms > now_ms) return false;
            discard(std::move(c));
            return true;
        });
    }
}

void UpstreamPool::close_endpoint(std::uint32_t key) {
    if (key >= idle_.size()) return;
    for (auto& conn : idle_[key]) discard(std::move(conn));
    idle_[key].clear();
}

void UpstreamPool::close_unless(const std::vector<bool>& keep) {
    for (std::uint32_t k = 0; k < idle_.size(); ++k) {
        if (k >= keep.size() || !keep[k]) close_endpoint(k);
    }
}

void UpstreamPool::close_all() {
    for (std::uint32_t k = 0; k < idle_.size(); ++k) close_endpoint(k);
}

std::size_t UpstreamPool::idle_count() const {
    std::size_t n = 0;
    for (const auto& list : idle_) n += list.size();
    return n;
}

}  // namespace weir::proxy
