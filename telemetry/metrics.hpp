// The metric families Weir exposes on the admin /metrics (docs/metrics.md), declared
// in one place. Control-side values are set directly; data-plane counters
// are merged from per-worker shards when scraped.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
template <typename T>
class Family;
}  // namespace prometheus

namespace weir::telemetry {

struct EndpointState {
    std::string pool;
    std::string endpoint;
    bool healthy;  // passing checks and not ejected
    bool draining;
};

class Metrics {
public:
    Metrics();
    ~Metrics();

    void reload_succeeded();
    void reload_failed();
    void set_config_version(std::uint64_t version);
    // Effective share (0..1) of every pool of every route; replaces the previous set.
    void set_route_weights(const std::vector<std::pair<std::string, std::vector<std::pair<std::string, double>>>>& routes);

    // Replaces the set of endpoints and their states.
    void set_endpoint_states(const std::vector<EndpointState>& states);
    void upstream_error(const std::string& pool, const std::string& endpoint, const std::string& kind);

    // Families computed at scrape time (the data plane's, merged from workers).
    void set_dynamic(std::function<std::vector<prometheus::MetricFamily>()> provider) {
        dynamic_ = std::move(provider);
    }
    // Fleet gauges, registered only when the replica is part of a fleet.
    void enable_cluster();
    void set_cluster_leader(bool leader);
    void set_cluster_etcd_up(bool up);
    void set_cluster_revision(std::uint64_t revision);
    // A failed call to etcd, by operation (range, txn, watch, lease).
    void cluster_etcd_error(const std::string& op);
    // The leader could not gather a replica's traffic (a call failed).
    void cluster_traffic_error();
    void rollout_step(const std::string& route, double step);
    void rollout_decision(const std::string& route, const std::string& decision);

    // Prometheus text exposition format 0.0.4.
    std::string scrape() const;

private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>* reloads_;
    prometheus::Family<prometheus::Gauge>* config_version_;
    prometheus::Family<prometheus::Gauge>* route_weight_;
    prometheus::Counter* reload_success_;
    prometheus::Counter* reload_failure_;
    prometheus::Gauge* version_;
    std::vector<prometheus::Gauge*> weights_;
    prometheus::Family<prometheus::Gauge>* endpoint_healthy_;
    prometheus::Family<prometheus::Gauge>* endpoint_draining_;
    prometheus::Family<prometheus::Counter>* upstream_errors_;
    std::vector<prometheus::Gauge*> endpoint_gauges_healthy_;
    std::vector<prometheus::Gauge*> endpoint_gauges_draining_;
    prometheus::Family<prometheus::Gauge>* rollout_step_;
    prometheus::Family<prometheus::Counter>* rollout_decisions_;
    std::function<std::vector<prometheus::MetricFamily>()> dynamic_;
    prometheus::Gauge* cluster_leader_ = nullptr;
    prometheus::Gauge* cluster_etcd_up_ = nullptr;
    prometheus::Gauge* cluster_revision_ = nullptr;
    prometheus::Family<prometheus::Counter>* cluster_errors_ = nullptr;
    prometheus::Counter* cluster_traffic_errors_ = nullptr;
};

}  // namespace weir::telemetry
