// A route's progressive rollout: its state and decisions, and the operator's
// commands (start, pause, resume, promote, rollback).
#include "admin/resources.hpp"
#include "admin/status.hpp"
#include "control/control_plane.hpp"
#include "control/rollout_driver.hpp"

#include <boost/json.hpp>

namespace weir::admin {

void add_rollout_routes(AdminRouter& router, AdminContext& ctx) {
    router.add({"GET", "/routes/{route}/rollout", [&ctx](const AdminCall& call) {
                    const std::string& name = call.params[0];
                    if (!ctx.control.find_route(name)) return json_error(404, "no route '" + name + "'");
                    if (!ctx.rollouts) return json_error(404, "no rollouts");
                    auto d = ctx.rollouts->describe(name);
                    if (!d) return json_error(404, "route '" + name + "' has no rollout configured");
                    return json_ok(*d);
                }});
    router.add({"POST", "/routes/{route}/rollout/{action}", nullptr, false, false,
                [&ctx](const AdminCall& call, AdminServer::Reply reply) {
                    const std::string name = call.params[0];
                    if (!ctx.control.find_route(name)) return reply(json_error(404, "no route '" + name + "'"));
                    if (!ctx.rollouts) return reply(json_error(404, "no rollouts"));
                    ctx.rollouts->command(name, call.params[1], [&ctx, name, reply](Result outcome) {
                        if (!outcome.ok()) return reply(error_response(outcome));
                        AdminResponse resp = json_ok(*ctx.rollouts->describe(name));
                        resp.headers["etag"] = etag(ctx.control.etag_version());
                        reply(std::move(resp));
                    });
                }});
}

}  // namespace weir::admin
