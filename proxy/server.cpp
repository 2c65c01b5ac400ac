#include "proxy/server.hpp"

#include "common/log.hpp"
#include "proxy/listener.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace weir::proxy {

Server::Server(unsigned workers) {
    if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < workers; ++i)
        workers_.push_back(std::make_unique<Worker>(i, connections_, failures_, stats_budget_));
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

namespace {

// Asks every worker for something on its own thread and waits (at most
// `timeout`) until all have answered. `ask(worker, reply)` starts one request;
// `merge(total, part)` folds an answer in, under the lock. An answer arriving
// after the timeout folds into a result nobody reads any more.
template <class Total, class Part, class Ask, class Merge>
Total gather(std::vector<std::unique_ptr<Worker>>& workers, Total init, Ask ask, Merge merge,
             std::chrono::milliseconds timeout, bool* complete = nullptr) {
    struct State {
        std::mutex mutex;
        std::condition_variable cv;
        Total total;
        std::size_t pending;
    };
    auto st = std::make_shared<State>();
    st->total = std::move(init);
    st->pending = workers.size();
    for (auto& w : workers) {
        ask(*w, [st, merge](Part part) {
            std::lock_guard lock(st->mutex);
            merge(st->total, std::move(part));
            if (--st->pending == 0) st->cv.notify_all();
        });
    }
    std::unique_lock lock(st->mutex);
    bool all = st->cv.wait_for(lock, timeout, [&] { return st->pending == 0; });
    if (complete) *complete = all;
    return std::move(st->total);
}

struct Nothing {};

}  // namespace

std::vector<EndpointLoad> Server::load(std::chrono::milliseconds timeout) {
    using Loads = std::vector<EndpointLoad>;
    return gather<Loads, Loads>(
        workers_, {}, [](Worker& w, auto reply) { w.collect_load(std::move(reply)); },
        [](Loads& total, Loads part) {
            if (total.size() < part.size()) total.resize(part.size());
            for (std::size_t i = 0; i < part.size(); ++i) {
                total[i].in_flight += part[i].in_flight;
                total[i].requests += part[i].requests;
                total[i].idle += part[i].idle;
                total[i].tunnels += part[i].tunnels;
                total[i].h2_connections += part[i].h2_connections;
            }
        },
        timeout);
}

std::map<std::uint32_t, std::uint64_t> Server::tunnels(std::chrono::milliseconds timeout) {
    using Total = std::map<std::uint32_t, std::uint64_t>;
    return gather<Total, Worker::TunnelCounts>(
        workers_, {}, [](Worker& w, auto reply) { w.collect_tunnels(std::move(reply)); },
        [](Total& total, Worker::TunnelCounts part) {
            for (const auto& [stat, n] : part) total[stat] += n;
        },
        timeout);
}

std::map<std::uint32_t, telemetry::TrafficCounters> Server::traffic(std::chrono::milliseconds timeout) {
    // Each worker's counters only grow. A worker that misses the deadline
    // contributes its last answer, so a sum never goes backwards (which a
    // scraper would read as a counter reset).
    using Counters = Worker::SlotTraffic;
    using Answers = std::vector<std::optional<Counters>>;
    Answers fresh = gather<Answers, std::pair<std::size_t, Counters>>(
        workers_, Answers(workers_.size()),
        [](Worker& w, auto reply) {
            w.collect_traffic([reply, i = w.index()](Counters c) { reply({i, std::move(c)}); });
        },
        [](Answers& all, std::pair<std::size_t, Counters> part) {
            if (part.first < all.size()) all[part.first] = std::move(part.second);
        },
        timeout);
    if (last_traffic_.size() < workers_.size()) last_traffic_.resize(workers_.size());
    std::map<std::uint32_t, telemetry::TrafficCounters> total;
    for (std::size_t w = 0; w < workers_.size(); ++w) {
        if (w < fresh.size() && fresh[w]) last_traffic_[w] = std::move(*fresh[w]);
        for (const auto& [id, counters] : last_traffic_[w]) total[id].merge(counters);
    }
    return total;
}

std::vector<rollout::PoolSlice> Server::take_slices(const std::vector<std::uint32_t>& stats,
                                                    std::chrono::milliseconds timeout) {
    // A slice that arrives late is lost for the judge, which only ever makes it more cautious.
    using Slices = std::vector<rollout::PoolSlice>;
    return gather<Slices, Slices>(
        workers_, Slices(stats.size()), [&stats](Worker& w, auto reply) { w.take_slices(stats, std::move(reply)); },
        [](Slices& total, Slices part) {
            for (std::size_t i = 0; i < part.size() && i < total.size(); ++i) total[i].merge(part[i]);
        },
        timeout);
}

void Server::publish(routing::SnapshotPtr snapshot) {
    // Shared tables first: a worker may use the new keys as soon as it switches.
    failures_.ensure(snapshot->endpoint_key_limit);
    stats_budget_.limit.store(snapshot->max_statistics_bytes, std::memory_order_relaxed);
    if (!started_) {
        for (auto& w : workers_) w->publish(snapshot);
        return;
    }
    bool complete = false;
    gather<Nothing, Nothing>(
        workers_, {},
        [&snapshot](Worker& w, auto reply) { w.publish(snapshot, [reply = std::move(reply)] { reply(Nothing{}); }); },
        [](Nothing&, Nothing) {}, std::chrono::seconds(1), &complete);
    if (!complete) log::warn("proxy", "a worker took over a second to take a new snapshot");
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
