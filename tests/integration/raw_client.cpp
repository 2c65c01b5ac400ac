#include "raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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

RawClient::RawClient(std::uint16_t port, Millis timeout) : RawClient(port, From{}, timeout) {}

RawClient::RawClient(std::uint16_t port, const From& from, Millis timeout) : timeout_(timeout) {
    fd_ = connect_to(port, connect_errno_, from.ip);
    stream_.set_fd(fd_);
    if (fd_ >= 0) set_socket_timeouts(fd_, timeout);
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
    if (!r.complete) r.error = std::string("body: ") + to_string(io) + (why.empty() ? "" : " (" + why + ")");
    return r;
}

bool RawClient::wait_closed(Millis timeout, std::string* extra) {
    if (fd_ < 0) return true;
    if (!stream_.buffered().empty()) {
        if (extra) *extra = std::string(stream_.buffered());
        return false;
    }
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

void RawClient::shutdown_write() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void RawClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    stream_.set_fd(-1);
}

void RawClient::abort() {
    if (fd_ < 0) return;
    linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close();
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
