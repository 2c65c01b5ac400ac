#include "control/snapshot_builder.hpp"

#include "control/endpoints.hpp"
#include "routing/decision.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fmt/core.h>

namespace weir::control {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

routing::HostMatch host_match(const std::string& pattern) {
    routing::HostMatch m;
    std::string lower;
    for (char c : pattern) lower.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
    if (lower == "*") {
        m.kind = routing::HostMatch::Kind::any;
    } else if (lower.starts_with("*.")) {
        m.kind = routing::HostMatch::Kind::suffix;
        m.text = lower.substr(1);
    } else {
        m.kind = routing::HostMatch::Kind::exact;
        m.text = lower;
    }
    return m;
}

}  // namespace

std::uint32_t StableKeys::key_for(const std::string& name) {
    auto [it, inserted] = keys_.try_emplace(name, static_cast<std::uint32_t>(names_.size()));
    if (inserted) names_.push_back(name);
    return it->second;
}

std::string stat_name(const std::string& route, const std::string& pool) { return route + "\n" + pool; }

std::vector<boost::asio::ip::tcp::endpoint> AddressBook::lookup(const HostPort& hp, bool fresh, std::string& error) {
    const std::string key = hp.text();
    if (!fresh) {
        auto it = cache_.find(key);
        if (it != cache_.end()) return it->second;
    }
    asio::io_context io;
    tcp::resolver resolver(io);
    boost::system::error_code err;
    // A literal address resolves without a lookup; a name may yield several.
    auto results = resolver.resolve(hp.host, std::to_string(hp.port), tcp::resolver::numeric_service, err);
    if (err || results.empty()) {
        error = err ? err.message() : "no address";
        return {};
    }
    std::vector<tcp::endpoint> out;
    for (const auto& r : results) out.push_back(r.endpoint());
    cache_[key] = out;
    return out;
}

BuildResult build_snapshot(const Config& config, std::uint64_t version, StableKeys& keys, StableKeys& stat_keys,
                           AddressBook& book, bool fresh) {
    BuildResult result;
    auto snap = std::make_shared<routing::Snapshot>();
    snap->version = version;
    snap->limits.max_header_bytes = config.limits.max_header_bytes;
    snap->limits.max_body_bytes = config.limits.max_body_bytes;
    snap->limits.header_timeout = config.limits.header_timeout;
    snap->limits.idle_timeout = config.limits.idle_timeout;
    snap->limits.max_connections = config.limits.max_connections;

    for (const PoolConfig& pc : config.pools) {
        routing::Pool pool;
        pool.name = pc.name;
        pool.upstream.connect_timeout = pc.upstream.connect_timeout;
        pool.upstream.response_timeout = pc.upstream.response_timeout;
        pool.upstream.max_idle_per_endpoint = pc.upstream.max_idle_per_endpoint;
        for (const EndpointConfig& ec : pc.endpoints) {
            std::string err;
            auto results = book.lookup(ec.address, fresh, err);
            if (results.empty()) {
                result.errors.push_back(
                    fmt::format("pool {}: endpoint {} does not resolve: {}", pc.name, ec.address.text(), err));
                continue;
            }
            // Each address a name yields becomes an endpoint.
            for (const auto& r : results) {
                routing::Endpoint ep;
                ep.address = r;
                ep.configured = ec.address.text();
                ep.name = results.size() == 1 && ep.address.address().to_string() == ec.address.host
                              ? ec.address.text()
                              : endpoint_text(r);
                ep.weight = ec.weight;
                ep.key = keys.key_for(ep.name);
                pool.endpoints.push_back(std::move(ep));
            }
        }
        snap->pools.push_back(std::move(pool));
    }

    for (const RouteConfig& rc : config.routes) {
        routing::Route route;
        route.name = rc.name;
        route.host = host_match(rc.match.host);
        route.path_prefix = rc.match.path_prefix;
        for (const auto& [pool_name, weight] : rc.split) {
            for (std::size_t i = 0; i < snap->pools.size(); ++i) {
                if (snap->pools[i].name == pool_name) {
                    route.pools.push_back(i);
                    route.weights.push_back(weight);
                }
            }
        }
        auto pool_index = [&](const std::string& name) {
            for (std::size_t i = 0; i < snap->pools.size(); ++i) {
                if (snap->pools[i].name == name) return i;
            }
            return routing::PoolDecision::none;
        };
        try {
            for (const AttributeMatchConfig& h : rc.match.headers)
                route.header_matchers.push_back(std::make_shared<routing::ValueMatcher>(h.source, h.name, h.match));
            for (const RuleConfig& r : rc.rules) {
                std::size_t p = pool_index(r.pool);
                if (p == routing::PoolDecision::none) {
                    result.errors.push_back("route " + rc.name + ": rule names unknown pool " + r.pool);
                    continue;
                }
                route.rules.push_back(
                    {std::make_shared<routing::ValueMatcher>(r.when.source, r.when.name, r.when.match), p});
            }
        } catch (const std::exception& e) {
            result.errors.push_back("route " + rc.name + ": " + e.what());
        }
        if (rc.sticky) {
            routing::StickySpec s;
            s.source = rc.sticky->source;
            s.name = rc.sticky->name;
            s.assign = rc.sticky->assign;
            s.max_age = std::chrono::duration_cast<std::chrono::seconds>(rc.sticky->max_age);
            route.sticky = std::move(s);
        }
        for (const auto& p : snap->pools) route.pool_stat.push_back(stat_keys.key_for(stat_name(rc.name, p.name)));
        route.no_pool_stat = stat_keys.key_for(stat_name(rc.name, "none"));
        route.on_unhealthy =
            rc.on_pool_unhealthy == OnPoolUnhealthy::fail ? routing::OnUnhealthy::fail : routing::OnUnhealthy::shift;
        snap->routes.push_back(std::move(route));
    }
    snap->finalize();
    snap->endpoint_key_limit = keys.limit();
    snap->unrouted_stat = stat_keys.key_for(stat_name("none", "none"));
    if (!config.access_log.path.empty()) {
        // Opened at every build: a reload after log rotation writes to the new file.
        std::string error;
        snap->access_log = LogFile::open(config.access_log.path, error);
        if (!snap->access_log)
            result.errors.push_back("access_log: cannot open " + config.access_log.path + ": " + error);
    }
    snap->stat_limit = stat_keys.limit();
    if (result.errors.empty()) result.snapshot = std::move(snap);
    return result;
}

}  // namespace weir::control
