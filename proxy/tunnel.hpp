// A connection after a protocol switch (101): the client and the endpoint
// exchange bytes Weir passes on as they come, in both directions at once.
//
// An idle tunnel holds no buffer. Bytes are read into the worker's one
// scratch buffer and written on at once; only what the other side cannot
// take yet is kept (at most one read's worth per direction), and that side's
// reading stops until it is gone: each direction is bounded, and a slow
// reader slows its writer down (back-pressure) instead of filling memory.
#pragma once

#include "proxy/socket.hpp"
#include "routing/snapshot.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace weir::proxy {

// One direction: what `src` sends goes to `dst`.
struct TunnelFlow {
    Socket* src = nullptr;
    Socket* dst = nullptr;
    std::string pending;          // read but not yet taken by dst
    std::size_t pending_off = 0;  // bytes of pending already written
    std::uint64_t bytes = 0;      // bytes the source sent through the tunnel
    bool src_done = false;        // the source closed its side
    bool dst_shut = false;        // and that close was passed on

    bool has_pending() const { return pending_off < pending.size(); }
    // Both ends of this direction are closed and nothing is left to write.
    bool finished() const { return dst_shut; }
};

struct Tunnel {
    // The configuration the tunnel is bound to: the current one, as long as
    // it still has the tunnel's route, pool and endpoint (a reload rebinds
    // it); else the last that had them, until the tunnel leaves.
    routing::SnapshotPtr snapshot;
    const routing::Route* route = nullptr;
    const routing::Pool* pool = nullptr;
    const routing::Endpoint* endpoint = nullptr;
    std::uint32_t stat = 0;          // statistics slot id (stable by route and pool names): weir_tunnels
    std::uint32_t endpoint_key = 0;  // counted in the endpoint's in-flight load for the tunnel's life
    std::string log_prefix;          // the access log line's request part, written when the tunnel ends
    std::chrono::steady_clock::time_point started;  // when the upgrade request arrived
    std::uint64_t last_active_ms = 0;  // last byte either way (tunnel_idle_timeout)
    std::uint64_t age_due_ms = 0;      // max_tunnel_age reached (0: none)
    std::uint64_t leave_due_ms = 0;    // closed then: its route or endpoint left, or shutdown (0: none)
    const char* leave_reason = "";
    TunnelFlow up;    // client -> endpoint
    TunnelFlow down;  // endpoint -> client
};

// A new snapshot's routes and pools by name, for open tunnels to find theirs
// on a reload: built once per reload, and only when tunnels are open.
class SnapshotNames {
public:
    explicit SnapshotNames(const routing::Snapshot& snap);
    const routing::Route* route(std::string_view name) const;
    // The pool's index in the snapshot, or npos.
    std::size_t pool(std::string_view name) const;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

private:
    std::unordered_map<std::string_view, const routing::Route*> routes_;
    std::unordered_map<std::string_view, std::size_t> pools_;
};

}  // namespace weir::proxy
