// Python backends for the HTTP/2 health check tests, each a child process
// started from tests/support/: a gRPC server answering the health protocol
// (grpc_health_backend.py) and an h2c HTTP server (h2c_http_backend.py); and
// a gRPC client making calls through Weir (grpc_health_client.py).
// Each reads the answer it gives from a status file the test rewrites, so
// its state switches at runtime; each exits when this object (or the test
// process) goes away, since its stdin is a pipe held here.
#pragma once

#include "harness.hpp"
#include "script_process.hpp"

#include <string>

namespace weir_it::grpc_health {

// grpc_health_backend.py answering from `status_file` ("NAME STATUS" lines,
// see the script), over TLS with `cert`/`key` when given.
class GrpcHealthBackend : public ScriptProcess {
public:
    GrpcHealthBackend(const std::string& status_file, const std::string& cert = "", const std::string& key = "");
    int checks() const { return lines_starting("check "); }
};

// h2c_http_backend.py answering every request with the status in `status_file`.
class H2cHttpBackend : public ScriptProcess {
public:
    explicit H2cHttpBackend(const std::string& status_file);
    int requests() const { return lines_starting("request "); }
};

// grpc_health_client.py: `count` Check calls for `service` through `address`
// (h2c), one after another; done when constructed. Its lines are "ok STATUS"
// or "error CODE".
class GrpcHealthCalls : public ScriptProcess {
public:
    GrpcHealthCalls(const std::string& address, const std::string& service, int count);
};

}  // namespace weir_it::grpc_health
