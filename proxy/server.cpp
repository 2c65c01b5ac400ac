#include "proxy/server.hpp"

#include "common/log.hpp"
#include "proxy/listener.hpp"

#include <thread>

namespace weir::proxy {

Server::Server(unsigned workers) {
    if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < workers; ++i) workers_.push_back(std::make_unique<Worker>(i, connections_));
}

Server::~Server() { stop(); }

void Server::listen(std::vector<ListenSpec> specs) {
    workers_.front()->listen(specs);
    bound_ = workers_.front()->local_endpoints();
    for (std::size_t i = 0; i < specs.size(); ++i) specs[i].address = bound_[i];
    for (std::size_t w = 1; w < workers_.size(); ++w) workers_[w]->listen(specs);
}

boost::asio::ip::tcp::endpoint Server::add_listener(const ListenSpec& spec) {
    std::vector<std::unique_ptr<Listener>> bound;
    bound.push_back(std::make_unique<Listener>(spec.name, spec.address));
    boost::asio::ip::tcp::endpoint at = bound.front()->local_endpoint();
    for (std::size_t w = 1; w < workers_.size(); ++w) bound.push_back(std::make_unique<Listener>(spec.name, at));
    for (std::size_t w = 0; w < workers_.size(); ++w) workers_[w]->adopt_listener(std::move(bound[w]));
    return at;
}

void Server::remove_listener(const std::string& name) {
    for (auto& w : workers_) w->remove_listener(name);
}

void Server::publish(routing::SnapshotPtr snapshot) {
    for (auto& w : workers_) w->publish(snapshot);
}

void Server::start() {
    for (auto& w : workers_) threads_.emplace_back([wp = w.get()] { wp->run(); });
}

std::uint64_t Server::requests() const {
    std::uint64_t n = 0;
    for (const auto& w : workers_) n += w->stats().requests.load(std::memory_order_relaxed);
    return n;
}

std::size_t Server::drain(std::chrono::milliseconds timeout) {
    for (auto& w : workers_) w->begin_drain();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::size_t open = 0;
        for (auto& w : workers_) open += w->active_sessions();
        if (open == 0 || std::chrono::steady_clock::now() >= deadline) return open;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void Server::stop() {
    for (auto& w : workers_) w->stop();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
}

}  // namespace weir::proxy
