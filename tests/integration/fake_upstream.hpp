// An in-process HTTP/1.1 origin on 127.0.0.1 (port chosen by the OS), one
// thread per connection with blocking sockets. It records every request it
// receives (the head as soon as it arrives, the body as a count and digest)
// and every connection's fate, and a per-test handler decides what to answer:
// normally, slowly, with garbage or invalid framing, a reset, a close
// mid-body, or a huge streamed body.
#pragma once

#include "wire.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace weir_it {

struct UpstreamRequest {
    int conn_id = 0;
    std::string method;
    std::string target;
    std::string version;
    Headers headers;
    std::string raw_head;  // the head exactly as it arrived
    bool chunked = false;
    bool complete = false;         // head and the whole body arrived
    std::string body_error;        // why the body did not complete
    std::uint64_t body_bytes = 0;  // decoded body bytes received so far
    std::uint64_t digest = 0;      // Digest of the decoded body (set when complete)
    std::string body;              // the first `store_limit` bytes of the body
};

class FakeUpstream;

// The connection a handler answers on.
class UpstreamConn {
public:
    int id() const { return id_; }
    Stream& stream() { return stream_; }
    bool send(std::string_view bytes) { return stream_.write_all(bytes); }
    // Sends `n` bytes of the pattern starting at stream offset `offset`, in
    // large writes. False once the peer has gone away.
    bool send_pattern(std::uint64_t n, std::uint64_t offset = 0);
    // Waits without blocking the upstream's shutdown; false if it is shutting down.
    bool sleep_for(Millis d);
    // True once the peer closed its side (reads EOF or a reset) within `timeout`.
    bool wait_peer_closed(Millis timeout);

private:
    friend class FakeUpstream;
    UpstreamConn(FakeUpstream& owner, int fd, int id) : owner_(owner), stream_(fd), id_(id) {}
    FakeUpstream& owner_;
    Stream stream_;
    int id_;
};

// What the connection does after the handler returns.
enum class After { keep_alive, close, reset };

using Handler = std::function<After(UpstreamConn&, const UpstreamRequest&)>;

// A complete response with Content-Length. `extra` is raw header lines, each ending in CRLF.
std::string make_response(int status, std::string_view body, std::string_view extra = "");

class FakeUpstream {
public:
    explicit FakeUpstream(std::string name = "upstream");
    ~FakeUpstream();
    FakeUpstream(const FakeUpstream&) = delete;
    FakeUpstream& operator=(const FakeUpstream&) = delete;

    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string& name() const { return name_; }

    // The default answers 200 with body "<name> <method> <target>".
    // Handlers run on connection threads until the FakeUpstream is destroyed:
    // what they capture by reference must be declared before it.
    void set_handler(Handler h);
    // Called right after a request head arrives, before the body is read. If
    // it returns a value, it has dealt with the request (body included) and
    // the connection does what it says; nullopt: read the body, call the handler.
    using HeadHook = std::function<std::optional<After>(UpstreamConn&, const UpstreamRequest&)>;
    void set_head_hook(HeadHook hook);

    std::vector<UpstreamRequest> requests() const;
    std::size_t request_count() const;   // heads received
    std::size_t complete_count() const;  // requests received in full
    std::size_t connection_count() const;
    std::size_t open_connections() const;
    bool connection_closed(int id) const;

    // Waits until the predicate holds over the recorded state.
    bool wait(const std::function<bool()>& pred, Millis timeout = 5s) const;
    bool wait_requests(std::size_t n, Millis timeout = 5s) const;
    bool wait_complete(std::size_t n, Millis timeout = 5s) const;
    bool wait_connection_closed(int id, Millis timeout = 5s) const;
    bool wait_all_closed(Millis timeout = 5s) const;

    static constexpr std::size_t store_limit = 1 << 20;

private:
    friend class UpstreamConn;
    struct ConnState {
        int fd = -1;
        bool closed = false;
    };
    void accept_loop();
    void serve(int fd, int id);
    void notify();
    bool stopping() const { return stopping_.load(); }

    std::string name_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;

    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    Handler handler_;
    HeadHook head_hook_;
    std::vector<UpstreamRequest> requests_;
    std::vector<ConnState> conns_;
    std::vector<std::thread> threads_;
};

}  // namespace weir_it
