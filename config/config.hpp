// The configuration as the operator wrote it: plain values, validated, with
// no live objects. Snapshots for the workers are built from it (snapshot_builder).
//
// Defaults are not written here: a setting the runtime also has takes its
// default from the runtime's type (routing/settings.hpp, health/spec.hpp,
// rollout/spec.hpp), or is that type; control/snapshot_builder.cpp is the
// one file that translates this configuration into those types.
#pragma once

#include "health/spec.hpp"
#include "rollout/spec.hpp"
#include "routing/grpc_status.hpp"
#include "routing/match_spec.hpp"
#include "routing/settings.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weir::tls {
struct Certificate;
class ClientContext;
class ServerContext;
}

namespace weir::config {

using Duration = std::chrono::milliseconds;

// host:port or [v6]:port, split but not resolved.
struct HostPort {
    std::string host;
    std::uint16_t port = 0;
    std::string text() const;  // canonical "host:port" / "[v6]:port"
};

struct CertificateFiles {
    std::string cert;  // PEM: the certificate, then its chain
    std::string key;   // PEM: its private key
};

// listeners[].tls: TLS termination.
struct ListenerTlsConfig {
    std::vector<CertificateFiles> certificates;  // the first answers no or unknown SNI
    std::string min_version = "1.2";             // "1.2" | "1.3"
    std::string client_ca;                       // mTLS: client certificates required, verified against it
    // The certificates as read and checked at load (same order): a reload
    // reads the files again, so renewed certificates take effect with it.
    std::vector<std::shared_ptr<const tls::Certificate>> loaded;
    // Built from `loaded` by the first snapshot of this load and reused by
    // the snapshots of runtime edits: the TLS session cache and the
    // certificates' log lines belong to a load, not to a weight change.
    mutable std::shared_ptr<const tls::ServerContext> context;
};

struct ListenerConfig {
    std::string name;
    HostPort address;
    // Forward header names containing '_' (nginx's underscores_in_headers);
    // off, they are dropped, since CGI-style backends read '_' as '-'.
    bool underscores_in_headers = routing::ListenerSettings{}.keep_underscores;
    // HTTP/2 on this listener: offered by ALPN on TLS (default on), accepted
    // with prior knowledge (h2c) on plain ones (default off: an HTTP/1.1-only
    // client never sends the preface, so the default changes nothing there,
    // but h2c is opt-in as in HAProxy and nginx). HTTP/1.1 always works too.
    bool http2 = false;
    std::optional<ListenerTlsConfig> tls;
};

struct AdminConfig {
    HostPort address{"127.0.0.1", 9901};
    std::string token_file;  // empty: no token; relative paths are resolved against the config file's folder
    std::string token;       // the file's content (surrounding whitespace trimmed); never shown by GET /config
};

// Several replicas acting as one (docs/fleet.md): runtime state in etcd
// under `prefix`, one leader (by lease) judging rollouts on the fleet's traffic.
struct ClusterConfig {
    std::vector<std::string> etcd;       // client URLs, "http://host:port"
    std::string prefix = "/weir";        // no trailing '/'
    Duration lease{5000};                // the leader's lease
    std::string username;                // etcd user; empty: no authentication
    std::string password_file;           // resolved like every path
    std::string password;                // the file's content (trailing newline dropped); never shown
    // Where the other replicas reach this one's admin API (the leader asks
    // every replica for its traffic); default: admin.address.
    HostPort advertise;
    std::string name;                    // this replica in GET /cluster; default host name and admin port
};

struct LimitsConfig {
    std::size_t max_header_bytes = routing::Limits{}.max_header_bytes;
    std::uint64_t max_body_bytes = routing::Limits{}.max_body_bytes;  // 0 = unlimited
    Duration header_timeout = routing::Limits{}.header_timeout;
    Duration idle_timeout = routing::Limits{}.idle_timeout;
    std::size_t max_connections = routing::Limits{}.max_connections;
    // Per-(route, pool) request statistics of all workers together; past it,
    // requests of pairs without statistics yet are not counted.
    std::uint64_t max_statistics_bytes = routing::default_max_statistics_bytes;
    // A request whose Via already names Weir more often than this is a
    // forwarding loop: answered 508. 3 lets chains of up to four Weir tiers work.
    unsigned max_via_hops = routing::Limits{}.max_via_hops;
};

struct EndpointConfig {
    HostPort address;
    double weight = routing::default_endpoint_weight;
};

// pools[].upstream.tls: TLS to the pool's endpoints (`tls: true` is all defaults).
struct UpstreamTlsConfig {
    std::string ca_file;      // empty: the system's CA certificates
    std::string server_name;  // verified and sent as SNI; empty: each endpoint's host
    bool verify = true;       // false only when written, and logged as a warning at load
    CertificateFiles client;  // both empty: no client certificate
    // The client certificate as read and checked at load (a reload reads it again).
    std::shared_ptr<const tls::Certificate> client_loaded;
    // Built by the first snapshot of this load and kept by the snapshots of
    // runtime edits, like a listener's context: its per-endpoint sessions
    // and pooled connections outlive a weight change.
    mutable std::shared_ptr<const tls::ClientContext> context;
};

struct UpstreamConfig {
    Duration connect_timeout = routing::UpstreamSettings{}.connect_timeout;
    Duration response_timeout = routing::UpstreamSettings{}.response_timeout;
    std::optional<UpstreamTlsConfig> tls;  // unset: plain TCP
    // per worker: each worker keeps its own idle connections
    std::size_t max_idle_per_endpoint = routing::UpstreamSettings{}.max_idle_per_endpoint;
    // an idle upstream connection is closed after this
    Duration idle_timeout = routing::UpstreamSettings{}.idle_timeout;
    // Response heads over either limit are answered 502 and counted as
    // weir_upstream_errors_total{kind="response_too_large"} (never an ejection).
    std::size_t max_response_header_bytes = routing::UpstreamSettings{}.max_response_header_bytes;
    std::size_t max_response_headers = routing::UpstreamSettings{}.max_response_headers;
};

// Active checks and passive ejection are configured in the health
// library's own types (health/spec.hpp), defaults included.
using HealthCheckConfig = health::CheckSpec;
using OutlierConfig = health::OutlierSpec;

struct PoolConfig {
    std::string name;
    std::vector<EndpointConfig> endpoints;
    routing::UpstreamProtocol protocol = routing::default_upstream_protocol;  // http1 | h2
    // gRPC status codes whose responses count as errors (bit n: code n).
    routing::GrpcStatusMask grpc_error_codes = routing::default_grpc_error_codes;
    UpstreamConfig upstream;
    std::optional<HealthCheckConfig> health_check;
    std::optional<OutlierConfig> outlier;
};

// One request attribute (header, cookie or query parameter) and its test.
struct AttributeMatchConfig {
    routing::Source source = routing::Source::header;
    std::string name;
    routing::MatchSpec match;
};

struct RouteMatchConfig {
    std::string host = "*";         // exact, "*" or "*.example.com"
    std::string path_prefix = routing::default_path_prefix;
    std::vector<AttributeMatchConfig> headers;  // all must match
};

// The first matching rule pins the request to `pool`, before split and sticky.
struct RuleConfig {
    AttributeMatchConfig when;
    std::string pool;
};

struct StickyConfig {
    routing::Source source = routing::StickySpec{}.source;
    std::string name;
    bool assign = routing::StickySpec{}.assign;  // cookie only: a random id for requests without one
    Duration max_age = routing::StickySpec{}.max_age;
};

using OnPoolUnhealthy = routing::OnUnhealthy;  // shift | fail

// Progressive delivery of one route (README, The canary judge), in the
// rollout library's own type (rollout/spec.hpp), defaults included.
using RolloutConfig = rollout::RolloutSpec;

struct RouteConfig {
    std::string name;
    RouteMatchConfig match;
    // Relative weights in file order; names refer to pools.
    std::vector<std::pair<std::string, double>> split;
    std::vector<RuleConfig> rules;
    std::optional<StickyConfig> sticky;
    OnPoolUnhealthy on_pool_unhealthy = routing::default_on_unhealthy;
    std::optional<RolloutConfig> rollout;
    routing::TunnelSettings tunnel;  // upgrade, tunnel_idle_timeout, max_tunnel_age
};

struct AccessLogConfig {
    std::string path;  // empty: off; "-": stdout
};

struct Config {
    std::string source_path;  // the file it came from
    unsigned workers = 0;     // 0: number of CPUs
    Duration drain_timeout{30'000};
    std::string state_file;   // resolved against the config file's folder; empty: edits are not persisted
    // Peers (address or CIDR, as written) whose Forwarded / X-Forwarded-* /
    // X-Real-IP are passed on; from any other peer they are dropped or replaced.
    std::vector<std::string> trusted_proxies;
    std::optional<ClusterConfig> cluster;
    std::vector<ListenerConfig> listeners;
    AdminConfig admin;
    AccessLogConfig access_log;
    LimitsConfig limits;
    std::vector<PoolConfig> pools;
    std::vector<RouteConfig> routes;
};

// One problem found while loading, located in the file (1-based line/col;
// 0 when the problem concerns the file as a whole).
struct ConfigError {
    std::string file;
    int line = 0;
    int col = 0;
    std::string message;
    std::string text() const;  // "FILE:LINE:COL: message"
};

struct LoadResult {
    std::optional<Config> config;       // set only when errors is empty
    std::vector<ConfigError> errors;
};

// Parses and validates the whole file; collects every error rather than
// stopping at the first, so `weir check` can list them all.
LoadResult load_config_file(const std::string& path);
LoadResult load_config_text(const std::string& text, const std::string& file_name);

// Parses "250ms", "2s", "1m", "1h"; nullopt when malformed.
std::optional<Duration> parse_duration(std::string_view text);
// The shortest exact spelling with one unit: 1500ms -> "1500ms", 2000ms -> "2s", 60000ms -> "1m".
std::string format_duration(Duration d);
// Parses "host:port" / "[v6]:port" (port 0..65535); nullopt when malformed.
std::optional<HostPort> parse_host_port(std::string_view text);

}  // namespace weir::config
