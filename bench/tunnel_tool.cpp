// Both ends of an HTTP/1.1 Upgrade (WebSocket handshake) tunnel, for the tunnel
// row of bench/run.sh. Loopback only; every wait has a deadline.
//
//   weir_tunnel_tool backend --port P
//       Listens on 127.0.0.1:P (0: any free port; the port is printed on the
//       first line of stdout). One epoll thread. A request with
//       `Upgrade: websocket` and `Connection: upgrade` gets
//       `101 Switching Protocols` with the RFC 6455 Sec-WebSocket-Accept, then:
//         GET /bytes/N (N > 0)  a sink and a source: it reads the N bytes the
//                               client sends and, from the first of them on,
//                               writes N bytes; once both are done it writes a
//                               24-byte trailer (magic, the CLOCK_MONOTONIC time
//                               at which the last uploaded byte arrived, the
//                               count of uploaded bytes that did not match the
//                               pattern), then reads (and drops) anything more
//                               until the client closes.
//         GET /bytes/0 (or any other path)  echo, for idle tunnels.
//       Any other request gets `200 OK` with the body "ok\n" (keep-alive unless
//       `Connection: close`), so the same backend serves the readiness probe
//       and the idle keep-alive comparison.
//
//   weir_tunnel_tool client --connect 127.0.0.1:PORT --bytes N --tunnels K
//                           [--hold SECONDS] [--rss-pids PID,PID...] [--timeout SECONDS]
//       N > 0, K = 1: one tunnel; pushes N bytes while reading N bytes
//       (one thread, non-blocking, 256 KiB reads and writes), both ways
//       checked against the pattern; prints one JSON line
//       {"mode":"throughput","bytes":N,"up_s":..,"down_s":..,"elapsed_s":..,"up_mib_s":..,"down_mib_s":..}.
//       The clock starts when the first byte is written (the backend sends only
//       from then on); "down" ends when the client has read the N-th byte, "up"
//       when the backend had (its timestamp in the trailer: same machine, same
//       monotonic clock).
//       N = 0: opens K tunnels one after another (each: handshake, 101 checked),
//       prints "ready", holds them for --hold seconds (without --hold: until
//       stdin closes), then checks every tunnel is still open and still carries
//       bytes (no EOF; one byte written comes back from the echo) and prints one
//       JSON line {"requested","opened","still_open","errors","rss_before_kib",
//       "rss_after_kib","bytes_per_conn"}: with --rss-pids, VmRSS of those
//       processes 0.5 s before the first tunnel and at the end of the hold.
//       Exit status 0 only if every tunnel worked.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

constexpr std::size_t kChunk = 256 * 1024;  // bytes per read/write call
constexpr std::size_t kPeriod = 251;        // the pattern: byte at stream offset o is o % 251
constexpr char kMagic[8] = {'T', 'U', 'N', 'L', 'D', 'O', 'N', 'E'};
constexpr std::size_t kTrailer = 24;

std::vector<unsigned char> make_pattern() {
    std::vector<unsigned char> p(kChunk + kPeriod);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<unsigned char>(i % kPeriod);
    return p;
}
const std::vector<unsigned char>& pattern() {
    static const std::vector<unsigned char> p = make_pattern();
    return p;
}
const unsigned char* pattern_at(std::uint64_t offset) { return pattern().data() + offset % kPeriod; }

std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] void fail(const std::string& msg) {
    std::fprintf(stderr, "tunnel_tool: %s\n", msg.c_str());
    std::exit(1);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) fail(errno_text("fcntl"));
}

