// The immutable routing state the workers read: routes, pools, endpoints and
// precomputed selection tables. Built on the control thread, published to the
// workers as shared_ptr<const Snapshot>, never modified afterwards.
#pragma once

#include "common/log_file.hpp"
#include "routing/cidr.hpp"
#include "routing/grpc_status.hpp"
#include "routing/matcher.hpp"
#include "routing/settings.hpp"
#include "routing/stat_id.hpp"
#include "routing/weighted.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weir::routing {

struct Endpoint {
    std::string name;        // "host:port" as configured, or the resolved "ip:port" of a DNS name
    std::string configured;  // the address as configured (a DNS name stays a name)
    std::string host;        // its host part, lower case, no brackets (TLS: SNI and the name verified)
    boost::asio::ip::tcp::endpoint address;
    double weight = default_endpoint_weight;
    std::uint32_t key = 0;  // stable across snapshots for the same address: indexes upstream pools
    // Eligibility inputs, set by the control side when it builds a snapshot.
    bool healthy = true;    // passing its health check (or not checked)
    bool draining = false;  // taken out by an operator: never receives new requests
    bool ejected = false;   // passively ejected after consecutive failures
    bool eligible() const { return healthy && !draining && !ejected && weight > 0; }
};

struct Pool {
    std::string name;
    std::vector<Endpoint> endpoints;
    UpstreamSettings upstream;
    UpstreamProtocol protocol = default_upstream_protocol;
    // grpc-status values (bit n: code n) whose responses count as errors.
    GrpcStatusMask grpc_error_codes = default_grpc_error_codes;
    // Computed by Snapshot::finalize() from the endpoints' states:
    WeightedChoice eligible_choice;  // among eligible endpoints
    WeightedChoice panic_choice;     // among endpoints not draining (panic mode: all pools down)
    bool available = false;          // has an eligible endpoint
};

// Matchers are shared, immutable and compiled once: a snapshot copied to
// change endpoint states keeps them.
using MatcherPtr = std::shared_ptr<const ValueMatcher>;

struct Rule {
    MatcherPtr matcher;
    std::size_t pool;  // index into Snapshot::pools
};

// Host patterns: "*" (any), "*.example.com" (any subdomain), or an exact name.
struct HostMatch {
    enum class Kind { any, suffix, exact } kind = Kind::any;
    std::string text;  // lower-case; for suffix, includes the leading '.'
    bool matches(std::string_view host) const;  // host may carry a ":port"
};

struct Route {
    std::string name;
    HostMatch host;
    std::string path_prefix = default_path_prefix;
    std::vector<MatcherPtr> header_matchers;  // all must match, after host and path
    std::vector<std::size_t> pools;  // indexes into Snapshot::pools
    std::vector<double> weights;     // same order as `pools`
    std::vector<Rule> rules;         // checked in order before split and sticky
    std::optional<StickySpec> sticky;
    OnUnhealthy on_unhealthy = default_on_unhealthy;
    TunnelSettings tunnel;

    // Traffic statistics slot ids (stable across snapshots for the same route
    // and pool names), by index into Snapshot::pools: a real slot only for
    // the pools the route can send to (its split and its rules), no_stat for
    // the rest; and one for requests this route could not give to any pool.
    std::vector<std::uint32_t> pool_stat;
    std::uint32_t no_pool_stat = 0;

    // Computed by Snapshot::finalize():
    std::vector<std::string> pool_names;    // for rendezvous hashing
    std::vector<double> shifted_weights;    // unavailable pools' weights set to 0
    WeightedChoice pool_choice;             // by `weights`
    WeightedChoice shifted_choice;          // by `shifted_weights`
    bool all_down = false;                  // no pool with weight is available: panic mode
};

struct Snapshot {
    std::uint64_t version = 0;
    std::vector<Pool> pools;
    std::vector<Route> routes;
    Limits limits;
    // How long connections still open get after a drain or shutdown begins,
    // and tunnels after their route or endpoint leaves (or drains).
    std::chrono::milliseconds drain_timeout{30'000};
    std::uint32_t endpoint_key_limit = 0;  // every Endpoint::key is below this
    std::uint32_t unrouted_stat = 0;       // statistics slot of requests no route took
    std::shared_ptr<const LogFile> access_log;  // JSON lines, one per request; null: off
    std::vector<std::uint32_t> live_stats;  // every statistics slot id this snapshot names
    std::uint64_t max_statistics_bytes = default_max_statistics_bytes;
    // Peers whose claims about the client (Forwarded, X-Forwarded-*,
    // X-Real-IP) are passed on; matched once per connection, at accept.
    CidrSet trusted_proxies;
    std::vector<ListenerSettings> listeners;

    // The settings of the named listener (defaults when it is not known).
    const ListenerSettings& listener(std::string_view name) const;

    // First route whose host, path prefix and header matchers match, or
    // nullptr. Host and path are compared in their normal form
    // (path_normalize.hpp): "/a/../admin" and "/%61dmin" reach the "/admin"
    // route, "Example.com." the "example.com" one.
    const Route* match(std::string_view host, std::string_view path, const RequestView& request) const;

    // Computes the selection tables from weights and endpoint states. Call
    // after building or after changing any state, before publishing.
    void finalize();
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace weir::routing
