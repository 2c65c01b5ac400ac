#include "control/config_json.hpp"

#include <boost/json.hpp>

#include <cmath>

namespace weir::control {
namespace json = boost::json;

json::value json_number(double w) {
    if (std::nearbyint(w) == w && std::fabs(w) < 9e15) return static_cast<std::int64_t>(w);
    return w;
}

namespace {

json::value weight(double w) { return json_number(w); }

json::object upstream(const UpstreamConfig& u) {
    return {{"connect_timeout", format_duration(u.connect_timeout)},
            {"response_timeout", format_duration(u.response_timeout)},
            {"tls", u.tls},
            {"max_idle_per_endpoint", u.max_idle_per_endpoint}};
}

json::object pool(const PoolConfig& p) {
    json::array endpoints;
    for (const auto& e : p.endpoints) {
        endpoints.push_back(json::object{{"address", e.address.text()}, {"weight", weight(e.weight)}});
    }
    return {{"name", p.name}, {"endpoints", std::move(endpoints)}, {"upstream", upstream(p.upstream)}};
}

json::object route(const RouteConfig& r) {
    // An object keeps insertion order, so the split reads in file order.
    json::object split;
    for (const auto& [pool_name, w] : r.split) split[pool_name] = weight(w);
    return {{"name", r.name},
            {"match", json::object{{"host", r.match.host}, {"path_prefix", r.match.path_prefix}}},
            {"split", std::move(split)}};
}

}  // namespace

std::string to_json(const Config& config, std::uint64_t version) {
    json::object out;
    out["version"] = version;
    out["source"] = config.source_path;
    out["workers"] = config.workers;
    out["drain_timeout"] = format_duration(config.drain_timeout);
    if (!config.state_file.empty()) out["state_file"] = config.state_file;

    json::array listeners;
    for (const auto& l : config.listeners) {
        listeners.push_back(json::object{{"name", l.name}, {"address", l.address.text()}});
    }
    out["listeners"] = std::move(listeners);

    json::object admin{{"address", config.admin.address.text()}};
    if (!config.admin.token_file.empty()) admin["token_file"] = config.admin.token_file;
    out["admin"] = std::move(admin);
    if (!config.access_log.path.empty()) out["access_log"] = json::object{{"path", config.access_log.path}};

    const auto& lim = config.limits;
    out["limits"] = json::object{{"max_header_bytes", lim.max_header_bytes},
                                 {"max_body_bytes", lim.max_body_bytes},
                                 {"header_timeout", format_duration(lim.header_timeout)},
                                 {"idle_timeout", format_duration(lim.idle_timeout)},
                                 {"max_connections", lim.max_connections}};

    json::array pools;
    for (const auto& p : config.pools) pools.push_back(pool(p));
    out["pools"] = std::move(pools);

    json::array routes;
    for (const auto& r : config.routes) routes.push_back(route(r));
    out["routes"] = std::move(routes);
    return json::serialize(out);
}

}  // namespace weir::control
