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

class Metrics {
public:
    Metrics();
    ~Metrics();

    void reload_succeeded();
    void reload_failed();
    void set_config_version(std::uint64_t version);
    // Effective share (0..1) of every pool of every route; replaces the previous set.
    void set_route_weights(const std::vector<std::pair<std::string, std::vector<std::pair<std::string, double>>>>& routes);

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
};

}  // namespace weir::telemetry
