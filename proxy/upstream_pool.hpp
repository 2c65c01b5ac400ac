// Per-worker keep-alive connections to upstream endpoints. Only the owning
// worker's thread touches it, so there are no locks.
#pragma once

#include "proxy/event_loop.hpp"
#include "proxy/socket.hpp"

#include <cstdint>
#include <memory>

namespace weir::tls {
class ClientContext;
}
#include <vector>

namespace weir::proxy {

class UpstreamPool;

// Receives the events of an upstream connection while it carries an exchange.
class UpstreamOwner {
public:
    virtual void on_upstream_events(std::uint32_t events) = 0;

protected:
    ~UpstreamOwner() = default;
};

class UpstreamConnection final : public IoObject {
public:
    void on_events(std::uint32_t events) override;

    Socket socket;
    std::uint32_t endpoint_key = 0;
    std::uint64_t idle_until_ms = 0;  // closed at this time if still idle (the pool's upstream.idle_timeout)
    bool reused = false;            // came from the pool: a failure before the response may be retried
    bool registered = false;        // added to the event loop
    UpstreamOwner* owner = nullptr; // set while an exchange uses it
    UpstreamPool* pool = nullptr;   // set while idle in the pool
    // TLS connections: the context the connection was made with (its
    // session callback points into it), and the pool setting it serves.
    std::shared_ptr<const tls::ClientContext> tls;
};

using UpstreamPtr = std::unique_ptr<UpstreamConnection>;

class UpstreamPool {
public:
    explicit UpstreamPool(EventLoop& loop) : loop_(loop) {}

    // An idle connection to the endpoint that is silent and within its idle
    // time at `now_ms`, made with the TLS context `tls` (null: plain TCP), or
    // nullptr. `peek`: also ask the socket whether it is still open (a close
    // whose event the loop has not fetched yet), at the cost of a syscall. A connection of another context (the
    // endpoint in a pool with other TLS settings, or a reload since) is
    // closed rather than used: plain must never stand in for TLS, nor one
    // verification for another.
    UpstreamPtr take(std::uint32_t key, std::uint64_t now_ms, const tls::ClientContext* tls, bool peek);
    // Keeps the connection for reuse, for at most `idle_timeout_ms`, unless
    // `max_idle` are already kept for its endpoint (by this worker: each
    // worker has its own pool). Any event on an idle connection (data,
    // close) retires it.
    void give_back(UpstreamPtr conn, std::size_t max_idle, std::uint64_t now_ms, std::uint64_t idle_timeout_ms);
    // Closes the endpoint's least recently used idle connections beyond
    // `keep`; returns how many.
    std::size_t trim(std::uint32_t key, std::size_t keep);
    // Closes a connection for good (after the current batch of events).
    void discard(UpstreamPtr conn);
    // Closes connections whose idle time ended at or before `now_ms`.
    void expire(std::uint64_t now_ms);
    void close_endpoint(std::uint32_t key);
    // Closes idle connections to every endpoint whose key is not marked in `keep`.
    void close_unless(const std::vector<bool>& keep);
    void close_all();
    std::size_t idle_count() const;
    std::size_t idle_count(std::uint32_t key) const { return key < idle_.size() ? idle_[key].size() : 0; }
    std::uint32_t key_limit() const { return static_cast<std::uint32_t>(idle_.size()); }

    void on_idle_event(UpstreamConnection* conn);

private:
    EventLoop& loop_;
    std::vector<std::vector<UpstreamPtr>> idle_;  // by endpoint key, most recently used last
};

}  // namespace weir::proxy
