// A listening socket of one worker (SO_REUSEPORT: every worker binds the same
// address and the kernel spreads connections with no shared accept lock).
#pragma once

#include "proxy/event_loop.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <functional>

namespace weir::proxy {

class Listener final : public IoObject {
public:
    using OnAccept = std::function<void(int fd)>;

    // Binds and listens; throws std::system_error on failure.
    Listener(const boost::asio::ip::tcp::endpoint& address, OnAccept on_accept);
    ~Listener() override;

    void start(EventLoop& loop);
    void on_events(std::uint32_t events) override;
    void close();
    boost::asio::ip::tcp::endpoint local_endpoint() const;

    // Accepts what is waiting (also called on every worker tick, as a retry
    // after a failed accept).
    void accept_some();

private:
    int fd_ = -1;
    EventLoop* loop_ = nullptr;
    OnAccept on_accept_;
};

}  // namespace weir::proxy
