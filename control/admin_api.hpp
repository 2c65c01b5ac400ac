// The admin API's resources (SPEC §5): routing of calls to the control
// plane, authentication, JSON in and out, and an audit log line for every
// mutation, accepted or refused.
#pragma once

#include "control/admin_server.hpp"
#include "proxy/worker.hpp"

#include <functional>

namespace weir::telemetry {
class Metrics;
}

namespace weir::control {

class ControlPlane;
class RolloutDriver;

class AdminApi {
public:
    AdminApi(ControlPlane& control, telemetry::Metrics& metrics, std::function<bool()> ready,
             std::function<std::vector<proxy::EndpointLoad>()> load);

    AdminResponse handle(const AdminRequest& request);
    void set_rollouts(RolloutDriver* driver) { rollouts_ = driver; }

private:
    AdminResponse dispatch(const AdminRequest& request);
    AdminResponse routes_resource(const AdminRequest& request, const std::vector<std::string>& parts);
    AdminResponse pools_resource(const AdminRequest& request, const std::vector<std::string>& parts);
    bool authorized(const AdminRequest& request) const;

    ControlPlane& control_;
    telemetry::Metrics& metrics_;
    std::function<bool()> ready_;
    std::function<std::vector<proxy::EndpointLoad>()> load_;
    RolloutDriver* rollouts_ = nullptr;
};

// Constant-time comparison of a presented secret with the expected one: the
// time taken depends only on the expected length.
bool secret_equals(std::string_view presented, std::string_view expected);

}  // namespace weir::control
