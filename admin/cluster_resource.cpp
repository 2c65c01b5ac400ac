// The fleet as this replica sees it: members, leader, etcd's reachability
// and the state revision it serves (docs/fleet.md). Without `cluster` the
// resource says so.
#include "admin/resources.hpp"
#include "admin/status.hpp"
#include "fleet/fleet.hpp"

#include <boost/json.hpp>

namespace weir::admin {

void add_cluster_routes(AdminRouter& router, AdminContext& ctx) {
    router.add({"GET", "/cluster", [&ctx](const AdminCall&) {
                    if (!ctx.fleet) return json_error(404, "this replica is not part of a fleet (no cluster in its configuration)");
                    return json_ok(ctx.fleet->describe());
                }});
}

}  // namespace weir::admin
