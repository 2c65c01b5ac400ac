#include "wire.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

namespace weir_it {

long long ms_since(Clock::time_point t) { return std::chrono::duration_cast<Millis>(Clock::now() - t).count(); }

void wait_out(Millis d) {
    const auto until = Clock::now() + d;
    wait_for([&] { return Clock::now() >= until; }, d + 1s, 20ms);
}

bool wait_for(const std::function<bool()>& pred, Millis timeout, Millis poll) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (Clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(poll);
    }
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

namespace {
std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
    return v;
}
}  // namespace

std::string Headers::get(std::string_view name) const {
    for (const auto& h : list)
        if (iequals(h.name, name)) return h.value;
    return {};
}

bool Headers::has(std::string_view name) const { return count(name) > 0; }

int Headers::count(std::string_view name) const {
    int n = 0;
    for (const auto& h : list)
        if (iequals(h.name, name)) ++n;
    return n;
}

std::vector<std::string> Headers::all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& h : list)
        if (iequals(h.name, name)) out.push_back(h.value);
    return out;
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
    for (const auto& h : list) {
        if (!iequals(h.name, name)) continue;
        std::string_view v = h.value;
        while (!v.empty()) {
            auto comma = v.find(',');
            if (iequals(trim(v.substr(0, comma)), token)) return true;
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
        }
    }
    return false;
}

std::string Headers::dump() const {
    std::string out;
    for (const auto& h : list) out += "  " + h.name + ": " + h.value + "\n";
    return out;
}

bool parse_head(std::string_view head, std::string& start_line, Headers& headers) {
    headers.list.clear();
    bool first = true;
    while (!head.empty()) {
        auto lf = head.find('\n');
        std::string_view line = head.substr(0, lf);
        head.remove_prefix(lf == std::string_view::npos ? head.size() : lf + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (first) {
            if (line.empty()) return false;
            start_line = std::string(line);
            first = false;
            continue;
        }
        if (line.empty()) break;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) return false;
        headers.list.push_back({std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1)))});
    }
    return !first;
}

void split_start_line(std::string_view line, std::string& a, std::string& b, std::string& c) {
    auto sp1 = line.find(' ');
    a = std::string(line.substr(0, sp1));
    if (sp1 == std::string_view::npos) {
        b.clear();
        c.clear();
        return;
    }
    auto sp2 = line.find(' ', sp1 + 1);
    b = std::string(line.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1));
    c = sp2 == std::string_view::npos ? std::string() : std::string(line.substr(sp2 + 1));
}

// ---------------------------------------------------------------- Digest

void Digest::update(const char* p, std::size_t n) {
    bytes_ += n;
    while (tail_len_ > 0 && n > 0) {
        tail_[tail_len_++] = static_cast<unsigned char>(*p++);
        --n;
        if (tail_len_ == 8) {
            std::uint64_t w;
            std::memcpy(&w, tail_, 8);
            mix(w);
            tail_len_ = 0;
        }
    }
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        mix(w);
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        tail_[tail_len_++] = static_cast<unsigned char>(*p++);
        --n;
    }
}

std::uint64_t Digest::value() const {
    Digest d = *this;
    std::uint64_t w = 0;
    std::memcpy(&w, d.tail_, d.tail_len_);
    d.mix(w ^ (static_cast<std::uint64_t>(d.tail_len_) << 56));
    d.mix(bytes_);
    return d.h_;
}

// ---------------------------------------------------------------- Pattern

Pattern::Pattern() : data_(period + max_slice) {
    std::mt19937_64 rng(0x5eed);
    for (std::size_t i = 0; i < period; ++i) data_[i] = static_cast<char>(rng() & 0xff);
    for (std::size_t i = period; i < data_.size(); ++i) data_[i] = data_[i - period];
}

const Pattern& Pattern::get() {
    static const Pattern p;
    return p;
}

std::uint64_t pattern_digest(std::uint64_t n) {
    const Pattern& p = Pattern::get();
    Digest d;
    std::uint64_t off = 0;
    while (off < n) {
        std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(Pattern::max_slice, n - off));
        d.update(p.at(off), k);
        off += k;
    }
    return d.value();
}

