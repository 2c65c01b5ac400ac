// The fleet as this replica sees it: members, leader, etcd's reachability
// and the state revision it serves (docs/fleet.md). Without `cluster` the
// resource says so.
#include "admin/resources.hpp"
#include "admin/status.hpp"
#include "control/rollout_driver.hpp"
#include "fleet/fleet.hpp"

#include <boost/json.hpp>

#include <charconv>

namespace weir::admin {

void add_cluster_routes(AdminRouter& router, AdminContext& ctx) {
    router.add({"GET", "/cluster", [&ctx](const AdminCall&) {
                    if (!ctx.fleet) return json_error(404, "this replica is not part of a fleet (no cluster in its configuration)");
                    return json_ok(ctx.fleet->describe());
                }});
    // The leader gathers every replica's traffic here each second
    // (fleet/traffic_pull.hpp); the same token as every admin call.
    router.add({"GET", "/cluster/slices", [&ctx](const AdminCall& call) {
                    if (!ctx.fleet || !ctx.rollouts) return json_error(404, "this replica is not part of a fleet");
                    std::uint64_t after = 0;
                    const std::string& q = call.request.query;
                    if (q.rfind("after=", 0) == 0) {
                        const char* first = q.data() + 6;
                        const char* last = q.data() + q.size();
                        auto [end, ec] = std::from_chars(first, last, after);
                        if (ec != std::errc() || end != last) return json_error(400, "after must be a sequence number");
                    } else if (!q.empty()) {
                        return json_error(400, "the only parameter is after=SEQ");
                    }
                    return json_ok(ctx.rollouts->slices_after(after));
                }});
}

}  // namespace weir::admin
