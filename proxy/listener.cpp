#include "proxy/listener.hpp"

#include "common/log.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace weir::proxy {
namespace {

// Connections taken per readiness event before other work gets a turn.
constexpr int accept_batch = 64;

// accept(2) reports errors of the connection it was about to return (reset,
// network gone, refused by a firewall rule): that one is lost, the next may
// be fine.
bool connection_gone(int error) {
    switch (error) {
        case ECONNABORTED: case EPROTO: case EPERM: case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN:
        case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
            return true;
        default:
            return false;
    }
}

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

namespace {
std::atomic<std::uint32_t> next_listener_id{1};
}  // namespace

Listener::Listener(std::string name, const boost::asio::ip::tcp::endpoint& address)
    : name_(std::move(name)), id_(next_listener_id.fetch_add(1, std::memory_order_relaxed)) {
    fd_ = ::socket(address.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail("socket");
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) fail("SO_REUSEPORT");
    if (::bind(fd_, address.data(), static_cast<socklen_t>(address.size())) != 0) {
        int err = errno;
        ::close(fd_);
        fd_ = -1;
        throw std::system_error(err, std::generic_category(), "bind " + address.address().to_string() + ":" +
                                                                  std::to_string(address.port()));
    }
    if (::listen(fd_, SOMAXCONN) != 0) fail("listen");
    port_ = local_endpoint().port();
}

Listener::~Listener() { close(); }

void Listener::start(EventLoop& loop, OnAccept on_accept, std::atomic<std::uint64_t>* pauses) {
    loop_ = &loop;
    on_accept_ = std::move(on_accept);
    pauses_ = pauses;
    if (int err = loop.add(fd_, this); err != 0) throw std::system_error(err, std::generic_category(), "epoll");
}

void Listener::on_events(std::uint32_t) { accept_some(); }

void Listener::accept_some() {
    if (fd_ < 0) return;
    if (paused_until_ms_ != 0) {
        // New connections keep raising edges during a pause: each would fail
        // the same way. The worker's tick tries again once the pause is over.
        if (EventLoop::clock_ms() < paused_until_ms_) return;
        paused_until_ms_ = 0;
    }
    for (int i = 0; i < accept_batch; ++i) {
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            on_accept_(fd, peer, *this);
            continue;
        }
        const int err = errno;
        if (err == EAGAIN) return;
        if (err == EINTR || connection_gone(err)) continue;
        // Out of descriptors (or anything unexpected): the connection stays
        // queued and accept fails again at once. Retrying on every edge or at
        // once would spin the worker (and flood the log) for as long as the
        // shortage lasts.
        pause(err);
        return;
    }
    // More may be waiting and no new edge will say so: continue after other work.
    // The listener may be removed (reload) before this runs: the token says so.
    loop_->post([this, alive = std::weak_ptr<bool>(alive_)] {
        if (alive.lock()) accept_some();
    });
}

void Listener::pause(int error) {
    const std::uint64_t now = EventLoop::clock_ms();
    paused_until_ms_ = now + pause_ms;
    ++pauses_since_log_;
    if (pauses_) pauses_->fetch_add(1, std::memory_order_relaxed);
    if (last_pause_log_ms_ == 0 || now - last_pause_log_ms_ >= pause_log_interval_ms) {
        log::warn("proxy", "listener {}: cannot accept: {}; pausing accepts for {} ms ({} pauses since the last report)",
                  name_, std::strerror(error), pause_ms, pauses_since_log_);
        last_pause_log_ms_ = now;
        pauses_since_log_ = 0;
    }
}

void Listener::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

boost::asio::ip::tcp::endpoint Listener::local_endpoint() const {
    boost::asio::ip::tcp::endpoint ep;
    socklen_t len = static_cast<socklen_t>(ep.capacity());
    ::getsockname(fd_, ep.data(), &len);
    ep.resize(len);
    return ep;
}

}  // namespace weir::proxy
