// The metric families Weir exposes on the admin /metrics (SPEC §7), declared
// in one place. Control-side values are set directly; data-plane counters
// are merged from per-worker shards when scraped.
#pragma once

#include <cstdint>
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
};

}  // namespace weir::telemetry
