// Helpers for the progressive-rollout end-to-end tests (docs/config.md
// `rollout`, §5 rollout calls, §6, §7), on top of the shared harness and the
// control helpers (read-only): a pool backend with a set latency and error
// share, a config writer that adds a `rollout:` block to the control config,
// a paced keep-alive load generator that counts answers by pool and status,
// and readers for GET /routes/{r}/rollout and the rollout metrics.
#pragma once

#include "control_support.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace weir_it::rollout {

using control::AdminClient;
using control::ControlConfig;
using control::SplitMap;

// ---------------------------------------------------------------- backend

// One pool's origin: every request waits `latency`, then answers 200 with body
// "<name> ok", or — for an exact, evenly spread `error_share` of requests
// (request i fails when floor((i+1)·share) > floor(i·share)) — 500 with body
// "<name> error". Counts what it received and when the last one arrived.
class PoolBackend {
public:
    PoolBackend(std::string name, Millis latency, double error_share = 0);

    std::string address() const { return up_.address(); }
    const std::string& name() const { return name_; }
    std::uint64_t requests() const { return requests_.load(); }
    std::uint64_t errors_sent() const { return errors_.load(); }

private:
    // Declared before the upstream: its connection threads use them.
    std::string name_;
    Millis latency_;
    double error_share_;
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> errors_{0};
    FakeUpstream up_;
};

// ---------------------------------------------------------------- config

struct RolloutBlock {
    std::string steps = "[10, 50, 100]";
    std::string step_min_duration = "2s";
    std::string step_max_duration = "30s";
    int min_samples = 50;
    double max_latency_ratio = 1.5;
    double max_error_rate_increase = 0.05;
    std::string on_inconclusive = "hold";
    std::string extra;  // more "key: value" pairs for the rollout map, e.g. "min_latency_difference: 1ms"
    // The route's split in the file (the rollout replaces it once started).
    std::vector<std::pair<std::string, double>> file_split = {{"stable", 100}, {"canary", 0}};
};

// The control config (pools "stable" and "canary", route "web") with the
// block's file split (default {stable: 100, canary: 0}) and a rollout
// {canary: canary, baseline: stable, ...}.
std::string rollout_yaml(ControlConfig c, const RolloutBlock& r);

// ---------------------------------------------------------------- traffic

// `threads` clients, each on its own keep-alive connection, each sending
// `rate_per_thread` GETs a second (paced by a schedule, not back to back; a
// slow answer delays only that thread). Answers are counted by pool (the
// first word of the body) and by class: 2xx or 5xx from a pool, or a failure
// (incomplete exchange, or a status/body that names no pool).
class Traffic {
public:
    Traffic(std::uint16_t port, int threads, double rate_per_thread, std::string target = "/r");
    ~Traffic();
    Traffic(const Traffic&) = delete;
    Traffic& operator=(const Traffic&) = delete;

    struct Counts {
        std::uint64_t done = 0;
        std::map<std::string, std::uint64_t> ok;      // pool -> 2xx answers
        std::map<std::string, std::uint64_t> errors;  // pool -> 5xx answers
        std::uint64_t failures = 0;
        std::vector<std::string> samples;  // the first few failures, described

        std::uint64_t ok_of(const std::string& pool) const {
            auto it = ok.find(pool);
            return it == ok.end() ? 0 : it->second;
        }
        std::uint64_t errors_of(const std::string& pool) const {
            auto it = errors.find(pool);
            return it == errors.end() ? 0 : it->second;
        }
        std::uint64_t answers_of(const std::string& pool) const { return ok_of(pool) + errors_of(pool); }
    };
    Counts counts() const;
    // Waits until every thread has completed at least `n` more exchanges than
    // when called: afterwards no exchange that was in flight at the call is.
    bool wait_each_thread(std::uint64_t n, Millis timeout = 10s) const;
    bool wait_total(std::uint64_t n, Millis timeout = 20s) const;
    void stop();

private:
    void run(int index);

    std::uint16_t port_;
    double rate_;
    std::string target_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    Counts counts_;
    std::vector<std::uint64_t> per_thread_;
    std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------- admin

// GET /routes/{route}/rollout, parsed.
struct RolloutView {
    int status = 0;
    std::string raw;
    boost::json::value json;
    std::string phase;
    int step = -1;
    double canary_percent = -1;

    struct Decision {
        std::int64_t at_ms = 0;
        int step = 0;
        std::string decision;
        std::string reason;
        boost::json::value evidence;
    };
    std::vector<Decision> decisions;

    std::vector<std::string> kinds() const;  // decision names, in order
    int count(const std::string& kind) const;
    const Decision* last(const std::string& kind) const;
};
RolloutView rollout_view(const AdminClient& admin, const std::string& route = "web");

// POST /routes/{route}/rollout/{verb}.
Response rollout_call(const AdminClient& admin, const std::string& verb, const std::string& route = "web");

// Polls GET .../rollout until `pred` holds; returns the last view.
RolloutView wait_rollout(const AdminClient& admin, const std::function<bool(const RolloutView&)>& pred,
                         Millis timeout, const std::string& route = "web");

// The "rollout_state" object of GET /routes/{route} (null if absent).
boost::json::value rollout_state(const AdminClient& admin, const std::string& route = "web");

// A metric sample from admin /metrics (nullopt if absent).
std::optional<double> metric(const AdminClient& admin, const std::string& name,
                             const std::map<std::string, std::string>& labels);

// JSON helpers.
std::string str_at(const boost::json::value& v, std::initializer_list<const char*> path);
std::optional<double> num_at(const boost::json::value& v, std::initializer_list<const char*> path);

// "stable=N canary=M ..." for messages.
std::string describe(const Traffic::Counts& c);
std::string kinds_text(const RolloutView& v);

}  // namespace weir_it::rollout
