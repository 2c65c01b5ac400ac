// The downstream session's state machine, step by step: one Worker on its
// own thread, the client on one end of a socket pair the test holds, and an
// upstream the test answers by hand on loopback. Each test moves the session
// through its states with bytes and checks what each side sees at each step.
//
// The loop's clock is the steady clock read directly (it costs no system
// call on the data path), so the timeout steps use short real deadlines and
// wait for their outcome with generous limits instead of a fake clock.
#include "config/config.hpp"
#include "control/snapshot_builder.hpp"
#include "proxy/listener.hpp"
#include "proxy/worker.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace weir::proxy {
namespace {

using namespace std::chrono_literals;

// A descriptor closed with its owner.
struct Fd {
    int fd = -1;
    explicit Fd(int f = -1) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        reset();
        fd = std::exchange(o.fd, -1);
        return *this;
    }
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

bool readable_within(int fd, std::chrono::milliseconds limit) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(limit.count())) == 1;
}

void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ASSERT_GT(n, 0) << std::strerror(errno);
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Reads until `text` has arrived (kept in `buf`, which may hold more), the
// peer closes, or 10 s pass. True when it arrived.
bool read_until(int fd, std::string& buf, std::string_view text) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (buf.find(text) == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms || !readable_within(fd, left)) return false;
        char chunk[4096];
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return buf.find(text) != std::string::npos;
        buf.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
}

// Takes everything up to and including `text` off the front of `buf`.
std::string take_through(std::string& buf, std::string_view text) {
    const auto at = buf.find(text);
    if (at == std::string::npos) return {};
    std::string front = buf.substr(0, at + text.size());
    buf.erase(0, at + text.size());
    return front;
}

