// A worker's HTTP/2 connections to the endpoints of `protocol: h2` pools, by
// endpoint: an exchange is given one with room for another stream, made
// under its own snapshot, or a new one. Connections close by themselves
// (idle, failed, or retired after a reload and done); the closed ones are
// destroyed after the loop's batch of events, when nothing can be inside
// one of their calls any more.
#pragma once

#include "proxy/h2_upstream.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace weir::proxy {

class H2Upstreams {
public:
    explicit H2Upstreams(Worker& worker) : worker_(worker) {}

    // A connection for one more stream to `endpoint`, or nullptr when a new
    // one failed at once (logged and charged: the caller tries another endpoint).
    H2Upstream* acquire(const routing::SnapshotPtr& snapshot, const routing::Pool& pool,
                        const routing::Endpoint& endpoint);
    // Connections to endpoints not marked in `keep` (gone, draining) finish
    // their streams and close.
    void retire_unless(const std::vector<bool>& keep);
    // A drain: every connection finishes its streams and closes.
    void retire_all();
    // Process exit: everything closes now.
    void close_all();
    // A connection has closed (H2Upstream::close): reap() has work.
    void closed() { reap_ = true; }
    // Destroys closed connections (the worker, after each batch of events).
    void reap();
    std::size_t open_connections(std::uint32_t key) const;

private:
    Worker& worker_;
    std::vector<std::vector<std::unique_ptr<H2Upstream>>> by_key_;
    bool reap_ = false;
};

}  // namespace weir::proxy
