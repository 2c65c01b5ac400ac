// The admin API (docs/admin-api.md): the route table with every resource on
// it, answering the calls the admin server receives.
#pragma once

#include "admin/resources.hpp"
#include "admin/router.hpp"
#include "admin/server.hpp"

#include <functional>
#include <vector>

namespace weir::admin {

class AdminApi {
public:
    AdminApi(control::ControlPlane& control, telemetry::Metrics& metrics, std::function<bool()> ready,
             std::function<std::vector<proxy::EndpointLoad>()> load);

    void handle(const AdminRequest& request, AdminServer::Reply reply) const { router_.handle(request, std::move(reply)); }
    void set_rollouts(control::RolloutDriver* driver) { ctx_.rollouts = driver; }
    void set_fleet(fleet::Fleet* fleet) { ctx_.fleet = fleet; }

private:
    AdminContext ctx_;
    AdminRouter router_;
};

}  // namespace weir::admin
