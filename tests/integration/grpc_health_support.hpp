// Python backends for the HTTP/2 health check tests, each a child process
// started from tests/support/: a gRPC server answering the health protocol
// (grpc_health_backend.py) and an h2c HTTP server (h2c_http_backend.py); and
// a gRPC client making calls through Weir (grpc_health_client.py).
// Each reads the answer it gives from a status file the test rewrites, so
// its state switches at runtime; each exits when this object (or the test
// process) goes away, since its stdin is a pipe held here.
#pragma once

#include "harness.hpp"

#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace weir_it::grpc_health {

class ScriptBackend {
public:
    // Runs Debian's python3 on tests/support/`script` with `args`; waits for
    // its "port N" line.
    ScriptBackend(const std::string& script, std::vector<std::string> args);
    ~ScriptBackend();
    ScriptBackend(const ScriptBackend&) = delete;
    ScriptBackend& operator=(const ScriptBackend&) = delete;

    bool started() const { return port_ != 0; }
    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // Lines of its stdout that start with `prefix` (calls it answered, ...).
    int lines_starting(const std::string& prefix) const;
    std::string output() const;

private:
    void read_output();

    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread reader_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::string out_;
};

// grpc_health_backend.py answering from `status_file` ("NAME STATUS" lines,
// see the script), over TLS with `cert`/`key` when given.
class GrpcHealthBackend : public ScriptBackend {
public:
    GrpcHealthBackend(const std::string& status_file, const std::string& cert = "", const std::string& key = "");
    int checks() const { return lines_starting("check "); }
};

// h2c_http_backend.py answering every request with the status in `status_file`.
class H2cHttpBackend : public ScriptBackend {
public:
    explicit H2cHttpBackend(const std::string& status_file);
    int requests() const { return lines_starting("request "); }
};

// grpc_health_client.py: `count` Check calls for `service` through `address`
// (h2c), one after another; done when constructed. Its lines are "ok STATUS"
// or "error CODE".
class GrpcHealthCalls : public ScriptBackend {
public:
    GrpcHealthCalls(const std::string& address, const std::string& service, int count);
};

}  // namespace weir_it::grpc_health