void raise_nofile() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Does the comma-separated list `value` name `token` (case-insensitive)?
bool has_token(std::string_view value, std::string_view token) {
    std::string v = lower(value);
    std::string_view rest = v;
    while (!rest.empty()) {
        std::size_t comma = rest.find(',');
        if (trim(rest.substr(0, comma)) == token) return true;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return false;
}

struct Head {
    std::string first_line;
    std::unordered_map<std::string, std::string> fields;  // lower-case name -> value (repeats joined by ", ")
    std::string field(const std::string& name) const {
        auto it = fields.find(name);
        return it == fields.end() ? std::string() : it->second;
    }
};

Head parse_head(std::string_view text) {  // text: the head without its final CRLF CRLF
    Head h;
    std::size_t eol = text.find("\r\n");
    h.first_line = std::string(text.substr(0, eol));
    while (eol != std::string_view::npos) {
        text.remove_prefix(eol + 2);
        eol = text.find("\r\n");
        std::string_view line = text.substr(0, eol);
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name = lower(trim(line.substr(0, colon)));
        std::string value(trim(line.substr(colon + 1)));
        auto [it, fresh] = h.fields.emplace(name, value);
        if (!fresh) it->second += ", " + value;
    }
    return h;
}

std::string websocket_accept(const std::string& key) {
    std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
    unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

std::string random_key() {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) fail("RAND_bytes failed");
    unsigned char out[25];
    int n = EVP_EncodeBlock(out, raw, sizeof raw);
    return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

void put_u64(unsigned char* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint64_t get_u64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
}

// Count of bytes in data[0..n) that differ from the pattern at stream offset `offset`.
std::uint64_t mismatches(const unsigned char* data, std::size_t n, std::uint64_t offset) {
    if (std::memcmp(data, pattern_at(offset), n) == 0) return 0;
    const unsigned char* p = pattern_at(offset);
    std::uint64_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += data[i] != p[i];
    return bad;
}

// ---------------------------------------------------------------------------
// backend

struct Conn {
    enum class State { head, tunnel, echo } state = State::head;
    int fd = -1;
    bool can_read = false, can_write = false;
    bool close_after_write = false;
    std::string in;    // head bytes not yet parsed
    std::string out;   // bytes to write before anything else (a response head, echoed bytes, the trailer)
    std::size_t out_off = 0;
    // tunnel (throughput) state
    std::uint64_t n = 0, sent = 0, received = 0, bad = 0, received_done_ns = 0;
    bool trailer_queued = false;
};

class Backend {
public:
    explicit Backend(int port) {
        lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (lfd_ < 0) fail(errno_text("socket"));
        int one = 1;
        setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) fail(errno_text("bind"));
        if (listen(lfd_, 4096) < 0) fail(errno_text("listen"));
        socklen_t len = sizeof a;
        getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) fail(errno_text("epoll_create1"));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = nullptr;
        epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &ev);
        buf_.resize(kChunk);
    }
    int port() const { return port_; }

    void run() {
        std::vector<epoll_event> evs(256);
        for (;;) {
            int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), -1);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail(errno_text("epoll_wait"));
            }
            for (int i = 0; i < n; ++i) {
                if (evs[i].data.ptr == nullptr) {
                    accept_all();
                    continue;
                }
                Conn* c = static_cast<Conn*>(evs[i].data.ptr);
                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) c->can_read = true;
                if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->can_write = true;
                if (!service(*c)) close_conn(c);
            }
        }
    }

