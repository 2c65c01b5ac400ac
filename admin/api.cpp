#include "admin/api.hpp"

#include "control/control_plane.hpp"

namespace weir::admin {

AdminApi::AdminApi(control::ControlPlane& control, telemetry::Metrics& metrics, std::function<bool()> ready,
                   std::function<std::vector<proxy::EndpointLoad>()> load)
    : ctx_{control, metrics, std::move(ready), std::move(load)},
      router_([&control] { return control.admin_token(); }, [&control] { return control.etag_version(); }) {
    add_probe_routes(router_, ctx_);
    add_config_routes(router_, ctx_);
    add_route_routes(router_, ctx_);
    add_rollout_routes(router_, ctx_);
    add_pool_routes(router_, ctx_);
    add_cluster_routes(router_, ctx_);
}

}  // namespace weir::admin
