#include "control/admin_api.hpp"

#include "common/log.hpp"
#include "control/admin_bodies.hpp"
#include "control/admin_guard.hpp"
#include "control/config_json.hpp"
#include "control/control_plane.hpp"
#include "control/rollout_driver.hpp"
#include "health/health_manager.hpp"
#include "telemetry/metrics.hpp"

#include <boost/json.hpp>

namespace weir::control {
namespace {

namespace json = boost::json;

AdminResponse json_ok(const json::value& v, int status = 200) { return {status, json::serialize(v), {}}; }

AdminResponse method_not_allowed(std::string allow) {
    AdminResponse r = json_error(405, "method not allowed; use " + allow);
    r.headers["allow"] = std::move(allow);
    return r;
}

// "%5B%3A%3A1%5D" -> "[::1]": endpoint addresses travel in paths.
std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto hex = [](char c) {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        if (j > i) parts.push_back(percent_decode(std::string_view(path).substr(i, j - i)));
        i = j + 1;
    }
    return parts;
}

json::object split_json(const Split& split) {
    json::object o;
    for (const auto& [pool, w] : split) o[pool] = json_number(w);
    return o;
}

json::object route_json(const RouteConfig& effective, const RouteConfig& file, const RuntimeState& state,
                        std::uint64_t version, const RolloutDriver* rollouts) {
    json::object o = route_to_json(effective);
    o["file_split"] = split_json(file.split);
    o["override"] = state.routes.count(effective.name) > 0;
    double total = 0;
    for (const auto& [_, w] : effective.split) total += w;
    json::object shares;
    for (const auto& [pool, w] : effective.split) shares[pool] = total > 0 ? w / total : 0.0;
    o["shares"] = std::move(shares);
    if (!o.contains("sticky")) o["sticky"] = nullptr;
    std::optional<json::object> rollout;
    if (rollouts) rollout = rollouts->summary(effective.name);
    if (rollout) o["rollout_state"] = std::move(*rollout);
    if (!o.contains("rollout")) o["rollout"] = nullptr;
    o["version"] = version;
    return o;
}

std::string etag(std::uint64_t version) { return "\"" + std::to_string(version) + "\""; }

// If-Match holds "*" or a list of entity tags; weak tags compare by value.
bool if_match_ok(const AdminRequest& r, std::uint64_t version) {
    auto it = r.headers.find("if-match");
    if (it == r.headers.end()) return true;
    std::string_view v = it->second;
    const std::string current = std::to_string(version);
    while (!v.empty()) {
        std::size_t comma = v.find(',');
        std::string_view tag = v.substr(0, comma);
        while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
        while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
        if (tag == "*") return true;
        if (tag.starts_with("W/")) tag.remove_prefix(2);
        if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
        if (tag == current) return true;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    return false;
}

AdminResponse outcome_response(const ControlPlane::Outcome& o, const json::value& ok_body) {
    if (o.status >= 300) return json_error(o.status, o.error);
    return json_ok(ok_body);
}

}  // namespace

bool secret_equals(std::string_view presented, std::string_view expected) {
    unsigned char diff = presented.size() != expected.size() ? 1 : 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
        diff |= static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
    }
    return diff == 0;
}

AdminApi::AdminApi(ControlPlane& control, telemetry::Metrics& metrics, std::function<bool()> ready,
                   std::function<std::vector<proxy::EndpointLoad>()> load)
    : control_(control), metrics_(metrics), ready_(std::move(ready)), load_(std::move(load)) {}

bool AdminApi::authorized(const AdminRequest& r) const {
    const std::string& token = control_.admin_token();
    if (token.empty()) return true;
    auto it = r.headers.find("authorization");
    if (it == r.headers.end()) return false;
    std::string_view v = it->second;
    constexpr std::string_view scheme = "Bearer ";
    if (v.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(v[i])) != std::tolower(static_cast<unsigned char>(scheme[i])))
            return false;
    }
    return secret_equals(v.substr(scheme.size()), token);
}

AdminResponse AdminApi::handle(const AdminRequest& r) {
    const bool open = r.path == "/healthz" || r.path == "/ready" || r.path == "/metrics";
    const bool mutation = r.method != "GET" && r.method != "HEAD";
    AdminResponse resp;
    // Refused before any resource saw it; logged below also for reads.
    bool refused = false;
    if (!open) {
        if (auto no = browser_guard(r, !control_.admin_token().empty())) {
            resp = json_error(no->status, no->reason);
            refused = true;
        } else if (!authorized(r)) {
            resp = json_error(401, "missing or wrong bearer token");
            resp.headers["www-authenticate"] = "Bearer";
            refused = true;
        }
    }
    if (!refused) resp = dispatch(r);
    if (mutation || refused) {
        // The audit trail: who asked for which change, and what came of it.
        if (resp.status < 300) {
            log::info("admin", "{} {} {} -> {}", r.peer, r.method, r.path, resp.status);
        } else {
            std::string error;
            boost::system::error_code ec;
            auto v = json::parse(resp.body, ec);
            if (!ec && v.is_object() && v.as_object().contains("error")) error = json::value_to<std::string>(v.at("error"));
            log::warn("admin", "{} {} {} -> {}: {}", r.peer, r.method, r.path, resp.status, error);
        }
    }
    return resp;
}

