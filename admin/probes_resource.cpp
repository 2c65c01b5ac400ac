// Liveness, readiness and the Prometheus scrape: open to anyone who reaches
// the admin address (no token, no browser guard), as probes and scrapers expect.
#include "admin/resources.hpp"
#include "admin/status.hpp"
#include "telemetry/metrics.hpp"

#include <boost/json.hpp>

namespace weir::admin {

void add_probe_routes(AdminRouter& router, AdminContext& ctx) {
    namespace json = boost::json;
    router.add({"GET", "/healthz", [](const AdminCall&) { return json_ok(json::object{{"status", "ok"}}); }, true});
    router.add({"GET", "/ready",
                [&ctx](const AdminCall&) {
                    if (!ctx.ready()) return json_ok(json::object{{"status", "not ready"}}, 503);
                    return json_ok(json::object{{"status", "ready"}});
                },
                true});
    router.add({"GET", "/metrics",
                [&ctx](const AdminCall&) {
                    AdminResponse resp{200, ctx.metrics.scrape(), {}};
                    resp.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
                    return resp;
                },
                true});
}

}  // namespace weir::admin
