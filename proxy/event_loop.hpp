// A per-worker epoll loop, edge-triggered, with readiness remembered per
// socket. Asio's reactor re-arms a descriptor (epoll_ctl) or tries a
// speculative read on every wait; a proxy that tracks readiness itself needs
// neither, so a proxied request costs the four transfers (recv, send, recv,
// send) plus a share of epoll_wait. The control side keeps using Asio.
#pragma once

#include "proxy/timer_wheel.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace weir::proxy {

// Something that owns a descriptor registered in the loop.
class IoObject {
public:
    virtual ~IoObject() = default;
    virtual void on_events(std::uint32_t events) = 0;
};

class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Registers `fd` once for input, output and peer close, edge-triggered.
    // Returns 0 or an errno value.
    int add(int fd, IoObject* object);

    // Runs `fn` on the loop's thread soon. Any thread.
    void post(std::function<void()> fn);
    // Keeps `object` alive until the current batch of events is handled:
    // events already fetched may still name it.
    void retire(std::unique_ptr<IoObject> object);
    // Destroys retired objects now (only outside event handling: shutdown).
    void flush_retired() { retired_.clear(); }

    // Per-request deadlines, fired by the loop on time (see timer_wheel.hpp).
    TimerWheel& timers() { return timers_; }
    // Milliseconds of the loop's clock (steady, read now: no system call, vDSO).
    static std::uint64_t clock_ms();

    // Runs until stop(); calls `on_tick` every `tick` and fires timers when due.
    // `yielding`, if set, runs once after each batch of events for as long as
    // it returns true (more to do): work that must not hold up I/O takes one
    // step per turn, and the loop does not sleep while it has steps left.
    void run(const std::function<void()>& on_tick, std::chrono::milliseconds tick,
             const std::function<bool()>& yielding = {});
    void stop();  // any thread

private:
    void drain_posted();

    int epoll_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: wakes epoll_wait for posted work
    std::mutex mutex_;
    std::vector<std::function<void()>> posted_;
    std::vector<std::function<void()>> running_;
    std::vector<std::unique_ptr<IoObject>> retired_;
    TimerWheel timers_{clock_ms()};
    std::atomic<bool> stopped_{false};
    std::atomic<bool> has_posted_{false};  // lets the loop skip the mutex when nothing was posted
};

}  // namespace weir::proxy