std::string pattern_string(std::size_t n, std::uint64_t offset) {
    std::string s;
    const Pattern& p = Pattern::get();
    while (s.size() < n) {
        std::size_t k = std::min(Pattern::max_slice, n - s.size());
        s.append(p.at(offset + s.size()), k);
    }
    return s;
}

// ---------------------------------------------------------------- Stream

const char* to_string(IoResult r) {
    switch (r) {
        case IoResult::ok: return "ok";
        case IoResult::eof: return "eof";
        case IoResult::error: return "error";
        case IoResult::too_large: return "too_large";
        case IoResult::bad_framing: return "bad_framing";
    }
    return "?";
}

ssize_t Stream::fill() {
    if (beg_ == end_) beg_ = end_ = 0;
    if (end_ == buf_.size()) {
        if (beg_ > 0) {
            std::memmove(buf_.data(), buf_.data() + beg_, end_ - beg_);
            end_ -= beg_;
            beg_ = 0;
        } else {
            buf_.resize(buf_.size() * 2);
        }
    }
    ssize_t n = read_some(buf_.data() + end_, buf_.size() - end_);
    if (n > 0) end_ += static_cast<std::size_t>(n);
    return n;
}

ssize_t Stream::read_some(char* p, std::size_t size) {
    if (!ssl_) {
        for (;;) {
            ssize_t n = ::recv(fd_, p, size, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                last_errno = errno;
                return -1;
            }
            return n;
        }
    }
    if (!tls_eof.empty()) return 0;  // as recv after EOF
    if (tls_failed) {
        last_errno = EPROTO;
        return -1;
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        // Blocking socket with SO_RCVTIMEO; SSL_MODE_AUTO_RETRY (the default)
        // reads on past handshake messages such as TLS 1.3 session tickets.
        const int n = SSL_read(ssl_, p, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
        if (n > 0) return n;
        const int saved = errno;
        switch (SSL_get_error(ssl_, n)) {
            case SSL_ERROR_ZERO_RETURN:
                tls_eof = "close_notify";
                return 0;
            case SSL_ERROR_WANT_READ:
            case SSL_ERROR_WANT_WRITE:
                // The socket's read timeout (or a signal): retryable, as for plain.
                if (saved == EINTR) continue;
                last_errno = saved ? saved : EAGAIN;
                return -1;
            case SSL_ERROR_SYSCALL:
                if (saved == EINTR) continue;
                tls_failed = true;
                if (saved == 0) {  // a FIN without close_notify (older OpenSSL's report)
                    tls_eof = "fin";
                    return 0;
                }
                last_errno = saved;  // e.g. ECONNRESET, as plain recv reports it
                tls_error = ssl_errors(std::strerror(saved));
                return -1;
            default:
                tls_failed = true;
                if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                    ERR_clear_error();
                    tls_eof = "fin";  // a FIN without close_notify
                    return 0;
                }
                tls_error = ssl_errors("TLS failure");
                last_errno = EPROTO;
                return -1;
        }
    }
}

IoResult Stream::read_head(std::string& head, std::size_t max_bytes) {
    std::size_t scanned = 0;
    for (;;) {
        std::string_view b = buffered();
        for (std::size_t i = scanned; i < b.size(); ++i) {
            if (b[i] != '\n') continue;
            std::size_t end = 0;
            if (i + 1 < b.size() && b[i + 1] == '\n') end = i + 2;
            else if (i + 2 < b.size() && b[i + 1] == '\r' && b[i + 2] == '\n') end = i + 3;
            if (end) {
                head.assign(b.data(), end);
                consume(end);
                return IoResult::ok;
            }
        }
        scanned = b.size() >= 2 ? b.size() - 2 : 0;
        if (b.size() > max_bytes) return IoResult::too_large;
        ssize_t n = fill();
        if (n == 0) return IoResult::eof;
        if (n < 0) return IoResult::error;
    }
}

IoResult Stream::read_exact(std::uint64_t n, const Sink& sink) {
    while (n > 0) {
        if (beg_ == end_) {
            ssize_t r = fill();
            if (r == 0) return IoResult::eof;
            if (r < 0) return IoResult::error;
        }
        std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, end_ - beg_));
        if (sink) sink(buf_.data() + beg_, k);
        beg_ += k;
        n -= k;
    }
    return IoResult::ok;
}

