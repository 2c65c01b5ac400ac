#include "tls/certificate.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace weir::tls {

void X509Free::operator()(X509* x) const { X509_free(x); }
void KeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

namespace {

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

std::vector<std::string> names_of(X509* cert) {
    std::vector<std::string> names;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
            if (n->type != GEN_DNS) continue;
            const unsigned char* data = ASN1_STRING_get0_data(n->d.dNSName);
            const int len = ASN1_STRING_length(n->d.dNSName);
            names.push_back(lower_name(std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len))));
        }
        GENERAL_NAMES_free(sans);
    }
    if (!names.empty()) return names;
    // No DNS SAN: clients ignore the CN then, but it is the only name there is.
    X509_NAME* subject = X509_get_subject_name(cert);
    const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
        ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
        const unsigned char* data = ASN1_STRING_get0_data(cn);
        names.push_back(lower_name(std::string_view(reinterpret_cast<const char*>(data),
                                               static_cast<std::size_t>(ASN1_STRING_length(cn)))));
    }
    return names;
}

std::int64_t unix_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::string describe_key(EVP_PKEY* key) {
    const int bits = EVP_PKEY_get_bits(key);
    switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_EC: {
            char group[64] = {};
            std::size_t len = 0;
            if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1) {
                std::string g(group, len);
                if (g == "prime256v1") g = "P-256";
                else if (g == "secp384r1") g = "P-384";
                else if (g == "secp521r1") g = "P-521";
                return "ECDSA " + g;
            }
            return "ECDSA";
        }
        case EVP_PKEY_RSA:
            return "RSA " + std::to_string(bits);
        case EVP_PKEY_ED25519:
            return "Ed25519";
        default:
            return std::string(OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
    }
}

FilePtr open_file(const std::string& path, std::string& error) {
    FilePtr f(std::fopen(path.c_str(), "rb"));
    if (!f) error = "cannot read " + path + ": " + std::strerror(errno);
    return f;
}

}  // namespace

std::string lower_name(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string verified_peer_subject(SSL* ssl) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (!peer || SSL_get_verify_result(ssl) != X509_V_OK) return {};
    BIO* b = BIO_new(BIO_s_mem());
    if (!b) return {};
    const unsigned long flags = (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_UTF8_CONVERT) | ASN1_STRFLGS_ESC_MSB;
    X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, flags);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(n > 0 ? n : 0));
    BIO_free(b);
    return out;
}

std::string last_ssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

LoadedCertificate load_certificate(const std::string& cert_file, const std::string& key_file, std::int64_t now) {
    LoadedCertificate out;
    ERR_clear_error();
    auto cert = std::make_shared<Certificate>();
    cert->cert_file = cert_file;
    cert->key_file = key_file;

    FilePtr cf = open_file(cert_file, out.error);
    if (!cf) return out;
    cert->leaf.reset(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr));
    if (!cert->leaf) {
        out.error = cert_file + ": no PEM certificate (" + last_ssl_error() + ")";
        return out;
    }
    while (X509* next = PEM_read_X509(cf.get(), nullptr, nullptr, nullptr)) cert->chain.emplace_back(next);
    ERR_clear_error();  // the end of the file reads as an error

    FilePtr kf = open_file(key_file, out.error);
    if (!kf) return out;
    cert->key.reset(PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr));
    if (!cert->key) {
        out.error = key_file + ": no PEM private key, or one protected by a passphrase (" + last_ssl_error() + ")";
        return out;
    }
    if (X509_check_private_key(cert->leaf.get(), cert->key.get()) != 1) {
        ERR_clear_error();
        out.error = key_file + ": the private key does not match the certificate in " + cert_file;
        return out;
    }
    cert->not_after = unix_time(X509_get0_notAfter(cert->leaf.get()));
    const std::int64_t not_before = unix_time(X509_get0_notBefore(cert->leaf.get()));
    cert->names = names_of(cert->leaf.get());
    cert->key_type = describe_key(cert->key.get());
    if (cert->not_after <= now) {
        out.error = cert_file + ": the certificate expired (not after " +
                    std::to_string(cert->not_after) + ", Unix seconds)";
        return out;
    }
    if (not_before > now) {
        out.error = cert_file + ": the certificate is not valid yet (not before " + std::to_string(not_before) +
                    ", Unix seconds)";
        return out;
    }
    if (cert->names.empty()) {
        out.error = cert_file + ": the certificate names no host (no DNS subject alternative name, no common name)";
        return out;
    }
    out.certificate = std::move(cert);
    return out;
}

bool name_matches(std::string_view pattern, std::string_view host) {
    if (pattern.size() >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        const std::string_view suffix = pattern.substr(1);  // ".example.com"
        if (host.size() <= suffix.size()) return false;
        const std::string_view label = host.substr(0, host.size() - suffix.size());
        return host.substr(label.size()) == suffix && label.find('.') == std::string_view::npos;
    }
    return pattern == host;
}

}  // namespace weir::tls
