// The state of one watch: connecting (with failover while no connection was
// made), then reading the gateway's stream of {"result":...} messages.
// Internal; EtcdWatch is the caller's handle on it.
#pragma once

#include "cluster/etcd_core.hpp"
#include "cluster/etcd_json.hpp"

#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace weir::cluster {

class WatchStream : public Outstanding, public std::enable_shared_from_this<WatchStream> {
public:
    using OnEvents = std::function<void(std::vector<WatchEvent>, std::int64_t)>;
    using OnEnd = std::function<void(std::error_code, std::int64_t)>;

    WatchStream(std::shared_ptr<ClientCore> core, std::string key, std::string range_end, std::int64_t start_revision,
                OnEvents on_events, OnEnd on_end);

    void start();
    void cancel() override;
    void endpoint_down(std::size_t endpoint, std::error_code why) override;

    std::string endpoint() const;
    bool established() const { return created_ && !ended_; }

private:
    void next_endpoint();
    void get_token();
    void send();
    void on_head(int status);
    void on_data(std::string_view data);
    void on_stream_end(std::error_code ec, bool sent);
    void handle(const WatchMessage& m);
    // etcd refused the token (forgotten after a restart, expired): once per
    // endpoint, authenticate again and ask again from where it stood.
    bool reauthenticate(std::error_code err);
    void arm_timer();
    void on_timer();
    // The liveness probe (EtcdOptions::watch_probe_interval).
    void schedule_probe();
    void probe();
    void on_probe(std::error_code ec, int status, const std::string& body);
    // Ends the watch: on_end(ec, compact_revision) unless cancelled.
    void end(std::error_code ec, std::int64_t compact_revision);

    std::shared_ptr<ClientCore> core_;
    boost::asio::steady_timer timer_;  // establishment deadline, then idle limit
    boost::asio::steady_timer probe_timer_;  // the next probe, then its deadline
    std::string key_;
    std::string range_end_;
    // Where a new request would start so that nothing is missed or repeated:
    // past the last revision seen (created at, or delivered).
    std::int64_t start_revision_;
    std::string probe_body_;
    std::shared_ptr<HttpExchange> probe_exchange_;
    OnEvents on_events_;
    OnEnd on_end_;
    std::shared_ptr<HttpExchange> exchange_;
    JsonStream decoder_;
    std::vector<std::size_t> order_;
    std::size_t pos_ = 0;
    std::size_t current_ = static_cast<std::size_t>(-1);
    int status_ = 0;
    std::string error_body_;  // the body of a non-200 answer
    std::string used_token_;
    bool auth_retried_ = false;
    bool created_ = false;
    bool ended_ = false;
    bool heard_ = false;  // something arrived since the timer was armed
    std::error_code last_connect_error_;
};

}  // namespace weir::cluster
