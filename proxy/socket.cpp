#include "proxy/socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace weir::proxy {

static_assert(IoResult::EAGAIN_VALUE == EAGAIN && EAGAIN == EWOULDBLOCK);

void Socket::on_events(std::uint32_t events) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closed_ = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
}

IoResult Socket::read(char* buf, std::size_t len) {
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

bool Socket::quiet() const {
    char c;
    ssize_t n;
    do {
        n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

IoResult Socket::write(const iovec* iov, int count) {
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
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Socket::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    readable_ = writable_ = peer_closed_ = false;
}

std::string Socket::peer_ip() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
    } else if (ss.ss_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
    } else {
        return "unknown";
    }
    return buf;
}

}  // namespace weir::proxy
