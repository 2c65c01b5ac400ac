// The worker's pool of idle upstream connections: what it hands out again
// and what it closes instead. The connections here are loopback connections
// never registered with the loop, so no event tells the pool about a close: only
// the peek can find it (the race the peek exists for, made certain).
#include "proxy/upstream_pool.hpp"
#include "tests/support/loopback_listener.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace weir::proxy {
namespace {

struct Pair {
    UpstreamPtr conn;  // Weir's side
    int peer = -1;     // the upstream's side
};

// A loopback TCP connection made the way the proxy makes one.
Pair connection(std::uint32_t key) {
    Pair p;
    weir::test::LoopbackListener listener(1);
    p.conn = std::make_unique<UpstreamConnection>();
    p.conn->endpoint_key = key;
    const int err = Socket::connect(p.conn->socket, listener.sockaddr_ptr(), listener.sockaddr_len());
    EXPECT_TRUE(err == 0 || err == EINPROGRESS) << std::strerror(err);
    p.peer = ::accept(listener.fd(), nullptr, nullptr);  // blocks until the handshake is done
    EXPECT_GE(p.peer, 0);
    return p;
}

constexpr std::uint64_t now = 1000;
constexpr std::uint64_t idle_ms = 60'000;

TEST(UpstreamPool, AnOpenSilentConnectionIsHandedOutAgainWithOrWithoutThePeek) {
    EventLoop loop;
    UpstreamPool pool(loop);
    for (bool peek : {true, false}) {
        Pair p = connection(3);
        UpstreamConnection* raw = p.conn.get();
        pool.give_back(std::move(p.conn), 4, now, idle_ms);
        ASSERT_EQ(pool.idle_count(3), 1u);
        UpstreamPtr got = pool.take(3, now + 1, nullptr, peek);
        ASSERT_EQ(got.get(), raw) << "peek " << peek;
        EXPECT_TRUE(got->reused);
        ::close(p.peer);
    }
    loop.flush_retired();
}

TEST(UpstreamPool, ThePeekFindsACloseNoEventReportedYet) {
    EventLoop loop;
    UpstreamPool pool(loop);
    Pair p = connection(0);
    pool.give_back(std::move(p.conn), 4, now, idle_ms);
    ::close(p.peer);  // the upstream closes; the loop has not seen it
    EXPECT_EQ(pool.take(0, now + 1, nullptr, true), nullptr)
        << "a closed connection was handed out to a request that cannot be repeated";
    EXPECT_EQ(pool.idle_count(0), 0u) << "the closed connection stayed in the pool";
    loop.flush_retired();
}

TEST(UpstreamPool, WithoutThePeekAnUnreportedCloseIsLeftToTheRepeat) {
    // Requests that may be repeated skip the syscall: the stale connection is
    // handed out, marked reused, so its failure leads to a repeat on a fresh
    // connection rather than an error (tests/integration/stale_reuse_test.cpp).
    EventLoop loop;
    UpstreamPool pool(loop);
    Pair p = connection(0);
    pool.give_back(std::move(p.conn), 4, now, idle_ms);
    ::close(p.peer);
    UpstreamPtr got = pool.take(0, now + 1, nullptr, false);
    ASSERT_NE(got, nullptr);
    EXPECT_TRUE(got->reused);
    char c;
    EXPECT_EQ(::recv(got->socket.fd(), &c, 1, MSG_DONTWAIT), 0) << "the connection was closed after all";
    loop.flush_retired();
}

TEST(UpstreamPool, ExpiredOrReadableConnectionsAreNeverHandedOut) {
    EventLoop loop;
    UpstreamPool pool(loop);
    Pair expired = connection(1);
    pool.give_back(std::move(expired.conn), 4, now, idle_ms);
    EXPECT_EQ(pool.take(1, now + idle_ms, nullptr, false), nullptr) << "handed out at the end of its idle time";

    // Bytes the upstream sent while idle (an event marks the socket readable).
    Pair chatty = connection(1);
    pool.give_back(std::move(chatty.conn), 4, now, idle_ms);
    ASSERT_EQ(::write(chatty.peer, "x", 1), 1);
    EXPECT_EQ(pool.take(1, now + 1, nullptr, true), nullptr) << "the peek missed bytes sent while idle";
    ::close(expired.peer);
    ::close(chatty.peer);
    loop.flush_retired();
}

TEST(UpstreamPool, KeepsAtMostMaxIdlePerEndpoint) {
    EventLoop loop;
    UpstreamPool pool(loop);
    std::vector<int> peers;
    for (int i = 0; i < 5; ++i) {
        Pair p = connection(2);
        peers.push_back(p.peer);
        pool.give_back(std::move(p.conn), 3, now, idle_ms);
    }
    EXPECT_EQ(pool.idle_count(2), 3u);
    EXPECT_EQ(pool.idle_count(), 3u);
    for (int fd : peers) ::close(fd);
    pool.close_all();
    EXPECT_EQ(pool.idle_count(), 0u);
    loop.flush_retired();
}

}  // namespace
}  // namespace weir::proxy
