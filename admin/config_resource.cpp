// The configuration in force (file plus runtime edits) and reloading the file.
#include "admin/resources.hpp"
#include "admin/status.hpp"
#include "config/to_json.hpp"
#include "control/control_plane.hpp"

#include <boost/json.hpp>

namespace weir::admin {

void add_config_routes(AdminRouter& router, AdminContext& ctx) {
    namespace json = boost::json;
    router.add({"GET", "/config", [&ctx](const AdminCall&) {
                    AdminResponse resp{200, config::to_json(ctx.control.effective_config(), ctx.control.version()), {}};
                    resp.headers["etag"] = etag(ctx.control.etag_version());
                    return resp;
                }});
    router.add({"POST", "/reload", [&ctx](const AdminCall& call) {
                    auto out = ctx.control.reload("POST /reload from " + call.request.peer);
                    if (!out.ok) {
                        json::array errors;
                        for (const auto& e : out.errors) errors.emplace_back(e);
                        return json_ok(json::object{{"error", "reload failed; the previous configuration stays in force"},
                                                    {"errors", std::move(errors)},
                                                    {"version", ctx.control.version()}},
                                       400);
                    }
                    return json_ok(json::object{{"status", "reloaded"}, {"version", ctx.control.version()}});
                }});
}

}  // namespace weir::admin
