// The data plane's metric families, computed at scrape time from the
// workers' own counters (docs/metrics.md): requests by route, pool and status code,
// request durations, downstream and upstream connections.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace weir::proxy {
class Server;
}

namespace weir::control {

class ControlPlane;

std::vector<prometheus::MetricFamily> traffic_families(proxy::Server& server, const ControlPlane& plane);

}  // namespace weir::control
