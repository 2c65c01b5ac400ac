// cluster/etcd_core: the order endpoints are tried in (the last one that
// worked first, then the ones up, then the ones down until down_retry has
// passed), what endpoints() reports, and the auth token's replacement.
#include "cluster/etcd_core.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace weir::cluster {
namespace {

using namespace std::chrono_literals;

EtcdOptions three(std::chrono::milliseconds down_retry = 1000ms) {
    EtcdOptions o;
    o.endpoints = {"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"};
    o.down_retry = down_retry;
    return o;
}

TEST(EtcdCore, LastWorkingFirstThenUpThenDown) {
    boost::asio::io_context io;
    auto core = std::make_shared<ClientCore>(io, three());
    EXPECT_EQ(core->order(), (std::vector<std::size_t>{0, 1, 2}));
    core->mark_up(1);
    EXPECT_EQ(core->order(), (std::vector<std::size_t>{1, 2, 0}));
    core->mark_down(1, std::make_error_code(std::errc::connection_refused));
    EXPECT_EQ(core->order(), (std::vector<std::size_t>{2, 0, 1}));
    core->mark_down(2, std::make_error_code(std::errc::timed_out));
    EXPECT_EQ(core->order(), (std::vector<std::size_t>{0, 1, 2}));

    const auto states = core->states();
    ASSERT_EQ(states.size(), 3u);
    EXPECT_TRUE(states[0].up);
    EXPECT_FALSE(states[1].up);
    EXPECT_EQ(states[1].url, "http://127.0.0.1:2");
    EXPECT_FALSE(states[1].last_error.empty());
    EXPECT_FALSE(states[2].up);
}

TEST(EtcdCore, ADownEndpointIsRetriedAfterDownRetry) {
    boost::asio::io_context io;
    auto core = std::make_shared<ClientCore>(io, three(50ms));
    core->mark_up(0);
    core->mark_down(0, std::make_error_code(std::errc::connection_refused));
    EXPECT_EQ(core->order(), (std::vector<std::size_t>{1, 2, 0}));
    std::this_thread::sleep_for(80ms);  // the contract names the time: down_retry
    EXPECT_EQ(core->order(), (std::vector<std::size_t>{0, 1, 2}));
}

TEST(EtcdCore, MalformedUrlsAreNeverTried) {
    boost::asio::io_context io;
    EtcdOptions o;
    o.endpoints = {"https://127.0.0.1:1", "http://127.0.0.1:2", "127.0.0.1:3"};
    auto core = std::make_shared<ClientCore>(io, o);
    EXPECT_EQ(core->order(), (std::vector<std::size_t>{1}));
    const auto states = core->states();
    EXPECT_FALSE(states[0].up);
    EXPECT_FALSE(states[0].last_error.empty());
}

TEST(EtcdCore, OnlyTheTokenThatFailedIsDropped) {
    boost::asio::io_context io;
    auto core = std::make_shared<ClientCore>(io, three());
    core->set_token("new");
    core->drop_token("old");  // a call that used an older token
    EXPECT_EQ(core->token(), "new");
    core->drop_token("new");
    EXPECT_EQ(core->token(), "");
}

}  // namespace
}  // namespace weir::cluster