AdminResponse AdminApi::dispatch(const AdminRequest& r) {
    const auto parts = split_path(r.path);
    if (r.path == "/healthz") {
        if (r.method != "GET") return method_not_allowed("GET");
        return json_ok(json::object{{"status", "ok"}});
    }
    if (r.path == "/ready") {
        if (r.method != "GET") return method_not_allowed("GET");
        if (!ready_()) return json_ok(json::object{{"status", "not ready"}}, 503);
        return json_ok(json::object{{"status", "ready"}});
    }
    if (r.path == "/metrics") {
        if (r.method != "GET") return method_not_allowed("GET");
        AdminResponse resp{200, metrics_.scrape(), {}};
        resp.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
        return resp;
    }
    if (r.path == "/config") {
        if (r.method != "GET") return method_not_allowed("GET");
        AdminResponse resp{200, to_json(control_.effective_config(), control_.version()), {}};
        resp.headers["etag"] = etag(control_.version());
        return resp;
    }
    if (r.path == "/reload") {
        if (r.method != "POST") return method_not_allowed("POST");
        auto out = control_.reload("POST /reload from " + r.peer);
        if (!out.ok) {
            json::array errors;
            for (const auto& e : out.errors) errors.emplace_back(e);
            return json_ok(json::object{{"error", "reload failed; the previous configuration stays in force"},
                                        {"errors", std::move(errors)},
                                        {"version", control_.version()}},
                           400);
        }
        return json_ok(json::object{{"status", "reloaded"}, {"version", control_.version()}});
    }
    if (!parts.empty() && parts[0] == "routes") return routes_resource(r, parts);
    if (!parts.empty() && parts[0] == "pools") return pools_resource(r, parts);
    return json_error(404, "no such admin resource: " + r.path);
}

AdminResponse AdminApi::routes_resource(const AdminRequest& r, const std::vector<std::string>& parts) {
    const Config effective = control_.effective_config();
    const std::uint64_t version = control_.version();
    auto find_effective = [&](const std::string& name) -> const RouteConfig* {
        for (const RouteConfig& rc : effective.routes) {
            if (rc.name == name) return &rc;
        }
        return nullptr;
    };
    if (parts.size() == 1) {
        if (r.method != "GET") return method_not_allowed("GET");
        json::array routes;
        for (const RouteConfig& rc : effective.routes)
            routes.push_back(route_json(rc, *control_.find_route(rc.name), control_.state(), version, rollouts_));
        AdminResponse resp = json_ok(json::object{{"routes", std::move(routes)}, {"version", version}});
        resp.headers["etag"] = etag(version);
        return resp;
    }
    const std::string& name = parts[1];
    const RouteConfig* route = find_effective(name);
    if (!route) return json_error(404, "no route '" + name + "'");

    auto route_body = [&]() {
        // Read back after the change so the answer shows what is now in force.
        Config now = control_.effective_config();
        for (const RouteConfig& rc : now.routes) {
            if (rc.name == name)
                return json::value(route_json(rc, *control_.find_route(name), control_.state(), control_.version(), rollouts_));
        }
        return json::value(nullptr);
    };
    auto with_etag = [&](AdminResponse resp) {
        if (resp.status < 300) resp.headers["etag"] = etag(control_.version());
        return resp;
    };

    if (parts.size() == 2) {
        if (r.method != "GET") return method_not_allowed("GET");
        return with_etag(json_ok(route_json(*route, *control_.find_route(name), control_.state(), version, rollouts_)));
    }
    // While a rollout runs, it owns the split: a hand edit would leave the
    // route and the judge disagreeing about the canary's share.
    auto rollout_owns_split = [&] {
        return rollouts_ && rollouts_->controls_split(name)
                   ? std::optional<AdminResponse>(json_error(
                         409, "route '" + name + "' has a rollout in progress; pause is not enough: promote or roll it back first"))
                   : std::nullopt;
    };
    if (parts.size() == 3 && parts[2] == "split") {
        if (r.method == "PUT" || r.method == "DELETE") {
            if (auto busy = rollout_owns_split()) return *busy;
        }
        if (r.method == "PUT") {
            auto split = parse_split_body(r.body);
            if (!split.value) return json_error(400, split.error);
            if (!if_match_ok(r, version)) return json_error(412, "If-Match does not match config version " + etag(version));
            auto outcome = control_.set_split(name, *split.value);
            return with_etag(outcome_response(outcome, route_body()));
        }
        if (r.method == "DELETE") {
            if (!if_match_ok(r, version)) return json_error(412, "If-Match does not match config version " + etag(version));
            auto outcome = control_.clear_split(name);
            return with_etag(outcome_response(outcome, route_body()));
        }
        return method_not_allowed("PUT, DELETE");
    }
    if (parts.size() >= 3 && parts[2] == "rollout") {
        if (!rollouts_) return json_error(404, "no rollouts");
        if (parts.size() == 3) {
            if (r.method != "GET") return method_not_allowed("GET");
            auto d = rollouts_->describe(name);
            if (!d) return json_error(404, "route '" + name + "' has no rollout configured");
            return json_ok(*d);
        }
        if (parts.size() == 4) {
            if (r.method != "POST") return method_not_allowed("POST");
            auto outcome = rollouts_->command(name, parts[3]);
            if (outcome.status >= 300) return json_error(outcome.status, outcome.error);
            return with_etag(json_ok(*rollouts_->describe(name)));
        }
    }
    if (parts.size() == 3 && parts[2] == "switch") {
        if (r.method != "POST") return method_not_allowed("POST");
        if (auto busy = rollout_owns_split()) return *busy;
        auto pool = parse_switch_body(r.body);
        if (!pool.value) return json_error(400, pool.error);
        if (!if_match_ok(r, version)) return json_error(412, "If-Match does not match config version " + etag(version));
        auto outcome = control_.switch_to(name, *pool.value);
        return with_etag(outcome_response(outcome, route_body()));
    }
    return json_error(404, "no such admin resource: " + r.path);
}

