// What a TLS listener serves with: one OpenSSL context per certificate, all
// with the same settings, and the choice between them by SNI. Built once per
// configuration load (the control thread) and shared, immutable, by every
// worker; a reload builds new ones, and connections already open keep the
// context they started with (each SSL holds a reference to its SSL_CTX).
#pragma once

#include "tls/certificate.hpp"

#include <openssl/types.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace weir::tls {

enum class MinVersion { tls1_2, tls1_3 };

struct ServerSettings {
    std::vector<std::shared_ptr<const Certificate>> certificates;  // the first answers no or unknown SNI
    MinVersion min_version = MinVersion::tls1_2;
    std::string client_ca_file;              // mTLS: client certificates required and verified against it
    std::vector<std::string> alpn = {"http/1.1"};  // offered in this order of preference
};

class ServerContext {
public:
    // Null, with `error` set, when OpenSSL refuses a setting or a file.
    static std::shared_ptr<const ServerContext> create(const ServerSettings& settings, std::string& error);
    ~ServerContext();
    ServerContext(const ServerContext&) = delete;
    ServerContext& operator=(const ServerContext&) = delete;

    // A new server-side connection state on the default certificate (SNI may
    // switch it during the handshake). Null when OpenSSL is out of memory.
    SSL* new_connection() const;
    const ServerSettings& settings() const { return settings_; }

    // The certificate index serving `host` (lower case): an exact name first,
    // then a wildcard one, else 0 (the default certificate).
    std::size_t choose(std::string_view host) const;

private:
    ServerContext() = default;
    static int on_server_name(SSL* ssl, int* alert, void* arg);
    static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                       unsigned int inlen, void* arg);

    ServerSettings settings_;
    std::vector<SSL_CTX*> contexts_;  // parallel to settings_.certificates
    std::unordered_map<std::string, std::size_t> exact_;     // name -> first certificate with it
    std::unordered_map<std::string, std::size_t> wildcard_;  // ".example.com" of "*.example.com" -> index
    std::string alpn_wire_;  // settings_.alpn in ALPN wire format
};

}  // namespace weir::tls
