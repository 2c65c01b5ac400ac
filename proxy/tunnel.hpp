// A connection after a protocol switch (101): the client and the endpoint
// exchange bytes Weir passes on as they come, in both directions at once.
//
// An idle tunnel holds no buffer. Bytes are read into the worker's one
// scratch buffer and written on at once; only what the other side cannot
// take yet is kept (at most one read's worth per direction), and that side's
// reading stops until it is gone: each direction is bounded, and a slow
// reader slows its writer down (back-pressure) instead of filling memory.
#pragma once

#include "proxy/pipe_pool.hpp"
#include "proxy/socket.hpp"
#include "routing/snapshot.hpp"

#include <chrono>
#include <memory>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace weir::proxy {

// One direction's bytes in flight: between plain sockets in a pipe (moved,
// not copied); with TLS on either side, what the destination could not take
// of the last read. Kept small: an idle tunnel's memory is
// this state and its two sockets, nothing more.
struct TunnelFlow {
    std::unique_ptr<char[]> pending;  // read but not yet taken by the destination (null: none)
    std::uint32_t pending_len = 0;
    std::uint32_t pending_off = 0;    // bytes of pending already written
    std::uint32_t in_pipe = 0;        // bytes moved into `pipe` and not yet out of it
    Pipe pipe;                        // plain sockets: held while bytes are in it
    std::uint64_t bytes = 0;          // bytes the source sent through the tunnel
    bool src_done = false;            // the source closed its side
    bool dst_shut = false;            // and that close was passed on

    bool has_pending() const { return pending_off < pending_len; }
    // Nothing read is left to write.
    bool empty() const { return !has_pending() && in_pipe == 0; }
    // Both ends of this direction are closed and nothing is left to write.
    bool finished() const { return dst_shut; }
    // Keeps `n` bytes the destination could not take yet.
    void keep(std::string_view a, std::string_view b = {});
    void drop_pending();
};

// Why a tunnel is told to close at a set time (Tunnel::leave_due_ms).
enum class TunnelLeave : std::uint8_t { none, shutdown, drained, removed };
const char* tunnel_leave_text(TunnelLeave why);

struct Tunnel {
    // The configuration the tunnel is bound to: the current one, as long as
    // it still has the tunnel's route, pool and endpoint (a reload rebinds
    // it); else the last that had them, until the tunnel leaves.
    routing::SnapshotPtr snapshot;
    std::uint32_t route_index = 0;
    std::uint32_t pool_index = 0;
    std::uint32_t endpoint_index = 0;
    std::uint32_t stat = 0;          // statistics slot id (stable by route and pool names): weir_tunnels
    std::uint32_t endpoint_key = 0;  // counted in the endpoint's in-flight load for the tunnel's life
    std::uint32_t log_prefix_len = 0;
    std::unique_ptr<char[]> log_prefix;  // the access log line's request part (access log on), written at the end
    std::chrono::steady_clock::time_point started;  // when the upgrade request arrived
    std::uint64_t last_active_ms = 0;      // last byte either way (tunnel_idle_timeout)
    std::uint64_t age_due_ms = 0;          // max_tunnel_age reached (0: none)
    std::uint64_t leave_due_ms = 0;        // closed then (0: none), for `leave`
    std::uint64_t half_closed_due_ms = 0;  // one side ended and the other has not followed by then (0: none)
    TunnelLeave leave = TunnelLeave::none;
    TunnelFlow up;    // client -> endpoint
    TunnelFlow down;  // endpoint -> client

    const routing::Route& route() const { return snapshot->routes[route_index]; }
    const routing::Pool& pool() const { return snapshot->pools[pool_index]; }
    const routing::Endpoint& endpoint() const { return pool().endpoints[endpoint_index]; }
    std::string_view log_line_start() const { return {log_prefix.get(), log_prefix_len}; }
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
