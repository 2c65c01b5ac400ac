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

void Listener::start(EventLoop& loop, OnAccept on_accept) {
    loop_ = &loop;
    on_accept_ = std::move(on_accept);
    if (int err = loop.add(fd_, this); err != 0) throw std::system_error(err, std::generic_category(), "epoll");
}

void Listener::on_events(std::uint32_t) { accept_some(); }

void Listener::accept_some() {
    if (fd_ < 0) return;
    for (int i = 0; i < accept_batch; ++i) {
        int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            on_accept_(fd, *this);
            continue;
        }
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
            if (errno == EAGAIN) return;
            continue;
        }
        // EMFILE and friends: the edge is consumed; the worker's tick calls
        // again, so a full descriptor table does not spin the loop.
        log::warn("proxy", "accept failed: {}", std::strerror(errno));
        return;
    }
    // More may be waiting and no new edge will say so: continue after other work.
    // The listener may be removed (reload) before this runs: the token says so.
    loop_->post([this, alive = std::weak_ptr<bool>(alive_)] {
        if (alive.lock()) accept_some();
    });
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
