// Session ticket keys for every TLS listener of the process. One key ring
// serves all workers and all reloads, so a client resumes its session on
// whichever worker its next connection lands, and across a reload. Keys are
// random, never written anywhere, and rotate: a new key encrypts tickets
// every `rotation`, and the previous ones still decrypt for two more periods
// (tickets they opened are renewed with the current key).
#pragma once

#include <openssl/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>

namespace weir::tls {

class TicketKeys {
public:
    static constexpr std::chrono::seconds rotation{3600};
    static constexpr std::size_t kept = 3;  // the current key and two before it

    // The process's key ring.
    static TicketKeys& shared();

    // OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb).
    static int callback(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac, int encrypt);

    // Rotates now (tests; the callback rotates by the clock).
    void rotate();

private:
    struct Key {
        std::array<unsigned char, 16> name;
        std::array<unsigned char, 32> aes;
        std::array<unsigned char, 32> hmac;
    };
    // 1 with the current key, 2 (renew) with an older one, 0 when unknown.
    int encrypt(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac);
    int decrypt(const unsigned char* key_name, const unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac);
    void rotate_locked(std::chrono::steady_clock::time_point now);

    std::mutex mutex_;
    std::deque<Key> keys_;  // newest first
    std::chrono::steady_clock::time_point rotated_{};
};

}  // namespace weir::tls
