#include "tls/server_context.hpp"

#include "tls/ticket_keys.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace weir::tls {
namespace {

// Mozilla "intermediate" (TLS 1.2 part; TLS 1.3 suites are OpenSSL's
// defaults, all of which are fine): forward secrecy and AEAD only.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
constexpr const char* groups = "X25519:P-256:P-384";
// Sessions resumed by ID (TLS 1.2 clients without tickets) must come from a
// context of this process.
constexpr unsigned char session_id_context[] = "weir";

}  // namespace

ServerContext::~ServerContext() {
    for (SSL_CTX* c : contexts_) SSL_CTX_free(c);
}

std::shared_ptr<const ServerContext> ServerContext::create(const ServerSettings& settings, std::string& error) {
    if (settings.certificates.empty()) {
        error = "no certificate";
        return nullptr;
    }
    std::shared_ptr<ServerContext> ctx(new ServerContext());
    ctx->settings_ = settings;
    for (const auto& proto : settings.alpn) {
        ctx->alpn_wire_.push_back(static_cast<char>(proto.size()));
        ctx->alpn_wire_ += proto;
    }
    ERR_clear_error();
    for (std::size_t i = 0; i < settings.certificates.size(); ++i) {
        const Certificate& cert = *settings.certificates[i];
        SSL_CTX* c = SSL_CTX_new(TLS_server_method());
        if (!c) {
            error = "cannot create a TLS context: " + last_ssl_error();
            return nullptr;
        }
        ctx->contexts_.push_back(c);
        SSL_CTX_set_min_proto_version(c, settings.min_version == MinVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
        // Most clients close without close_notify: that is an EOF, not an error.
        SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                   SSL_OP_IGNORE_UNEXPECTED_EOF);
        // Idle connections give their 16 KiB+ record buffers back; writes
        // may be partial and resumed from a moved buffer, as a non-blocking
        // pump needs.
        SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_max_early_data(c, 0);  // no 0-RTT: early data can be replayed
        // One recv(2) takes in a whole record (or several) rather than its
        // 5-byte header first and then its body: half the reads per request.
        SSL_CTX_set_read_ahead(c, 1);
        if (SSL_CTX_set_cipher_list(c, tls12_ciphers) != 1 || SSL_CTX_set1_groups_list(c, groups) != 1) {
            error = "cipher settings refused: " + last_ssl_error();
            return nullptr;
        }
        if (SSL_CTX_use_certificate(c, cert.leaf.get()) != 1 || SSL_CTX_use_PrivateKey(c, cert.key.get()) != 1) {
            error = cert.cert_file + ": " + last_ssl_error();
            return nullptr;
        }
        for (const auto& link : cert.chain) {
            if (SSL_CTX_add1_chain_cert(c, link.get()) != 1) {
                error = cert.cert_file + ": chain: " + last_ssl_error();
                return nullptr;
            }
        }
        SSL_CTX_set_session_id_context(c, session_id_context, sizeof session_id_context - 1);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(c, &TicketKeys::callback);
        SSL_CTX_set_tlsext_servername_callback(c, &ServerContext::on_server_name);
        SSL_CTX_set_tlsext_servername_arg(c, ctx.get());
        SSL_CTX_set_alpn_select_cb(c, &ServerContext::on_alpn, ctx.get());
        if (!settings.client_ca_file.empty()) {
            if (SSL_CTX_load_verify_locations(c, settings.client_ca_file.c_str(), nullptr) != 1) {
                error = settings.client_ca_file + ": " + last_ssl_error();
                return nullptr;
            }
            STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca_file.c_str());
            if (!names) {
                error = settings.client_ca_file + ": no CA certificate";
                return nullptr;
            }
            SSL_CTX_set_client_CA_list(c, names);
            SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        }
        for (const std::string& name : cert.names) {
            if (name.size() > 2 && name[0] == '*' && name[1] == '.') ctx->wildcard_.emplace(name.substr(1), i);
            else ctx->exact_.emplace(name, i);
        }
    }
    return ctx;
}

SSL* ServerContext::new_connection() const {
    SSL* ssl = SSL_new(contexts_.front());
    if (ssl) SSL_set_accept_state(ssl);
    return ssl;
}

std::size_t ServerContext::choose(std::string_view host) const {
    if (auto it = exact_.find(std::string(host)); it != exact_.end()) return it->second;
    const auto dot = host.find('.');
    if (dot != std::string_view::npos && dot > 0) {
        if (auto it = wildcard_.find(std::string(host.substr(dot))); it != wildcard_.end()) return it->second;
    }
    return 0;
}

int ServerContext::on_server_name(SSL* ssl, int*, void* arg) {
    const auto* self = static_cast<const ServerContext*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
    const std::size_t i = self->choose(lower_name(name));
    if (i != 0) SSL_set_SSL_CTX(ssl, self->contexts_[i]);
    return SSL_TLSEXT_ERR_OK;
}

int ServerContext::on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                           unsigned int inlen, void* arg) {
    const auto* self = static_cast<const ServerContext*>(arg);
    unsigned char* chosen = nullptr;
    unsigned char len = 0;
    // Weir's preference order; a client offering none of them goes on
    // without ALPN (as nginx does) rather than failing the handshake.
    if (SSL_select_next_proto(&chosen, &len, reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                              static_cast<unsigned>(self->alpn_wire_.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    *outlen = len;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace weir::tls
