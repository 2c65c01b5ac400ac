// A minimal blocking HTTP responder on 127.0.0.1 (OS-chosen port) for the
// health unit tests: each connection gets one canned answer (or silence,
// garbage, or a close), then is closed. Records every request head.
#pragma once

#include "tiny_listener.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace weir::health::test {

class TinyHttpServer {
public:
    enum class Mode { answer, silent, close_at_once, garbage, split_head };

    TinyHttpServer() = default;
    TinyHttpServer(const TinyHttpServer&) = delete;
    TinyHttpServer& operator=(const TinyHttpServer&) = delete;

    std::uint16_t port() const { return listener_.port(); }
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
    // Reads a head for up to 2 s.
    std::string read_head(int c) {
        std::string in;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (in.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline &&
               !listener_.stopping()) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            char buf[2048];
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            in.append(buf, static_cast<std::size_t>(n));
        }
        return in;
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
            for (int i = 0; i < 200 && !listener_.stopping(); ++i) {
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

    std::atomic<int> status_{200};
    std::atomic<Mode> mode_{Mode::answer};
    mutable std::mutex mu_;
    std::vector<std::string> heads_;
    TinyListener listener_{[this](int c) { serve(c); }};
};

}  // namespace weir::health::test
