#include "proxy/socket.hpp"

#include "tls/certificate.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace weir::proxy {

namespace {

// OpenSSL's error queue must be empty before an I/O call for SSL_get_error
// to be right about it, and emptying it walks every slot: a few per request
// add up. SSL_get_error looks at ERR_peek_error only, so that is what decides.
void clear_tls_errors() {
    if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace

static_assert(IoResult::EAGAIN_VALUE == EAGAIN && EAGAIN == EWOULDBLOCK);

void Socket::on_events(std::uint32_t events) {
    const bool in = events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    const bool out = events & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    if (in) readable_ = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closed_ = true;
    if (out) writable_ = true;
    if (read_wants_write_ && out) {
        read_wants_write_ = false;
        readable_ = true;
    }
    if (write_wants_read_ && in) {
        write_wants_read_ = false;
        writable_ = true;
    }
}

void Socket::attach_tls(SSL* ssl) {
    ssl_ = ssl;
    SSL_set_fd(ssl_, fd_);
}

int Socket::handshake(std::string& error_text) {
    clear_tls_errors();
    const int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
        // With read-ahead the handshake may have taken in the first request
        // too, after an earlier step saw WANT_READ: those bytes will bring no
        // edge, so the socket counts as readable while OpenSSL holds any.
        if (SSL_has_pending(ssl_)) readable_ = true;
        return 1;
    }
    switch (SSL_get_error(ssl_, rc)) {
        case SSL_ERROR_WANT_READ:
            readable_ = false;
            return 0;
        case SSL_ERROR_WANT_WRITE:
            writable_ = false;
            return 0;
        case SSL_ERROR_SYSCALL:
            error_text = errno != 0 ? std::strerror(errno) : "connection closed during the handshake";
            return -1;
        default:
            error_text = tls::last_ssl_error();
            return -1;
    }
}

IoResult Socket::tls_read(char* buf, std::size_t len) {
    IoResult r;
    clear_tls_errors();
    std::size_t n = 0;
    if (SSL_read_ex(ssl_, buf, len, &n) == 1) {
        r.bytes = n;
        return r;
    }
    switch (SSL_get_error(ssl_, 0)) {
        case SSL_ERROR_WANT_READ:
            readable_ = false;
            r.error = EAGAIN;
            break;
        case SSL_ERROR_WANT_WRITE:
            // A key update or alert to send first: retried on the next
            // "writable" edge.
            readable_ = false;
            read_wants_write_ = true;
            r.error = EAGAIN;
            break;
        case SSL_ERROR_ZERO_RETURN:
            r.eof = true;
            break;
        case SSL_ERROR_SYSCALL:
            // The contexts set SSL_OP_IGNORE_UNEXPECTED_EOF: a peer closing
            // without close_notify reads as an EOF (HTTP framing tells a cut
            // message apart), as it does on a plain socket.
            if (errno == 0) r.eof = true;
            else r.error = errno;
            break;
        default:
            r.error = EPROTO;
            break;
    }
    clear_tls_errors();
    return r;
}

IoResult Socket::tls_write(const iovec* iov, int count) {
    IoResult r;
    clear_tls_errors();
    int i = 0;            // the iovec being written
    std::size_t off = 0;  // bytes of it already written
    // Small pieces (a head and the body bytes that came with it) are
    // gathered into one record: one write(2) and one record's overhead
    // instead of one per piece.
    char gather[SSL3_RT_MAX_PLAIN_LENGTH];
    for (;;) {
        while (i < count && off == iov[i].iov_len) {
            ++i;
            off = 0;
        }
        if (i == count) break;
        const char* data = static_cast<const char*>(iov[i].iov_base) + off;
        std::size_t len = iov[i].iov_len - off;
        // After WANT_WRITE OpenSSL needs the same bytes offered again, at
        // least as many: the retry repeats exactly what the blocked call
        // offered (the caller still holds them, at the front).
        const std::size_t cap = retry_len_ ? retry_len_ : sizeof gather;
        if (len < cap && i + 1 < count && cap <= sizeof gather) {
            std::size_t got = 0;
            for (int j = i; j < count && got < cap; ++j) {
                const std::size_t from = j == i ? off : 0;
                const std::size_t take = std::min(iov[j].iov_len - from, cap - got);
                std::memcpy(gather + got, static_cast<const char*>(iov[j].iov_base) + from, take);
                got += take;
            }
            data = gather;
            len = got;
        } else if (retry_len_ && len > retry_len_) {
            len = retry_len_;
        }
        std::size_t n = 0;
        if (SSL_write_ex(ssl_, data, len, &n) == 1) {
            retry_len_ = 0;
            r.bytes += n;
            for (std::size_t left = n; left > 0;) {  // advance past what went out
                const std::size_t step = std::min(left, iov[i].iov_len - off);
                off += step;
                left -= step;
                if (off == iov[i].iov_len && left > 0) {
                    ++i;
                    off = 0;
                }
            }
            // With partial writes on, a success may cover one record only,
            // the socket still having room: only WANT_WRITE says it is full
            // (its edge is what resumes the writer), so the rest is offered now.
            continue;
        }
        const int e = SSL_get_error(ssl_, 0);
        if (e == SSL_ERROR_WANT_WRITE) {
            writable_ = false;
            retry_len_ = len;
        } else if (e == SSL_ERROR_WANT_READ) {
            writable_ = false;
            write_wants_read_ = true;
            retry_len_ = len;
        } else {
            if (r.bytes == 0) r.error = e == SSL_ERROR_SYSCALL && errno != 0 ? errno : EPIPE;
            clear_tls_errors();
            return r;
        }
        if (r.bytes == 0) r.error = EAGAIN;
        break;
    }
    clear_tls_errors();
    return r;
}

IoResult Socket::read(char* buf, std::size_t len) {
    if (ssl_) return tls_read(buf, len);
    IoResult r;
    ssize_t n;
    do {
        n = ::recv(fd_, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        r.bytes = static_cast<std::size_t>(n);
        // Less than asked: the kernel buffer is empty, the next edge will say
        // when more arrives (unless the peer already closed, which sends no
        // further edge).
        if (r.bytes < len && !peer_closed_) readable_ = false;
    } else if (n == 0) {
        r.eof = true;
    } else {
        r.error = errno;
        if (r.error == EAGAIN) readable_ = false;
    }
    return r;
}

IoResult Socket::splice_in(int pipe_write_fd, std::size_t len) {
    IoResult r;
    ssize_t n;
    do {
        n = ::splice(fd_, nullptr, pipe_write_fd, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        r.bytes = static_cast<std::size_t>(n);
    } else if (n == 0) {
        r.eof = true;
    } else {
        r.error = errno;
        if (r.error == EAGAIN) readable_ = false;  // the pipe is empty when this is called: the socket had nothing
    }
    return r;
}

IoResult Socket::splice_out(int pipe_read_fd, std::size_t len) {
    IoResult r;
    ssize_t n;
    do {
        n = ::splice(pipe_read_fd, nullptr, fd_, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        r.bytes = static_cast<std::size_t>(n);
        if (r.bytes < len) writable_ = false;
    } else {
        r.error = errno;
        if (r.error == EAGAIN) writable_ = false;
    }
    return r;
}

bool Socket::quiet() {
    char c;
    if (ssl_) {
        if (SSL_pending(ssl_) > 0) return false;
        clear_tls_errors();
        std::size_t got = 0;
        if (SSL_peek_ex(ssl_, &c, 1, &got) == 1) return false;
        const int e = SSL_get_error(ssl_, 0);
        clear_tls_errors();
        if (e != SSL_ERROR_WANT_READ) return false;  // a close, an alert, or a record to answer
        readable_ = false;
        return true;
    }
    ssize_t n;
    do {
        n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

IoResult Socket::write(const iovec* iov, int count) {
    if (ssl_) return tls_write(iov, count);
    IoResult r;
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<std::size_t>(count);
    std::size_t want = 0;
    for (int i = 0; i < count; ++i) want += iov[i].iov_len;
    ssize_t n;
    do {
        n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        r.bytes = static_cast<std::size_t>(n);
        if (r.bytes < want) writable_ = false;
    } else {
        r.error = errno;
        if (r.error == EAGAIN) writable_ = false;
    }
    return r;
}

IoResult Socket::write(const char* data, std::size_t len) {
    iovec iov{const_cast<char*>(data), len};
    return write(&iov, 1);
}

bool local_shortage(int error) {
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM || error == EADDRNOTAVAIL;
}

int Socket::connect(Socket& out, const sockaddr* addr, unsigned addr_len) {
    int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    out.close();
    out.fd_ = fd;
    out.set_nodelay();
    if (::connect(fd, addr, addr_len) == 0) {
        out.writable_ = true;
        return 0;
    }
    return errno;
}

int Socket::take_error() {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

void Socket::set_nodelay() {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void Socket::shutdown_write() {
    if (ssl_ && SSL_is_init_finished(ssl_)) {
        SSL_shutdown(ssl_);  // close_notify; the peer's is not waited for
        clear_tls_errors();
    }
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Socket::close() {
    if (ssl_) {
        // An established connection ends with close_notify (once: a
        // shutdown_write may have sent it). Without it OpenSSL marks the
        // session not resumable (RFC 5246 §7.2.1), and an upstream's next
        // connection would pay a full handshake; HTTP framing, not TLS,
        // is what tells a cut message apart here.
        if (SSL_is_init_finished(ssl_) && !(SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN)) SSL_shutdown(ssl_);
        clear_tls_errors();
        SSL_free(ssl_);
    }
    ssl_ = nullptr;
    read_wants_write_ = write_wants_read_ = false;
    retry_len_ = 0;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    readable_ = writable_ = peer_closed_ = false;
}

std::string ip_text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
    } else if (ss.ss_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
    } else {
        return "unknown";
    }
    return buf;
}

}  // namespace weir::proxy
