// The data plane's metric families, computed at scrape time from the
// workers' own counters (docs/metrics.md): requests by route, pool and status code,
// request durations, downstream and upstream connections, TLS handshakes and
// certificate expiry.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace weir::proxy {
class Server;
}

namespace weir::control {

class ControlPlane;

std::vector<prometheus::MetricFamily> traffic_families(proxy::Server& server, const ControlPlane& plane);
// TLS handshakes by listener and outcome, and the expiry of every certificate
// in force (part of traffic_families).
std::vector<prometheus::MetricFamily> tls_families(const ControlPlane& plane);

}  // namespace weir::control