IoResult Stream::read_line(std::string& line, std::size_t max_bytes) {
    for (;;) {
        std::string_view b = buffered();
        auto lf = b.find('\n');
        if (lf != std::string_view::npos) {
            if (lf == 0 || b[lf - 1] != '\r') return IoResult::bad_framing;  // bare LF
            line.assign(b.data(), lf - 1);
            consume(lf + 1);
            return IoResult::ok;
        }
        if (b.size() > max_bytes) return IoResult::too_large;
        ssize_t n = fill();
        if (n == 0) return IoResult::eof;
        if (n < 0) return IoResult::error;
    }
}

IoResult Stream::read_chunked(const Sink& sink, std::string* error) {
    auto fail = [&](IoResult r, const char* why) {
        if (error) *error = why;
        return r;
    };
    std::string line;
    for (;;) {
        IoResult r = read_line(line, 128 * 1024);
        if (r != IoResult::ok) return fail(r, "chunk size line");
        std::uint64_t size = 0;
        std::size_t i = 0, digits = 0;
        for (; i < line.size(); ++i) {
            char c = line[i];
            int v = (c >= '0' && c <= '9') ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
            if (v < 0) break;
            if (++digits > 15) return fail(IoResult::bad_framing, "chunk size too large");
            size = size * 16 + static_cast<std::uint64_t>(v);
        }
        if (digits == 0) return fail(IoResult::bad_framing, "no chunk size");
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        if (i < line.size() && line[i] != ';') return fail(IoResult::bad_framing, "junk after chunk size");
        if (size == 0) break;
        r = read_exact(size, sink);
        if (r != IoResult::ok) return fail(r, "chunk data");
        r = read_line(line, 16);
        if (r != IoResult::ok) return fail(r == IoResult::too_large ? IoResult::bad_framing : r, "chunk data end");
        if (!line.empty()) return fail(IoResult::bad_framing, "no CRLF after chunk data");
    }
    for (;;) {  // trailer section
        IoResult r = read_line(line, 128 * 1024);
        if (r != IoResult::ok) return fail(r, "trailer");
        if (line.empty()) return IoResult::ok;
    }
}

IoResult Stream::read_until_close(const Sink& sink) {
    for (;;) {
        if (beg_ < end_) {
            if (sink) sink(buf_.data() + beg_, end_ - beg_);
            beg_ = end_;
        }
        ssize_t r = fill();
        if (r == 0) return IoResult::ok;
        if (r < 0) return IoResult::error;
    }
}

bool Stream::write_all(std::string_view data) {
    if (ssl_) {
        if (tls_failed) {
            last_errno = EPROTO;
            return false;
        }
        SigpipeBlocked no_sigpipe;
        while (!data.empty()) {
            ERR_clear_error();
            errno = 0;
            const int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), INT_MAX)));
            if (n > 0) {
                data.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            const int saved = errno;
            const int e = SSL_get_error(ssl_, n);
            if ((e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_SYSCALL) && saved == EINTR)
                continue;
            if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL) {
                tls_failed = true;
                tls_error = ssl_errors(saved ? std::strerror(saved) : "TLS write failed");
            }
            last_errno = saved ? saved : EPROTO;
            return false;
        }
        return true;
    }
    while (!data.empty()) {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            last_errno = errno;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

SigpipeBlocked::SigpipeBlocked() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old_mask_);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
}

SigpipeBlocked::~SigpipeBlocked() {
    const int saved = errno;
    if (!was_pending_) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        const timespec none{};
        while (sigtimedwait(&pipe, nullptr, &none) > 0) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    errno = saved;
}

std::string ssl_errors(const std::string& fallback) {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out += (out.empty() ? "" : "; ") + std::string(buf);
    }
    return out.empty() ? fallback : out;
}

void set_socket_timeouts(int fd, Millis timeout) {
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::uint16_t closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

BlackholeEndpoint::BlackholeEndpoint() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd_, 0);  // room for one completed connection
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    filler_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::connect(filler_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);  // takes that one place
}

BlackholeEndpoint::~BlackholeEndpoint() {
    ::close(filler_fd_);
    ::close(listen_fd_);
}

}  // namespace weir_it
