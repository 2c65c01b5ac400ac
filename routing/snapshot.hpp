// The immutable routing state the workers read: routes, pools, endpoints and
// precomputed selection tables. Built on the control thread, published to the
// workers as shared_ptr<const Snapshot>, never modified afterwards.
#pragma once

#include "routing/weighted.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace weir::routing {

struct Endpoint {
    std::string name;                            // "host:port" as configured (DNS names resolved)
    boost::asio::ip::tcp::endpoint address;
    double weight = 1;
    std::uint32_t key = 0;  // stable across snapshots for the same address: indexes upstream pools
};

struct UpstreamSettings {
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds response_timeout{15000};
    std::size_t max_idle_per_endpoint = 64;
};

struct Pool {
    std::string name;
    std::vector<Endpoint> endpoints;
    WeightedChoice endpoint_choice;
    UpstreamSettings upstream;
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
    std::string path_prefix = "/";
    std::vector<std::size_t> pools;  // indexes into Snapshot::pools
    std::vector<double> weights;     // same order as `pools`
    WeightedChoice pool_choice;
};

struct Limits {
    std::size_t max_header_bytes = 65536;
    std::uint64_t max_body_bytes = 0;
    std::chrono::milliseconds header_timeout{10000};
    std::chrono::milliseconds idle_timeout{60000};
    std::size_t max_connections = 10000;
};

struct Snapshot {
    std::uint64_t version = 0;
    std::vector<Pool> pools;
    std::vector<Route> routes;
    Limits limits;
    std::uint32_t endpoint_key_limit = 0;  // every Endpoint::key is below this

    // First route whose host and path prefix match, or nullptr.
    const Route* match(std::string_view host, std::string_view path) const;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace weir::routing
