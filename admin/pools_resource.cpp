// Pools and their endpoints: health, ejection, load; replacing a pool's
// endpoint list, and draining or undraining one endpoint.
#include "admin/bodies.hpp"
#include "admin/resources.hpp"
#include "admin/status.hpp"
#include "config/to_json.hpp"
#include "control/control_plane.hpp"
#include "health/health_manager.hpp"

#include <boost/json.hpp>

namespace weir::admin {
namespace {

namespace json = boost::json;

json::object pool_json(AdminContext& ctx, const routing::Pool& p, const std::vector<proxy::EndpointLoad>& load) {
    json::array endpoints;
    const auto now = health::Clock::now();
    for (const auto& e : p.endpoints) {
        auto st = ctx.control.health().status(p.name, e.name);
        json::object o{{"address", e.name},
                       {"weight", config::json_number(e.weight)},
                       {"healthy", st.healthy},
                       {"ejected", st.ejected},
                       {"refusing", st.refusing},
                       {"draining", e.draining},
                       {"eligible", e.eligible()},
                       {"in_flight", e.key < load.size() ? load[e.key].in_flight : 0},
                       {"tunnels", e.key < load.size() ? load[e.key].tunnels : 0},
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
}

const routing::Pool* find(const routing::Snapshot& snap, const std::string& name) {
    for (const auto& p : snap.pools) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

AdminResponse no_pool(const std::string& name) { return json_error(404, "no pool '" + name + "'"); }

// After an edit: the pool as now in force.
AdminResponse pool_after(AdminContext& ctx, const std::string& name, const Result& outcome) {
    if (!outcome.ok()) return error_response(outcome);
    const routing::SnapshotPtr snap = ctx.control.current();
    const routing::Pool* p = find(*snap, name);
    if (!p) return no_pool(name);
    return json_ok(pool_json(ctx, *p, ctx.load()));
}

void add_drain_route(AdminRouter& router, AdminContext& ctx, bool drain) {
    router.add({"POST", drain ? "/pools/{pool}/endpoints/{endpoint}/drain" : "/pools/{pool}/endpoints/{endpoint}/undrain",
                nullptr, false, false, [&ctx, drain](const AdminCall& call, AdminServer::Reply reply) {
                    const std::string& name = call.params[0];
                    if (!find(*ctx.control.current(), name)) return reply(no_pool(name));
                    const std::string& endpoint = call.params[1];
                    auto done = [&ctx, name, reply](Result outcome) { reply(pool_after(ctx, name, outcome)); };
                    if (drain) ctx.control.drain(name, endpoint, std::move(done));
                    else ctx.control.undrain(name, endpoint, std::move(done));
                }});
}

}  // namespace

void add_pool_routes(AdminRouter& router, AdminContext& ctx) {
    router.add({"GET", "/pools", [&ctx](const AdminCall&) {
                    const routing::SnapshotPtr snap = ctx.control.current();
                    auto load = ctx.load();
                    json::array pools;
                    for (const auto& p : snap->pools) pools.push_back(pool_json(ctx, p, load));
                    return json_ok(json::object{{"pools", std::move(pools)}, {"version", ctx.control.version()}});
                }});
    router.add({"GET", "/pools/{pool}", [&ctx](const AdminCall& call) {
                    const routing::SnapshotPtr snap = ctx.control.current();
                    const routing::Pool* p = find(*snap, call.params[0]);
                    if (!p) return no_pool(call.params[0]);
                    return json_ok(pool_json(ctx, *p, ctx.load()));
                }});
    router.add({"PUT", "/pools/{pool}/endpoints", nullptr, false, false,
                [&ctx](const AdminCall& call, AdminServer::Reply reply) {
                    const std::string& name = call.params[0];
                    if (!find(*ctx.control.current(), name)) return reply(no_pool(name));
                    auto endpoints = parse_endpoints_body(call.request.body);
                    if (!endpoints.value) return reply(json_error(400, endpoints.error));
                    ctx.control.set_endpoints(name, *endpoints.value, std::nullopt,
                                              [&ctx, name, reply](Result outcome) { reply(pool_after(ctx, name, outcome)); });
                }});
    add_drain_route(router, ctx, true);
    add_drain_route(router, ctx, false);
}

}  // namespace weir::admin
