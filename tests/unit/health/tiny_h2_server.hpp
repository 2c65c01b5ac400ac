// A minimal blocking HTTP/2 responder on 127.0.0.1 (OS-chosen port) for the
// h2 probe's unit tests: each connection gets the server's SETTINGS at once,
// then, once the request on stream 1 has ended, the canned frames the test
// set (built with the helpers below: HPACK literals, never Huffman), then is
// held until the client closes. Records the request body of each stream 1.
#pragma once

#include "tiny_listener.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace weir::health::test {

namespace h2frames {

constexpr std::uint8_t type_data = 0x0, type_headers = 0x1, type_rst_stream = 0x3, type_settings = 0x4;
constexpr std::uint8_t end_stream = 0x1, end_headers = 0x4;

inline std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const std::string& payload) {
    std::string f;
    const auto n = static_cast<std::uint32_t>(payload.size());
    f.push_back(static_cast<char>(n >> 16));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>((stream >> shift) & 0xff));
    return f + payload;
}

// HPACK: ":status" by its static table name (index 8), or a new name; both
// literal without indexing, lengths below 127.
inline std::string status_field(int status) {
    const std::string v = std::to_string(status);
    return std::string("\x08", 1) + static_cast<char>(v.size()) + v;
}
inline std::string field(const std::string& name, const std::string& value) {
    return std::string("\x00", 1) + static_cast<char>(name.size()) + name + static_cast<char>(value.size()) + value;
}

inline std::string headers(const std::string& block, bool last) {
    return frame(type_headers, end_headers | (last ? end_stream : 0), 1, block);
}
inline std::string data(const std::string& bytes, bool last) { return frame(type_data, last ? end_stream : 0, 1, bytes); }

}  // namespace h2frames

class TinyH2Server {
public:
    TinyH2Server() = default;
    TinyH2Server(const TinyH2Server&) = delete;
    TinyH2Server& operator=(const TinyH2Server&) = delete;

    std::uint16_t port() const { return listener_.port(); }
    void set_response(std::string frames) {
        std::lock_guard lk(mu_);
        response_ = std::move(frames);
    }
    // The DATA payload of stream 1 of each connection, and whether its HEADERS ended the stream.
    std::vector<std::string> bodies() const {
        std::lock_guard lk(mu_);
        return bodies_;
    }
    std::vector<bool> headers_ended() const {
        std::lock_guard lk(mu_);
        return headers_ended_;
    }

private:
    bool read_more(int c, std::string& in, std::chrono::steady_clock::time_point deadline) {
        while (std::chrono::steady_clock::now() < deadline && !listener_.stopping()) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            char buf[4096];
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) return false;
            in.append(buf, static_cast<std::size_t>(n));
            return true;
        }
        return false;
    }
    void serve(int c) {
        send_all(c, h2frames::frame(h2frames::type_settings, 0, 0, ""));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        std::string in;
        std::size_t at = 24;  // after the client's connection preface
        std::string body;
        bool ended_by_headers = false, ended = false;
        while (!ended) {
            while (!ended && in.size() >= at + 9) {
                const auto u = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])); };
                const std::uint32_t len = (u(at) << 16) | (u(at + 1) << 8) | u(at + 2);
                if (in.size() < at + 9 + len) break;
                const std::uint8_t type = static_cast<std::uint8_t>(u(at + 3)), flags = static_cast<std::uint8_t>(u(at + 4));
                const std::uint32_t stream = ((u(at + 5) & 0x7f) << 24) | (u(at + 6) << 16) | (u(at + 7) << 8) | u(at + 8);
                if (stream == 1 && type == h2frames::type_data) body += in.substr(at + 9, len);
                if (stream == 1 && (type == h2frames::type_headers || type == h2frames::type_data) &&
                    (flags & h2frames::end_stream)) {
                    ended = true;
                    ended_by_headers = type == h2frames::type_headers;
                }
                at += 9 + len;
            }
            if (!ended && !read_more(c, in, deadline)) return;
        }
        std::string response;
        {
            std::lock_guard lk(mu_);
            bodies_.push_back(body);
            headers_ended_.push_back(ended_by_headers);
            response = response_;
        }
        send_all(c, response);
        // Held open until the client is done with it.
        while (read_more(c, in, deadline)) {
        }
    }

    mutable std::mutex mu_;
    std::string response_;
    std::vector<std::string> bodies_;
    std::vector<bool> headers_ended_;
    TinyListener listener_{[this](int c) { serve(c); }};
};

}  // namespace weir::health::test
