#include "tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace weir::tls {

TicketKeys& TicketKeys::shared() {
    static TicketKeys keys;
    return keys;
}

int TicketKeys::callback(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac, int encrypt) {
    TicketKeys& keys = shared();
    if (encrypt) return keys.encrypt(key_name, iv, cipher, mac);
    const int rc = keys.decrypt(key_name, iv, cipher, mac);
    // TLS 1.3 clients use a ticket once (RFC 8446 §C.4; OpenSSL's client
    // cache drops it after the resumption), so a resumed connection must
    // carry a new one, or that client's next connection is a full
    // handshake: 2 asks OpenSSL to issue it. TLS 1.2 tickets may be reused.
    if (rc == 1 && SSL_version(ssl) >= TLS1_3_VERSION) return 2;
    return rc;
}

void TicketKeys::rotate() {
    std::lock_guard<std::mutex> lock(mutex_);
    rotate_locked(std::chrono::steady_clock::now());
}

void TicketKeys::rotate_locked(std::chrono::steady_clock::time_point now) {
    Key k;
    if (RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) != 1 ||
        RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size())) != 1 ||
        RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size())) != 1)
        return;  // no randomness: keep the keys there are (or issue no ticket)
    keys_.push_front(k);
    while (keys_.size() > kept) keys_.pop_back();
    rotated_ = now;
}

namespace {

// The ticket cipher, fetched once: OpenSSL 3 looks a legacy EVP_aes_256_cbc()
// up in its provider tables (locks, name lookups) on every init otherwise,
// and every handshake encrypts or decrypts a ticket.
const EVP_CIPHER* ticket_cipher() {
    static const EVP_CIPHER* const fetched = [] {
        const EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
        return c ? c : EVP_aes_256_cbc();
    }();
    return fetched;
}

int init_mac(EVP_MAC_CTX* mac, const unsigned char* key, std::size_t len) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    return EVP_MAC_init(mac, key, len, params);
}

}  // namespace

int TicketKeys::encrypt(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac) {
    Key k;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        if (keys_.empty() || now - rotated_ >= rotation) rotate_locked(now);
        if (keys_.empty()) return -1;
        k = keys_.front();
    }
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(ticket_cipher())) != 1) return -1;
    std::memcpy(key_name, k.name.data(), k.name.size());
    if (EVP_EncryptInit_ex(cipher, ticket_cipher(), nullptr, k.aes.data(), iv) != 1) return -1;
    if (init_mac(mac, k.hmac.data(), k.hmac.size()) != 1) return -1;
    return 1;
}

int TicketKeys::decrypt(const unsigned char* key_name, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac) {
    Key k;
    bool current = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = std::find_if(keys_.begin(), keys_.end(),
                               [&](const Key& c) { return std::memcmp(c.name.data(), key_name, c.name.size()) == 0; });
        if (it == keys_.end()) return 0;  // unknown or retired key: a full handshake
        k = *it;
        current = it == keys_.begin();
    }
    // `iv` is the one the ticket carries.
    if (init_mac(mac, k.hmac.data(), k.hmac.size()) != 1) return -1;
    if (EVP_DecryptInit_ex(cipher, ticket_cipher(), nullptr, k.aes.data(), iv) != 1) return -1;
    return current ? 1 : 2;
}

}  // namespace weir::tls
