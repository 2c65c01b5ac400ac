// A real nginx as a pool's origin, for tests that must hold against a
// production server rather than the in-process fakes: one nginx process
// (no master, one worker loop) on 127.0.0.1, answering every request after
// an exact delay (the echo module's echo_sleep), with a body of a chosen
// size, and failing a chosen share of requests with 500; optionally over TLS. The body starts
// with "<name> ok" (or "<name> error"), as the rollout helpers expect.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "weir_process.hpp"

namespace weir_it {

struct NginxSpec {
    std::string name;
    double delay_ms = 0;          // before answering, whole milliseconds; 0: at once
    std::size_t body_bytes = 0;   // 0: just "<name> ok\n"; else padded to this size (static file)
    int fail_sixteenths = 0;      // requests whose request id ends in one of this many hex digits get 500
    // Both set: the server speaks only TLS with this certificate (PEM files),
    // and every response says what TLS saw: X-Tls-Sni ("sni=" and the SNI),
    // X-Tls-Reused ("r" for a resumed session, "." for a full handshake) and
    // X-Connection (nginx's connection serial number) and X-Tls-Protocol.
    std::string tls_cert;
    std::string tls_key;
    std::string tls_protocols = "TLSv1.2 TLSv1.3";  // nginx's ssl_protocols
    // Set: client certificates are required and verified against this CA
    // file; a request without one is answered 400 by nginx.
    std::string tls_client_ca;
};

class NginxBackend {
public:
    explicit NginxBackend(NginxSpec spec);
    ~NginxBackend();
    NginxBackend(const NginxBackend&) = delete;
    NginxBackend& operator=(const NginxBackend&) = delete;

    bool running() const { return pid_ > 0; }
    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // Why it did not start (empty when it did), with nginx's error log.
    const std::string& error() const { return error_; }

private:
    bool start_on(std::uint16_t port);

    NginxSpec spec_;
    TempDir dir_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::string error_;
};

// Whether nginx and its echo module are installed (the tests say so and
// fail when they are not: .ci/run installs them).
bool nginx_available(std::string& why);

}  // namespace weir_it
