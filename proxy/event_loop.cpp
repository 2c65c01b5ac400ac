#include "proxy/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace weir::proxy {
std::uint64_t EventLoop::clock_ms() {
    using namespace std::chrono;
    return static_cast<std::uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

EventLoop::EventLoop() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error(std::string("epoll: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.ptr = nullptr;  // the wake-up descriptor
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

EventLoop::~EventLoop() {
    retired_.clear();
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

int EventLoop::add(int fd, IoObject* object) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = object;
    return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

void EventLoop::post(std::function<void()> fn) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        posted_.push_back(std::move(fn));
        has_posted_.store(true, std::memory_order_release);
    }
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void EventLoop::retire(std::unique_ptr<IoObject> object) { retired_.push_back(std::move(object)); }

void EventLoop::stop() {
    stopped_.store(true, std::memory_order_release);
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void EventLoop::drain_posted() {
    if (!has_posted_.load(std::memory_order_acquire)) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        running_.swap(posted_);
        has_posted_.store(false, std::memory_order_relaxed);
    }
    for (auto& fn : running_) fn();
    running_.clear();
}

void EventLoop::run(const std::function<void()>& on_tick, std::chrono::milliseconds tick,
                    const std::function<bool()>& yielding) {
    bool more = false;  // `yielding` has steps left: poll, do not sleep
    constexpr int max_events = 256;
    epoll_event events[max_events];
    std::uint64_t next_tick = clock_ms() + static_cast<std::uint64_t>(tick.count());
    for (;;) {
        if (stopped_.load(std::memory_order_acquire)) break;
        std::uint64_t now = clock_ms();
        // Sleep until the tick or the nearest deadline, whichever is first.
        const std::uint64_t to_tick = now >= next_tick ? 0 : next_tick - now;
        int timeout = more ? 0 : static_cast<int>(timers_.sleep_ms(now, to_tick));
        int n = ::epoll_wait(epoll_fd_, events, max_events, timeout);
        if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
        for (int i = 0; i < n; ++i) {
            auto* object = static_cast<IoObject*>(events[i].data.ptr);
            if (object == nullptr) {
                std::uint64_t v;
                [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
                continue;
            }
            object->on_events(events[i].events);
        }
        drain_posted();
        if (yielding) more = yielding();
        retired_.clear();
        now = clock_ms();
        timers_.advance(now);
        retired_.clear();
        if (now >= next_tick) {
            on_tick();
            next_tick = now + static_cast<std::uint64_t>(tick.count());
            retired_.clear();
        }
    }
    drain_posted();
    retired_.clear();
}

}  // namespace weir::proxy
