#include "proxy/upstream_pool.hpp"

#include <algorithm>

namespace weir::proxy {

UpstreamPtr UpstreamPool::take(std::uint32_t key) {
    if (key >= idle_.size()) return nullptr;
    auto& list = idle_[key];
    if (list.empty()) return nullptr;
    UpstreamPtr conn = std::move(list.back());
    list.pop_back();
    conn->in_pool = false;
    ++conn->idle_generation;
    conn->reused = true;
    // Ends the idle watch; its completion sees the new generation and does nothing.
    error_code ignored;
    conn->socket.cancel(ignored);
    return conn;
}

void UpstreamPool::give_back(UpstreamPtr conn, std::size_t max_idle, std::uint64_t now_ms) {
    std::uint32_t key = conn->endpoint_key;
    if (key >= idle_.size()) idle_.resize(key + 1);
    auto& list = idle_[key];
    if (list.size() >= max_idle) {
        error_code ignored;
        conn->socket.close(ignored);
        return;
    }
    conn->in_pool = true;
    conn->idle_since_ms = now_ms;
    ++conn->idle_generation;
    watch(conn);
    list.push_back(std::move(conn));
}

void UpstreamPool::watch(const UpstreamPtr& conn) {
    // An idle upstream connection must stay silent: any byte or close means it
    // cannot carry another request.
    conn->socket.async_wait(tcp::socket::wait_read,
                            [this, conn, gen = conn->idle_generation](const error_code&) {
                                if (!conn->in_pool || conn->idle_generation != gen) return;
                                remove(conn.get());
                            });
}

void UpstreamPool::remove(UpstreamConnection* conn) {
    if (conn->endpoint_key >= idle_.size()) return;
    auto& list = idle_[conn->endpoint_key];
    auto it = std::find_if(list.begin(), list.end(), [&](const UpstreamPtr& p) { return p.get() == conn; });
    if (it == list.end()) return;
    UpstreamPtr keep = std::move(*it);
    list.erase(it);
    keep->in_pool = false;
    error_code ignored;
    keep->socket.close(ignored);
}

void UpstreamPool::expire(std::uint64_t cutoff_ms) {
    for (auto& list : idle_) {
        // Oldest first: stop at the first one still fresh.
        while (!list.empty() && list.front()->idle_since_ms < cutoff_ms) {
            UpstreamPtr conn = std::move(list.front());
            list.erase(list.begin());
            conn->in_pool = false;
            error_code ignored;
            conn->socket.close(ignored);
        }
    }
}

void UpstreamPool::close_endpoint(std::uint32_t key) {
    if (key >= idle_.size()) return;
    for (auto& conn : idle_[key]) {
        conn->in_pool = false;
        error_code ignored;
        conn->socket.close(ignored);
    }
    idle_[key].clear();
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
