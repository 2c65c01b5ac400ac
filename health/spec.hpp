// What a pool's active checks and passive ejection are set to, with their
// defaults. config/config.hpp uses these very types for `health_check` and
// `outlier` (docs/config.md), so each default is written only here.
#pragma once

#include "health/outlier.hpp"

#include <chrono>
#include <string>

namespace weir::health {

// What an active check asks: `http` is a GET of `path` judged by its status
// (over HTTP/2 for protocol h2 pools); `grpc` is the gRPC health protocol's
// Check call (grpc.health.v1, h2 pools only), judged SERVING or not.
enum class CheckType { http, grpc };

// Active checks every `interval` (+-10% jitter); a state flips after
// `healthy_threshold` / `unhealthy_threshold` results in a row.
struct CheckSpec {
    CheckType type = CheckType::http;
    std::string service;  // grpc: the service asked about; "" is the whole server
    std::string path = "/healthz";
    std::chrono::milliseconds interval{2000};
    std::chrono::milliseconds timeout{1000};
    int healthy_threshold = 2;
    int unhealthy_threshold = 3;
    int expect_min = 200;  // inclusive status range that counts as healthy
    int expect_max = 399;
    bool operator==(const CheckSpec&) const = default;
};

// Passive ejection after consecutive failures (connect timeouts, resets,
// timeouts, 5xx), counted across all workers together; the ejection time
// doubles on repeat, up to max_ejection_time.
struct OutlierSpec {
    int consecutive_failures = 5;
    std::chrono::milliseconds ejection_time{30000};
    std::chrono::milliseconds max_ejection_time{OutlierState::max_ejection};
};

}  // namespace weir::health
