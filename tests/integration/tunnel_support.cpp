#include "tunnel_support.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>

namespace weir_it {

// ---------------------------------------------------------------- the Python backend

WsEchoBackend::WsEchoBackend(std::string id, std::chrono::seconds lifetime)
    : id_(std::move(id)),
      proc_("ws_echo.py", {id_, std::to_string(lifetime.count())}, ScriptOptions{.grace = 5s}) {}

// ---------------------------------------------------------------- the WebSocket client

namespace {

std::string base64(const unsigned char* p, std::size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    return out;
}

std::string random_key() {
    static std::mutex mu;
    static std::mt19937_64 rng{std::random_device{}()};
    unsigned char raw[16];
    std::lock_guard lk(mu);
    for (auto& b : raw) b = static_cast<unsigned char>(rng());
    return base64(raw, sizeof raw);
}

}  // namespace

std::string ws_accept_for(const std::string& key) {
    std::string s = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
    return base64(digest, sizeof digest);
}

std::string ws_handshake_request(const std::string& target, const std::string& key, const std::string& extra) {
    return "GET " + target +
           " HTTP/1.1\r\nHost: test.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: " +
           key + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n";
}

std::string ws_frame(int opcode, const std::string& payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | (opcode & 0x0f)));
    const std::uint64_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xffff) {
        f.push_back(static_cast<char>(0x80 | 126));
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xff));
    } else {
        f.push_back(static_cast<char>(0x80 | 127));
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    for (unsigned char m : mask) f.push_back(static_cast<char>(m));
    const std::size_t at = f.size();
    f += payload;
    for (std::size_t i = 0; i < n; ++i) f[at + i] = static_cast<char>(f[at + i] ^ mask[i % 4]);
    return f;
}

WsClient::WsClient(std::uint16_t port, const ClientTls* tls, const std::string& target, Millis timeout) {
    raw_ = tls ? std::make_unique<RawClient>(port, *tls, timeout) : std::make_unique<RawClient>(port, timeout);
    if (!raw_->connected()) {
        handshake_.error = "connect failed: " + std::string(std::strerror(raw_->connect_errno())) + " " +
                           raw_->tls_error();
        return;
    }
    const std::string key = random_key();
    if (!raw_->send(ws_handshake_request(target, key))) {
        handshake_.error = "send failed";
        return;
    }
    ReadOptions opts;
    opts.return_interim = true;
    handshake_ = raw_->read_response(opts);
    open_ = handshake_.status == 101 && handshake_.headers.get("sec-websocket-accept") == ws_accept_for(key);
}

std::string WsClient::describe() const { return handshake_.describe(); }

bool WsClient::send(int opcode, const std::string& payload) { return raw_->send(ws_frame(opcode, payload)); }

WsMessage WsClient::recv() {
    WsMessage m;
    Stream& s = raw_->stream();
    auto take = [&](std::size_t n, std::string& into) {
        IoResult r = s.read_exact(n, [&](const char* p, std::size_t k) { into.append(p, k); });
        if (r != IoResult::ok) {
            m.error = std::string("read: ") + to_string(r) +
                      (r == IoResult::error ? " " + std::string(std::strerror(s.last_errno)) : "");
            return false;
        }
        return true;
    };
    bool started = false;
    for (;;) {
        std::string h;
        if (!take(2, h)) return m;
        const auto b0 = static_cast<unsigned char>(h[0]);
        const auto b1 = static_cast<unsigned char>(h[1]);
        const bool fin = (b0 & 0x80) != 0;
        const int opcode = b0 & 0x0f;
        std::uint64_t len = b1 & 0x7f;
        if (len >= 126) {
            std::string ext;
            if (!take(len == 126 ? 2 : 8, ext)) return m;
            len = 0;
            for (char c : ext) len = (len << 8) | static_cast<unsigned char>(c);
        }
        std::string mask;
        if ((b1 & 0x80) != 0 && !take(4, mask)) return m;
        std::string payload;
        if (len > 0 && !take(static_cast<std::size_t>(len), payload)) return m;
        if (!mask.empty())
            for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
        if (opcode == 9) {  // ping
            if (!send(10, payload)) {
                m.error = "pong failed";
                return m;
            }
            continue;
        }
        if (opcode == 10) continue;  // pong
        if (opcode == 8) {
            m.ok = true;
            m.opcode = 8;
            m.data = payload;
            return m;
        }
        if (opcode != 0) {
            if (started) {
                m.error = "new message inside a fragmented one";
                return m;
            }
            started = true;
            m.opcode = opcode;
        }
        m.data += payload;
        if (fin) {
            m.ok = true;
            return m;
        }
    }
}

