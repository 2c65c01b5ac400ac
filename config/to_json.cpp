#include "config/to_json.hpp"

#include <boost/json.hpp>

#include <cmath>

namespace weir::config {
namespace json = boost::json;

json::value json_number(double w) {
    if (std::nearbyint(w) == w && std::fabs(w) < 9e15) return static_cast<std::int64_t>(w);
    return w;
}

namespace {

json::value weight(double w) { return json_number(w); }

// `false`, or the settings as a mapping (the file form that loads back).
json::value upstream_tls(const std::optional<UpstreamTlsConfig>& tls) {
    if (!tls) return false;
    json::object out{{"verify", tls->verify}};
    if (!tls->ca_file.empty()) out["ca_file"] = tls->ca_file;
    if (!tls->server_name.empty()) out["server_name"] = tls->server_name;
    if (!tls->client.cert.empty()) {
        out["cert"] = tls->client.cert;
        out["key"] = tls->client.key;
    }
    return out;
}

json::object upstream(const UpstreamConfig& u) {
    return {{"connect_timeout", format_duration(u.connect_timeout)},
            {"response_timeout", format_duration(u.response_timeout)},
            {"tls", upstream_tls(u.tls)},
            {"max_idle_per_endpoint", u.max_idle_per_endpoint},
            {"idle_timeout", format_duration(u.idle_timeout)},
            {"max_response_header_bytes", u.max_response_header_bytes},
            {"max_response_headers", u.max_response_headers}};
}

json::object pool(const PoolConfig& p) {
    json::array endpoints;
    for (const auto& e : p.endpoints) {
        endpoints.push_back(json::object{{"address", e.address.text()}, {"weight", weight(e.weight)}});
    }
    json::array grpc_error_codes;
    for (int code = 1; code <= routing::max_grpc_status; ++code)
        if ((p.grpc_error_codes & routing::grpc_status_bit(code)) != 0)
            grpc_error_codes.emplace_back(routing::grpc_status_name(code));
    json::object out{{"name", p.name},
                     {"endpoints", std::move(endpoints)},
                     {"protocol", p.protocol == routing::UpstreamProtocol::h2 ? "h2" : "http1"},
                     {"grpc_error_codes", std::move(grpc_error_codes)},
                     {"upstream", upstream(p.upstream)}};
    if (p.health_check) {
        const auto& h = *p.health_check;
        json::object hc{{"type", h.type == health::CheckType::grpc ? "grpc" : "http"}};
        if (h.type == health::CheckType::grpc) {
            hc["service"] = h.service;
        } else {
            hc["path"] = h.path;
            hc["expect_status"] = json::array{h.expect_min, h.expect_max};
        }
        hc["interval"] = format_duration(h.interval);
        hc["timeout"] = format_duration(h.timeout);
        hc["healthy_threshold"] = h.healthy_threshold;
        hc["unhealthy_threshold"] = h.unhealthy_threshold;
        out["health_check"] = std::move(hc);
    }
    if (p.outlier) {
        out["outlier"] = json::object{{"consecutive_failures", p.outlier->consecutive_failures},
                                      {"ejection_time", format_duration(p.outlier->ejection_time)},
                                      {"max_ejection_time", format_duration(p.outlier->max_ejection_time)}};
    }
    return out;
}

// The test of a matcher, spelled as in the file: {"exact": "v"}, {"in": [...]}.
void put_test(json::object& o, const routing::MatchSpec& m) {
    switch (m.kind) {
        case routing::MatchKind::exact:
        case routing::MatchKind::prefix:
        case routing::MatchKind::regex:
            o[routing::kind_name(m.kind)] = m.value;
            break;
        case routing::MatchKind::present:
            o["present"] = m.present;
            break;
        case routing::MatchKind::in: {
            json::array values;
            for (const auto& v : m.values) values.emplace_back(v);
            o["in"] = std::move(values);
            break;
        }
    }
}

}  // namespace

json::object route_to_json(const RouteConfig& r) {
    // An object keeps insertion order, so the split reads in file order.
    json::object split;
    for (const auto& [pool_name, w] : r.split) split[pool_name] = weight(w);
    json::object match{{"host", r.match.host}, {"path_prefix", r.match.path_prefix}};
    if (!r.match.headers.empty()) {
        json::array headers;
        for (const auto& h : r.match.headers) {
            json::object o{{"name", h.name}};
            put_test(o, h.match);
            headers.push_back(std::move(o));
        }
        match["headers"] = std::move(headers);
    }
    json::array rules;
    for (const auto& rule : r.rules) {
        json::object o{{routing::source_name(rule.when.source), rule.when.name}};
        put_test(o, rule.when.match);
        o["pool"] = rule.pool;
        rules.push_back(std::move(o));
    }
    json::object out{{"name", r.name},
                     {"match", std::move(match)},
                     {"split", std::move(split)},
                     {"rules", std::move(rules)},
                     {"on_pool_unhealthy", r.on_pool_unhealthy == OnPoolUnhealthy::fail ? "fail" : "shift"}};
    json::array upgrade;
    for (const auto& p : r.tunnel.upgrade) upgrade.push_back(json::string(p));
    out["upgrade"] = std::move(upgrade);
    out["tunnel_idle_timeout"] = format_duration(r.tunnel.idle_timeout);
    if (r.tunnel.max_age.count() > 0) out["max_tunnel_age"] = format_duration(r.tunnel.max_age);
    if (r.rollout) {
        const RolloutConfig& ro = *r.rollout;
        json::array steps;
        for (double s : ro.steps) steps.push_back(weight(s));
        out["rollout"] = json::object{{"canary", ro.canary},
                                      {"baseline", ro.baseline},
                                      {"steps", std::move(steps)},
                                      {"step_min_duration", format_duration(ro.step_min_duration)},
                                      {"step_max_duration", format_duration(ro.step_max_duration)},
                                      {"min_samples", ro.min_samples},
                                      {"max_latency_ratio", ro.max_latency_ratio},
                                      {"max_error_rate_increase", ro.max_error_rate_increase},
                                      {"min_latency_difference", std::to_string(ro.min_latency_difference.count()) + "us"},
                                      {"on_inconclusive", ro.on_inconclusive == rollout::OnInconclusive::rollback ? "rollback" : "hold"}};
    }
    // Absent rather than null, so the output reads back as the same file.
    if (r.sticky) {
        json::object s{{routing::source_name(r.sticky->source), r.sticky->name}};
        if (r.sticky->assign) {
            s["assign"] = true;
            s["max_age"] = format_duration(r.sticky->max_age);
        }
        out["sticky"] = std::move(s);
    }
    return out;
}

namespace {
json::object route(const RouteConfig& r) { return route_to_json(r); }
}  // namespace

std::string to_json(const Config& config, std::uint64_t version) {
    json::object out;
    out["version"] = version;
    out["source"] = config.source_path;
    // 0 means "not written: one per CPU"; the file cannot say 0 (1..256), so
    // showing it would make GET /config's answer an invalid configuration.
    if (config.workers > 0) out["workers"] = config.workers;
    out["drain_timeout"] = format_duration(config.drain_timeout);
    if (!config.state_file.empty()) out["state_file"] = config.state_file;

    if (!config.trusted_proxies.empty()) {
        json::array trusted;
        for (const auto& t : config.trusted_proxies) trusted.emplace_back(t);
        out["trusted_proxies"] = std::move(trusted);
    }
    json::array listeners;
    for (const auto& l : config.listeners) {
        json::object listener{
            {"name", l.name}, {"address", l.address.text()}, {"underscores_in_headers", l.underscores_in_headers},
            {"http2", l.http2}};
        if (l.tls) {
            json::array certificates;
            for (const auto& c : l.tls->certificates) certificates.push_back(json::object{{"cert", c.cert}, {"key", c.key}});
            json::object tls{{"certificates", std::move(certificates)}, {"min_version", l.tls->min_version}};
            if (!l.tls->client_ca.empty()) tls["client_ca"] = l.tls->client_ca;
            listener["tls"] = std::move(tls);
        }
        listeners.push_back(std::move(listener));
    }
    out["listeners"] = std::move(listeners);

    json::object admin{{"address", config.admin.address.text()}};
    if (!config.admin.token_file.empty()) admin["token_file"] = config.admin.token_file;
    out["admin"] = std::move(admin);
    if (config.cluster) {
        const ClusterConfig& c = *config.cluster;
        json::array etcd;
        for (const auto& e : c.etcd) etcd.emplace_back(e);
        json::object cluster{{"etcd", std::move(etcd)}, {"prefix", c.prefix}, {"lease", format_duration(c.lease)}};
        // The password itself is never shown, only where it is read from.
        if (!c.username.empty()) cluster["username"] = c.username;
        if (!c.password_file.empty()) cluster["password_file"] = c.password_file;
        if (c.advertise.port != 0) cluster["advertise"] = c.advertise.text();
        if (!c.name.empty()) cluster["name"] = c.name;
        out["cluster"] = std::move(cluster);
    }
    if (!config.access_log.path.empty()) out["access_log"] = json::object{{"path", config.access_log.path}};

    const auto& lim = config.limits;
    out["limits"] = json::object{{"max_header_bytes", lim.max_header_bytes},
                                 {"max_body_bytes", lim.max_body_bytes},
                                 {"header_timeout", format_duration(lim.header_timeout)},
                                 {"idle_timeout", format_duration(lim.idle_timeout)},
                                 {"max_connections", lim.max_connections},
                                 {"max_statistics_bytes", lim.max_statistics_bytes},
                                 {"max_via_hops", lim.max_via_hops}};

    json::array pools;
    for (const auto& p : config.pools) pools.push_back(pool(p));
    out["pools"] = std::move(pools);

    json::array routes;
    for (const auto& r : config.routes) routes.push_back(route(r));
    out["routes"] = std::move(routes);
    return json::serialize(out);
}

}  // namespace weir::config
