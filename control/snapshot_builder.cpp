#include "control/snapshot_builder.hpp"

#include "common/log.hpp"
#include "control/endpoints.hpp"
#include "routing/decision.hpp"
#include "tls/client_context.hpp"
#include "tls/handshake_stats.hpp"
#include "tls/server_context.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fmt/chrono.h>
#include <fmt/core.h>
#include <fmt/format.h>

#include <stdexcept>

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

// A pool's TLS client context (upstream.tls), built once per load.
std::shared_ptr<const tls::ClientContext> upstream_tls(const config::PoolConfig& pc, std::vector<std::string>& errors) {
    const auto& t = pc.upstream.tls;
    if (!t) return nullptr;
    if (!t->context) {
        tls::ClientSettings settings{t->ca_file, t->server_name, t->verify, t->client_loaded};
        std::string error;
        t->context = tls::ClientContext::create(settings, error);
        if (!t->context) {
            errors.push_back("pool " + pc.name + ": upstream TLS: " + error);
            return nullptr;
        }
        if (!t->verify) {
            log::warn("tls", "pool {}: upstream.tls.verify is false: endpoint certificates are not checked, "
                      "anyone on the path can read and change this pool's traffic", pc.name);
        }
        log::info("tls", "pool {}: TLS to endpoints, verified against {}{}{}", pc.name,
                  !t->verify ? "nothing" : t->ca_file.empty() ? "the system CAs" : t->ca_file,
                  t->server_name.empty() ? "" : ", name " + t->server_name,
                  t->client_loaded ? ", client certificate " + t->client.cert : "");
    }
    return t->context;
}

}  // namespace

std::uint32_t StableKeys::key_for(const std::string& name) {
    auto [it, inserted] = keys_.try_emplace(name, static_cast<std::uint32_t>(names_.size()));
    if (inserted) names_.push_back(name);
    return it->second;
}

std::uint32_t StatKeys::key_for(const std::string& name) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    std::uint32_t index;
    if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
    } else {
        index = static_cast<std::uint32_t>(names_.size());
        if (index > routing::stat_index_mask) throw std::length_error("too many statistics slots");
        names_.emplace_back();
        generation_.push_back(0);
    }
    // Generations 1..max, then around again: an exchange would have to
    // outlive that many reuses of one index to be counted in the wrong pair.
    generation_[index] = generation_[index] % routing::stat_max_generation + 1;
    names_[index] = name;
    const std::uint32_t id = routing::make_stat_id(index, generation_[index]);
    ids_.emplace(name, id);
    return id;
}

void StatKeys::retain(const std::vector<std::uint32_t>& live) {
    std::vector<bool> keep(names_.size(), false);
    for (std::uint32_t id : live) {
        const std::uint32_t i = routing::stat_index(id);
        if (i < keep.size()) keep[i] = true;
    }
    for (auto it = ids_.begin(); it != ids_.end();) {
        const std::uint32_t i = routing::stat_index(it->second);
        if (keep[i]) {
            ++it;
            continue;
        }
        names_[i].clear();
        names_[i].shrink_to_fit();
        free_.push_back(i);
        it = ids_.erase(it);
    }
}

const std::string* StatKeys::name_of(std::uint32_t id) const {
    const std::uint32_t i = routing::stat_index(id);
    if (id == routing::no_stat || i >= names_.size() || names_[i].empty() ||
        routing::make_stat_id(i, generation_[i]) != id)
        return nullptr;
    return &names_[i];
}

std::string stat_name(const std::string& route, const std::string& pool) { return route + "\n" + pool; }

