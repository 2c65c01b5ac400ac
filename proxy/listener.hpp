// A listening socket of one worker (SO_REUSEPORT: every worker binds the same
// address and the kernel spreads connections with no shared accept lock).
#pragma once

#include "proxy/event_loop.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace weir::proxy {

class Listener final : public IoObject {
public:
    // `peer`: the client's address, as accept gave it (no getpeername later).
    using OnAccept = std::function<void(int fd, const sockaddr_storage& peer, const Listener& from)>;

    // Binds and listens; throws std::system_error on failure.
    Listener(std::string name, const boost::asio::ip::tcp::endpoint& address);
    ~Listener() override;

    // Registers with the worker's loop; accepted sockets go to `on_accept`,
    // and every pause for lack of descriptors is counted in `pauses`.
    void start(EventLoop& loop, OnAccept on_accept, std::atomic<std::uint64_t>* pauses = nullptr);
    const std::string& name() const { return name_; }
    std::uint32_t id() const { return id_; }
    // The bound port (also when configured as 0): what clients connected to.
    std::uint16_t port() const { return port_; }
    void on_events(std::uint32_t events) override;
    void close();
    boost::asio::ip::tcp::endpoint local_endpoint() const;

    // Accepts what is waiting (also called on every worker tick: the retry
    // after a pause).
    void accept_some();

    // How long accepting stops when the process is out of descriptors.
    static constexpr std::uint64_t pause_ms = 100;
    // One log line per listener at most this often while it keeps pausing.
    static constexpr std::uint64_t pause_log_interval_ms = 10'000;

private:
    void pause(int error);

    std::string name_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // expires with the listener
    std::uint32_t id_;  // unique in the process: tells which listener a connection came through
    int fd_ = -1;
    std::uint16_t port_ = 0;
    EventLoop* loop_ = nullptr;
    OnAccept on_accept_;
    std::atomic<std::uint64_t>* pauses_ = nullptr;
    std::uint64_t paused_until_ms_ = 0;  // no accepts before this (0: not paused)
    std::uint64_t last_pause_log_ms_ = 0;
    std::uint64_t pauses_since_log_ = 0;
};

}  // namespace weir::proxy
