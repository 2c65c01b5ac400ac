// What the health manager tests share: loopback targets, a check that never
// runs while the io_context is idle, and a HealthManager on its own
// io_context that a test drives until a condition holds.
#pragma once

#include "health/health_manager.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace weir::health::testing {

using namespace std::chrono_literals;

inline Target target(std::uint16_t port) {
    return {"127.0.0.1:" + std::to_string(port),
            boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port)};
}

inline std::string ep(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A check that never runs while the io_context is idle (and would be slow if it did).
inline CheckSpec slow_check() {
    CheckSpec c;
    c.interval = 60s;
    c.timeout = 1s;
    return c;
}

struct Fixture {
    boost::asio::io_context io;
    int changes = 0;
    HealthManager hm;

    explicit Fixture(std::uint64_t seed = 12345) : hm(io, [this] { ++changes; }, seed) {}

    // Runs the io_context until `pred` holds or `timeout` passes.
    bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!pred()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            io.restart();
            if (io.run_one_for(10ms) == 0) std::this_thread::sleep_for(2ms);  // nothing pending
        }
        return true;
    }
};

}  // namespace weir::health::testing
