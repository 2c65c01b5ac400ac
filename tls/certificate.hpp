// A server (or client) certificate: its chain and private key read from PEM
// files and checked before anything serves with it, and the names it answers
// for (SNI). A certificate that cannot serve (missing file, no certificate,
// a key that does not match, expired) is refused with a message that says
// why; the caller reports it against the config key that named the files.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace weir::tls {

struct X509Free {
    void operator()(X509* x) const;
};
struct KeyFree {
    void operator()(EVP_PKEY* k) const;
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

struct Certificate {
    std::string cert_file;
    std::string key_file;
    X509Ptr leaf;
    std::vector<X509Ptr> chain;      // intermediates after the leaf, in file order
    KeyPtr key;
    std::vector<std::string> names;  // DNS names of the SAN (the subject CN when there is no SAN), lower case
    std::int64_t not_after = 0;      // expiry, Unix seconds
    std::string key_type;            // "ECDSA P-256", "RSA 2048", ...
};

struct LoadedCertificate {
    std::shared_ptr<const Certificate> certificate;  // null on failure
    std::string error;                               // why, when null
};

// Reads `cert_file` (leaf first, then its chain) and `key_file`, and checks
// they belong together and that the certificate is valid at `now` (Unix seconds).
LoadedCertificate load_certificate(const std::string& cert_file, const std::string& key_file, std::int64_t now);

// A host name in the lower case names are compared in (ASCII only: DNS
// names and SNI are ASCII).
std::string lower_name(std::string_view s);

// Whether `host` (lower case, no port) is covered by the certificate name
// `pattern`: equal, or a wildcard "*.example.com" standing for exactly one
// leftmost label (RFC 6125 §6.4.3; "*.example.com" does not cover
// "example.com" nor "a.b.example.com").
bool name_matches(std::string_view pattern, std::string_view host);

// The subject (RFC 2253, non-ASCII escaped) of the certificate the peer of
// `ssl` presented, when OpenSSL verified it; empty otherwise.
std::string verified_peer_subject(SSL* ssl);

// The text of the first error in OpenSSL's queue (the queue is cleared).
std::string last_ssl_error();

}  // namespace weir::tls