std::string WsClient::echo(const std::string& s, bool binary) {
    if (!open_) return "error: not open: " + describe();
    if (!send(binary ? 2 : 1, s)) return "error: send failed";
    WsMessage m = recv();
    if (!m.ok) return "error: " + m.error;
    if (m.opcode == 8) return "error: close frame";
    return m.data;
}

bool WsClient::close_handshake(Millis timeout) {
    std::string code;
    code.push_back(static_cast<char>(1000 >> 8));
    code.push_back(static_cast<char>(1000 & 0xff));
    if (!send(8, code)) return false;
    for (;;) {
        WsMessage m = recv();
        if (!m.ok) return false;
        if (m.opcode == 8) break;
    }
    // The server closes the TCP connection first (RFC 6455 §7.1.1), then the client does.
    const bool closed = raw_->wait_closed(timeout);
    raw_->close();
    return closed;
}

std::string shown(const std::string& s) {
    auto escaped = [](std::string_view v) {
        std::string out;
        char hex[8];
        for (unsigned char ch : v) {
            if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
                out.push_back(static_cast<char>(ch));
            } else {
                std::snprintf(hex, sizeof hex, "\\x%02x", ch);
                out += hex;
            }
        }
        return out;
    };
    if (s.size() <= 120) return "\"" + escaped(s) + "\"";
    return std::to_string(s.size()) + " bytes starting \"" + escaped(std::string_view(s).substr(0, 40)) + "\"";
}

::testing::AssertionResult echoes(WsClient& c, const std::string& msg, bool binary) {
    std::string got = c.echo(msg, binary);
    if (got == msg) return ::testing::AssertionSuccess();
    auto r = ::testing::AssertionFailure();
    r << "sent " << shown(msg) << ", got back " << shown(got);
    if (got.size() == msg.size()) {
        std::size_t i = 0;
        while (i < got.size() && got[i] == msg[i]) ++i;
        r << " (same size, first difference at byte " << i << ")";
    }
    return r;
}

bool closed_within(RawClient& c, Millis timeout, std::string* extra) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        std::string more;
        if (c.wait_closed(left, &more)) return true;
        if (extra) *extra += more;
        c.stream().clear();
        if (more.empty()) return false;
    }
}

// ---------------------------------------------------------------- the raw tunnel origin

std::string raw_upgrade_request(const std::string& target, const std::string& extra) {
    return "GET " + target + " HTTP/1.1\r\nHost: test.local\r\nUpgrade: websocket\r\nConnection: upgrade\r\n" +
           extra + "\r\n";
}

Handler raw_tunnel_handler(RawTunnelLog& log, RawTunnelScript script) {
    return [&log, script](UpstreamConn& c, const UpstreamRequest& req) {
        if (!req.headers.has("upgrade")) {
            c.send(make_response(200, "plain"));
            return After::keep_alive;
        }
        // The protocol switched to is the (first) one the request offers.
        std::string protocol = req.headers.get("upgrade");
        protocol = protocol.substr(0, protocol.find(','));
        if (!c.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + protocol + "\r\nConnection: Upgrade\r\n\r\n" +
                    script.greeting))
            return After::close;
        ++log.tunnels;
        Stream& s = c.stream();
        std::uint64_t seen = 0;
        char buf[65536];
        for (;;) {
            std::string chunk;
            if (!s.buffered().empty()) {
                chunk = std::string(s.buffered());
                s.consume(chunk.size());
            } else {
                ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
                if (n < 0 && errno == EINTR) continue;
                if (n == 0) {
                    ++log.peer_fin;
                    if (!script.farewell.empty()) c.send(script.farewell);
                    return script.after_fin;
                }
                if (n < 0) {
                    ++log.peer_reset;
                    return After::close;
                }
                chunk.assign(buf, static_cast<std::size_t>(n));
            }
            seen += chunk.size();
            log.bytes_in += chunk.size();
            if (script.echo && !c.send(chunk)) return After::close;
            if (script.close_after_bytes > 0 && seen >= script.close_after_bytes)
                return script.reset ? After::reset : After::close;
        }
    };
}

std::string read_n(RawClient& c, std::size_t n) {
    std::string out;
    c.stream().read_exact(n, [&](const char* p, std::size_t k) { out.append(p, k); });
    return out;  // short if the connection ended or went quiet first
}

// ---------------------------------------------------------------- the proxy process

int open_fds(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(path.c_str());
    if (!d) return -1;
    int n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

}  // namespace weir_it
