// The admin API's resources, one file each; every one adds its routes to the
// table (admin/router.hpp), which does authentication, the browser guard,
// If-Match and the audit log for all of them.
#pragma once

#include "admin/router.hpp"
#include "proxy/worker.hpp"

#include <functional>
#include <vector>

namespace weir::telemetry {
class Metrics;
}
namespace weir::control {
class ControlPlane;
class RolloutDriver;
}  // namespace weir::control
namespace weir::fleet {
class Fleet;
}

namespace weir::admin {

// What the handlers act on. Handlers keep a reference to it: `rollouts` is
// set once the rollout driver exists, after the routes were added.
struct AdminContext {
    control::ControlPlane& control;
    telemetry::Metrics& metrics;
    std::function<bool()> ready;
    std::function<std::vector<proxy::EndpointLoad>()> load;
    control::RolloutDriver* rollouts = nullptr;
    fleet::Fleet* fleet = nullptr;  // set when the replica is part of a fleet
};

void add_probe_routes(AdminRouter& router, AdminContext& ctx);    // /healthz, /ready, /metrics
void add_config_routes(AdminRouter& router, AdminContext& ctx);   // /config, /reload
void add_route_routes(AdminRouter& router, AdminContext& ctx);    // /routes, split, switch
void add_rollout_routes(AdminRouter& router, AdminContext& ctx);  // /routes/{r}/rollout
void add_pool_routes(AdminRouter& router, AdminContext& ctx);     // /pools, endpoints, drain
void add_cluster_routes(AdminRouter& router, AdminContext& ctx);  // /cluster

}  // namespace weir::admin
