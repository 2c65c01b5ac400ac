#include "telemetry/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace weir::telemetry {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
    reloads_ = &prometheus::BuildCounter()
                    .Name("weir_config_reloads_total")
                    .Help("Configuration reloads by result (success, failure).")
                    .Register(*registry_);
    config_version_ = &prometheus::BuildGauge()
                           .Name("weir_config_version")
                           .Help("Version of the configuration in force (file plus runtime edits).")
                           .Register(*registry_);
    route_weight_ = &prometheus::BuildGauge()
                         .Name("weir_route_weight")
                         .Help("Effective share of a route's traffic that goes to a pool (0..1).")
                         .Register(*registry_);
    endpoint_healthy_ = &prometheus::BuildGauge()
                             .Name("weir_endpoint_healthy")
                             .Help("1 when the endpoint passes its health checks and is not ejected.")
                             .Register(*registry_);
    endpoint_draining_ = &prometheus::BuildGauge()
                              .Name("weir_endpoint_draining")
                              .Help("1 when an operator drained the endpoint (no new requests).")
                              .Register(*registry_);
    upstream_errors_ = &prometheus::BuildCounter()
                            .Name("weir_upstream_errors_total")
                            .Help("Upstream failures by kind: connect, timeout, reset, invalid_response, 5xx, grpc_status, response_too_large, tls.")
                            .Register(*registry_);
    rollout_step_ = &prometheus::BuildGauge()
                         .Name("weir_rollout_step")
                         .Help("Step index of the route's rollout (-1: none running; the last index + 1: promoted).")
                         .Register(*registry_);
    rollout_decisions_ = &prometheus::BuildCounter()
                              .Name("weir_rollout_decisions_total")
                              .Help("Rollout decisions by kind: start, advance, hold, inconclusive, rollback, promote, pause, resume.")
                              .Register(*registry_);
    // Both results exist from the start, so a rate() over them is defined before the first failure.
    reload_success_ = &reloads_->Add({{"result", "success"}});
    reload_failure_ = &reloads_->Add({{"result", "failure"}});
    version_ = &config_version_->Add({});
}

Metrics::~Metrics() = default;

void Metrics::reload_succeeded() { reload_success_->Increment(); }
void Metrics::reload_failed() { reload_failure_->Increment(); }
void Metrics::set_config_version(std::uint64_t version) { version_->Set(static_cast<double>(version)); }

void Metrics::enable_cluster() {
    if (cluster_leader_) return;
    cluster_leader_ = &prometheus::BuildGauge()
                           .Name("weir_cluster_leader")
                           .Help("1 while this replica leads the fleet (runs the rollout judge).")
                           .Register(*registry_)
                           .Add({});
    cluster_etcd_up_ = &prometheus::BuildGauge()
                            .Name("weir_cluster_etcd_up")
                            .Help("1 while etcd answers and this replica follows the fleet's state; 0: serving the last known state.")
                            .Register(*registry_)
                            .Add({});
    cluster_revision_ = &prometheus::BuildGauge()
                             .Name("weir_cluster_revision")
                             .Help("Revision of the fleet's runtime state this replica serves (the fleet-wide ETag).")
                             .Register(*registry_)
                             .Add({});
    cluster_errors_ = &prometheus::BuildCounter()
                           .Name("weir_cluster_etcd_errors_total")
                           .Help("Failed calls to etcd by operation (range, txn, watch, lease).")
                           .Register(*registry_);
    for (const char* op : {"range", "txn", "watch", "lease"}) cluster_errors_->Add({{"op", op}});
    cluster_traffic_errors_ = &prometheus::BuildCounter()
                                   .Name("weir_cluster_traffic_errors_total")
                                   .Help("Calls by which the leader could not gather another replica's traffic.")
                                   .Register(*registry_)
                                   .Add({});
}

void Metrics::set_cluster_leader(bool leader) {
    if (cluster_leader_) cluster_leader_->Set(leader ? 1 : 0);
}

void Metrics::set_cluster_etcd_up(bool up) {
    if (cluster_etcd_up_) cluster_etcd_up_->Set(up ? 1 : 0);
}

void Metrics::set_cluster_revision(std::uint64_t revision) {
    if (cluster_revision_) cluster_revision_->Set(static_cast<double>(revision));
}

void Metrics::cluster_etcd_error(const std::string& op) {
    if (cluster_errors_) cluster_errors_->Add({{"op", op}}).Increment();
}

void Metrics::cluster_traffic_error() {
    if (cluster_traffic_errors_) cluster_traffic_errors_->Increment();
}

void Metrics::set_route_weights(
    const std::vector<std::pair<std::string, std::vector<std::pair<std::string, double>>>>& routes) {
    for (auto* g : weights_) route_weight_->Remove(g);
    weights_.clear();
    for (const auto& [route, pools] : routes) {
        double total = 0;
        for (const auto& [pool, w] : pools) total += w;
        for (const auto& [pool, w] : pools) {
            auto& g = route_weight_->Add({{"route", route}, {"pool", pool}});
            g.Set(total > 0 ? w / total : 0);
            weights_.push_back(&g);
        }
    }
}

void Metrics::set_endpoint_states(const std::vector<EndpointState>& states) {
    for (auto* g : endpoint_gauges_healthy_) endpoint_healthy_->Remove(g);
    for (auto* g : endpoint_gauges_draining_) endpoint_draining_->Remove(g);
    endpoint_gauges_healthy_.clear();
    endpoint_gauges_draining_.clear();
    for (const auto& s : states) {
        auto& h = endpoint_healthy_->Add({{"pool", s.pool}, {"endpoint", s.endpoint}});
        h.Set(s.healthy ? 1 : 0);
        endpoint_gauges_healthy_.push_back(&h);
        auto& d = endpoint_draining_->Add({{"pool", s.pool}, {"endpoint", s.endpoint}});
        d.Set(s.draining ? 1 : 0);
        endpoint_gauges_draining_.push_back(&d);
    }
}

void Metrics::upstream_error(const std::string& pool, const std::string& endpoint, const std::string& kind) {
    upstream_errors_->Add({{"pool", pool}, {"endpoint", endpoint}, {"kind", kind}}).Increment();
}

void Metrics::rollout_step(const std::string& route, double step) { rollout_step_->Add({{"route", route}}).Set(step); }

void Metrics::rollout_decision(const std::string& route, const std::string& decision) {
    rollout_decisions_->Add({{"route", route}, {"decision", decision}}).Increment();
}

std::string Metrics::scrape() const {
    auto families = registry_->Collect();
    if (dynamic_) {
        auto more = dynamic_();
        families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    return prometheus::TextSerializer().Serialize(families);
}

}  // namespace weir::telemetry
