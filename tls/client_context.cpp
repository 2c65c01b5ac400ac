#include "tls/client_context.hpp"

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace weir::tls {
namespace {

// HTTP/1.1 is what Weir sends upstream; saying so keeps a server that also
// speaks h2 from choosing it.
constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// Where the callbacks find their context and connection: an SSL_CTX points
// back to its ClientContext, an SSL carries its endpoint's session key (a
// heap string, freed with the SSL).
void free_key(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

int context_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int key_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_key);
    return index;
}

}  // namespace

bool is_ip_literal(std::string_view host) {
    const std::string h(host);
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

ClientContext::~ClientContext() {
    for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
    if (ctx_) SSL_CTX_free(ctx_);
}

std::shared_ptr<const ClientContext> ClientContext::create(const ClientSettings& settings, std::string& error) {
    std::shared_ptr<ClientContext> self(new ClientContext());
    self->settings_ = settings;
    ERR_clear_error();
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    if (!c) {
        error = "cannot create a TLS context: " + last_ssl_error();
        return nullptr;
    }
    self->ctx_ = c;
    SSL_CTX_set_ex_data(c, context_index(), self.get());
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // As on the listeners: pooled idle connections give their record buffers
    // back, and the pump may resume a partial write from a moved buffer.
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(c, 1);  // a record in one read, as on the listeners
    if (SSL_CTX_set_alpn_protos(c, alpn_http11, sizeof alpn_http11) != 0) {
        error = "ALPN settings refused: " + last_ssl_error();
        return nullptr;
    }
    if (settings.verify) {
        const bool loaded = settings.ca_file.empty()
                                ? SSL_CTX_set_default_verify_paths(c) == 1
                                : SSL_CTX_load_verify_locations(c, settings.ca_file.c_str(), nullptr) == 1;
        if (!loaded) {
            error = (settings.ca_file.empty() ? std::string("system CA certificates") : settings.ca_file) + ": " +
                    last_ssl_error();
            return nullptr;
        }
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    }
    if (const auto& cert = settings.certificate) {
        if (SSL_CTX_use_certificate(c, cert->leaf.get()) != 1 || SSL_CTX_use_PrivateKey(c, cert->key.get()) != 1) {
            error = cert->cert_file + ": " + last_ssl_error();
            return nullptr;
        }
        for (const auto& link : cert->chain) {
            if (SSL_CTX_add1_chain_cert(c, link.get()) != 1) {
                error = cert->cert_file + ": chain: " + last_ssl_error();
                return nullptr;
            }
        }
    }
    // Sessions are kept here, by endpoint, not in OpenSSL's cache (which a
    // client context does not look up by itself).
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, &ClientContext::on_new_session);
    return self;
}

SSL* ClientContext::new_connection(std::string_view host, const std::string& session_key) const {
    SSL* ssl = SSL_new(ctx_);
    if (!ssl) return nullptr;
    SSL_set_connect_state(ssl);
    const std::string name(peer_name(host));
    const bool ip = is_ip_literal(name);
    // RFC 6066 §3: SNI carries host names only, never an address.
    if (!ip && !name.empty()) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (settings_.verify) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (ip) X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        else SSL_set1_host(ssl, name.c_str());
    }
    SSL_set_ex_data(ssl, key_index(), new std::string(session_key));
    SSL_SESSION* last = nullptr;
    {
        std::lock_guard lock(sessions_mutex_);  // shared by the workers: only a reference is taken under it
        if (auto it = sessions_.find(session_key); it != sessions_.end() && SSL_SESSION_up_ref(it->second) == 1)
            last = it->second;
    }
    if (last) {
        // Each connection offers its own copy: OpenSSL marks a TLS 1.3
        // session it offered as used up (tickets are meant for one use by
        // clients that can be tracked; RFC 8446 §C.4), so the shared one
        // would leave every other connection opened before the next ticket
        // arrives to a full handshake. An endpoint of Weir's own pool takes a
        // ticket more than once, as it does from HAProxy and nginx.
        if (SSL_SESSION* copy = SSL_SESSION_dup(last)) {
            SSL_set_session(ssl, copy);
            SSL_SESSION_free(copy);  // the SSL holds its own reference
        }
        SSL_SESSION_free(last);
    }
    return ssl;
}

int ClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* self = static_cast<ClientContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
    const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, key_index()));
    if (!self || !key || !SSL_SESSION_is_resumable(session)) return 0;
    std::lock_guard lock(self->sessions_mutex_);
    SSL_SESSION*& slot = self->sessions_[*key];
    if (slot) SSL_SESSION_free(slot);
    slot = session;
    return 1;  // the reference is ours now
}

std::string ClientContext::failure(SSL* ssl, const std::string& fallback) const {
    const long verdict = SSL_get_verify_result(ssl);
    if (settings_.verify && verdict != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verdict);
    return fallback;
}

}  // namespace weir::tls