private:
    void accept_all() {
        for (;;) {
            int fd = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
                if (errno == EMFILE || errno == ENFILE) {
                    std::fprintf(stderr, "tunnel_tool backend: accept: %s\n", std::strerror(errno));
                    return;
                }
                continue;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto c = std::make_unique<Conn>();
            c->fd = fd;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            ev.data.ptr = c.get();
            if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
                close(fd);
                continue;
            }
            conns_.emplace(c.get(), std::move(c));
        }
    }

    void close_conn(Conn* c) {
        close(c->fd);
        conns_.erase(c);
    }

    // Parses as many request heads as `in` holds; false: close the connection.
    bool handle_heads(Conn& c) {
        while (c.state == Conn::State::head && !c.close_after_write) {
            std::size_t end = c.in.find("\r\n\r\n");
            if (end == std::string::npos) return c.in.size() < 65536;
            Head h = parse_head(std::string_view(c.in).substr(0, end));
            std::string rest = c.in.substr(end + 4);
            c.in.clear();
            std::string target;
            {
                std::istringstream ls(h.first_line);
                std::string method;
                ls >> method >> target;
            }
            bool upgrade = has_token(h.field("upgrade"), "websocket") && has_token(h.field("connection"), "upgrade");
            if (upgrade) {
                std::string key = h.field("sec-websocket-key");
                c.out += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: " + websocket_accept(key) + "\r\n\r\n";
                std::uint64_t n = 0;
                if (target.rfind("/bytes/", 0) == 0) n = std::strtoull(target.c_str() + 7, nullptr, 10);
                if (n > 0) {
                    c.state = Conn::State::tunnel;
                    c.n = n;
                    if (!rest.empty()) take_upload(c, reinterpret_cast<const unsigned char*>(rest.data()), rest.size());
                } else {
                    c.state = Conn::State::echo;
                    c.out += rest;
                }
                return true;
            }
            bool close_it = has_token(h.field("connection"), "close") || h.first_line.find("HTTP/1.0") != std::string::npos;
            c.out += "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n";
            c.out += close_it ? "Connection: close\r\n\r\nok\n" : "\r\nok\n";
            if (close_it) c.close_after_write = true;
            c.in = std::move(rest);
        }
        return true;
    }

    void take_upload(Conn& c, const unsigned char* data, std::size_t n) {
        if (c.received < c.n) {
            std::size_t counted = static_cast<std::size_t>(std::min<std::uint64_t>(n, c.n - c.received));
            c.bad += mismatches(data, counted, c.received);
            c.received += counted;
            if (c.received == c.n) c.received_done_ns = now_ns();
        }
        // Bytes past N are read and dropped.
    }

    bool want_write(const Conn& c) const {
        if (c.out_off < c.out.size()) return true;
        if (c.state != Conn::State::tunnel || c.received == 0) return false;
        return c.sent < c.n || (!c.trailer_queued && c.received == c.n);
    }

    // Reads and writes until both would block (edge-triggered); false: close.
    bool service(Conn& c) {
        for (;;) {
            bool progress = false;
            if (c.can_read && c.out.size() - c.out_off < (4u << 20)) {
                ssize_t r = read(c.fd, buf_.data(), buf_.size());
                if (r > 0) {
                    progress = true;
                    const unsigned char* d = buf_.data();
                    auto n = static_cast<std::size_t>(r);
                    switch (c.state) {
                        case Conn::State::head:
                            c.in.append(reinterpret_cast<const char*>(d), n);
                            if (!handle_heads(c)) return false;
                            break;
                        case Conn::State::tunnel: take_upload(c, d, n); break;
                        case Conn::State::echo: c.out.append(reinterpret_cast<const char*>(d), n); break;
                    }
                } else if (r == 0) {
                    return false;
                } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c.can_read = false;
                } else if (errno != EINTR) {
                    return false;
                }
            }
            if (c.state == Conn::State::tunnel && !c.trailer_queued && c.sent == c.n && c.received == c.n &&
                c.out_off == c.out.size()) {
                unsigned char t[kTrailer];
                std::memcpy(t, kMagic, 8);
                put_u64(t + 8, c.received_done_ns);
                put_u64(t + 16, c.bad);
                c.out.assign(reinterpret_cast<const char*>(t), kTrailer);
                c.out_off = 0;
                c.trailer_queued = true;
            }
            if (c.can_write && want_write(c)) {
                ssize_t w;
                bool from_out = c.out_off < c.out.size();
                if (from_out) {
                    w = write(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off);
                } else {
                    std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, c.n - c.sent));
                    w = write(c.fd, pattern_at(c.sent), len);
                }
                if (w > 0) {
                    progress = true;
                    if (from_out) {
                        c.out_off += static_cast<std::size_t>(w);
                        if (c.out_off == c.out.size()) {
                            c.out.clear();
                            c.out_off = 0;
                            if (c.close_after_write) return false;
                        }
                    } else {
                        c.sent += static_cast<std::uint64_t>(w);
                    }
                } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    c.can_write = false;
                } else if (w < 0 && errno != EINTR) {
                    return false;
                }
            }
            if (!progress) return true;
        }
    }

    int lfd_ = -1, ep_ = -1, port_ = 0;
    std::vector<unsigned char> buf_;
    std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
};

