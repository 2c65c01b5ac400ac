// Routes: what each splits over now, and the operator's edits of a split
// (set, clear, switch all traffic to one pool). While a rollout runs it owns
// the split, and hand edits are refused.
#include "admin/bodies.hpp"
#include "admin/resources.hpp"
#include "admin/status.hpp"
#include "config/to_json.hpp"
#include "control/control_plane.hpp"
#include "control/rollout_driver.hpp"

#include <boost/json.hpp>

namespace weir::admin {
namespace {

namespace json = boost::json;
using config::Config;
using config::RouteConfig;

json::object split_json(const control::Split& split) {
    json::object o;
    for (const auto& [pool, w] : split) o[pool] = config::json_number(w);
    return o;
}

json::object route_json(const config::RouteConfig& effective, const config::RouteConfig& file, const control::RuntimeState& state,
                        std::uint64_t version, const control::RolloutDriver* rollouts) {
    json::object o = config::route_to_json(effective);
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

// The route as it is in force now, or nullptr.
const config::RouteConfig* find(const config::Config& effective, const std::string& name) {
    for (const config::RouteConfig& rc : effective.routes) {
        if (rc.name == name) return &rc;
    }
    return nullptr;
}

AdminResponse no_route(const std::string& name) { return json_error(404, "no route '" + name + "'"); }

// After an edit: the route as now in force, with the new version's tag.
AdminResponse route_after(AdminContext& ctx, const std::string& name, const Result& outcome) {
    if (!outcome.ok()) return error_response(outcome);
    const config::Config now = ctx.control.effective_config();
    const config::RouteConfig* rc = find(now, name);
    AdminResponse resp = json_ok(rc ? json::value(route_json(*rc, *ctx.control.find_route(name), ctx.control.state(),
                                                             ctx.control.etag_version(), ctx.rollouts))
                                    : json::value(nullptr));
    resp.headers["etag"] = etag(ctx.control.etag_version());
    return resp;
}

control::ControlPlane::Done after_edit(AdminContext& ctx, std::string name, AdminServer::Reply reply) {
    return [&ctx, name = std::move(name), reply = std::move(reply)](Result outcome) {
        reply(route_after(ctx, name, outcome));
    };
}

control::ControlPlane::Pinned pinned(AdminContext& ctx, const AdminCall& call) {
    return pinned_version(call.request, ctx.control.etag_version());
}

std::optional<AdminResponse> rollout_owns_split(AdminContext& ctx, const std::string& name) {
    if (!ctx.rollouts || !ctx.rollouts->controls_split(name)) return std::nullopt;
    return json_error(409, "route '" + name +
                               "' has a rollout in progress; pause is not enough: promote or roll it back first");
}

}  // namespace

void add_route_routes(AdminRouter& router, AdminContext& ctx) {
    router.add({"GET", "/routes", [&ctx](const AdminCall&) {
                    const config::Config effective = ctx.control.effective_config();
                    const std::uint64_t version = ctx.control.etag_version();
                    json::array routes;
                    for (const config::RouteConfig& rc : effective.routes)
                        routes.push_back(route_json(rc, *ctx.control.find_route(rc.name), ctx.control.state(), version,
                                                    ctx.rollouts));
                    AdminResponse resp = json_ok(json::object{{"routes", std::move(routes)}, {"version", version}});
                    resp.headers["etag"] = etag(version);
                    return resp;
                }});
    router.add({"GET", "/routes/{route}", [&ctx](const AdminCall& call) {
                    const std::string& name = call.params[0];
                    const config::Config effective = ctx.control.effective_config();
                    const std::uint64_t version = ctx.control.etag_version();
                    const config::RouteConfig* rc = find(effective, name);
                    if (!rc) return no_route(name);
                    AdminResponse resp = json_ok(
                        route_json(*rc, *ctx.control.find_route(name), ctx.control.state(), version, ctx.rollouts));
                    resp.headers["etag"] = etag(version);
                    return resp;
                }});
    router.add({"PUT", "/routes/{route}/split", nullptr, false, true,
                [&ctx](const AdminCall& call, AdminServer::Reply reply) {
                    const std::string& name = call.params[0];
                    if (!ctx.control.find_route(name)) return reply(no_route(name));
                    if (auto busy = rollout_owns_split(ctx, name)) return reply(*busy);
                    auto split = parse_split_body(call.request.body);
                    if (!split.value) return reply(json_error(400, split.error));
                    ctx.control.set_split(name, *split.value, pinned(ctx, call), after_edit(ctx, name, reply));
                }});
    router.add({"DELETE", "/routes/{route}/split", nullptr, false, true,
                [&ctx](const AdminCall& call, AdminServer::Reply reply) {
                    const std::string& name = call.params[0];
                    if (!ctx.control.find_route(name)) return reply(no_route(name));
                    if (auto busy = rollout_owns_split(ctx, name)) return reply(*busy);
                    ctx.control.clear_split(name, pinned(ctx, call), after_edit(ctx, name, reply));
                }});
    router.add({"POST", "/routes/{route}/switch", nullptr, false, true,
                [&ctx](const AdminCall& call, AdminServer::Reply reply) {
                    const std::string& name = call.params[0];
                    if (!ctx.control.find_route(name)) return reply(no_route(name));
                    if (auto busy = rollout_owns_split(ctx, name)) return reply(*busy);
                    auto pool = parse_switch_body(call.request.body);
                    if (!pool.value) return reply(json_error(400, pool.error));
                    ctx.control.switch_to(name, *pool.value, pinned(ctx, call), after_edit(ctx, name, reply));
                }});
}

}  // namespace weir::admin