std::vector<boost::asio::ip::tcp::endpoint> AddressBook::lookup(const config::HostPort& hp, bool fresh, std::string& error) {
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

namespace {

// A listener's connection settings; for TLS, the contexts its certificates
// (read and checked at load) serve with.
routing::ListenerSettings listener_settings(const config::ListenerConfig& l, std::vector<std::string>& errors) {
    routing::ListenerSettings out;
    out.name = l.name;
    out.keep_underscores = l.underscores_in_headers;
    out.http2 = l.http2;
    if (!l.tls) return out;
    if (!l.tls->context) {
        tls::ServerSettings settings;
        settings.certificates = l.tls->loaded;
        settings.min_version = l.tls->min_version == "1.3" ? tls::MinVersion::tls1_3 : tls::MinVersion::tls1_2;
        settings.client_ca_file = l.tls->client_ca;
        if (l.http2) settings.alpn = {"h2", "http/1.1"};
        std::string error;
        l.tls->context = tls::ServerContext::create(settings, error);
        if (!l.tls->context) {
            errors.push_back("listener " + l.name + ": TLS: " + error);
            return out;
        }
        for (const auto& cert : settings.certificates) {
            log::info("tls", "listener {}: {} ({}) serves {}; expires {:%Y-%m-%d %H:%M:%S} UTC", l.name,
                      cert->cert_file, cert->key_type, fmt::join(cert->names, ", "),
                      fmt::gmtime(static_cast<std::time_t>(cert->not_after)));
        }
    }
    out.tls = l.tls->context;
    out.handshakes = tls::handshake_counts(l.name);
    return out;
}

}  // namespace

BuildResult build_snapshot(const config::Config& config, std::uint64_t version, StableKeys& keys, StatKeys& stat_keys,
                           AddressBook& book, bool fresh) {
    BuildResult result;
    auto snap = std::make_shared<routing::Snapshot>();
    snap->version = version;
    snap->limits.max_header_bytes = config.limits.max_header_bytes;
    snap->limits.max_body_bytes = config.limits.max_body_bytes;
    snap->limits.header_timeout = config.limits.header_timeout;
    snap->limits.idle_timeout = config.limits.idle_timeout;
    snap->limits.max_connections = config.limits.max_connections;
    snap->limits.max_via_hops = config.limits.max_via_hops;
    // Validated at load: every entry parses.
    for (const auto& t : config.trusted_proxies) snap->trusted_proxies.add(routing::parse_cidr(t).value);
    for (const auto& l : config.listeners) snap->listeners.push_back(listener_settings(l, result.errors));

    for (const config::PoolConfig& pc : config.pools) {
        routing::Pool pool;
        pool.name = pc.name;
        pool.protocol = pc.protocol;
        pool.grpc_error_codes = pc.grpc_error_codes;
        pool.upstream.connect_timeout = pc.upstream.connect_timeout;
        pool.upstream.response_timeout = pc.upstream.response_timeout;
        pool.upstream.max_idle_per_endpoint = pc.upstream.max_idle_per_endpoint;
        pool.upstream.idle_timeout = pc.upstream.idle_timeout;
        pool.upstream.max_response_header_bytes = pc.upstream.max_response_header_bytes;
        pool.upstream.max_response_headers = pc.upstream.max_response_headers;
        pool.upstream.tls = upstream_tls(pc, result.errors);
        if (pool.upstream.tls) pool.upstream.handshakes = tls::upstream_handshake_counts(pc.name);
        for (const config::EndpointConfig& ec : pc.endpoints) {
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
                ep.host = tls::lower_name(ec.address.host);
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

    for (const config::RouteConfig& rc : config.routes) {
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
            for (const config::AttributeMatchConfig& h : rc.match.headers)
                route.header_matchers.push_back(std::make_shared<routing::ValueMatcher>(h.source, h.name, h.match));
            for (const config::RuleConfig& r : rc.rules) {
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
        // Slots only for the pools this route can send to: its split, its
        // rules (and, on failover, the split again).
        route.pool_stat.assign(snap->pools.size(), routing::no_stat);
        auto give_slot = [&](std::size_t p) {
            if (route.pool_stat[p] != routing::no_stat) return;
            route.pool_stat[p] = stat_keys.key_for(stat_name(rc.name, snap->pools[p].name));
            snap->live_stats.push_back(route.pool_stat[p]);
        };
        for (std::size_t p : route.pools) give_slot(p);
        for (const auto& rule : route.rules) give_slot(rule.pool);
        route.no_pool_stat = stat_keys.key_for(stat_name(rc.name, "none"));
        snap->live_stats.push_back(route.no_pool_stat);
        route.on_unhealthy = rc.on_pool_unhealthy;
        route.tunnel = rc.tunnel;
        snap->routes.push_back(std::move(route));
    }
    snap->finalize();
    snap->endpoint_key_limit = keys.limit();
    snap->unrouted_stat = stat_keys.key_for(stat_name("none", "none"));
    snap->live_stats.push_back(snap->unrouted_stat);
    snap->max_statistics_bytes = config.limits.max_statistics_bytes;
    snap->drain_timeout = config.drain_timeout;
    if (!config.access_log.path.empty()) {
        // Opened at every build: a reload after log rotation writes to the new file.
        std::string error;
        snap->access_log = LogFile::open(config.access_log.path, error);
        if (!snap->access_log)
            result.errors.push_back("access_log: cannot open " + config.access_log.path + ": " + error);
    }
    if (result.errors.empty()) result.snapshot = std::move(snap);
    return result;
}

}  // namespace weir::control
