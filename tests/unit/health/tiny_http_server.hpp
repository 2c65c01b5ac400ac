// A minimal blocking HTTP responder on 127.0.0.1 (OS-chosen port) for the
// health unit tests: each connection gets one canned answer (or silence,
// garbage, or a close), then is closed. Records every request head.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace weir::health::test {

class TinyHttpServer {
public:
    enum class Mode { answer, silent, close_at_once, garbage, split_head };

    TinyHttpServer() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error("socket");
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0)
            throw std::runtime_error("bind/listen");
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { loop(); });
    }
    ~TinyHttpServer() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    TinyHttpServer(const TinyHttpServer&) = delete;
    TinyHttpServer& operator=(const TinyHttpServer&) = delete;

    std::uint16_t port() const { return port_; }
    void set_status(int s) { status_ = s; }
    void set_mode(Mode m) { mode_ = m; }
    std::size_t count() const {
        std::lock_guard lk(mu_);
        return heads_.size();
    }
    std::vector<std::string> heads() const {
        std::lock_guard lk(mu_);
        return heads_;
    }

private:
    void loop() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            serve(c);
            ::close(c);
        }
    }
    // Reads a head for up to 2 s.
    std::string read_head(int c) {
        std::string in;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (in.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline && !stop_) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            char buf[2048];
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            in.append(buf, static_cast<std::size_t>(n));
        }
        return in;
    }
    void send_all(int c, const std::string& s) {
        std::size_t off = 0;
        while (off < s.size()) {
            ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return;
            off += static_cast<std::size_t>(n);
        }
    }
    void serve(int c) {
        const Mode mode = mode_;
        if (mode == Mode::close_at_once) return;
        std::string head = read_head(c);
        {
            std::lock_guard lk(mu_);
            heads_.push_back(head);
        }
        if (mode == Mode::silent) {
            // Never answers; holds the connection until the client gives up.
            for (int i = 0; i < 200 && !stop_; ++i) {
                pollfd p{c, POLLIN, 0};
                if (::poll(&p, 1, 10) > 0) {
                    char b[256];
                    if (::recv(c, b, sizeof b, 0) <= 0) return;
                }
            }
            return;
        }
        if (mode == Mode::garbage) {
            send_all(c, "this is not HTTP at all\r\n\r\n");
            return;
        }
        const std::string response = "HTTP/1.1 " + std::to_string(status_.load()) +
                                     " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        if (mode == Mode::split_head) {
            send_all(c, response.substr(0, 7));
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            send_all(c, response.substr(7, 10));
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            send_all(c, response.substr(17));
            return;
        }
        send_all(c, response);
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> status_{200};
    std::atomic<Mode> mode_{Mode::answer};
    mutable std::mutex mu_;
    std::vector<std::string> heads_;
    std::thread thread_;
};

// A port on 127.0.0.1 that was bound and closed again: connecting is refused.
inline std::uint16_t refused_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace weir::health::test