// ---------------------------------------------------------------------------
// client

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::uint64_t bytes = 0;
    int tunnels = 1;
    double hold = -1;      // < 0: until stdin closes
    double timeout = 120;  // whole run
    std::vector<int> rss_pids;
};

long rss_kib(const std::vector<int>& pids) {
    long total = 0;
    for (int pid : pids) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/status");
        std::string line;
        while (std::getline(f, line)) {
            if (line.rfind("VmRSS:", 0) == 0) total += std::strtol(line.c_str() + 6, nullptr, 10);
        }
    }
    return total;
}

int remaining_ms(std::uint64_t deadline_ns) {
    std::uint64_t t = now_ns();
    if (t >= deadline_ns) return 0;
    return static_cast<int>(std::min<std::uint64_t>((deadline_ns - t) / 1000000 + 1, 1u << 30));
}

// Blocking connect + upgrade handshake; returns the fd (non-blocking) and any
// bytes that followed the 101 head in `extra`. Fails with a message.
int open_tunnel(const Options& o, const std::string& path, std::uint64_t deadline_ns, std::string& extra,
                std::string& error) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = errno_text("socket");
        return -1;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &a.sin_addr) != 1) fail("bad address " + o.host);
    set_nonblocking(fd);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 && errno != EINPROGRESS) {
        error = errno_text("connect");
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string key = random_key();
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                      "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    std::size_t off = 0;
    std::string in;
    char buf[4096];
    for (;;) {
        pollfd p{fd, static_cast<short>(off < req.size() ? POLLOUT : POLLIN), 0};
        int ms = remaining_ms(deadline_ns);
        if (ms == 0 || poll(&p, 1, ms) == 0) {
            error = "timed out during the upgrade handshake";
            break;
        }
        if (off < req.size()) {
            ssize_t w = write(fd, req.data() + off, req.size() - off);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                error = errno_text("write (handshake)");
                break;
            }
            if (w > 0) off += static_cast<std::size_t>(w);
            continue;
        }
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0) {
            error = in.empty() ? "connection closed before any response"
                               : "connection closed after: " + in.substr(0, in.find("\r\n"));
            break;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            error = errno_text("read (handshake)");
            break;
        }
        in.append(buf, static_cast<std::size_t>(r));
        std::size_t end = in.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (in.size() > 65536) {
                error = "response head too long";
                break;
            }
            continue;
        }
        Head h = parse_head(std::string_view(in).substr(0, end));
        std::istringstream ls(h.first_line);
        std::string version;
        int status = 0;
        ls >> version >> status;
        if (status != 101) {
            error = "expected 101 Switching Protocols, got: " + h.first_line;
            break;
        }
        if (!has_token(h.field("upgrade"), "websocket")) {
            error = "101 without Upgrade: websocket";
            break;
        }
        if (h.field("sec-websocket-accept") != websocket_accept(key)) {
            error = "101 with a wrong Sec-WebSocket-Accept '" + h.field("sec-websocket-accept") + "'";
            break;
        }
        extra = in.substr(end + 4);
        return fd;
    }
    close(fd);
    return -1;
}