AdminResponse AdminApi::pools_resource(const AdminRequest& r, const std::vector<std::string>& parts) {
    const routing::SnapshotPtr& snap = control_.current();
    auto pool_json = [&](const routing::Pool& p, const std::vector<proxy::EndpointLoad>& load) {
        json::array endpoints;
        const auto now = health::Clock::now();
        for (const auto& e : p.endpoints) {
            auto st = control_.health().status(p.name, e.name);
            json::object o{{"address", e.name},
                           {"weight", json_number(e.weight)},
                           {"healthy", st.healthy},
                           {"ejected", st.ejected},
                           {"refusing", st.refusing},
                           {"draining", e.draining},
                           {"eligible", e.eligible()},
                           {"in_flight", e.key < load.size() ? load[e.key].in_flight : 0},
                           {"requests", e.key < load.size() ? load[e.key].requests : 0},
                           {"last_check", st.last_check}};
            if (st.ejected) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(st.ejected_until - now).count();
                o["ejected_for_ms"] = left > 0 ? left : 0;
            }
            if (st.refusing) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(st.refusing_until - now).count();
                o["refusing_for_ms"] = left > 0 ? left : 0;
            }
            endpoints.push_back(std::move(o));
        }
        return json::object{{"name", p.name}, {"available", p.available}, {"endpoints", std::move(endpoints)}};
    };
    if (parts.size() == 1) {
        if (r.method != "GET") return method_not_allowed("GET");
        auto load = load_();
        json::array pools;
        for (const auto& p : snap->pools) pools.push_back(pool_json(p, load));
        return json_ok(json::object{{"pools", std::move(pools)}, {"version", control_.version()}});
    }
    const std::string& name = parts[1];
    const routing::Pool* pool = nullptr;
    for (const auto& p : snap->pools) {
        if (p.name == name) pool = &p;
    }
    if (!pool) return json_error(404, "no pool '" + name + "'");
    if (parts.size() == 2) {
        if (r.method != "GET") return method_not_allowed("GET");
        return json_ok(pool_json(*pool, load_()));
    }
    auto pool_after = [&](const ControlPlane::Outcome& o) {
        if (o.status >= 300) return json_error(o.status, o.error);
        for (const auto& p : control_.current()->pools) {
            if (p.name == name) return json_ok(pool_json(p, load_()));
        }
        return json_error(404, "no pool '" + name + "'");
    };
    if (parts.size() == 3 && parts[2] == "endpoints") {
        if (r.method != "PUT") return method_not_allowed("PUT");
        auto endpoints = parse_endpoints_body(r.body);
        if (!endpoints.value) return json_error(400, endpoints.error);
        return pool_after(control_.set_endpoints(name, *endpoints.value));
    }
    if (parts.size() == 5 && parts[2] == "endpoints" && (parts[4] == "drain" || parts[4] == "undrain")) {
        if (r.method != "POST") return method_not_allowed("POST");
        auto outcome = parts[4] == "drain" ? control_.drain(name, parts[3]) : control_.undrain(name, parts[3]);
        return pool_after(outcome);
    }
    return json_error(404, "no such admin resource: " + r.path);
}

}  // namespace weir::control
