#include "control/traffic_metrics.hpp"

#include "control/control_plane.hpp"
#include "proxy/server.hpp"
#include "telemetry/traffic.hpp"
#include "tls/handshake_stats.hpp"
#include "tls/server_context.hpp"

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
    const StatKeys& names = plane.stat_keys();
    for (const auto& [stat, t] : traffic) {
        const std::string* name = names.name_of(stat);
        if (t.count == 0 || !name) continue;  // a pair a reload removed
        auto [route, pool] = split_stat(*name);
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

    // Open tunnels, for every pair that has served requests (as
    // weir_requests_total: a series drops to 0 rather than vanishing), and
    // pairs a reload removed while their tunnels wait out drain_timeout.
    prometheus::MetricFamily tunnels{"weir_tunnels", "Open tunnels (after a 101 protocol switch) by route and pool.",
                                     prometheus::MetricType::Gauge, {}};
    auto open_tunnels = server.tunnels(gather_timeout);
    const auto add_tunnels = [&](std::uint32_t stat, std::uint64_t n) {
        const std::string* name = names.name_of(stat);
        if (!name) return;
        auto [route, pool] = split_stat(*name);
        prometheus::ClientMetric m;
        m.label = {{"pool", pool}, {"route", route}};
        m.gauge.value = static_cast<double>(n);
        tunnels.metric.push_back(std::move(m));
    };
    for (const auto& [stat, t] : traffic) {
        if (t.count == 0) continue;
        auto it = open_tunnels.find(stat);
        add_tunnels(stat, it == open_tunnels.end() ? 0 : it->second);
        if (it != open_tunnels.end()) open_tunnels.erase(it);
    }
    for (const auto& [stat, n] : open_tunnels) add_tunnels(stat, n);

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
            if (e.key >= load.size()) continue;
            // An HTTP/1.1 request in flight holds a connection of its own;
            // HTTP/2 ones share theirs.
            n += p.protocol == routing::UpstreamProtocol::h2
                     ? static_cast<double>(load[e.key].h2_connections)
                     : static_cast<double>(load[e.key].in_flight + load[e.key].idle);
        }
        by_pool[p.name] += n;
    }
    for (const auto& [pool, n] : by_pool) {
        prometheus::ClientMetric m;
        m.label = {{"pool", pool}};
        m.gauge.value = n;
        upstream.metric.push_back(std::move(m));
    }
    // Statistics memory: what the per-worker slots above cost, and what the
    // budget (limits.max_statistics_bytes) turned away.
    const auto& budget = server.stats_budget();
    // One unlabelled sample each.
    const auto single = [](const char* name, const char* help, prometheus::MetricType type, double value) {
        prometheus::MetricFamily f{name, help, type, {}};
        prometheus::ClientMetric m;
        if (type == prometheus::MetricType::Counter) m.counter.value = value;
        else m.gauge.value = value;
        f.metric.push_back(std::move(m));
        return f;
    };
    const auto value = [](const auto& atomic) { return static_cast<double>(atomic.load(std::memory_order_relaxed)); };
    auto stats_bytes = single("weir_statistics_bytes", "Memory held by per-worker request statistics (all workers).",
                              prometheus::MetricType::Gauge, value(budget.bytes));
    auto stats_limit = single("weir_statistics_limit_bytes", "limits.max_statistics_bytes.",
                              prometheus::MetricType::Gauge, value(budget.limit));
    auto stats_slots = single("weir_statistics_slots", "Per-worker (route, pool) statistics slots allocated (all workers).",
                              prometheus::MetricType::Gauge, value(budget.slots));
    auto dropped = single("weir_statistics_dropped_total",
                          "Requests not counted in weir_requests_total: statistics memory was at its limit.",
                          prometheus::MetricType::Counter, value(budget.dropped));
    // A worker counter summed over workers.
    const auto all_workers = [&](std::atomic<std::uint64_t> proxy::WorkerStats::*counter) {
        double sum = 0;
        for (const auto& w : server.workers()) sum += value(w->stats().*counter);
        return sum;
    };
    auto failovers = single("weir_failovers_total",
                            "Requests moved to another pool after every endpoint of theirs failed before anything was "
                            "sent (refused or timed-out connects).",
                            prometheus::MetricType::Counter, all_workers(&proxy::WorkerStats::failovers));
    auto not_repeated = single("weir_retries_refused_total",
                               "Requests answered 502 instead of being sent again after their bytes reached an upstream "
                               "that failed before answering: the method is not idempotent and no Idempotency-Key "
                               "was given.",
                               prometheus::MetricType::Counter, all_workers(&proxy::WorkerStats::retries_refused));
    auto accept_pauses = single("weir_accept_pauses_total",
                                "Times a listener stopped accepting for 100 ms because the process was out of "
                                "descriptors (or the kernel out of memory for sockets).",
                                prometheus::MetricType::Counter, all_workers(&proxy::WorkerStats::accept_pauses));
    auto h2_connections = single("weir_http2_connections_total",
                                 "Client connections that spoke HTTP/2 (ALPN h2, or h2c with prior knowledge).",
                                 prometheus::MetricType::Counter, all_workers(&proxy::WorkerStats::http2_connections));
    auto h2_calm = single("weir_http2_calm_goaways_total",
                          "HTTP/2 client connections ended with GOAWAY(ENHANCE_YOUR_CALM) for crossing an abuse bound "
                          "(rapid reset, SETTINGS/PING flood, CONTINUATION flood, HPACK bomb).",
                          prometheus::MetricType::Counter, all_workers(&proxy::WorkerStats::http2_calm_goaways));
    auto h2_resets = single("weir_http2_client_resets_total",
                            "HTTP/2 streams the client reset (or lost with its connection) before their exchange was "
                            "over; their upstream connections are closed, not pooled.",
                            prometheus::MetricType::Counter, all_workers(&proxy::WorkerStats::http2_client_resets));
    std::vector<prometheus::MetricFamily> out{
        std::move(requests),    std::move(durations),   std::move(failovers),   std::move(not_repeated),
        std::move(tunnels),     std::move(downstream),  std::move(upstream),    std::move(stats_bytes), std::move(stats_limit),
        std::move(stats_slots), std::move(dropped),     std::move(accept_pauses), std::move(h2_connections),
        std::move(h2_calm),     std::move(h2_resets)};
    for (auto& f : tls_families(plane)) out.push_back(std::move(f));
    return out;
}

