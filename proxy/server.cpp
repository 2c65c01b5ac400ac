#include "proxy/server.hpp"

#include "common/log.hpp"
#include "proxy/listener.hpp"

#include <condition_variable>
#include <mutex>
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

Server::AddedListener Server::add_listener(const ListenSpec& spec) {
    std::vector<std::unique_ptr<Listener>> bound;
    bound.push_back(std::make_unique<Listener>(spec.name, spec.address));
    AddedListener added{bound.front()->local_endpoint(), bound.front()->id(), 0};
    for (std::size_t w = 1; w < workers_.size(); ++w)
        bound.push_back(std::make_unique<Listener>(spec.name, added.address));
    added.end_id = bound.back()->id() + 1;
    for (std::size_t w = 0; w < workers_.size(); ++w) workers_[w]->adopt_listener(std::move(bound[w]));
    return added;
}

void Server::remove_listener(const std::string& name, std::uint32_t min_id, std::uint32_t end_id) {
    for (auto& w : workers_) w->remove_listener(name, min_id, end_id);
}

void Server::set_failure_sink(const FailureSink& sink) {
    for (auto& w : workers_) w->set_failure_sink(sink);
}

std::vector<EndpointLoad> Server::load(std::chrono::milliseconds timeout) {
    struct Gather {
        std::mutex mutex;
        std::condition_variable cv;
        std::vector<EndpointLoad> total;
        std::size_t pending;
    };
    auto g = std::make_shared<Gather>();
    g->pending = workers_.size();
    for (auto& w : workers_) {
        w->collect_load([g](std::vector<EndpointLoad> part) {
            std::lock_guard lock(g->mutex);
            if (g->total.size() < part.size()) g->total.resize(part.size());
            for (std::size_t i = 0; i < part.size(); ++i) {
                g->total[i].in_flight += part[i].in_flight;
                g->total[i].requests += part[i].requests;
                g->total[i].idle += part[i].idle;
            }
            if (--g->pending == 0) g->cv.notify_all();
        });
    }
    std::unique_lock lock(g->mutex);
    g->cv.wait_for(lock, timeout, [&] { return g->pending == 0; });
    return g->total;
}

std::vector<telemetry::TrafficCounters> Server::traffic(std::chrono::milliseconds timeout) {
    struct Gather {
        std::mutex mutex;
        std::condition_variable cv;
        std::vector<telemetry::TrafficCounters> total;
        std::size_t pending;
    };
    auto g = std::make_shared<Gather>();
    g->pending = workers_.size();
    for (auto& w : workers_) {
        w->collect_traffic([g](std::vector<telemetry::TrafficCounters> part) {
            std::lock_guard lock(g->mutex);
            if (g->total.size() < part.size()) g->total.resize(part.size());
            for (std::size_t i = 0; i < part.size(); ++i) g->total[i].merge(part[i]);
            if (--g->pending == 0) g->cv.notify_all();
        });
    }
    std::unique_lock lock(g->mutex);
    g->cv.wait_for(lock, timeout, [&] { return g->pending == 0; });
    return g->total;
}

void Server::publish(routing::SnapshotPtr snapshot) {
    if (!started_) {
        for (auto& w : workers_) w->publish(snapshot);
        return;
    }
    struct Acks {
        std::mutex mutex;
        std::condition_variable cv;
        std::size_t pending;
    };
    auto acks = std::make_shared<Acks>();
    acks->pending = workers_.size();
    for (auto& w : workers_) {
        w->publish(snapshot, [acks] {
            std::lock_guard lock(acks->mutex);
            if (--acks->pending == 0) acks->cv.notify_all();
        });
    }
    std::unique_lock lock(acks->mutex);
    if (!acks->cv.wait_for(lock, std::chrono::seconds(1), [&] { return acks->pending == 0; }))
        log::warn("proxy", "a worker took over a second to take a new snapshot");
}

void Server::start() {
    started_ = true;
    for (auto& w : workers_) threads_.emplace_back([wp = w.get()] { wp->run(); });
}

std::uint64_t Server::requests() const {
    std::uint64_t n = 0;
    for (const auto& w : workers_) n += w->stats().requests.load(std::memory_order_relaxed);
    return n;
}

void Server::begin_drain() {
    for (auto& w : workers_) w->begin_drain();
}

std::size_t Server::active_sessions() const {
    std::size_t open = 0;
    for (const auto& w : workers_) open += w->active_sessions();
    return open;
}

std::size_t Server::drain(std::chrono::milliseconds timeout) {
    begin_drain();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::size_t open = active_sessions();
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
