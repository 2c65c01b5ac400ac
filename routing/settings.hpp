// The data-path settings the workers read from a snapshot, with their
// defaults. This is where those defaults are defined: config/config.hpp
// (what the operator writes) takes them from here, and
// control/snapshot_builder.cpp translates one into the other.
#pragma once

#include "routing/match_spec.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace weir::tls {
class ClientContext;
class ServerContext;
struct HandshakeCounts;
}  // namespace weir::tls

namespace weir::routing {

struct UpstreamSettings {
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds response_timeout{15000};
    std::size_t max_idle_per_endpoint = 64;  // per worker
    std::chrono::milliseconds idle_timeout{4000};
    std::size_t max_response_header_bytes = 65536;
    std::size_t max_response_headers = 128;
    // Set: connections to the endpoints speak TLS (verified unless the
    // operator said otherwise); never plain TCP instead.
    std::shared_ptr<const tls::ClientContext> tls;
    // With tls: the pool's handshake counters (weir_upstream_tls_handshakes_total).
    tls::HandshakeCounts* handshakes = nullptr;
};

// What a pool's endpoints speak (pools[].protocol).
enum class UpstreamProtocol : std::uint8_t {
    http1,  // HTTP/1.1: one exchange at a time per connection
    h2,     // HTTP/2 (ALPN h2 over TLS, prior knowledge on plain TCP): many streams per connection; gRPC needs it
};
inline constexpr UpstreamProtocol default_upstream_protocol = UpstreamProtocol::http1;

struct StickySpec {
    Source source = Source::header;
    std::string name;
    bool assign = false;                // cookie only: give anonymous users a random id
    std::chrono::seconds max_age{30 * 24 * 3600};
};

enum class OnUnhealthy : std::uint8_t {
    shift,  // a fully unavailable pool's share goes to the others
    fail,   // its share is answered with 503
};
inline constexpr OnUnhealthy default_on_unhealthy = OnUnhealthy::shift;

// A route takes every path unless it names a prefix.
inline constexpr const char* default_path_prefix = "/";

// What a listener's connections are allowed, looked up by name once per connection.
struct ListenerSettings {
    std::string name;
    bool keep_underscores = false;  // underscores_in_headers
    bool http2 = false;             // h2 by ALPN (TLS) or prior knowledge (plain)
    std::shared_ptr<const tls::ServerContext> tls;  // set: connections start with a TLS handshake
    tls::HandshakeCounts* handshakes = nullptr;      // with tls: where handshake outcomes are counted
};

struct Limits {
    std::size_t max_header_bytes = 65536;
    std::uint64_t max_body_bytes = 0;  // 0 = unlimited
    std::chrono::milliseconds header_timeout{10000};
    std::chrono::milliseconds idle_timeout{60000};
    std::size_t max_connections = 10000;
    unsigned max_via_hops = 3;  // Via naming Weir more often than this: a loop, 508
};

// What a route does with protocol upgrades (WebSocket and the like).
struct TunnelSettings {
    // Protocol names (lower case) a request may ask an upstream to switch to.
    std::vector<std::string> upgrade{"websocket"};
    // A tunnel with no byte either way for this long is closed.
    std::chrono::milliseconds idle_timeout{3'600'000};
    // When set, each tunnel is closed after a random age between 3/4 of this
    // and all of it, so long-lived clients reconnect (into the current split)
    // a few at a time. 0: tunnels live as long as their peers keep them.
    std::chrono::milliseconds max_age{0};
};

// Endpoint weights (in a pool) and pool weights (in a route's split) are
// relative; an endpoint's is 1 unless written. At most max_weight, in the
// file and in admin edits alike: sums stay finite and exact enough.
inline constexpr double default_endpoint_weight = 1;
inline constexpr double max_weight = 1e9;

// Memory for the per-(route, pool) request statistics of all workers together.
inline constexpr std::uint64_t default_max_statistics_bytes = 64ull << 20;

}  // namespace weir::routing
