// Helpers for the endpoint-health integration tests, on top of the
// shared harness (read-only): a backend that can be stopped and started
// again on the same port (a killed / restarted instance), a config writer
// with health_check / outlier / state_file / on_pool_unhealthy, an admin
// client that reads GET /pools, a Prometheus text reader, and a keep-alive
// load generator that records every exchange with its time.
#pragma once

#include "harness.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace weir_it::health {

// ---------------------------------------------------------------- backend

// An HTTP/1.1 origin on 127.0.0.1, one thread per connection. GET
// `health_path` answers `health_status`; any other request answers `status`
// with body "<name> <method> <target>" (or resets the connection when
// `reset_requests`). A target containing "slow=N" waits N ms first.
// stop() is a killed process: the listener and every connection close at
// once; start() listens again on the same port.
class Backend {
public:
    explicit Backend(std::string name, std::string health_path = "/healthz");
    ~Backend();
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    void start();
    void stop();
    bool running() const { return running_; }

    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string& name() const { return name_; }
    // A new version of the instance: only while stopped (the serving threads read the name).
    void set_name(std::string name) {
        if (running_) throw std::logic_error("Backend::set_name while running");
        name_ = std::move(name);
    }

    void set_status(int s) { status_ = s; }
    void set_health_status(int s) { health_status_ = s; }
    void set_reset_requests(bool on) { reset_requests_ = on; }

    std::uint64_t requests() const { return requests_; }          // non-health requests received, ever
    std::uint64_t health_checks() const { return health_checks_; }  // health checks received, ever
    std::uint64_t health_checks_passed() const { return health_passed_; }  // answered 2xx/3xx
    int in_flight() const { return in_flight_; }
    std::uint64_t slow_received() const { return slow_received_; }  // requests with "slow=" received, ever
    int slow_in_flight() const { return slow_in_flight_; }
    std::size_t open_connections() const;
    std::size_t connections_accepted() const { return accepted_; }

private:
    void accept_loop(int listen_fd);
    void serve(int fd);

    std::string name_;
    std::string health_path_;
    std::uint16_t port_ = 0;
    std::atomic<bool> running_{false};
    std::atomic<bool> stopping_{false};
    int listen_fd_ = -1;
    std::thread acceptor_;
    std::atomic<int> status_{200};
    std::atomic<int> health_status_{200};
    std::atomic<bool> reset_requests_{false};
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> health_checks_{0};
    std::atomic<std::uint64_t> health_passed_{0};
    std::atomic<int> in_flight_{0};
    std::atomic<std::uint64_t> slow_received_{0};
    std::atomic<int> slow_in_flight_{0};
    std::atomic<std::size_t> accepted_{0};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::set<int> fds_;
    std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------- config

// "{path: /healthz, interval: 200ms, timeout: 150ms, healthy_threshold: 2, unhealthy_threshold: 2}"
std::string check_spec(const std::string& interval = "200ms", const std::string& timeout = "150ms",
                       int healthy_threshold = 2, int unhealthy_threshold = 2, const std::string& path = "/healthz");

struct PoolDef {
    std::string name;
    std::vector<std::string> endpoints;
    std::string health_check;  // flow mapping text; "" = none
    std::string outlier;       // flow mapping text; "" = none
    std::string connect_timeout = "500ms";
    std::string response_timeout = "5s";
};

struct HealthConfig {
    int workers = 2;
    std::string drain_timeout = "5s";
    std::string state_file;  // "" = none
    std::string idle_timeout = "30s";
    std::vector<PoolDef> pools;
    std::vector<std::pair<std::string, double>> split;  // route "web"; empty: every pool weight 1
    std::string on_pool_unhealthy = "shift";
    std::string yaml() const;
};

// ---------------------------------------------------------------- admin API

Response admin_call(std::uint16_t admin_port, const std::string& method, const std::string& path,
                    const std::string& body = "");
using weir_it::parse_json;  // null when not JSON (admin_client.hpp)

struct EndpointView {
    std::string address;
    double weight = 0;
    bool healthy = false, ejected = false, draining = false, eligible = false;
    std::uint64_t in_flight = 0, requests = 0;
    std::string last_check;
    std::optional<std::int64_t> ejected_for_ms;
};
struct PoolView {
    std::string name;
    bool available = false;
    std::vector<EndpointView> endpoints;
    std::string raw;
    const EndpointView* find(const std::string& address) const;
};
// Reads a pool object of GET /pools or GET /pools/{p}.
std::optional<PoolView> pool_view(const boost::json::value& v);
// GET /pools/{p}, parsed; nullopt when it fails.
std::optional<PoolView> get_pool(std::uint16_t admin_port, const std::string& pool);
// One endpoint of GET /pools/{p}; nullopt when absent.
std::optional<EndpointView> get_endpoint(std::uint16_t admin_port, const std::string& pool, const std::string& address);
// "127.0.0.1:9001" -> "127.0.0.1%3A9001"
std::string percent_encode(const std::string& s);
// Waits until the endpoint satisfies `pred`.
bool wait_endpoint(std::uint16_t admin_port, const std::string& pool, const std::string& address,
                   const std::function<bool(const EndpointView&)>& pred, Millis timeout);

// The value of `name{labels}` in Prometheus text (labels in any order, exactly these).
inline std::optional<double> metric(const std::string& text, const std::string& name,
                                    const std::map<std::string, std::string>& labels) {
    return metric_value(text, name, labels);
}
std::string metrics_text(std::uint16_t admin_port);

// ---------------------------------------------------------------- load

struct Exchange {
    Clock::time_point sent;
    Clock::time_point done;
    int thread = 0;
    int status = 0;
    bool complete = false;
    std::string backend;  // first word of the body
    std::string what;     // described, for failures
    bool ok() const { return complete && status == 200; }
};

// Threads on their own keep-alive connections sending GETs back to back;
// every exchange is recorded. A connection the proxy closes (or that fails)
// is re-opened. `target_of(thread, i)` gives each request's target.
class Load {
public:
    using TargetFn = std::function<std::string(int thread, std::uint64_t i)>;
    Load(std::uint16_t port, int threads, TargetFn target_of = {});
    ~Load();
    Load(const Load&) = delete;
    Load& operator=(const Load&) = delete;

    void stop();
    std::vector<Exchange> exchanges() const;
    std::size_t count() const;
    // Waits until `n` more exchanges completed than when called.
    bool wait_progress(std::size_t n, Millis timeout = 10s) const;

private:
    void run(int index);
    std::uint16_t port_;
    TargetFn target_of_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::vector<Exchange> log_;
    std::vector<std::thread> threads_;
};

struct Tally {
    std::size_t total = 0;
    std::size_t failed = 0;  // not a complete 200
    std::map<std::string, std::size_t> by_backend;
    std::map<int, std::size_t> by_status;
    std::vector<std::string> samples;  // first few failures
    std::string summary() const;  // counts only
    std::string text() const;     // counts and the failure samples
};
// Exchanges sent in [from, to).
Tally tally(const std::vector<Exchange>& xs, Clock::time_point from = Clock::time_point::min(),
            Clock::time_point to = Clock::time_point::max());

// Milliseconds between two time points.
long long ms_between(Clock::time_point a, Clock::time_point b);

}  // namespace weir_it::health
