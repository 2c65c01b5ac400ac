// Test certificates made with OpenSSL's API: self-signed or signed by a test
// CA, ECDSA P-256 or RSA, with the names and validity a test asks for. They
// exist only in the test's temporary files; no private key is committed.
#pragma once

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace weir::test {

struct TestCertificate {
    std::string cert_pem;  // the certificate alone
    std::string key_pem;
    std::shared_ptr<X509> cert;  // kept to sign others (a CA)
    std::shared_ptr<EVP_PKEY> key;
};

struct CertificateSpec {
    std::string common_name = "weir.test";
    std::vector<std::string> dns;         // subjectAltName DNS entries
    std::vector<std::string> ip;          // subjectAltName IP addresses
    std::int64_t valid_from = -3600;      // seconds from now
    std::int64_t valid_until = 30 * 86400;
    bool rsa = false;                     // RSA 2048 instead of ECDSA P-256
    bool ca = false;                      // basicConstraints CA:TRUE (may sign others)
    const TestCertificate* issuer = nullptr;  // null: self-signed
    long serial = 1;
};

inline std::string pem_of(X509* cert) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, cert);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return out;
}

inline std::string pem_of(EVP_PKEY* key) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return out;
}

inline void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("test certificate: bad extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

inline TestCertificate make_certificate(const CertificateSpec& spec) {
    TestCertificate out;
    out.key.reset(spec.rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"), EVP_PKEY_free);
    if (!out.key) throw std::runtime_error("test certificate: key generation failed");
    out.cert.reset(X509_new(), X509_free);
    X509* cert = out.cert.get();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), spec.serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), static_cast<long>(spec.valid_from));
    X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(spec.valid_until));
    X509_set_pubkey(cert, out.key.get());
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0);
    X509* issuer_cert = spec.issuer ? spec.issuer->cert.get() : cert;
    EVP_PKEY* issuer_key = spec.issuer ? spec.issuer->key.get() : out.key.get();
    X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
    add_extension(cert, issuer_cert, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (spec.ca) add_extension(cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert, issuer_cert, NID_subject_key_identifier, "hash");
    if (spec.issuer) add_extension(cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
    if (!spec.dns.empty() || !spec.ip.empty()) {
        std::string san;
        for (const auto& d : spec.dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
        for (const auto& a : spec.ip) san += (san.empty() ? "IP:" : ",IP:") + a;
        add_extension(cert, issuer_cert, NID_subject_alt_name, san);
    }
    if (X509_sign(cert, issuer_key, EVP_sha256()) == 0) throw std::runtime_error("test certificate: signing failed");
    out.cert_pem = pem_of(cert);
    out.key_pem = pem_of(out.key.get());
    return out;
}

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + path);
}

struct CertificateFiles {
    std::string cert;
    std::string key;
};

// Writes `<dir>/<name>.pem` (the certificate, then `chain`) and `<dir>/<name>.key`.
inline CertificateFiles write_certificate(const std::string& dir, const std::string& name, const TestCertificate& c,
                                          const std::string& chain = "") {
    CertificateFiles f{dir + "/" + name + ".pem", dir + "/" + name + ".key"};
    write_text(f.cert, c.cert_pem + chain);
    write_text(f.key, c.key_pem);
    return f;
}

// A server certificate for `names` (the first is also its CN), signed by
// `issuer` or self-signed.
inline TestCertificate leaf_certificate(std::vector<std::string> names, const TestCertificate* issuer = nullptr,
                                        long serial = 1, bool rsa = false) {
    CertificateSpec s;
    s.common_name = names.front();
    s.dns = std::move(names);
    s.issuer = issuer;
    s.serial = serial;
    s.rsa = rsa;
    return make_certificate(s);
}

// A certificate authority that may sign others.
inline TestCertificate authority(const std::string& name) {
    CertificateSpec s;
    s.common_name = name;
    s.ca = true;
    return make_certificate(s);
}

}  // namespace weir::test