int throughput(const Options& o) {
    std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(o.timeout * 1e9);
    std::string extra, error;
    int fd = open_tunnel(o, "/bytes/" + std::to_string(o.bytes), deadline, extra, error);
    if (fd < 0) fail("tunnel handshake failed: " + error);
    const std::uint64_t n = o.bytes;
    std::vector<unsigned char> rbuf(kChunk);
    unsigned char trailer[kTrailer];
    std::size_t trailer_have = 0;
    std::uint64_t sent = 0, received = 0, bad = 0, down_done = 0;
    auto take = [&](const unsigned char* d, std::size_t len) {
        if (received < n) {
            std::size_t counted = static_cast<std::size_t>(std::min<std::uint64_t>(len, n - received));
            bad += mismatches(d, counted, received);
            received += counted;
            d += counted;
            len -= counted;
            if (received == n) down_done = now_ns();
        }
        std::size_t t = std::min(len, kTrailer - trailer_have);
        std::memcpy(trailer + trailer_have, d, t);
        trailer_have += t;
        if (len > t) fail("bytes after the trailer");
    };
    const std::uint64_t t0 = now_ns();
    if (!extra.empty()) take(reinterpret_cast<const unsigned char*>(extra.data()), extra.size());
    bool can_read = true, can_write = true;
    while (trailer_have < kTrailer) {
        bool progress = false;
        for (int i = 0; i < 1 && can_write && sent < n; ++i) {
            std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, n - sent));
            ssize_t w = write(fd, pattern_at(sent), len);
            if (w > 0) {
                sent += static_cast<std::uint64_t>(w);
                progress = true;
            } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                can_write = false;
            } else if (w < 0 && errno != EINTR) {
                fail(errno_text("write (tunnel)"));
            }
        }
        for (int i = 0; i < 1 && can_read && trailer_have < kTrailer; ++i) {
            ssize_t r = read(fd, rbuf.data(), rbuf.size());
            if (r > 0) {
                take(rbuf.data(), static_cast<std::size_t>(r));
                progress = true;
            } else if (r == 0) {
                fail("tunnel closed after " + std::to_string(received) + " of " + std::to_string(n) +
                     " bytes received, " + std::to_string(sent) + " sent");
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                can_read = false;
            } else if (errno != EINTR) {
                fail(errno_text("read (tunnel)"));
            }
        }
        if (progress) continue;
        pollfd p{fd, static_cast<short>(POLLIN | (sent < n ? POLLOUT : 0)), 0};
        int ms = remaining_ms(deadline);
        int pr = ms == 0 ? 0 : poll(&p, 1, ms);
        if (pr == 0)
            fail("timed out: " + std::to_string(sent) + " of " + std::to_string(n) + " bytes sent, " +
                 std::to_string(received) + " received");
        if (pr < 0 && errno != EINTR) fail(errno_text("poll"));
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) can_read = true;
        if (p.revents & (POLLOUT | POLLERR)) can_write = true;
    }
    close(fd);
    if (std::memcmp(trailer, kMagic, 8) != 0) fail("bad trailer");
    std::uint64_t up_done = get_u64(trailer + 8);
    std::uint64_t up_bad = get_u64(trailer + 16);
    if (bad || up_bad)
        fail("corrupted bytes: " + std::to_string(bad) + " received, " + std::to_string(up_bad) + " at the backend");
    double up_s = static_cast<double>(up_done - t0) / 1e9, down_s = static_cast<double>(down_done - t0) / 1e9;
    double mib = static_cast<double>(n) / (1024.0 * 1024.0);
    std::printf("{\"mode\": \"throughput\", \"bytes\": %llu, \"up_s\": %.6f, \"down_s\": %.6f, \"elapsed_s\": %.6f, "
                "\"up_mib_s\": %.1f, \"down_mib_s\": %.1f}\n",
                static_cast<unsigned long long>(n), up_s, down_s, std::max(up_s, down_s), mib / up_s, mib / down_s);
    return 0;
}

