// How Weir speaks TLS to a pool's endpoints (upstream.tls): one OpenSSL client
// context per pool and configuration load, shared by every worker and by the
// health checker. Verification is on unless the operator turned it off; the
// name checked (and sent as SNI) is the pool's server_name, else the
// endpoint's host as configured. Each endpoint's last session is kept so a
// new connection resumes it (an abbreviated handshake) on any worker.
#pragma once

#include "tls/certificate.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace weir::tls {

struct ClientSettings {
    std::string ca_file;      // PEM bundle to verify against; empty: the system's CAs
    std::string server_name;  // checked and sent as SNI; empty: each endpoint's host
    bool verify = true;       // false: any certificate is accepted (logged at load)
    std::shared_ptr<const Certificate> certificate;  // presented when the upstream asks (mTLS)
};

class ClientContext {
public:
    // Null, with `error` set, when OpenSSL refuses a setting or a file.
    static std::shared_ptr<const ClientContext> create(const ClientSettings& settings, std::string& error);
    ~ClientContext();
    ClientContext(const ClientContext&) = delete;
    ClientContext& operator=(const ClientContext&) = delete;

    // A client-side connection state for the endpoint `session_key` (its
    // "ip:port") whose configured host is `host`: SNI and the name verified
    // set, and the endpoint's last session offered for resumption. Null when
    // OpenSSL is out of memory.
    SSL* new_connection(std::string_view host, const std::string& session_key) const;
    const ClientSettings& settings() const { return settings_; }
    // Why a handshake of `ssl` failed, for the log: the certificate check's
    // own reason when that is what failed, else OpenSSL's error (`fallback`).
    std::string failure(SSL* ssl, const std::string& fallback) const;
    SSL_CTX* native() const { return ctx_; }

    // The name a connection to `host` is verified against and announces.
    std::string_view peer_name(std::string_view host) const {
        return settings_.server_name.empty() ? host : std::string_view(settings_.server_name);
    }

private:
    ClientContext() = default;
    static int on_new_session(SSL* ssl, SSL_SESSION* session);

    ClientSettings settings_;
    SSL_CTX* ctx_ = nullptr;
    // The last resumable session of each endpoint. Written when a server
    // issues one (after the handshake in TLS 1.3), read at each new
    // connection: a short lock, taken only on those two rare events.
    mutable std::mutex sessions_mutex_;
    mutable std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

// True for an IPv4 or IPv6 literal (never sent as SNI; verified as an IP SAN).
bool is_ip_literal(std::string_view host);

}  // namespace weir::tls
