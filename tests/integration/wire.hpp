// Wire-level helpers shared by the fake upstream and the raw client: a
// buffered blocking socket stream that can read heads and bodies in every
// framing, a split-invariant digest for large bodies, a deterministic byte
// pattern to stream, and waiting for a condition with a deadline.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

struct ssl_st;  // OpenSSL's SSL

namespace weir_it {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// Polls `pred` until it holds or `timeout` passes; true if it held. This is
// the only way tests wait: no sleep is used as synchronisation.
bool wait_for(const std::function<bool()>& pred, Millis timeout, Millis poll = 5ms);
// Milliseconds elapsed since `t`.
long long ms_since(Clock::time_point t);
// Waits `d` (only where the contract itself names a time, e.g. "within one second").
void wait_out(Millis d);

bool iequals(std::string_view a, std::string_view b);

struct Header {
    std::string name;
    std::string value;
};

struct Headers {
    std::vector<Header> list;

    // Value of the first field with that name (case-insensitive), "" if none.
    std::string get(std::string_view name) const;
    bool has(std::string_view name) const;
    int count(std::string_view name) const;
    // Every value of `name`, in order.
    std::vector<std::string> all(std::string_view name) const;
    // True if some comma-separated token of some `name` field equals `token`.
    bool has_token(std::string_view name, std::string_view token) const;
    std::string dump() const;
};

// Parses a head ("start line CRLF *(field CRLF) CRLF") leniently: the
// harness must be able to look at whatever arrives. Returns false if there
// is no start line or a field has no colon.
bool parse_head(std::string_view head, std::string& start_line, Headers& headers);

// Splits a start line in three at the first two spaces.
void split_start_line(std::string_view line, std::string& a, std::string& b, std::string& c);

// 64-bit digest whose value depends only on the byte sequence, not on how it
// was split into calls; fast enough for a GiB (word at a time).
class Digest {
public:
    void update(const char* data, std::size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    std::uint64_t value() const;
    std::uint64_t bytes() const { return bytes_; }

private:
    void mix(std::uint64_t w) {
        h_ = (h_ ^ w) * 0x100000001b3ULL;
        h_ ^= h_ >> 29;
    }
    std::uint64_t h_ = 0xcbf29ce484222325ULL;
    std::uint64_t bytes_ = 0;
    unsigned char tail_[8] = {};
    std::size_t tail_len_ = 0;
};

// Deterministic pseudo-random bytes: byte i of the stream is the same for
// every sender. The period is prime so that misplaced blocks change the digest.
class Pattern {
public:
    static constexpr std::size_t period = 1'000'003;
    static constexpr std::size_t max_slice = 1 << 20;
    static const Pattern& get();
    // `n` (<= max_slice) contiguous pattern bytes starting at stream offset `offset`.
    const char* at(std::uint64_t offset) const { return data_.data() + offset % period; }

private:
    Pattern();
    std::vector<char> data_;
};

// Digest of the first `n` bytes of the pattern.
std::uint64_t pattern_digest(std::uint64_t n);
// The first `n` bytes of the pattern as a string (small n).
std::string pattern_string(std::size_t n, std::uint64_t offset = 0);

using Sink = std::function<void(const char*, std::size_t)>;

enum class IoResult { ok, eof, error, too_large, bad_framing };
const char* to_string(IoResult r);

// Buffered blocking reads and writes on a connected socket. Timeouts come
// from SO_RCVTIMEO / SO_SNDTIMEO on the socket (a timed-out read is `error`
// with last_errno EAGAIN). With an SSL attached (a TLS client over the same
// socket) every read and write goes through it; the framing code is the same.
class Stream {
public:
    explicit Stream(int fd = -1) : fd_(fd), buf_(64 * 1024) {}
    int fd() const { return fd_; }
    void set_fd(int fd) { fd_ = fd; }
    void set_tls(ssl_st* ssl) { ssl_ = ssl; }
    ssl_st* tls() const { return ssl_; }

    // One recv into the buffer: >0 bytes, 0 on EOF, -1 on error.
    ssize_t fill();
    // One unbuffered read into `p`: >0 bytes, 0 on EOF, -1 on error (last_errno).
    // Over TLS, EOF is a close_notify or a TCP FIN without one (`tls_eof`
    // says which); a timeout is -1 with EAGAIN, as in plain; any other TLS
    // failure is -1 with EPROTO and `tls_error` set.
    ssize_t read_some(char* p, std::size_t n);
    std::string_view buffered() const { return {buf_.data() + beg_, end_ - beg_}; }
    void consume(std::size_t n) { beg_ += n; }
    void clear() { beg_ = end_ = 0; }

    // Reads through the empty line ending a head (CRLF CRLF, or LF LF).
    IoResult read_head(std::string& head, std::size_t max_bytes = 1 << 20);
    IoResult read_exact(std::uint64_t n, const Sink& sink);
    // Decodes a chunked body (and its trailer section) into `sink`.
    IoResult read_chunked(const Sink& sink, std::string* error = nullptr);
    IoResult read_until_close(const Sink& sink);

    bool write_all(std::string_view data);
    bool write_all(const char* data, std::size_t n) { return write_all(std::string_view(data, n)); }

    int last_errno = 0;
    // Over TLS: how the peer closed ("close_notify" or "fin"), empty while open.
    std::string tls_eof;
    // Over TLS: the OpenSSL error that ended the connection, if any.
    std::string tls_error;
    // Over TLS: true once the session is unusable (no close_notify may be sent).
    bool tls_failed = false;

private:
    IoResult read_line(std::string& line, std::size_t max_bytes);
    int fd_;
    ssl_st* ssl_ = nullptr;
    std::vector<char> buf_;
    std::size_t beg_ = 0;
    std::size_t end_ = 0;
};

// While alive, a SIGPIPE raised by this thread (a write to a connection the
// peer closed, from code that cannot pass MSG_NOSIGNAL, such as OpenSSL's
// socket writes) is blocked and then discarded: the write fails with EPIPE.
class SigpipeBlocked {
public:
    SigpipeBlocked();
    ~SigpipeBlocked();
    SigpipeBlocked(const SigpipeBlocked&) = delete;
    SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

private:
    sigset_t old_mask_;
    bool was_pending_ = false;
};

// The text of OpenSSL's queued errors (cleared), or `fallback` when there are none.
std::string ssl_errors(const std::string& fallback = "");

// Sets SO_RCVTIMEO and SO_SNDTIMEO.
void set_socket_timeouts(int fd, Millis timeout);
// A port on 127.0.0.1 that was bound and is closed again: connecting is refused.
std::uint16_t closed_port();

// A listener on 127.0.0.1 whose accept queue is full and never drained: the
// kernel drops further SYNs, so connecting hangs (for connect timeouts).
class BlackholeEndpoint {
public:
    BlackholeEndpoint();
    ~BlackholeEndpoint();
    BlackholeEndpoint(const BlackholeEndpoint&) = delete;
    BlackholeEndpoint& operator=(const BlackholeEndpoint&) = delete;
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    int listen_fd_ = -1;
    int filler_fd_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace weir_it
