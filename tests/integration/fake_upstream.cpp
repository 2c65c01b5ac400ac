#include "fake_upstream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace weir_it {

std::string make_response(int status, std::string_view body, std::string_view extra) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " Whatever\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    r += extra;
    r += "\r\n";
    r += body;
    return r;
}

bool UpstreamConn::send_pattern(std::uint64_t n, std::uint64_t offset) {
    const Pattern& p = Pattern::get();
    std::uint64_t end = offset + n;
    while (offset < end) {
        std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(Pattern::max_slice, end - offset));
        if (!stream_.write_all(p.at(offset), k)) return false;
        offset += k;
    }
    return true;
}

bool UpstreamConn::sleep_for(Millis d) {
    std::unique_lock lk(owner_.mu_);
    return !owner_.cv_.wait_for(lk, d, [&] { return owner_.stopping(); });
}

bool UpstreamConn::wait_peer_closed(Millis timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{stream_.fd(), POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 100)));
        if (owner_.stopping()) return false;
        if (r <= 0) continue;
        char buf[4096];
        ssize_t n = ::recv(stream_.fd(), buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
    }
}

FakeUpstream::FakeUpstream(std::string name) : name_(std::move(name)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("FakeUpstream: socket failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 512) != 0)
        throw std::runtime_error("FakeUpstream: bind/listen failed");
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    handler_ = [this](UpstreamConn& c, const UpstreamRequest& r) {
        c.send(make_response(200, name_ + " " + r.method + " " + r.target, "Content-Type: text/plain\r\n"));
        return r.headers.has_token("connection", "close") ? After::close : After::keep_alive;
    };
    acceptor_ = std::thread([this] { accept_loop(); });
}

FakeUpstream::~FakeUpstream() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
        for (auto& c : conns_)
            if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
    }
    cv_.notify_all();
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_fd_);
    std::vector<std::thread> threads;
    {
        std::lock_guard lk(mu_);
        threads.swap(threads_);
    }
    for (auto& t : threads)
        if (t.joinable()) t.join();
}

void FakeUpstream::set_handler(Handler h) {
    std::lock_guard lk(mu_);
    handler_ = std::move(h);
}

void FakeUpstream::set_head_hook(HeadHook hook) {
    std::lock_guard lk(mu_);
    head_hook_ = std::move(hook);
}

std::vector<UpstreamRequest> FakeUpstream::requests() const {
    std::lock_guard lk(mu_);
    return requests_;
}

std::size_t FakeUpstream::request_count() const {
    std::lock_guard lk(mu_);
    return requests_.size();
}

std::size_t FakeUpstream::complete_count() const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& r : requests_) n += r.complete ? 1 : 0;
    return n;
}

std::size_t FakeUpstream::connection_count() const {
    std::lock_guard lk(mu_);
    return conns_.size();
}

std::size_t FakeUpstream::open_connections() const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& c : conns_) n += c.closed ? 0 : 1;
    return n;
}

bool FakeUpstream::connection_closed(int id) const {
    std::lock_guard lk(mu_);
    return id >= 0 && static_cast<std::size_t>(id) < conns_.size() && conns_[id].closed;
}

bool FakeUpstream::wait(const std::function<bool()>& pred, Millis timeout) const {
    // The predicate takes the lock itself through the accessors; poll it.
    return wait_for(pred, timeout);
}

bool FakeUpstream::wait_requests(std::size_t n, Millis timeout) const {
    return wait([&] { return request_count() >= n; }, timeout);
}

bool FakeUpstream::wait_complete(std::size_t n, Millis timeout) const {
    return wait([&] { return complete_count() >= n; }, timeout);
}

bool FakeUpstream::wait_connection_closed(int id, Millis timeout) const {
    return wait([&] { return connection_closed(id); }, timeout);
}

bool FakeUpstream::wait_all_closed(Millis timeout) const {
    return wait([&] { return open_connections() == 0; }, timeout);
}

void FakeUpstream::notify() { cv_.notify_all(); }

void FakeUpstream::accept_loop() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (stopping()) {
            if (fd >= 0) ::close(fd);
            return;
        }
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::lock_guard lk(mu_);
        int id = static_cast<int>(conns_.size());
        conns_.push_back({fd, false});
        threads_.emplace_back([this, fd, id] { serve(fd, id); });
    }
}

void FakeUpstream::serve(int fd, int id) {
    UpstreamConn conn(*this, fd, id);
    Stream& s = conn.stream();
    bool reset = false;
    for (;;) {
        std::string head;
        if (s.read_head(head) != IoResult::ok) break;
        UpstreamRequest req;
        req.conn_id = id;
        req.raw_head = head;
        std::string line;
        if (!parse_head(head, line, req.headers)) break;
        split_start_line(line, req.method, req.target, req.version);
        req.chunked = req.headers.has_token("transfer-encoding", "chunked");
        std::size_t index;
        Handler handler;
        HeadHook hook;
        {
            std::lock_guard lk(mu_);
            index = requests_.size();
            requests_.push_back(req);
            handler = handler_;
            hook = head_hook_;
        }
        notify();
        if (hook) {
            if (std::optional<After> done = hook(conn, req)) {
                if (*done == After::reset) reset = true;
                if (*done != After::keep_alive) break;
                continue;
            }
        }
        if (iequals(req.headers.get("expect"), "100-continue") && !conn.send("HTTP/1.1 100 Continue\r\n\r\n")) break;

        // Body: counted and digested, stored only up to store_limit.
        Digest digest;
        std::uint64_t progress_reported = 0;
        Sink sink = [&](const char* p, std::size_t n) {
            digest.update(p, n);
            if (req.body.size() < store_limit)
                req.body.append(p, std::min(n, store_limit - req.body.size()));
            // Publish progress now and then so tests can watch a long upload.
            if (digest.bytes() - progress_reported >= (1 << 20)) {
                progress_reported = digest.bytes();
                std::lock_guard lk(mu_);
                requests_[index].body_bytes = digest.bytes();
            }
        };
        IoResult r = IoResult::ok;
        std::string why;
        if (req.chunked) {
            r = s.read_chunked(sink, &why);
        } else if (req.headers.has("content-length")) {
            char* end = nullptr;
            std::string cl = req.headers.get("content-length");
            unsigned long long n = std::strtoull(cl.c_str(), &end, 10);
            if (cl.empty() || *end != '\0') {
                r = IoResult::bad_framing;
                why = "bad content-length";
            } else {
                r = s.read_exact(n, sink);
            }
        }
        req.body_bytes = digest.bytes();
        req.digest = digest.value();
        req.complete = r == IoResult::ok;
        if (!req.complete) req.body_error = why.empty() ? to_string(r) : why + " (" + to_string(r) + ")";
        {
            std::lock_guard lk(mu_);
            requests_[index] = req;
        }
        notify();
        if (!req.complete) break;
        After after = handler(conn, req);
        if (after == After::reset) {
            reset = true;
            break;
        }
        if (after == After::close) break;
    }
    std::lock_guard lk(mu_);
    if (reset) {
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    ::close(fd);
    conns_[id].fd = -1;
    conns_[id].closed = true;
    cv_.notify_all();
}

}  // namespace weir_it
