// Requests that reached an upstream are not sent twice unless repeating them
// is harmless: only idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT,
// DELETE) or requests with Idempotency-Key / X-Idempotency-Key are sent again
// after bytes went out. And a replay never leaves unsent body bytes in the
// client's buffer, where they would be read as the client's next request.
#include "admin_client.hpp"
#include "harness.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

namespace weir_it {
namespace {

std::string with_body(std::string_view method, std::string_view target, std::string_view body,
                      std::string_view extra = "") {
    return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test.local\r\n" +
           std::string(extra) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::size_t count_target(const FakeUpstream& up, std::string_view target) {
    std::size_t n = 0;
    for (const auto& r : up.requests()) n += r.target == target;
    return n;
}

// Every upstream connection serves one request; the second request on a
// connection is read whole and then met by a close without an answer: the
// upstream may have acted on it, the proxy cannot know.
struct StaleProxy {
    OneRequestPerConnection origin{After::close, [](const UpstreamRequest& req) {
                                       return make_response(200, "done " + req.target);
                                   }};  // before the upstream: its handler uses it
    SingleProxy p{[](ConfigSpec& c) { c.workers = 1; }};
    RawClient client{p.port()};
    StaleProxy() {
        p.up.set_handler(origin.handler());
        // Leaves an idle pooled connection that the next request will meet.
        Response warm = client.request(get_request("/warm"));
        EXPECT_EQ(warm.status, 200) << warm.describe();
    }
};

TEST(ReplaySafety, PostThatReachedTheUpstreamIsNotSentAgain) {
    StaleProxy s;
    Response r = s.client.request(with_body("POST", "/order", "buy 1 share"));
    EXPECT_EQ(r.status, 502) << "a POST the upstream had read was sent again: " << r.describe();
    ASSERT_TRUE(s.p.up.wait_requests(2));
    EXPECT_EQ(count_target(s.p.up, "/order"), 1u) << "the POST reached the upstream twice";

    // Counted: the request as a 502, and the refusal to repeat it.
    const std::string m = admin_request(s.p.weir->admin_port(), "GET", "/metrics").body;
    EXPECT_GE(metric_value(m, "weir_retries_refused_total").value_or(0), 1.0) << m;
    EXPECT_GE(metric_value(m, "weir_requests_total", {{"route", "web"}, {"pool", "stable"}, {"code", "502"}})
                  .value_or(0),
              1.0)
        << m;
}

TEST(ReplaySafety, BodilessPostAndPatchAreNotSentAgainEither) {
    for (std::string_view method : {"POST", "PATCH"}) {
        StaleProxy s;
        const std::string target = "/act-" + std::string(method);
        Response r = s.client.request(std::string(method) + " " + target + " HTTP/1.1\r\nHost: a\r\n\r\n");
        EXPECT_EQ(r.status, 502) << method << ": " << r.describe();
        EXPECT_EQ(count_target(s.p.up, target), 1u) << method;
    }
}

TEST(ReplaySafety, IdempotencyKeyAllowsTheReplay) {
    for (std::string_view key : {"Idempotency-Key: 8e03978e\r\n", "X-Idempotency-Key: 8e03978f\r\n"}) {
        StaleProxy s;
        Response r = s.client.request(with_body("POST", "/pay", "amount=5", key));
        EXPECT_EQ(r.status, 200) << key << r.describe();
        EXPECT_EQ(r.body, "done /pay");
        EXPECT_EQ(count_target(s.p.up, "/pay"), 2u) << "sent once to the closing connection, once to a fresh one";
    }
}

TEST(ReplaySafety, IdempotentMethodsAreStillRetried) {
    StaleProxy s;
    Response put = s.client.request(with_body("PUT", "/doc", "v2"));
    EXPECT_EQ(put.status, 200) << put.describe();
    Response del = s.client.request("DELETE /doc HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(del.status, 200) << del.describe();
    Response get = s.client.request(get_request("/doc"));
    EXPECT_EQ(get.status, 200) << get.describe();
}

// ------------------------------------------------------------ partial write

// An origin with a tiny receive window (small SO_RCVBUF and MSS on the
// listener, inherited by accepted sockets), so a large request cannot be
// written to it in one go. Its first connection answers one request, then
// meets the next one by not reading it and resetting the connection once
// bytes of it arrived: the proxy's write stopped part-way. Later connections
// answer every request with "<target> <body bytes>".
class StallingOrigin {
public:
    StallingOrigin() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int small = 2048, mss = 536;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        ::setsockopt(fd_, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd_, 16);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~StallingOrigin() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        for (auto& t : conns_) t.join();
        ::close(fd_);
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    std::vector<std::string> targets() const {
        std::lock_guard lk(mu_);
        return targets_;
    }
    bool stalled() const { return stalled_; }

private:
    void run() {
        for (int id = 0; !stop_; ++id) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            set_socket_timeouts(c, 10s);
            conns_.emplace_back([this, c, id] { serve(c, id == 0); });
        }
    }
    void serve(int fd, bool stall_second) {
        Stream s(fd);
        for (int n = 0; !stop_; ++n) {
            if (stall_second && n == 1) {
                pollfd p{fd, POLLIN, 0};
                if (::poll(&p, 1, 10000) == 1) {
                    std::this_thread::sleep_for(300ms);  // the proxy fills what the window allows
                    stalled_ = true;
                    linger l{1, 0};
                    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                }
                break;
            }
            std::string head, start;
            Headers h;
            if (s.read_head(head) != IoResult::ok || !parse_head(head, start, h)) break;
            std::string method, target, version;
            split_start_line(start, method, target, version);
            std::uint64_t length = 0;
            if (h.has("content-length")) length = std::stoull(h.get("content-length"));
            if (s.read_exact(length, [](const char*, std::size_t) {}) != IoResult::ok) break;
            {
                std::lock_guard lk(mu_);
                targets_.push_back(target);
            }
            if (!s.write_all(make_response(200, target + " " + std::to_string(length)))) break;
        }
        ::close(fd);
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<bool> stalled_{false};
    std::thread thread_;
    std::vector<std::thread> conns_;
    mutable std::mutex mu_;
    std::vector<std::string> targets_;
};

// A PUT (idempotent: replayed after the reset) whose large head cannot be
// written whole to the stalled origin, and whose body is a request of its
// own. The replay sends the kept copy on a fresh connection; the body bytes
// the first attempt never claimed must leave the client buffer. Read as the
// client's next request, they would reach the origin as "GET /smuggled".
TEST(ReplaySafety, PartialWriteThenResetLeavesNoBodyBytesToParse) {
    StallingOrigin origin;
    ConfigSpec cfg = ConfigSpec::single(origin.address());
    cfg.workers = 1;
    cfg.max_header_bytes = 256 * 1024;
    WeirProcess weir(cfg.yaml());
    RawClient client(weir.port(), 20s);
    Response warm = client.request(get_request("/warm"));
    ASSERT_EQ(warm.status, 200) << warm.describe();

    std::string body;
    while (body.size() < 6000) body += "GET /smuggled HTTP/1.1\r\nHost: test.local\r\n\r\n";
    const std::string head = "PUT /doc HTTP/1.1\r\nHost: test.local\r\nX-Filler: " + std::string(90 * 1024, 'f') +
                             "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    // The head's last byte travels with the whole body, so the body has
    // arrived when the head completes (a replay keeps only a body at hand).
    ASSERT_TRUE(client.send(std::string_view(head).substr(0, head.size() - 1)));
    std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(client.send(head.substr(head.size() - 1) + body));
    Response put = client.read_response();
    EXPECT_EQ(put.status, 200) << put.describe() << "\n" << weir.log();
    EXPECT_EQ(put.body, "/doc " + std::to_string(body.size()));
    EXPECT_TRUE(origin.stalled()) << "the origin never stalled the first attempt";

    Response next = client.request(get_request("/next"));
    EXPECT_EQ(next.status, 200) << next.describe();
    EXPECT_EQ(next.body, "/next 0") << "the answer to the client's next request was something else";
    for (const std::string& t : origin.targets())
        EXPECT_NE(t, "/smuggled") << "body bytes were parsed as a request and sent upstream\n" << weir.log();
}

}  // namespace
}  // namespace weir_it
