// Drives the progressive rollouts of the routes that configure one: every
// second it takes the last slice of traffic from the workers, lets each run
// judge it, and turns a changed canary share into a new split — published
// and persisted in the same turn, so a rollback takes effect at once.
#pragma once

#include "common/result.hpp"

#include "rollout/run.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include "config/config.hpp"
#include "control/state_store.hpp"

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>

namespace weir::proxy {
class Server;
}
namespace weir::telemetry {
class Metrics;
}

namespace weir::control {

class ControlPlane;

class RolloutDriver {
public:
    RolloutDriver(boost::asio::io_context& io, ControlPlane& plane, proxy::Server& server,
                  telemetry::Metrics& metrics);

    // After start-up and every reload: a run for every route with a rollout
    // (kept when its spec did not change, restored from the state file at start).
    void sync();
    void start_ticking();
    void stop();

    // In a fleet only the leader judges (set_judge(true)); the others take
    // their workers' slices all the same (docs/fleet.md) and follow the runs
    // recorded in the fleet's state.
    void set_judge(bool judge);
    // The fleet's state changed: runs recorded there by another replica
    // (the leader's decisions, an operator's command) replace the ones here.
    void follow();

    // A fleet replica keeps its last seconds of traffic (per route, both
    // pools) for the leader, which gathers them every second
    // (GET /cluster/slices?after=SEQ) and judges on their sum with its own.
    void join_fleet();
    // {"epoch": E, "seq": LAST, "slices": [{"seq": N, "start_ms": WALL, "routes": {R: {"baseline": S,
    // "canary": S}}}]} with the records after `after` (rollout/slice_json.hpp for S).
    boost::json::object slices_after(std::uint64_t after) const;
    // The leader: one record of another replica, added to the next look.
    // Empty when fine, else why the record was refused.
    std::string add_remote(const boost::json::object& record);

    using Done = std::function<void(Result)>;
    // start, pause, resume, promote, rollback; answers once the decision is
    // persisted (with a fleet: written to its store).
    void command(const std::string& route, const std::string& verb, Done done);
    // State, step, every decision with its evidence; nullopt when the route has no rollout.
    std::optional<boost::json::object> describe(const std::string& route) const;
    // True while a run (running or paused) owns the route's split.
    bool controls_split(const std::string& route) const;
    // A short summary for GET /routes.
    std::optional<boost::json::object> summary(const std::string& route) const;

private:
    void tick();
    // A run from its recorded JSON; nullopt (logged) when unusable.
    std::optional<rollout::RolloutRun> restore(const std::string& route, const rollout::RolloutSpec& spec,
                                               const std::string& text) const;
    // Publishes the run's canary share (if it changed) and persists the run.
    void apply(const std::string& route, rollout::RolloutRun& run, bool share_changed, Done done = {});
    static Split split_for(const rollout::RolloutRun& run);
    // The statistics slots (baseline, canary) of a run's route in the current snapshot.
    std::optional<std::pair<std::uint32_t, std::uint32_t>> slots_of(const std::string& route,
                                                                    const rollout::RolloutRun& run) const;
    // Logs the run's new decisions and counts them; true when one of them
    // changed state (not a periodic hold note): then the run is persisted.
    bool count_new_decisions(const std::string& route, const rollout::RolloutRun& run, std::size_t before);
    // Writes every active run's elapsed step time to the state file, at most
    // once a minute, in one write for all of them.
    void refresh_persisted_elapsed();
    // The route's request rate (baseline and canary pools) over the last
    // minute of slices, when there is a minute of them.
    std::optional<double> route_rps(const std::string& route) const;

    boost::asio::io_context& io_;
    ControlPlane& plane_;
    proxy::Server& server_;
    telemetry::Metrics& metrics_;
    boost::asio::steady_timer timer_;
    std::map<std::string, rollout::RolloutRun> runs_;
    std::set<std::string> unapplied_;  // routes whose run decided something not yet applied
    // Requests per slice of each route's two pools, newest last (one minute).
    std::map<std::string, std::deque<std::uint64_t>> recent_requests_;
    std::int64_t elapsed_saved_ms_ = 0;  // monotonic time of the last refresh
    bool stopped_ = false;
    bool judge_ = true;
    bool fleet_ = false;
    std::string epoch_;  // this process's records: a restart starts another sequence
    struct Recorded {
        std::uint64_t seq;
        std::int64_t start_ms;  // wall clock: when the second began
        boost::json::object routes;
    };
    std::deque<Recorded> recorded_;
    std::uint64_t next_seq_ = 1;
    void record(std::int64_t start_ms, boost::json::object routes);
    // Other replicas' traffic since the last look (leader), by route.
    std::map<std::string, std::pair<rollout::PoolSlice, rollout::PoolSlice>> remote_;
    // The run text this replica last wrote per route: its own writes coming
    // back from the fleet are not news.
    std::map<std::string, std::string> written_;
};

}  // namespace weir::control
