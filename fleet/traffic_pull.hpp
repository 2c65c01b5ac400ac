// The leader's side of judging on the whole fleet's traffic: every second
// it asks every other replica for the slices it recorded since the last
// answer (GET /cluster/slices?after=SEQ on its admin API, with the admin
// token, which all replicas share) and hands them to the rollout driver.
// A replica first heard from (or restarted: a new epoch) is only caught
// up with, so traffic a previous leader already judged is not counted
// twice; a replica that misses calls is caught up from its record.
#pragma once

#include "cluster/etcd_http.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace weir::telemetry {
class Metrics;
}

namespace weir::fleet {

class Fleet;

class TrafficPull {
public:
    // `deliver`: one record (RolloutDriver::slices_after); returns why it was refused, or "".
    using Deliver = std::function<std::string(const boost::json::object& routes)>;
    TrafficPull(boost::asio::io_context& io, const Fleet& fleet, std::string token, Deliver deliver,
                telemetry::Metrics& metrics);
    ~TrafficPull();
    void start();
    void stop();

private:
    struct Peer {
        std::string admin;
        std::string epoch;  // empty: not heard from yet
        std::uint64_t seq = 0;
        std::shared_ptr<cluster::HttpExchange> call;
        std::chrono::steady_clock::time_point asked{};
        bool failing = false;
    };
    void tick();
    void ask(const std::string& name, Peer& peer);
    void answered(const std::string& name, std::error_code ec, int status, const std::string& body);
    void failed(const std::string& name, const std::string& why);

    boost::asio::io_context& io_;
    const Fleet& fleet_;
    std::string token_;
    Deliver deliver_;
    telemetry::Metrics& metrics_;
    boost::asio::steady_timer timer_;
    std::map<std::string, Peer> peers_;
    bool stopped_ = false;
};

}  // namespace weir::fleet
