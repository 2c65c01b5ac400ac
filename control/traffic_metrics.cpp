#include "control/traffic_metrics.hpp"

#include "control/control_plane.hpp"
#include "proxy/server.hpp"
#include "telemetry/traffic.hpp"

#include <map>

namespace weir::control {
namespace {

constexpr std::chrono::seconds gather_timeout{1};

std::pair<std::string, std::string> split_stat(const std::string& name) {
    auto nl = name.find('\n');
    return {name.substr(0, nl), nl == std::string::npos ? std::string() : name.substr(nl + 1)};
}

}  // namespace

std::vector<prometheus::MetricFamily> traffic_families(proxy::Server& server, const ControlPlane& plane) {
    prometheus::MetricFamily requests{"weir_requests_total", "Requests by route, pool and status code.",
                                      prometheus::MetricType::Counter, {}};
    prometheus::MetricFamily durations{"weir_request_duration_seconds",
                                       "Time from the request head to the end of the response, by route and pool.",
                                       prometheus::MetricType::Histogram, {}};
    const auto traffic = server.traffic(gather_timeout);
    const auto& bounds = telemetry::duration_bounds();
    const StableKeys& names = plane.stat_keys();
    for (std::uint32_t stat = 0; stat < traffic.size() && stat < names.limit(); ++stat) {
        const auto& t = traffic[stat];
        if (t.count == 0) continue;
        auto [route, pool] = split_stat(names.name_of(stat));
        for (const auto& [code, n] : t.codes) {
            prometheus::ClientMetric m;
            m.label = {{"code", std::to_string(code)}, {"pool", pool}, {"route", route}};
            m.counter.value = static_cast<double>(n);
            requests.metric.push_back(std::move(m));
        }
        prometheus::ClientMetric h;
        h.label = {{"pool", pool}, {"route", route}};
        h.histogram.sample_count = t.count;
        h.histogram.sample_sum = t.sum_seconds;
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < bounds.size(); ++i) {
            cumulative += i < t.buckets.size() ? t.buckets[i] : 0;
            h.histogram.bucket.push_back({cumulative, bounds[i]});
        }
        cumulative += bounds.size() < t.buckets.size() ? t.buckets[bounds.size()] : 0;
        h.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
        durations.metric.push_back(std::move(h));
    }

    prometheus::MetricFamily downstream{"weir_downstream_connections", "Open client connections.",
                                        prometheus::MetricType::Gauge, {}};
    prometheus::ClientMetric d;
    d.gauge.value = static_cast<double>(server.connections());
    downstream.metric.push_back(std::move(d));

    prometheus::MetricFamily upstream{"weir_upstream_connections",
                                      "Open upstream connections (in use and idle) by pool.",
                                      prometheus::MetricType::Gauge, {}};
    const auto load = server.load(gather_timeout);
    std::map<std::string, double> by_pool;
    for (const auto& p : plane.current()->pools) {
        double n = 0;
        for (const auto& e : p.endpoints) {
            if (e.key < load.size()) n += static_cast<double>(load[e.key].in_flight + load[e.key].idle);
        }
        by_pool[p.name] += n;
    }
    for (const auto& [pool, n] : by_pool) {
        prometheus::ClientMetric m;
        m.label = {{"pool", pool}};
        m.gauge.value = n;
        upstream.metric.push_back(std::move(m));
    }
    return {std::move(requests), std::move(durations), std::move(downstream), std::move(upstream)};
}

}  // namespace weir::control
