// What the control thread knows and decides: the file's configuration, the
// runtime edits on top of it, the version, and how a change becomes a new
// snapshot on every worker. Every change is "build a new snapshot and
// publish"; runtime edits are persisted before they are acknowledged.
#pragma once

#include "common/result.hpp"

#include "config/config.hpp"
#include "control/snapshot_builder.hpp"
#include "control/state_store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weir::proxy {
class Server;
struct EndpointFailure;
}
namespace weir::health {
class HealthManager;
}
namespace boost::asio {
class io_context;
}
namespace weir::telemetry {
class Metrics;
}

namespace weir::control {

class ControlPlane {
public:
    ControlPlane(config::Config file_config, std::string config_path, proxy::Server& server, telemetry::Metrics& metrics,
                 boost::asio::io_context& io);
    ~ControlPlane();

    // Loads the state file, applies its edits, publishes the first snapshot.
    // False (logged) when the configuration cannot be served at all.
    bool start();

    std::uint64_t version() const { return version_; }
    const config::Config& file_config() const { return file_; }
    // The file's configuration with the runtime edits applied.
    config::Config effective_config() const;
    const RuntimeState& state() const { return state_; }
    const std::string& admin_token() const { return file_.admin.token; }

    // Runtime split of a route (relative weights by pool).
    Result set_split(const std::string& route, const Split& split);
    // Back to the file's split.
    Result clear_split(const std::string& route);
    // Blue/green: all of the route's traffic to one pool.
    Result switch_to(const std::string& route, const std::string& pool);

    // Rolling updates: no new requests to the endpoint (persisted), or back.
    Result drain(const std::string& pool, const std::string& endpoint);
    Result undrain(const std::string& pool, const std::string& endpoint);
    // Replaces a pool's endpoint list (address -> weight) at runtime.
    Result set_endpoints(const std::string& pool, const Split& endpoints);
    // A rollout's decision: its canary share as a split (if it changed) and
    // its run state, persisted together and published in the same turn.
    Result apply_rollout(const std::string& route, const std::optional<Split>& split, const std::string& run_json);
    // Several runs' state at once (their elapsed step time): one write.
    Result persist_rollouts(const std::map<std::string, std::string>& run_json);
    // Called after every successful reload (the rollout driver re-syncs).
    void on_reloaded(std::function<void()> hook) { on_reloaded_ = std::move(hook); }

    // A worker's report of an upstream failure (control thread).
    void on_upstream_failure(const proxy::EndpointFailure& failure);
    // The snapshot in force, with endpoint states.
    const routing::SnapshotPtr& current() const { return current_; }
    // Names of statistics slots: "route\npool".
    const StatKeys& stat_keys() const { return stat_keys_; }
    const health::HealthManager& health() const { return *health_; }
    bool is_drained(const std::string& pool, const std::string& endpoint) const;
    void stop();

    struct ReloadOutcome {
        bool ok = false;
        std::vector<std::string> errors;  // FILE:LINE:COL: message, or why it cannot be served
    };
    // Re-reads the file. A bad file changes nothing.
    ReloadOutcome reload(const std::string& trigger);

    const config::RouteConfig* find_route(const std::string& name) const;
    const config::PoolConfig* find_pool(const std::string& name) const;

private:
    Result commit_state(RuntimeState next, const std::string& what);
    bool publish(const config::Config& effective, std::vector<std::string>* errors);
    // Gives a built snapshot its endpoint states and publishes it.
    void push(std::shared_ptr<routing::Snapshot> snapshot, const config::Config& effective, bool initial = false);
    // Endpoint states changed (health, ejection, drain): same routing, new states.
    void republish_states();
    void apply_states(routing::Snapshot& snapshot) const;
    void export_endpoint_metrics() const;
    std::vector<std::string> endpoints_named(const std::string& pool, const std::string& endpoint) const;
    Result set_drained(const std::string& pool, const std::string& endpoint, bool drained);
    void prune_drains(const routing::Snapshot& snapshot, RuntimeState& state, std::vector<std::string>& dropped) const;
    // Drops edits the file has superseded or that no longer fit it.
    bool reconcile(RuntimeState& state, const config::Config& file, std::vector<std::string>& dropped) const;

    config::Config file_;
    std::string config_path_;
    proxy::Server& server_;
    telemetry::Metrics& metrics_;
    std::unique_ptr<StateStore> store_;
    RuntimeState state_;
    StableKeys keys_;
    StatKeys stat_keys_;
    AddressBook addresses_;
    std::uint64_t version_ = 0;
    std::unique_ptr<health::HealthManager> health_;
    std::shared_ptr<const routing::Snapshot> current_;
    std::function<void()> on_reloaded_;
};

// Validates a split given over the API against the configuration: known
// pools, finite non-negative weights, at least one above zero.
std::optional<std::string> check_split(const Split& split, const config::Config& config);

}  // namespace weir::control