// True when the peer of `fd` closed it (EOF or reset) within 10 s.
bool closed_by_peer(int fd) {
    if (!readable_within(fd, 10s)) return false;
    char c;
    const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

class SessionRig {
public:
    // `extra_yaml` follows the pool's endpoints line: indented by four it
    // adds pool settings, unindented top-level ones.
    explicit SessionRig(const std::string& extra_yaml = "") {
        upstream_listen_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(upstream_listen_.fd, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
            ::listen(upstream_listen_.fd, 16) != 0 ||
            ::getsockname(upstream_listen_.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("cannot listen for the upstream");
        const std::string yaml = "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n"
                                 "pools:\n"
                                 "  - name: app\n"
                                 "    endpoints: [{address: \"127.0.0.1:" +
                                 std::to_string(ntohs(a.sin_port)) + "\"}]\n" + extra_yaml +
                                 "routes:\n"
                                 "  - {name: all, match: {path_prefix: /}, split: {app: 100}}\n";
        auto loaded = config::load_config_text(yaml, "<session test>");
        if (!loaded.config) throw std::runtime_error("config: " + loaded.errors.front().message);
        control::StableKeys keys;
        control::StatKeys stats;
        control::AddressBook book;
        auto built = control::build_snapshot(*loaded.config, 1, keys, stats, book, true);
        if (!built.snapshot) throw std::runtime_error("snapshot: " + built.errors.front());
        built.snapshot->finalize();
        failures_.ensure(built.snapshot->endpoint_key_limit);
        worker_.publish(built.snapshot);
        thread_ = std::thread([this] { worker_.run(); });
    }

    ~SessionRig() {
        worker_.stop();
        thread_.join();
    }

    // A new client connection; the test holds the returned end.
    Fd connect_client() {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw std::runtime_error("socketpair");
        const int weir_end = pair[1];
        const int flags = ::fcntl(weir_end, F_GETFL);
        ::fcntl(weir_end, F_SETFL, flags | O_NONBLOCK);
        worker_.loop().post([this, weir_end] {
            sockaddr_storage peer{};
            peer.ss_family = AF_UNIX;  // as accept reports a socket pair's peer
            worker_.on_accepted(weir_end, peer, listener_);
        });
        return Fd(pair[0]);
    }

    // The next upstream connection Weir opens, within `limit`.
    Fd accept_upstream(std::chrono::milliseconds limit = 10s) {
        if (!readable_within(upstream_listen_.fd, limit)) return Fd();
        return Fd(::accept4(upstream_listen_.fd, nullptr, nullptr, SOCK_CLOEXEC));
    }

    // Sends `request` from `client` and takes the upstream connection it
    // opens, with the request head read into `head` (-1 when either fails).
    Fd send_and_accept(int client, std::string_view request, std::string& head) {
        send_all(client, request);
        Fd up = accept_upstream();
        if (up.fd >= 0 && !read_until(up.fd, head, "\r\n\r\n")) up.reset();
        return up;
    }

private:
    Fd upstream_listen_;
    std::atomic<std::size_t> connections_{0};
    FailureCounters failures_;
    StatsBudget budget_;
    Worker worker_{0, connections_, failures_, budget_};
    // Gives accepted connections a listener identity (name, id, port); it
    // is never started, the test hands connections over itself.
    Listener listener_{"public", boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0)};
    std::thread thread_;
};

constexpr std::string_view ok_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(SessionStateMachine, PartialHeadWaitsThenTheRequestGoesUpstreamOnce) {
    SessionRig rig;
    Fd client = rig.connect_client();
    send_all(client.fd, "GET /a HTTP/1.1\r\nHost: example\r\nX-Pa");
    // Reading the head: no upstream is opened for half a head.
    EXPECT_EQ(rig.accept_upstream(300ms).fd, -1);
    send_all(client.fd, "rt: two\r\n\r\n");
    Fd up = rig.accept_upstream();
    ASSERT_GE(up.fd, 0);
    std::string at_upstream;
    ASSERT_TRUE(read_until(up.fd, at_upstream, "\r\n\r\n"));
    EXPECT_EQ(at_upstream.rfind("GET /a HTTP/1.1\r\n", 0), 0u) << at_upstream;
    EXPECT_NE(at_upstream.find("X-Part: two\r\n"), std::string::npos) << at_upstream;
    // Waiting for the response head: nothing reaches the client yet.
    EXPECT_FALSE(readable_within(client.fd, 200ms));
    send_all(up.fd, ok_response);
    std::string at_client;
    ASSERT_TRUE(read_until(client.fd, at_client, "\r\n\r\nok"));
    EXPECT_EQ(at_client.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << at_client;
    // Keep-alive: the connection stays open and the request went up once.
    EXPECT_FALSE(readable_within(client.fd, 200ms));
    EXPECT_FALSE(readable_within(up.fd, 200ms));
}

TEST(SessionStateMachine, EveryRequestStartsFromAFreshExchangeState) {
    // The first request changes per-request state (a 100 Continue already
    // sent, a body counted, the response started); the second on the same
    // connection must find none of it: it is owed its own 100 Continue.
    SessionRig rig;
    Fd client = rig.connect_client();
    Fd up;
    std::string at_client, at_upstream;
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round);
        send_all(client.fd, "POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
        if (up.fd < 0) up = rig.accept_upstream();
        ASSERT_GE(up.fd, 0);
        ASSERT_TRUE(read_until(client.fd, at_client, "HTTP/1.1 100 Continue\r\n\r\n")) << at_client;
        EXPECT_EQ(take_through(at_client, "\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
        send_all(client.fd, "abc");
        ASSERT_TRUE(read_until(up.fd, at_upstream, "\r\n\r\nabc")) << at_upstream;
        const std::string request = take_through(at_upstream, "\r\n\r\nabc");
        EXPECT_EQ(request.find("Expect:"), std::string::npos) << "Expect is answered by weir, not forwarded";
        send_all(up.fd, ok_response);
        ASSERT_TRUE(read_until(client.fd, at_client, "\r\n\r\nok")) << at_client;
        EXPECT_EQ(take_through(at_client, "\r\n\r\nok").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
    }
}

TEST(SessionStateMachine, PipelinedRequestsAreAnsweredInOrder) {
    SessionRig rig;
    Fd client = rig.connect_client();
    std::string at_upstream;
    Fd up = rig.send_and_accept(client.fd, "GET /one HTTP/1.1\r\nHost: e\r\n\r\nGET /two HTTP/1.1\r\nHost: e\r\n\r\n",
                                at_upstream);
    ASSERT_GE(up.fd, 0);
    EXPECT_EQ(at_upstream.rfind("GET /one ", 0), 0u) << at_upstream;
    // One exchange at a time: the second request waits for the first answer.
    EXPECT_EQ(at_upstream.find("/two"), std::string::npos);
    at_upstream.clear();
    send_all(up.fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none");
    ASSERT_TRUE(read_until(up.fd, at_upstream, "\r\n\r\n"));
    EXPECT_EQ(at_upstream.rfind("GET /two ", 0), 0u) << at_upstream;
    send_all(up.fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
    std::string at_client;
    ASSERT_TRUE(read_until(client.fd, at_client, "\r\n\r\ntwo"));
    const auto one = at_client.find("\r\n\r\none");
    const auto two = at_client.find("\r\n\r\ntwo");
    ASSERT_NE(one, std::string::npos) << at_client;
    EXPECT_LT(one, two);
}

TEST(SessionStateMachine, SilentUpstreamEndsInA504AndAClose) {
    SessionRig rig("    upstream: {response_timeout: 300ms}\n");
    Fd client = rig.connect_client();
    std::string at_upstream;
    Fd up = rig.send_and_accept(client.fd, "GET /slow HTTP/1.1\r\nHost: e\r\n\r\n", at_upstream);
    ASSERT_GE(up.fd, 0);  // taken, never answered
    std::string at_client;
    ASSERT_TRUE(read_until(client.fd, at_client, "\r\n\r\n")) << at_client;
    EXPECT_EQ(at_client.rfind("HTTP/1.1 504 ", 0), 0u) << at_client;
    EXPECT_NE(at_client.find("Connection: close"), std::string::npos) << at_client;
    // The upstream connection that never answered is not kept.
    EXPECT_TRUE(closed_by_peer(up.fd));
}

TEST(SessionStateMachine, UpstreamThatClosesWithoutAnsweringGivesA502) {
    SessionRig rig;
    Fd client = rig.connect_client();
    std::string at_upstream;
    Fd up = rig.send_and_accept(client.fd, "GET /gone HTTP/1.1\r\nHost: e\r\n\r\n", at_upstream);
    ASSERT_GE(up.fd, 0);
    up.reset();  // read the request, then closed: a fresh connection, so not a stale-pool replay
    std::string at_client;
    ASSERT_TRUE(read_until(client.fd, at_client, "\r\n\r\n")) << at_client;
    EXPECT_EQ(at_client.rfind("HTTP/1.1 502 ", 0), 0u) << at_client;
    // The only endpoint failed: it was not tried a second time.
    EXPECT_EQ(rig.accept_upstream(300ms).fd, -1);
}

TEST(SessionStateMachine, HeadNotCompleteInTimeIsA408) {
    // header_timeout bounds the head; the rig's config sets it short.
    SessionRig rig("limits: {header_timeout: 300ms}\n");
    Fd client = rig.connect_client();
    send_all(client.fd, "GET /late HTTP/1.1\r\nHost: e\r\n");
    std::string at_client;
    ASSERT_TRUE(read_until(client.fd, at_client, "\r\n\r\n")) << at_client;
    EXPECT_EQ(at_client.rfind("HTTP/1.1 408 ", 0), 0u) << at_client;
    EXPECT_EQ(rig.accept_upstream(100ms).fd, -1);
}

}  // namespace
}  // namespace weir::proxy
