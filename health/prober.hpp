// One active health check: an HTTP/1.1 GET on a fresh connection (over TLS
// when the pool's upstream.tls says so, with the same verification), judged
// by its status code. Runs on the control thread's io_context, never on a
// worker's request path. Endpoints of protocol h2 pools are checked over
// HTTP/2 instead (h2_probe.hpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace weir::tls {
class ClientContext;
}

namespace weir::health {

// An endpoint as the checks reach it.
struct Target {
    std::string name;  // "host:port", as the snapshot names it (the check's Host)
    boost::asio::ip::tcp::endpoint address;
    std::string host;  // the host as configured (TLS: SNI and the name verified)
    std::shared_ptr<const tls::ClientContext> tls;  // set: the pool speaks TLS to it
    bool h2 = false;  // the pool's protocol is h2: checks go over HTTP/2 (h2_probe.hpp)
};

struct ProbeResult {
    enum class Kind { ok, bad_status, timeout, refused, error } kind = Kind::error;
    int status = 0;       // the status code, when a response head arrived
    std::string detail;   // for the log line: "status 503", "timeout", "connection refused"
    bool passed() const { return kind == Kind::ok; }
};

// Calls `done` exactly once, on `io`'s thread.
void probe(boost::asio::io_context& io, const Target& target, const std::string& path,
           std::chrono::milliseconds timeout, int expect_min, int expect_max, std::function<void(ProbeResult)> done);

}  // namespace weir::health