prometheus::MetricFamily handshake_family(const char* name, const char* help, const char* by,
                                         const std::vector<std::pair<std::string, const tls::HandshakeCounts*>>& all) {
    prometheus::MetricFamily family{name, help, prometheus::MetricType::Counter, {}};
    for (const auto& [owner, counts] : all) {
        const std::pair<const char*, const std::atomic<std::uint64_t>*> results[] = {
            {"full", &counts->full}, {"resumed", &counts->resumed}, {"failed", &counts->failed},
            {"timeout", &counts->timeout}};
        for (const auto& [result, n] : results) {
            prometheus::ClientMetric m;
            m.label = {{by, owner}, {"result", result}};
            m.counter.value = static_cast<double>(n->load(std::memory_order_relaxed));
            family.metric.push_back(std::move(m));
        }
    }
    return family;
}

std::vector<prometheus::MetricFamily> tls_families(const ControlPlane& plane) {
    prometheus::MetricFamily handshakes = handshake_family(
        "weir_tls_handshakes_total", "TLS handshakes by listener and outcome.", "listener", tls::all_handshake_counts());
    prometheus::MetricFamily upstream = handshake_family("weir_upstream_tls_handshakes_total",
                                                         "TLS handshakes with upstream endpoints by pool and outcome.",
                                                         "pool", tls::all_upstream_handshake_counts());
    prometheus::MetricFamily expiry{"weir_tls_certificate_expiry_seconds",
                                    "Expiry (Unix time) of the certificate serving each name on each TLS listener.",
                                    prometheus::MetricType::Gauge, {}};
    for (const auto& listener : plane.current()->listeners) {
        if (!listener.tls) continue;
        for (const auto& cert : listener.tls->settings().certificates) {
            for (const auto& name : cert->names) {
                prometheus::ClientMetric m;
                m.label = {{"listener", listener.name}, {"name", name}};
                m.gauge.value = static_cast<double>(cert->not_after);
                expiry.metric.push_back(std::move(m));
            }
        }
    }
    std::vector<prometheus::MetricFamily> out;
    if (!handshakes.metric.empty()) out.push_back(std::move(handshakes));
    if (!upstream.metric.empty()) out.push_back(std::move(upstream));
    if (!expiry.metric.empty()) out.push_back(std::move(expiry));
    return out;
}

}  // namespace weir::control
