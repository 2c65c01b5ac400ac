// The data plane as a whole: N workers, each on its own thread, all serving
// the same listeners. Owned and driven by the control side.
#pragma once

#include "proxy/worker.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <thread>
#include <vector>

namespace weir::proxy {

class Server {
public:
    explicit Server(unsigned workers);
    ~Server();

    // Binds every listener in every worker. A port of 0 is chosen once, by
    // the first worker, and shared by the rest. Throws on failure.
    void listen(std::vector<ListenSpec> specs);
    // The bound addresses, in listener order.
    const std::vector<boost::asio::ip::tcp::endpoint>& bound() const { return bound_; }

    // Runtime listener changes (reload), from the control thread. add_listener
    // binds in every worker before any accepts (a port of 0 is chosen once)
    // and returns the bound address; throws and adds nothing on failure.
    struct AddedListener {
        boost::asio::ip::tcp::endpoint address;
        std::uint32_t first_id;  // the new sockets' ids are [first_id, end_id):
        std::uint32_t end_id;    // older sockets of the same name have smaller ids
    };
    AddedListener add_listener(const ListenSpec& spec);
    // Removes the named listener's sockets with ids in [min_id, end_id) (all by default).
    void remove_listener(const std::string& name, std::uint32_t min_id = 0, std::uint32_t end_id = UINT32_MAX);

    // Hands the snapshot to every worker. Once the workers run, it returns
    // when all have switched (or after a second), so a change acknowledged
    // to an operator applies to the very next request.
    void publish(routing::SnapshotPtr snapshot);
    // Before start(): where workers report upstream failures (called on worker threads).
    void set_failure_sink(const FailureSink& sink);
    // Blocks up to `timeout` for every worker's load by endpoint key, summed.
    std::vector<EndpointLoad> load(std::chrono::milliseconds timeout);
    // Blocks up to `timeout` for every worker's open tunnels by statistics slot id, summed.
    std::map<std::uint32_t, std::uint64_t> tunnels(std::chrono::milliseconds timeout);
    // Blocks up to `timeout` for every worker's traffic counters by statistics slot id, summed.
    std::map<std::uint32_t, telemetry::TrafficCounters> traffic(std::chrono::milliseconds timeout);
    // Statistics memory of all workers (bytes, slots, requests not counted over budget).
    const StatsBudget& stats_budget() const { return stats_budget_; }
    // Consecutive failures by endpoint key, as the workers count them together.
    const FailureCounters& failure_counters() const { return failures_; }
    // Takes every worker's current rollout slice of each slot in `stats` (and
    // starts new ones), summed; blocks up to `timeout`.
    std::vector<rollout::PoolSlice> take_slices(const std::vector<std::uint32_t>& stats,
                                                std::chrono::milliseconds timeout);
    void start();
    // Stops accepting, lets in-flight exchanges finish (closing keep-alive
    // connections), and returns when all are done or `timeout` has passed.
    // Returns the number of connections that were still open.
    std::size_t drain(std::chrono::milliseconds timeout);
    // The non-blocking half of drain(): stop accepting, close idle connections.
    void begin_drain();
    std::size_t active_sessions() const;
    void stop();

    std::size_t connections() const { return connections_.load(std::memory_order_relaxed); }
    std::uint64_t requests() const;
    std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }

private:
    std::atomic<std::size_t> connections_{0};
    FailureCounters failures_;
    StatsBudget stats_budget_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<std::thread> threads_;
    std::vector<boost::asio::ip::tcp::endpoint> bound_;
    bool started_ = false;
    std::vector<Worker::SlotTraffic> last_traffic_;  // by worker: its last answer (control thread)
};

}  // namespace weir::proxy