void sleep_s(double s) {
    if (s <= 0) return;
    timespec ts{static_cast<time_t>(s), static_cast<long>((s - static_cast<double>(static_cast<time_t>(s))) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int idle(const Options& o) {
    raise_nofile();
    std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(o.timeout * 1e9);
    long before = 0;
    if (!o.rss_pids.empty()) {
        sleep_s(0.5);
        before = rss_kib(o.rss_pids);
    }
    std::vector<int> fds;
    int errors = 0;
    std::string first_error;
    for (int i = 0; i < o.tunnels; ++i) {
        std::string extra, error;
        int fd = open_tunnel(o, "/bytes/0", deadline, extra, error);
        if (fd < 0 || !extra.empty()) {
            if (fd >= 0) close(fd);
            ++errors;
            if (first_error.empty()) first_error = "tunnel " + std::to_string(i) + ": " + (fd < 0 ? error : "unexpected bytes after 101");
            if (fds.empty()) break;  // the first fails: this proxy does not tunnel; no point going on
            if (remaining_ms(deadline) == 0) break;
            continue;
        }
        fds.push_back(fd);
    }
    if (!first_error.empty()) std::fprintf(stderr, "tunnel_tool: %s\n", first_error.c_str());
    std::printf("ready %zu\n", fds.size());
    std::fflush(stdout);
    if (o.hold >= 0) {
        sleep_s(o.hold);
    } else {
        char b[256];
        while (read(0, b, sizeof b) > 0) {
        }
    }
    long after = o.rss_pids.empty() ? 0 : rss_kib(o.rss_pids);
    // Still open? No EOF (and nothing unexpected) so far, and one byte makes the round trip.
    std::vector<char> ok(fds.size(), 1);
    for (std::size_t i = 0; i < fds.size(); ++i) {
        char b;
        ssize_t r = recv(fds[i], &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) ok[i] = 0;
        else if (write(fds[i], "x", 1) != 1) ok[i] = 0;
    }
    std::uint64_t check_deadline = now_ns() + 10ull * 1000000000ull;
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (!ok[i]) continue;
        pollfd p{fds[i], POLLIN, 0};
        char b = 0;
        int ms = remaining_ms(check_deadline);
        if (ms == 0 || poll(&p, 1, ms) != 1 || read(fds[i], &b, 1) != 1 || b != 'x') ok[i] = 0;
    }
    long still_open = std::count(ok.begin(), ok.end(), 1);
    for (int fd : fds) close(fd);
    if (still_open < static_cast<long>(fds.size()))
        std::fprintf(stderr, "tunnel_tool: %ld of %zu tunnels closed or no longer echoing after the hold\n",
                     static_cast<long>(fds.size()) - still_open, fds.size());
    double per_conn = fds.empty() ? 0.0 : static_cast<double>(after - before) * 1024.0 / static_cast<double>(fds.size());
    std::printf("{\"requested\": %d, \"opened\": %zu, \"still_open\": %ld, \"errors\": %d, \"rss_before_kib\": %ld, "
                "\"rss_after_kib\": %ld, \"bytes_per_conn\": %.1f}\n",
                o.tunnels, fds.size(), still_open, errors, before, after, per_conn);
    return static_cast<int>(fds.size()) == o.tunnels && still_open == o.tunnels ? 0 : 1;
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: weir_tunnel_tool backend --port PORT\n"
                 "       weir_tunnel_tool client --connect HOST:PORT --bytes N --tunnels K [--hold SECONDS]\n"
                 "                               [--rss-pids PID,PID...] [--timeout SECONDS]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) usage();
    std::string mode = argv[1];
    std::vector<std::string> args(argv + 2, argv + argc);
    auto value = [&](std::size_t& i) -> const std::string& {
        if (i + 1 >= args.size()) usage();
        return args[++i];
    };
    if (mode == "backend") {
        int port = 0;
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (args[i] == "--port") port = std::atoi(value(i).c_str());
            else usage();
        }
        raise_nofile();
        Backend b(port);
        std::printf("%d\n", b.port());
        std::fflush(stdout);
        b.run();
        return 0;
    }
    if (mode != "client") usage();
    Options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--connect") {
            const std::string& v = value(i);
            std::size_t colon = v.rfind(':');
            if (colon == std::string::npos) usage();
            o.host = v.substr(0, colon);
            o.port = std::atoi(v.c_str() + colon + 1);
        } else if (args[i] == "--bytes") {
            o.bytes = std::strtoull(value(i).c_str(), nullptr, 10);
        } else if (args[i] == "--tunnels") {
            o.tunnels = std::atoi(value(i).c_str());
        } else if (args[i] == "--hold") {
            o.hold = std::atof(value(i).c_str());
        } else if (args[i] == "--timeout") {
            o.timeout = std::atof(value(i).c_str());
        } else if (args[i] == "--rss-pids") {
            std::stringstream ss(value(i));
            std::string p;
            while (std::getline(ss, p, ',')) {
                if (!p.empty()) o.rss_pids.push_back(std::atoi(p.c_str()));
            }
        } else {
            usage();
        }
    }
    if (o.port <= 0 || o.tunnels < 1) usage();
    if (o.bytes > 0) {
        if (o.tunnels != 1) fail("--bytes N > 0 measures one tunnel (--tunnels 1)");
        return throughput(o);
    }
    return idle(o);
}
