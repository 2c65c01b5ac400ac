#include "raw_client.hpp"

#include "tests/support/certificates.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace weir_it {
namespace {

int connect_to(std::uint16_t port, int& err, const std::string& from_ip = "") {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!from_ip.empty()) {
        sockaddr_in local{};
        local.sin_family = AF_INET;
        if (::inet_pton(AF_INET, from_ip.c_str(), &local.sin_addr) != 1 ||
            ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            err = errno ? errno : EINVAL;
            ::close(fd);
            return -1;
        }
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        err = errno;
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

}  // namespace

std::string Response::describe() const {
    std::string s = "status " + std::to_string(status) + (complete ? "" : " (incomplete: " + error + ")") + "\n";
    s += head.empty() ? "(no head)\n" : head;
    std::string b = body.substr(0, 200);
    for (char& c : b)
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n') c = '.';
    s += "body (" + std::to_string(body_bytes) + " bytes): " + b;
    return s;
}

namespace {

// The test CA, the listener's certificate it signed, and a client context
// trusting only that CA: made once per process.
struct TestPki {
    weir::test::TestCertificate ca;
    weir::test::TestCertificate leaf;
    std::shared_ptr<SSL_CTX> client_ctx;
};

const TestPki& test_pki() {
    static const TestPki pki = [] {
        TestPki p;
        p.ca = weir::test::authority("Weir Test CA");
        p.leaf = weir::test::leaf_certificate({"weir.test"}, &p.ca, 2);
        SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx) throw std::runtime_error("cannot create a TLS client context: " + ssl_errors());
        p.client_ctx.reset(ctx, SSL_CTX_free);
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        // The server's certificate is verified: chain to the test CA and, per
        // connection (SSL_set1_host), the name.
        if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), p.ca.cert.get()) != 1)
            throw std::runtime_error("cannot trust the test CA: " + ssl_errors());
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        return p;
    }();
    return pki;
}

}  // namespace

TestTlsListener make_test_tls_listener(const std::string& dir) {
    const TestPki& pki = test_pki();
    const auto files = weir::test::write_certificate(dir, "weir.test", pki.leaf);
    return {"{cert: \"" + files.cert + "\", key: \"" + files.key + "\"}", ClientTls{pki.client_ctx, "weir.test"}};
}

RawClient::RawClient(std::uint16_t port, Millis timeout) : RawClient(port, From{}, timeout) {}

RawClient::RawClient(std::uint16_t port, const From& from, Millis timeout) : timeout_(timeout) {
    open(port, from, nullptr);
}

RawClient::RawClient(std::uint16_t port, const ClientTls& tls, Millis timeout) : timeout_(timeout) {
    open(port, From{}, &tls);
}

void RawClient::open(std::uint16_t port, const From& from, const ClientTls* tls) {
    fd_ = connect_to(port, connect_errno_, from.ip);
    stream_.set_fd(fd_);
    if (fd_ < 0) return;
    set_socket_timeouts(fd_, timeout_);
    if (!tls) return;
    // A blocking handshake on the connected socket, bounded by its timeouts.
    ERR_clear_error();
    ssl_ = SSL_new(tls->ctx.get());
    bool ok = ssl_ && SSL_set_fd(ssl_, fd_) == 1 && SSL_set_tlsext_host_name(ssl_, tls->server_name.c_str()) == 1 &&
              SSL_set1_host(ssl_, tls->server_name.c_str()) == 1;
    if (ok) {
        SigpipeBlocked no_sigpipe;
        errno = 0;
        const int r = SSL_connect(ssl_);
        ok = r == 1;
        if (!ok) {
            const int saved = errno;
            handshake_error_ = ssl_errors(saved ? std::strerror(saved) : "handshake failed");
            const long verify = SSL_get_verify_result(ssl_);
            if (verify != X509_V_OK) handshake_error_ += std::string(" (verify: ") + X509_verify_cert_error_string(verify) + ")";
            connect_errno_ = saved ? saved : EPROTO;
        }
    } else {
        handshake_error_ = ssl_errors("cannot set up the TLS session");
        connect_errno_ = EPROTO;
    }
    if (!ok) {
        stream_.tls_failed = true;
        release(false);
        return;
    }
    stream_.set_tls(ssl_);
}

RawClient::~RawClient() { close(); }

void RawClient::set_timeout(Millis timeout) {
    timeout_ = timeout;
    if (fd_ >= 0) set_socket_timeouts(fd_, timeout);
}

bool RawClient::send(std::string_view bytes) { return fd_ >= 0 && stream_.write_all(bytes); }

