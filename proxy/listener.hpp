// A listening socket of one worker (SO_REUSEPORT: every worker binds the same
// address and the kernel spreads connections with no shared accept lock).
#pragma once

#include "proxy/event_loop.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>

namespace weir::proxy {

class Listener final : public IoObject {
public:
    using OnAccept = std::function<void(int fd, const Listener& from)>;

    // Binds and listens; throws std::system_error on failure.
    Listener(std::string name, const boost::asio::ip::tcp::endpoint& address);
    ~Listener() override;

    // Registers with the worker's loop; accepted sockets go to `on_accept`.
    void start(EventLoop& loop, OnAccept on_accept);
    const std::string& name() const { return name_; }
    std::uint32_t id() const { return id_; }
    // The bound port (also when configured as 0): what clients connected to.
    std::uint16_t port() const { return port_; }
    void on_events(std::uint32_t events) override;
    void close();
    boost::asio::ip::tcp::endpoint local_endpoint() const;

    // Accepts what is waiting (also called on every worker tick, as a retry
    // after a failed accept).
    void accept_some();

private:
    std::string name_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // expires with the listener
    std::uint32_t id_;  // unique in the process: tells which listener a connection came through
    int fd_ = -1;
    std::uint16_t port_ = 0;
    EventLoop* loop_ = nullptr;
    OnAccept on_accept_;
};

}  // namespace weir::proxy
