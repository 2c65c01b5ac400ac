// Helpers for the tunnel (HTTP Upgrade / WebSocket) tests: a real WebSocket
// echo backend (tests/support/ws_echo.py, Debian python3-websockets) run as a
// child process, a WebSocket client speaking the handshake and frames over
// RawClient (plain or TLS), a raw tunnel origin on FakeUpstream that answers
// 101 and then echoes bytes, and a count of a process's open descriptors.
#pragma once

#include "harness.hpp"
#include "script_process.hpp"

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace weir_it {

// ---------------------------------------------------------------- the Python backend

// tests/support/ws_echo.py with server id `id`: echoes every message,
// answers "whoami" with `id`. Its stdin is a pipe held by this object, so it
// exits when the object (or the test process) goes away; it also exits on its
// own after `lifetime`.
class WsEchoBackend {
public:
    explicit WsEchoBackend(std::string id, std::chrono::seconds lifetime = std::chrono::seconds(300));

    bool started() const { return proc_.started(); }
    std::uint16_t port() const { return proc_.port(); }
    std::string address() const { return proc_.address(); }
    const std::string& id() const { return id_; }
    pid_t pid() const { return proc_.pid(); }
    // SIGKILL, then reaped: its sockets close as the kernel tears them down.
    void kill() { proc_.kill(); }
    // Connections it accepted / saw end (its "open N" / "closed N CODE" lines).
    int opened() const { return proc_.lines_starting("open "); }
    int closed() const { return proc_.lines_starting("closed "); }
    bool wait_closed(int n, Millis timeout = 5s) const { return proc_.wait_lines("closed ", n, timeout); }
    std::string output() const { return proc_.output(); }

private:
    std::string id_;
    ScriptProcess proc_;
};

// ---------------------------------------------------------------- the WebSocket client

// The handshake's request: GET `target` with Upgrade: websocket,
// Connection: Upgrade, a Sec-WebSocket-Key and version 13, plus `extra` lines.
std::string ws_handshake_request(const std::string& target, const std::string& key, const std::string& extra = "");
// base64(SHA-1(key + the RFC 6455 GUID)).
std::string ws_accept_for(const std::string& key);
// One client-to-server frame (masked), FIN set.
std::string ws_frame(int opcode, const std::string& payload);

struct WsMessage {
    bool ok = false;     // a whole message (or a close frame) was read
    std::string error;   // why not
    int opcode = 0;      // 1 text, 2 binary, 8 close
    std::string data;
};

class WsClient {
public:
    // Connects to the proxy (over TLS with `tls`) and does the opening
    // handshake for `target`; open() says if a 101 with the right
    // Sec-WebSocket-Accept came back (handshake() holds the answer).
    WsClient(std::uint16_t port, const ClientTls* tls = nullptr, const std::string& target = "/ws",
             Millis timeout = 10s);
    bool open() const { return open_; }
    const Response& handshake() const { return handshake_; }
    std::string describe() const;

    bool send(int opcode, const std::string& payload);
    bool send_text(const std::string& s) { return send(1, s); }
    bool send_binary(const std::string& s) { return send(2, s); }
    // The next data message (pings are answered, fragments joined) or a close frame.
    WsMessage recv();
    // Sends `s` and reads one message back: its data, or "error: ...".
    std::string echo(const std::string& s, bool binary = false);
    // The backend's id (a long answer is cut short: it is an error anyway).
    std::string whoami() {
        std::string r = echo("whoami");
        return r.size() > 100 ? "error: unexpected " + r.substr(0, 60) + "..." : r;
    }
    // The close handshake: close frame 1000 out, the server's close frame in,
    // then the connection closed by the server (through the proxy) within `timeout`.
    bool close_handshake(Millis timeout = 5s);

    RawClient& raw() { return *raw_; }

private:
    std::unique_ptr<RawClient> raw_;
    Response handshake_;
    bool open_ = false;
};

// `s` for a failure message: itself if short, else its size and first bytes.
std::string shown(const std::string& s);
// `msg` sent on `c` comes back unchanged (a failure message of bounded size if not).
::testing::AssertionResult echoes(WsClient& c, const std::string& msg, bool binary = false);
// True if `c` is closed (EOF or reset) within `timeout`, whatever bytes come
// first (appended to `extra`).
bool closed_within(RawClient& c, Millis timeout, std::string* extra = nullptr);

// ---------------------------------------------------------------- the raw tunnel origin

// What the raw origin saw of its tunnels.
struct RawTunnelLog {
    std::atomic<int> tunnels{0};      // 101s sent
    std::atomic<int> peer_fin{0};     // tunnels whose peer closed its side cleanly (EOF)
    std::atomic<int> peer_reset{0};   // tunnels whose peer reset
    std::atomic<std::uint64_t> bytes_in{0};
};

// What the raw origin does after the 101.
struct RawTunnelScript {
    std::string greeting;         // sent in the same write as the 101 head
    bool echo = true;             // echo every byte received
    std::string farewell;         // sent after the peer's FIN, before closing
    After after_fin = After::close;
    // Close (or reset, with `reset`) the tunnel after this many bytes came in (0: never).
    std::uint64_t close_after_bytes = 0;
    bool reset = false;
};

// A FakeUpstream handler that answers an Upgrade with 101 (Upgrade: the protocol offered)
// and then runs `script` on the raw bytes, recording into `log`. Requests
// without Upgrade get 200 "plain".
Handler raw_tunnel_handler(RawTunnelLog& log, RawTunnelScript script = {});

// The request that opens a raw tunnel (Upgrade: websocket, no WebSocket key checks at the origin).
std::string raw_upgrade_request(const std::string& target = "/ws", const std::string& extra = "");

// Reads `n` bytes from `c` (its buffer first); fewer if it ends or stays quiet for its timeout.
std::string read_n(RawClient& c, std::size_t n);

// ---------------------------------------------------------------- the proxy process

// Open descriptors of `pid` (entries of /proc/PID/fd), -1 if unreadable.
int open_fds(pid_t pid);

}  // namespace weir_it