Response RawClient::read_response(const ReadOptions& opts) {
    Response r;
    if (fd_ < 0) {
        r.error = "not connected";
        return r;
    }
    for (;;) {
        std::string head;
        IoResult io = stream_.read_head(head);
        if (io != IoResult::ok) {
            r.error = std::string("head: ") + to_string(io) + (io == IoResult::error ? " " + std::string(std::strerror(stream_.last_errno)) : "");
            if (!stream_.buffered().empty()) r.error += " with partial data: " + std::string(stream_.buffered().substr(0, 200));
            if (!stream_.tls_error.empty()) r.error += " (TLS: " + stream_.tls_error + ")";
            return r;
        }
        std::string line;
        r.head = head;
        if (!parse_head(head, line, r.headers)) {
            r.error = "unparsable head";
            return r;
        }
        std::string code;
        split_start_line(line, r.version, code, r.reason);
        r.status = std::atoi(code.c_str());
        if (r.status >= 100 && r.status < 200 && !opts.return_interim) {
            r.interim.push_back(r.status);
            continue;
        }
        break;
    }
    Digest digest;
    Sink sink = [&](const char* p, std::size_t n) {
        digest.update(p, n);
        if (r.body.size() < opts.store_limit) r.body.append(p, std::min(n, opts.store_limit - r.body.size()));
        if (opts.sink) opts.sink(p, n);
    };
    IoResult io = IoResult::ok;
    std::string why;
    const bool bodiless = opts.head_request || r.status < 200 || r.status == 204 || r.status == 304;
    if (!bodiless) {
        if (r.headers.has("transfer-encoding")) {
            r.chunked = true;
            io = stream_.read_chunked(sink, &why);
        } else if (r.headers.has("content-length")) {
            io = stream_.read_exact(std::strtoull(r.headers.get("content-length").c_str(), nullptr, 10), sink);
        } else {
            r.until_close = true;
            io = stream_.read_until_close(sink);
        }
    }
    r.body_bytes = digest.bytes();
    r.digest = digest.value();
    r.complete = io == IoResult::ok;
    if (!r.complete) {
        r.error = std::string("body: ") + to_string(io) + (why.empty() ? "" : " (" + why + ")");
        if (!stream_.tls_error.empty()) r.error += " (TLS: " + stream_.tls_error + ")";
    }
    return r;
}

bool RawClient::wait_closed(Millis timeout, std::string* extra) {
    if (fd_ < 0) return true;
    if (!stream_.buffered().empty()) {
        if (extra) *extra = std::string(stream_.buffered());
        return false;
    }
    if (ssl_) return wait_closed_tls(timeout, extra);
    auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        char buf[4096];
        ssize_t k = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (k == 0) return true;
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return true;  // reset
        }
        if (extra) extra->append(buf, static_cast<std::size_t>(k));
        return false;
    }
}

// Records can be read already (inside OpenSSL) while the socket shows
// nothing, and one record may arrive in pieces: each read is bounded by the
// time left, and anything but EOF or a reset ends the wait as "not closed".
bool RawClient::wait_closed_tls(Millis timeout, std::string* extra) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        if (SSL_has_pending(ssl_) == 0) {
            pollfd p{fd_, POLLIN, 0};
            int n = ::poll(&p, 1, static_cast<int>(left.count()));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
        }
        char buf[4096];
        set_socket_timeouts(fd_, left);
        ssize_t k = stream_.read_some(buf, sizeof buf);
        set_socket_timeouts(fd_, timeout_);
        if (k == 0) return true;  // close_notify or FIN
        if (k < 0) {
            if (stream_.last_errno == EAGAIN || stream_.last_errno == EINTR) continue;  // e.g. a session ticket, no data
            if (stream_.last_errno == EPROTO) {
                if (extra) *extra += "(TLS failure: " + stream_.tls_error + ")";
                return false;
            }
            return true;  // reset
        }
        if (extra) extra->append(buf, static_cast<std::size_t>(k));
        return false;
    }
}

void RawClient::shutdown_write() {
    if (fd_ < 0) return;
    if (ssl_ && !stream_.tls_failed) {
        SigpipeBlocked no_sigpipe;
        ERR_clear_error();
        SSL_shutdown(ssl_);  // sends close_notify; reading goes on
        ERR_clear_error();
    }
    ::shutdown(fd_, SHUT_WR);
}

void RawClient::release(bool notify) {
    if (ssl_) {
        if (notify && !stream_.tls_failed) {
            SigpipeBlocked no_sigpipe;
            ERR_clear_error();
            SSL_shutdown(ssl_);  // one call: close_notify out, not waiting for the peer's
            ERR_clear_error();
        }
        stream_.set_tls(nullptr);
        SSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    stream_.set_fd(-1);
}

void RawClient::close() { release(true); }

void RawClient::abort() {
    if (fd_ < 0) return;
    linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    release(false);
}

std::string get_request(std::string_view target, std::string_view extra, std::string_view host) {
    std::string r = "GET ";
    r += target;
    r += " HTTP/1.1\r\nHost: ";
    r += host;
    r += "\r\n";
    r += extra;
    r += "\r\n";
    return r;
}

bool connection_refused(std::uint16_t port) {
    int err = 0;
    int fd = connect_to(port, err);
    if (fd < 0) return err == ECONNREFUSED;
    ::close(fd);
    return false;
}

}  // namespace weir_it
