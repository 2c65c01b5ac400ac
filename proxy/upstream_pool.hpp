// Per-worker keep-alive connections to upstream endpoints. Only the owning
// worker's thread touches it, so there are no locks.
#pragma once

#include "proxy/net.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace weir::proxy {

struct UpstreamConnection {
    explicit UpstreamConnection(Executor ex) : socket(ex) {}
    Socket socket;
    std::uint32_t endpoint_key = 0;
    std::uint64_t idle_since_ms = 0;
    std::uint64_t idle_generation = 0;  // tells a stale idle-watch completion from a current one
    bool in_pool = false;
    bool reused = false;  // taken from the pool: a failure before the response may be retried
};

using UpstreamPtr = std::shared_ptr<UpstreamConnection>;

class UpstreamPool {
public:
    explicit UpstreamPool(Executor ex) : ex_(ex) {}

    // An idle connection to the endpoint, or nullptr.
    UpstreamPtr take(std::uint32_t key);
    // Keeps the connection for reuse unless `max_idle` are already kept for
    // its endpoint; watches it so an upstream close removes it at once.
    void give_back(UpstreamPtr conn, std::size_t max_idle, std::uint64_t now_ms);
    // Closes connections idle since before `cutoff_ms`.
    void expire(std::uint64_t cutoff_ms);
    // Closes every idle connection to `key` (endpoint removed or drained).
    void close_endpoint(std::uint32_t key);
    void close_all();
    std::size_t idle_count() const;

private:
    void watch(const UpstreamPtr& conn);
    void remove(UpstreamConnection* conn);

    Executor ex_;
    std::vector<std::vector<UpstreamPtr>> idle_;  // by endpoint key, most recently used last
};

}  // namespace weir::proxy
