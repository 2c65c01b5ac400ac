// What the control thread knows and decides: the file's configuration, the
// runtime edits on top of it, the version, and how a change becomes a new
// snapshot on every worker. Every change is "build a new snapshot and
// publish"; runtime edits are persisted before they are acknowledged.
#pragma once

#include "common/result.hpp"

#include "config/config.hpp"
#include "control/snapshot_builder.hpp"
#include "control/fleet_store.hpp"
#include "control/state_store.hpp"

#include <cstdint>
#include <deque>
#include <map>
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

    // Every runtime edit answers through `done`: at once without a fleet,
    // or once the fleet's store took it. Edits are made one at a time, each
    // on the state left by the one before. `pinned`: the version If-Match
    // named; the edit fails as `stale` if the state moved on since (on any
    // replica of a fleet).
    using Done = std::function<void(Result)>;
    using Pinned = std::optional<std::uint64_t>;

    // Runtime split of a route (relative weights by pool).
    void set_split(const std::string& route, const Split& split, Pinned pinned, Done done);
    // Back to the file's split.
    void clear_split(const std::string& route, Pinned pinned, Done done);
    // Blue/green: all of the route's traffic to one pool.
    void switch_to(const std::string& route, const std::string& pool, Pinned pinned, Done done);

    // Rolling updates: no new requests to the endpoint (persisted), or back.
    void drain(const std::string& pool, const std::string& endpoint, Done done);
    void undrain(const std::string& pool, const std::string& endpoint, Done done);
    // Replaces a pool's endpoint list (address -> weight) at runtime.
    void set_endpoints(const std::string& pool, const Split& endpoints, Pinned pinned, Done done);
    // A rollout's decision: its canary share as a split (if it changed) and
    // its run state, persisted together and published in the same turn.
    // Asked for when the edit is made (again, if another replica wrote
    // first), so what is written is the run as it is then.
    struct RolloutUpdate {
        std::optional<Split> split;
        std::string run_json;
    };
    using RolloutNow = std::function<std::optional<RolloutUpdate>()>;
    void apply_rollout(const std::string& route, RolloutNow now, Done done);
    // Several runs' state at once (their elapsed step time): one write,
    // of the runs as they are when it is made.
    using RolloutsNow = std::function<std::map<std::string, std::string>()>;
    void persist_rollouts(RolloutsNow now, Done done);

    // With a fleet, edits go to its store first (fleet_store.hpp), and the
    // entity tag is the fleet's revision.
    void attach_fleet(FleetStore* fleet) { fleet_ = fleet; }
    // The fleet's state at `revision` (watched, or read after a reconnect),
    // served as if it had been edited here. Older revisions are ignored.
    void apply_fleet(RuntimeState state, std::uint64_t revision);
    // Runs after every state that came from the fleet (the rollout driver
    // follows the runs recorded there).
    void on_fleet_applied(std::function<void()> hook) { on_fleet_applied_ = std::move(hook); }
    std::uint64_t fleet_revision() const { return fleet_revision_; }
    // What ETag and If-Match speak of: the fleet's revision with a fleet,
    // else the config version.
    std::uint64_t etag_version() const { return fleet_ ? fleet_revision_ : version_; }

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
    // A runtime edit: turns a copy of the current state into the next one,
    // or refuses. Run again on the newer state when another replica wrote
    // first (and the edit was not pinned to a version).
    using Edit = std::function<Result(RuntimeState& next)>;
    struct PendingEdit {
        std::string what;  // for the log: "the split of route web"
        Edit edit;
        Pinned pinned;
        Done done;
        int attempts = 0;
    };
    void submit(std::string what, Edit edit, Pinned pinned, Done done);
    void run_next_edit();
    void finish_edit(Result result);
    // Makes `next` the state in force: publishes what changed (a new
    // snapshot when splits or endpoint lists changed, new endpoint states
    // when drains did) and writes the state file. `built` is the snapshot
    // built for it, if one was needed.
    void adopt(RuntimeState next, std::shared_ptr<routing::Snapshot> built);
    // Builds the snapshot `next` needs if it routes differently from the
    // state in force; nullptr with `error` set if it cannot be served.
    std::shared_ptr<routing::Snapshot> build_for(const RuntimeState& next, bool& needed, std::string& error);
    void save_state_file(const std::string& what);
    bool publish(const config::Config& effective, std::vector<std::string>* errors);
    // Gives a built snapshot its endpoint states and publishes it.
    void push(std::shared_ptr<routing::Snapshot> snapshot, const config::Config& effective, bool initial = false);
    // Endpoint states changed (health, ejection, drain): same routing, new states.
    void republish_states();
    void apply_states(routing::Snapshot& snapshot) const;
    void export_endpoint_metrics() const;
    std::vector<std::string> endpoints_named(const std::string& pool, const std::string& endpoint) const;
    void set_drained(const std::string& pool, const std::string& endpoint, bool drained, Done done);
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
    std::function<void()> on_fleet_applied_;
    FleetStore* fleet_ = nullptr;
    std::uint64_t fleet_revision_ = 0;
    // The fleet's document as etcd holds it, before this replica's file had
    // its say (reconcile) and even when it cannot be served here: edits are
    // made on it, so one replica never undoes what another wrote.
    RuntimeState fleet_state_;
    std::deque<PendingEdit> edits_;
    bool editing_ = false;  // the edit at the front is being written
};

// Validates a split given over the API against the configuration: known
// pools, finite non-negative weights, at least one above zero.
std::optional<std::string> check_split(const Split& split, const config::Config& config);

}  // namespace weir::control
