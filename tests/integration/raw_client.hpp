// A blocking TCP client that sends exact bytes and reads whole responses
// (Content-Length, chunked or until close), so tests can send malformed
// requests byte for byte, pipeline, and reuse a keep-alive connection.
// The same client speaks TLS to a TLS listener when given a ClientTls.
#pragma once

#include "wire.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace weir_it {

struct Response {
    bool complete = false;  // head and body read as framed
    std::string error;      // why not complete
    std::string version;
    int status = 0;
    std::string reason;
    Headers headers;
    std::string head;            // the raw head
    std::string body;            // up to ReadOptions::store_limit bytes
    std::uint64_t body_bytes = 0;
    std::uint64_t digest = 0;    // Digest of the whole body
    bool chunked = false;
    bool until_close = false;
    std::vector<int> interim;    // 1xx statuses skipped before this one

    bool connection_close() const { return headers.has_token("connection", "close"); }
    std::string describe() const;
};

struct ReadOptions {
    bool head_request = false;    // the request was HEAD: no body follows
    bool return_interim = false;  // return a 1xx instead of skipping it
    std::size_t store_limit = 16 << 20;
    Sink sink;                    // also receives every body byte
};

// The local address a client connects from (any of 127.0.0.0/8 works on
// loopback), so tests can be a trusted and an untrusted peer on one machine.
struct From {
    std::string ip;
};

// What a TLS client needs: a context (trusting the CA that signed the
// listener's certificate) and the name it sends as SNI and verifies.
struct ClientTls {
    std::shared_ptr<ssl_ctx_st> ctx;
    std::string server_name;
};

// A TLS listener for tests: a certificate for "weir.test" signed by a test CA
// (made once per process with tests/support/certificates.hpp) written into `dir`,
// the listener's `tls` value in YAML, and a client context that verifies the
// listener's certificate chain and name against that CA.
struct TestTlsListener {
    std::string tls_yaml;
    ClientTls client;
};
TestTlsListener make_test_tls_listener(const std::string& dir);

class RawClient {
public:
    explicit RawClient(std::uint16_t port, Millis timeout = 10s);
    RawClient(std::uint16_t port, const From& from, Millis timeout = 10s);
    // Connects and completes a TLS handshake; connected() is false if either
    // fails (tls_error() says why the handshake did).
    RawClient(std::uint16_t port, const ClientTls& tls, Millis timeout = 10s);
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connected() const { return fd_ >= 0; }
    int connect_errno() const { return connect_errno_; }
    int fd() const { return fd_; }
    bool tls() const { return ssl_ != nullptr; }
    // The TLS handshake's or connection's failure, if any.
    std::string tls_error() const { return handshake_error_.empty() ? stream_.tls_error : handshake_error_; }
    void set_timeout(Millis timeout);

    bool send(std::string_view bytes);
    Response read_response(const ReadOptions& opts = {});
    Response request(std::string_view bytes, const ReadOptions& opts = {}) {
        if (!send(bytes)) {
            Response r;
            r.error = "send failed";
            return r;
        }
        return read_response(opts);
    }
    // True if the server closes the connection (EOF or reset) within
    // `timeout` without sending anything more; `extra` gets anything it sent.
    // Over TLS, EOF is a close_notify or a TCP FIN (with or without one),
    // bytes already inside OpenSSL count as sent, and a TLS failure other
    // than a reset is not a close (`extra` gets its description).
    bool wait_closed(Millis timeout = 5s, std::string* extra = nullptr);
    // Over TLS, sends close_notify first.
    void shutdown_write();
    // Over TLS, sends close_notify first (unless the session failed).
    void close();
    // Closes with a reset (SO_LINGER 0), over TLS without close_notify.
    void abort();
    Stream& stream() { return stream_; }

private:
    void open(std::uint16_t port, const From& from, const ClientTls* tls);
    void release(bool notify);
    bool wait_closed_tls(Millis timeout, std::string* extra);

    int fd_ = -1;
    int connect_errno_ = 0;
    Millis timeout_;
    Stream stream_;
    ssl_st* ssl_ = nullptr;
    std::string handshake_error_;
};

// "GET target HTTP/1.1" with Host and optional extra header lines (each ending CRLF).
std::string get_request(std::string_view target = "/", std::string_view extra = "",
                        std::string_view host = "test.local");
// True if connecting to 127.0.0.1:port is refused (or reset straight away).
bool connection_refused(std::uint16_t port);

}  // namespace weir_it
