// What an EtcdClient's calls and watches share: the endpoints and what is
// known of them, the auth token, and the list of everything outstanding so
// that closing the client can cancel it. Lives as long as the longest of
// them (shared_ptr), so a handler that runs after the client is gone finds
// it closed instead of freed. Internal to cluster/.
#pragma once

#include "cluster/etcd_http.hpp"
#include "cluster/etcd_types.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace weir::cluster {

// A call or a watch in progress.
class Outstanding {
public:
    virtual ~Outstanding() = default;
    // Stops it without running its callback.
    virtual void cancel() = 0;
    // `endpoint` was just marked down (a call there failed or timed out).
    virtual void endpoint_down(std::size_t endpoint, std::error_code why) {}
};

class ClientCore : public std::enable_shared_from_this<ClientCore> {
public:
    ClientCore(boost::asio::io_context& io, EtcdOptions options);

    boost::asio::io_context& io() { return io_; }
    const EtcdOptions& options() const { return options_; }
    bool closed() const { return closed_; }

    void add(const std::shared_ptr<Outstanding>& op);
    // Cancels everything outstanding; nothing calls back after this.
    void close();

    std::size_t endpoint_count() const { return endpoints_.size(); }
    const std::string& url(std::size_t i) const { return endpoints_[i].url; }
    // false for an endpoint whose URL could not be parsed.
    bool address(std::size_t i, EndpointAddress& out) const;
    // The endpoints in the order to try them: the last one that worked first,
    // then the others that are up or whose down_retry has passed, then the rest.
    std::vector<std::size_t> order() const;
    void mark_up(std::size_t i);
    // Also ends the watches streaming from it.
    void mark_down(std::size_t i, std::error_code why);
    std::vector<EndpointState> states() const;

    const std::string& token() const { return token_; }
    void set_token(std::string token) { token_ = std::move(token); }
    // Forgets `used` (and only it: a newer one may have arrived meanwhile).
    void drop_token(const std::string& used) {
        if (token_ == used) token_.clear();
    }
    bool needs_auth() const { return !options_.username.empty(); }

private:
    struct Slot {
        std::string url;
        EndpointAddress address;
        bool valid = false;
        bool up = true;
        std::string last_error;
        std::chrono::steady_clock::time_point down_at{};
    };

    boost::asio::io_context& io_;
    EtcdOptions options_;
    std::vector<Slot> endpoints_;
    std::size_t preferred_ = 0;
    std::string token_;
    bool closed_ = false;
    std::vector<std::weak_ptr<Outstanding>> outstanding_;
};

// Gets a token on endpoint `i` (POST /v3/auth/authenticate) and stores it
// in `core`. `done(ec, sent)`: as HttpExchange::Done. The returned exchange
// is the owner's to cancel.
std::shared_ptr<HttpExchange> authenticate(const std::shared_ptr<ClientCore>& core, std::size_t i,
                                           std::function<void(std::error_code, bool sent)> done);

}  // namespace weir::cluster
