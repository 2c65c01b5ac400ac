// A non-blocking TCP socket that remembers its readiness. With edge-triggered
// epoll an event arrives only when something changes, so the socket keeps
// "readable"/"writable" until a call shows otherwise; a short read clears
// "readable" without the extra call that would return EAGAIN.
//
// With TLS attached, reads and writes go through OpenSSL on the same
// descriptor and the same readiness rules hold, with two differences: a short
// read proves nothing (one record at a time), so only WANT_READ clears
// "readable"; and a read may need the socket writable (or a write readable)
// to make progress, so the event that unblocks it is remembered.
#pragma once

#include <openssl/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

struct sockaddr;

namespace weir::proxy {

struct IoResult {
    std::size_t bytes = 0;
    int error = 0;       // errno; 0 on success
    bool eof = false;    // peer closed its side (reads only)
    bool blocked() const { return error == EAGAIN_VALUE; }
    static constexpr int EAGAIN_VALUE = 11;
};

// The process or the kernel is out of something a new socket needs
// (descriptors, buffers, local ports): a shortage here, never a fault of the
// peer, so it must not count against an endpoint; retrying at once fails again.
bool local_shortage(int error);

class Socket {
public:
    Socket() = default;
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() { close(); }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    int fd() const { return fd_; }
    bool open() const { return fd_ >= 0; }
    bool readable() const { return readable_; }
    bool writable() const { return writable_; }

    // Records what epoll said.
    void on_events(std::uint32_t events);
    void set_writable(bool w) { writable_ = w; }

    // Makes this a TLS connection: `ssl` (owned from now on, freed on
    // close) runs over the socket's descriptor.
    void attach_tls(SSL* ssl);
    SSL* tls() const { return ssl_; }
    // Advances the TLS handshake: 1 done, 0 wants more I/O (wait for the
    // next event), -1 failed (`error_text` says why).
    int handshake(std::string& error_text);

    IoResult read(char* buf, std::size_t len);
    // Plain sockets only: moves up to `len` received bytes into the pipe
    // `pipe_write_fd`, or up to `len` bytes from the pipe `pipe_read_fd` to
    // the peer, without copying them (splice). Readiness as for read and
    // write, except that a short move into a pipe proves nothing (a pipe
    // takes a limited number of the kernel's buffers at once).
    IoResult splice_in(int pipe_write_fd, std::size_t len);
    IoResult splice_out(int pipe_read_fd, std::size_t len);
    IoResult write(const iovec* iov, int count);
    IoResult write(const char* data, std::size_t len);

    // True when nothing is waiting to be read and the peer has not closed:
    // asks the kernel (a peek, nothing consumed) rather than the remembered
    // readiness, which lags by whatever events the loop has not fetched yet.
    // With TLS, records that carry no data (session tickets) are taken in
    // on the way, and "readable" is cleared when nothing else came.
    bool quiet();

    // Starts a non-blocking connect; returns 0, EINPROGRESS or an errno value.
    static int connect(Socket& out, const sockaddr* addr, unsigned addr_len);
    int take_error();  // SO_ERROR after a connect completes

    // No more bytes from this side (a TLS close_notify first).
    void shutdown_write();
    void close();
    void set_nodelay();

private:
    int fd_ = -1;
    bool readable_ = false;
    bool writable_ = false;
    bool peer_closed_ = false;  // EPOLLRDHUP seen: a short read does not mean "no more events"
    SSL* ssl_ = nullptr;
    bool read_wants_write_ = false;  // TLS: a read stopped until the socket is writable
    bool write_wants_read_ = false;  // TLS: a write stopped until the socket is readable
    std::size_t retry_len_ = 0;      // TLS: bytes a blocked SSL_write offered, to offer again

    IoResult tls_read(char* buf, std::size_t len);
    IoResult tls_write(const iovec* iov, int count);
};

// The address as text ("unknown" for anything but IPv4 and IPv6).
std::string ip_text(const sockaddr_storage& address);

}  // namespace weir::proxy
