#include "proxy/worker.hpp"

#include "common/log.hpp"
#include "proxy/session.hpp"

#include <boost/asio/post.hpp>

#include <chrono>
#include <random>

namespace weir::proxy {
namespace {

// Deadlines are checked on a coarse tick instead of one timer per
// connection: arming a timer per request would cost a system call each.
constexpr std::chrono::milliseconds tick_interval{100};
// Idle upstream connections older than this are closed.
constexpr std::uint64_t upstream_idle_ms = 60'000;

std::uint64_t seed_for(unsigned index) {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ index;
}

}  // namespace

Worker::Worker(unsigned index, std::atomic<std::size_t>& connections)
    : index_(index),
      connections_(connections),
      random_(seed_for(index)),
      upstreams_(io_.get_executor()),
      ticker_(io_) {
    now_ms_ = clock_ms();
}

Worker::~Worker() = default;

std::uint64_t Worker::clock_ms() {
    using namespace std::chrono;
    return static_cast<std::uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

void Worker::listen(const std::vector<ListenSpec>& specs) {
    for (const auto& spec : specs) {
        auto acc = std::make_unique<Acceptor>(io_.get_executor());
        acc->open(spec.address.protocol());
        acc->set_option(asio::socket_base::reuse_address(true));
        // Every worker binds the same address; the kernel spreads new
        // connections across them with no shared accept queue lock.
        int one = 1;
        if (::setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            throw std::runtime_error("SO_REUSEPORT unavailable");
        acc->bind(spec.address);
        acc->listen(asio::socket_base::max_listen_connections);
        acceptors_.push_back(std::move(acc));
    }
}

std::vector<tcp::endpoint> Worker::local_endpoints() const {
    std::vector<tcp::endpoint> out;
    for (const auto& a : acceptors_) out.push_back(a->local_endpoint());
    return out;
}

void Worker::run() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) accept(i);
    tick();
    io_.run();
}

void Worker::stop() { io_.stop(); }

void Worker::publish(routing::SnapshotPtr snapshot) {
    asio::post(io_, [this, s = std::move(snapshot)]() mutable { snapshot_ = std::move(s); });
}

void Worker::accept(std::size_t i) {
    acceptors_[i]->async_accept([this, i](const error_code& ec, Socket socket) {
        if (ec == asio::error::operation_aborted || draining_) return;
        if (ec) {
            // EMFILE and friends: log, back off a little by retrying on the next turn.
            log::warn("proxy", "worker {}: accept failed: {}", index_, ec.message());
            asio::post(io_, [this, i] { accept(i); });
            return;
        }
        const std::size_t limit = snapshot_ ? snapshot_->limits.max_connections : 10000;
        if (connections_.fetch_add(1, std::memory_order_relaxed) >= limit) {
            connections_.fetch_sub(1, std::memory_order_relaxed);
            error_code ignored;
            socket.close(ignored);  // over max_connections: refused
        } else {
            session_count_.fetch_add(1, std::memory_order_relaxed);
            std::make_shared<Session>(*this, std::move(socket))->start();
        }
        accept(i);
    });
}

void Worker::add_session(Session& s) { sessions_.push_back(s); }

void Worker::session_closed() {
    connections_.fetch_sub(1, std::memory_order_relaxed);
    session_count_.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::tick() {
    now_ms_ = clock_ms();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        Session& s = *it++;  // on_tick may unlink s
        s.on_tick(now_ms_);
    }
    if (now_ms_ > upstream_idle_ms) upstreams_.expire(now_ms_ - upstream_idle_ms);
    ticker_.expires_after(tick_interval);
    ticker_.async_wait([this](const error_code& ec) {
        if (!ec) tick();
    });
}

void Worker::begin_drain() {
    asio::post(io_, [this] {
        draining_ = true;
        for (auto& a : acceptors_) {
            error_code ignored;
            a->close(ignored);
        }
        for (auto it = sessions_.begin(); it != sessions_.end();) {
            Session& s = *it++;  // drain may close and unlink s
            s.drain();
        }
        upstreams_.close_all();
    });
}

}  // namespace weir::proxy
