// Driving an EtcdClient from a test: its io_context runs on the test's
// thread until a condition holds or a deadline passes, and each call has a
// blocking form that returns its result (or fails the test on timeout).
#pragma once

#include "cluster/etcd_client.hpp"
#include "etcd_cluster.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weir_it {

using namespace weir::cluster;
using namespace std::chrono_literals;

// Runs `io` until `pred` holds or `timeout` passes; returns pred().
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(10ms);
    }
    return pred();
}

struct EtcdDriver {
    explicit EtcdDriver(std::vector<std::string> urls, std::chrono::milliseconds request_timeout = 2000ms) {
        options.endpoints = std::move(urls);
        options.request_timeout = request_timeout;
    }
    explicit EtcdDriver(EtcdOptions o) : options(std::move(o)) {}

    EtcdClient& client() {
        if (!client_) client_ = std::make_unique<EtcdClient>(io, options);
        return *client_;
    }
    void reset_client() { client_.reset(); }

    // Each waits up to `limit` for the answer (a test failure if none comes:
    // every call must finish within request_timeout).
    std::error_code range(const std::string& key, const std::string& end, RangeResult& out) {
        std::optional<std::error_code> ec;
        client().range(key, end, [&](std::error_code e, RangeResult r) {
            ec = e;
            out = std::move(r);
        });
        wait(ec);
        return ec.value_or(std::make_error_code(std::errc::timed_out));
    }
    RangeResult get(const std::string& key, const std::string& end = {}) {
        RangeResult r;
        auto ec = range(key, end, r);
        EXPECT_FALSE(ec) << ec.message();
        return r;
    }
    std::error_code txn(const Txn& t, TxnResult& out) {
        std::optional<std::error_code> ec;
        client().txn(t, [&](std::error_code e, TxnResult r) {
            ec = e;
            out = std::move(r);
        });
        wait(ec);
        return ec.value_or(std::make_error_code(std::errc::timed_out));
    }
    // An unconditional put; returns the new revision.
    std::int64_t put(const std::string& key, const std::string& value, std::int64_t lease = 0) {
        Txn t;
        t.success.push_back({TxnOp::Kind::put, key, "", value, lease});
        TxnResult r;
        auto ec = txn(t, r);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_TRUE(r.succeeded);
        return r.revision;
    }
    std::int64_t del(const std::string& key) {
        Txn t;
        t.success.push_back({TxnOp::Kind::delete_range, key, "", "", 0});
        TxnResult r;
        auto ec = txn(t, r);
        EXPECT_FALSE(ec) << ec.message();
        return r.revision;
    }
    std::error_code lease_grant(std::int64_t ttl, std::int64_t& id, std::int64_t& granted) {
        std::optional<std::error_code> ec;
        client().lease_grant(ttl, [&](std::error_code e, std::int64_t i, std::int64_t t) {
            ec = e;
            id = i;
            granted = t;
        });
        wait(ec);
        return ec.value_or(std::make_error_code(std::errc::timed_out));
    }
    std::error_code keepalive(std::int64_t id, std::int64_t& ttl) {
        std::optional<std::error_code> ec;
        client().lease_keepalive(id, [&](std::error_code e, std::int64_t t) {
            ec = e;
            ttl = t;
        });
        wait(ec);
        return ec.value_or(std::make_error_code(std::errc::timed_out));
    }
    std::error_code revoke(std::int64_t id) {
        std::optional<std::error_code> ec;
        client().lease_revoke(id, [&](std::error_code e) { ec = e; });
        wait(ec);
        return ec.value_or(std::make_error_code(std::errc::timed_out));
    }

    // What a watch reported, for tests to wait on.
    struct WatchLog {
        std::vector<WatchEvent> events;
        std::vector<std::int64_t> batch_revisions;
        bool ended = false;
        std::error_code end_error;
        std::int64_t compact_revision = 0;
        bool events_after_end = false;
    };
    std::unique_ptr<EtcdWatch> watch(const std::string& key, const std::string& end, std::int64_t from,
                                     std::shared_ptr<WatchLog> log) {
        return client().watch(
            key, end, from,
            [log](std::vector<WatchEvent> events, std::int64_t rev) {
                if (log->ended) log->events_after_end = true;
                log->batch_revisions.push_back(rev);
                for (auto& e : events) log->events.push_back(std::move(e));
            },
            [log](std::error_code ec, std::int64_t compact) {
                log->ended = true;
                log->end_error = ec;
                log->compact_revision = compact;
            });
    }

    template <class T>
    void wait(const std::optional<T>& v) {
        // request_timeout bounds every call; the rest is slack for a loaded machine.
        const bool done = run_until(io, [&] { return v.has_value(); }, options.request_timeout * 2 + 3s);
        EXPECT_TRUE(done) << "a call did not finish within its request_timeout";
    }

    boost::asio::io_context io;
    EtcdOptions options;

private:
    std::unique_ptr<EtcdClient> client_;
};

}  // namespace weir_it
