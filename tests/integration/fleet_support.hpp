// Fleets for the integration tests (docs/config.md `cluster`): a real etcd
// cluster (the process's shared one with a key prefix of the test's own, or
// a cluster of the test's own when the test injects faults into etcd) and N
// weir replicas with the same pools and routes, each with its own name, its
// own state_file (a cache of the fleet's state) and lease 2s. Two fake
// upstream pools, "stable" (two endpoints) and "canary", behind route "web".
#pragma once

#include "control_support.hpp"
#include "etcd_cluster.hpp"

#include <boost/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weir_it::fleet {

using control::AdminClient;
using control::SplitMap;

struct FleetOptions {
    int replicas = 3;
    // A cluster of the test's own (freeze, stop, compact); else the shared one.
    bool own_etcd = false;
    std::string lease = "2s";
    std::vector<std::pair<std::string, double>> split = {{"stable", 90}, {"canary", 10}};
    // The route's sticky key header ("" = not sticky).
    std::string sticky_header;
    int workers = 2;
    // How many replicas the constructor starts (-1: all); start() the rest.
    int start_now = -1;
};

class Fleet3 {
public:
    explicit Fleet3(const std::string& test_name, FleetOptions options = {});
    ~Fleet3();
    Fleet3(const Fleet3&) = delete;
    Fleet3& operator=(const Fleet3&) = delete;

    // Declared first: replicas (destroyed first) forward to them.
    FakeUpstream stable{"stable"};
    FakeUpstream stable_b{"stable"};  // the stable pool's second endpoint
    FakeUpstream canary{"canary"};

    int size() const { return static_cast<int>(replicas_.size()); }
    EtcdCluster& etcd() { return *own_etcd_; }  // only with own_etcd
    const std::vector<std::string>& etcd_urls() const { return etcd_urls_; }
    const std::string& prefix() const { return prefix_; }

    // "r1", "r2", ... for i = 0, 1, ...
    static std::string name(int i) { return "r" + std::to_string(i + 1); }
    std::string yaml(int i) const;
    std::string state_file(int i) const;

    // Starts replica i (again) with its config and state file; waits until
    // it listens and /ready answers 200. Throws if it does not.
    WeirProcess& start(int i);
    // Sends `sig`; SIGKILL / SIGTERM wait for the exit.
    void stop(int i, int sig = SIGTERM);
    bool running(int i) const { return replicas_[i] != nullptr; }
    WeirProcess& weir(int i) { return *replicas_[i]; }
    AdminClient admin(int i) const { return AdminClient(replicas_[i]->admin_port()); }
    std::uint16_t port(int i) const { return replicas_[i]->port(); }

    // GET /cluster, parsed (null when it does not answer 200 with JSON).
    boost::json::value cluster(int i) const;
    // Waits until replica i says synced (and etcd_up).
    bool wait_synced(int i, Millis timeout = 20s) const;
    bool wait_all_synced(Millis timeout = 20s) const;
    // Waits until replica i's GET /routes/web shows `split`.
    bool wait_split(int i, const SplitMap& split, Millis timeout = 10s) const;
    bool wait_all_split(const SplitMap& split, Millis timeout = 10s) const;

    // The logs of every replica (for failure messages), tails only.
    std::string logs() const;

private:
    FleetOptions options_;
    std::unique_ptr<EtcdCluster> own_etcd_;
    std::vector<std::string> etcd_urls_;
    std::string prefix_;
    TempDir dir_;
    std::vector<std::unique_ptr<WeirProcess>> replicas_;
};

// The boolean / string / number at `key` of a JSON object (nullopt if absent or another kind).
std::optional<bool> json_bool(const boost::json::value& v, const char* key);
std::optional<std::string> json_string(const boost::json::value& v, const char* key);

// PUT /routes/web/split with `split` (and `extra` header lines).
Response put_split(const AdminClient& a, const SplitMap& split, const std::string& extra = "");
// PUT the split again every `every` until the answer has `status`, for up
// to `timeout`; the last answer either way.
Response put_split_until(const AdminClient& a, const SplitMap& split, int status, Millis timeout,
                         Millis every = std::chrono::milliseconds(100));
// "if-match: <etag>\r\n"
std::string if_match(const std::string& etag);
// The last `n` lines of `text`.
std::string tail(const std::string& text, std::size_t n = 40);

}  // namespace weir_it::fleet
