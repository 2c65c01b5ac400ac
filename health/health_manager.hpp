// The health of every endpoint, kept on the control thread: active checks
// on their schedule, passive ejections reported by the workers, and the
// moment each comes back. A change of state calls `on_change`, which
// publishes a new snapshot; nothing else does.
#pragma once

#include "health/check_state.hpp"
#include "health/outlier.hpp"
#include "health/prober.hpp"
#include "health/spec.hpp"
#include "routing/random.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weir::health {

// An endpoint that refuses connections (nothing listens) is out at once, for
// this long, doubling on repeat up to refusal_max; a passing active check
// brings it back sooner. Refusals are not outliers: no ejection cap applies,
// so a pool whose endpoints all refuse becomes unavailable at once.
inline constexpr std::chrono::milliseconds refusal_base{1000};
inline constexpr std::chrono::milliseconds refusal_max{10000};
// A failure that cannot eject logs at most once per this interval per endpoint.
inline constexpr std::chrono::seconds not_ejected_log_interval{10};

struct PoolTargets {
    std::string name;
    std::optional<CheckSpec> check;
    std::optional<OutlierSpec> outlier;
    std::vector<Target> endpoints;
};

struct EndpointStatus {
    bool healthy = true;
    bool ejected = false;
    Clock::time_point ejected_until{};
    bool refusing = false;  // refused a connection recently: out until refusing_until
    Clock::time_point refusing_until{};
    std::string last_check;  // "status 200", "timeout", "connection refused"; empty before the first
    int checks_passed_in_row = 0;
    int checks_failed_in_row = 0;
};

class HealthManager {
public:
    HealthManager(boost::asio::io_context& io, std::function<void()> on_change, std::uint64_t seed);
    ~HealthManager();

    // The endpoints to watch, after every configuration change. State is kept
    // for endpoints that remain. New endpoints of a checked pool begin
    // unhealthy until their first check passes, unless `initial` (start-up).
    void update(const std::vector<PoolTargets>& pools, bool initial);

    // The workers saw `consecutive` failures in a row on this endpoint (all
    // workers together); `refused`: this failure was a refused connection.
    // O(1) apart from the map lookup when nothing changes, however often it
    // is called: a dead endpoint can fail thousands of times a second.
    void report_failure(const std::string& pool, const std::string& endpoint, int consecutive,
                        bool refused = false);

    // Whether an operator drains the endpoint: a draining endpoint is not
    // serving, so it does not count toward the ejection cap.
    void set_draining(const std::string& pool, const std::string& endpoint, bool draining);

    EndpointStatus status(const std::string& pool, const std::string& endpoint) const;

    // The endpoint must pass a fresh check before it counts as healthy again
    // (undrain after a rolling update: the instance behind it may be new).
    // Does nothing for pools without checks.
    void require_pass(const std::string& pool, const std::string& endpoint);

    // Stops every timer (shutdown).
    void stop();

private:
    struct Entry;
    struct PoolState;
    void schedule(const std::shared_ptr<Entry>& e, bool first);
    void check(const std::shared_ptr<Entry>& e);
    void refuse(const std::shared_ptr<Entry>& e);
    void eject(const std::shared_ptr<Entry>& e, const OutlierSpec& spec, int consecutive);
    // May one more endpoint of the pool be ejected? Cached until the pool's state changes.
    bool may_eject_in(PoolState& pool);
    void changed(const std::string& pool);

    boost::asio::io_context& io_;
    std::function<void()> on_change_;
    routing::Random random_;
    std::map<std::string, std::shared_ptr<Entry>> entries_;  // "pool\nendpoint"
    std::map<std::string, PoolState> pools_;
};

}  // namespace weir::health
