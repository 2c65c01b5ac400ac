// One active health check of a `protocol: h2` pool: a fresh HTTP/2 connection
// (prior knowledge on plain TCP; over TLS, ALPN "h2" offered and required),
// one stream, closed once judged or when the timeout ends it. Runs on the
// control thread's io_context, like the HTTP/1.1 probe (prober.hpp).
//   type http: GET `path`, judged by :status within expect_status.
//   type grpc: grpc.health.v1.Health/Check for `service`, healthy only with
//              grpc-status 0 and status SERVING.
#pragma once

#include "health/prober.hpp"
#include "health/spec.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>

namespace weir::health {

// Calls `done` exactly once, on `io`'s thread.
void probe_h2(boost::asio::io_context& io, const Target& target, const CheckSpec& spec,
              std::function<void(ProbeResult)> done);

}  // namespace weir::health
