// A replica's part in a fleet (docs/fleet.md). The runtime state is one
// document in etcd, PREFIX/state: every replica follows it by watch and
// writes it by compare-and-swap on its revision, which is the fleet-wide
// ETag. Each replica holds a lease; with it, it registers under
// PREFIX/members/NAME and campaigns for PREFIX/leader, whose holder runs
// the rollout judge. When etcd is away the replica serves the last state
// it knew (fail static) and refuses edits until it has read the state
// afresh.
#pragma once

#include "cluster/etcd_client.hpp"
#include "config/config.hpp"
#include "control/fleet_store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace weir::control {
class ControlPlane;
}
namespace weir::telemetry {
class Metrics;
}

namespace weir::fleet {

struct Member {
    std::string name;
    std::string admin;  // where its admin API is reached ("host:port")
};

class Fleet final : public control::FleetStore {
public:
    // `name`: this replica in the fleet; `admin`: where the others reach its admin API.
    Fleet(boost::asio::io_context& io, control::ControlPlane& plane, const config::ClusterConfig& config,
          std::string name, std::string admin, telemetry::Metrics& metrics);
    ~Fleet() override;

    // Connects, reads the fleet's state (or seeds it with this replica's
    // when there is none yet), then follows it.
    void start();
    // Gives up leadership and membership at once (revokes the lease), so
    // another replica takes over without waiting for the lease to expire.
    // `done` runs once etcd answered (or the call failed: bounded by the
    // request timeout); the process must not stop its event loop before.
    void stop(std::function<void()> done = {});
    // The first read of the fleet's state has come back, or failed (then
    // the replica serves its state file): until then it is not ready.
    bool settled() const { return settled_; }

    std::string unavailable() const override;
    void write(const control::RuntimeState& state, std::uint64_t base,
               std::function<void(control::FleetWriteOutcome)> done) override;

    bool leader() const { return leader_; }
    // Runs when this replica becomes the leader (true) or stops being it.
    void on_leadership(std::function<void(bool)> hook) { on_leadership_ = std::move(hook); }
    const std::string& name() const { return name_; }
    // Every replica registered now, this one included, by name.
    const std::map<std::string, Member>& members() const { return members_; }
    // GET /cluster.
    boost::json::object describe() const;

private:
    std::string key(const std::string& suffix) const { return prefix_ + "/" + suffix; }
    void connect();
    void reconnect_later(const std::string& why);
    void on_read(const cluster::RangeResult& read);
    void seed();
    void watch_from(std::int64_t revision);
    void on_events(const std::vector<cluster::WatchEvent>& events);
    void apply_state(const cluster::KeyValue& kv);
    void set_up(bool up, const std::string& why);
    void set_leader(bool leader, const std::string& why);
    void keepalive_tick();
    void ensure_lease();
    void register_member();
    void campaign();
    void note_leader(const cluster::KeyValue* kv);
    void failed(const std::string& op, const std::error_code& ec);

    control::ControlPlane& plane_;
    telemetry::Metrics& metrics_;
    std::string prefix_;
    std::chrono::seconds lease_ttl_;
    std::chrono::milliseconds lease_ms_;  // the same, for fractions of it
    std::string name_;
    std::string admin_;
    std::unique_ptr<cluster::EtcdClient> client_;
    std::unique_ptr<cluster::EtcdWatch> watch_;
    boost::asio::steady_timer reconnect_timer_;
    boost::asio::steady_timer keepalive_timer_;
    std::chrono::milliseconds backoff_{0};
    std::uint64_t epoch_ = 0;   // connection attempts; answers to older ones are dropped
    bool synced_ = false;       // read the state since the last (re)connect, and watching
    bool up_ = false;
    bool settled_ = false;
    bool stopped_ = false;
    std::string down_reason_ = "not connected to etcd yet";
    std::int64_t lease_id_ = 0;
    bool granting_ = false;
    std::chrono::steady_clock::time_point lease_confirmed_{};
    bool leader_ = false;
    std::optional<std::string> leader_name_;
    std::int64_t leader_lease_ = 0;  // the lease the leader key is held under
    std::map<std::string, Member> members_;
    std::function<void(bool)> on_leadership_;
};

}  // namespace weir::fleet
