// An upstream answering before the request body is complete: the answer is
// forwarded at once whether the proxy waits for the client's next body bytes
// or for room to write them, and the connection closes after it; an
// unsolicited 100 Continue does not stall the upload.
#include "control_support.hpp"
#include "health_support.hpp"
#include "rollout_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace weir_it {
namespace {

std::string upload_head(std::uint64_t content_length, const std::string& target = "/upload") {
    return "POST " + target + " HTTP/1.1\r\nHost: test.local\r\nContent-Length: " + std::to_string(content_length) +
           "\r\n\r\n";
}

// The upstream answers `status` as soon as it sees the head, while the
// client has sent only 1000 of 100000 body bytes and then waits. The client
// must get that answer at once (not a 408 after idle_timeout, 20 s here), and
// the connection is closed after it.
void early_answer_during_paused_upload(int status, const std::string& body) {
    std::atomic<bool> answered{false};  // before the upstream: its hook uses it
    SingleProxy p([](ConfigSpec& c) {
        c.idle_timeout = "20s";
        c.header_timeout = "5s";
    });
    p.up.set_head_hook([&answered, status, body](UpstreamConn& c, const UpstreamRequest&) -> std::optional<After> {
        c.send(make_response(status, body, "Connection: close\r\n"));
        answered = true;
        // Like a real server after an early answer: keep reading (and
        // dropping) what still comes until the proxy closes, so the close is
        // not a reset that could destroy the answer.
        c.wait_peer_closed(25s);
        return After::close;
    });

    RawClient client(p.port(), 8s);  // well under idle_timeout: a 408 would come after 20 s
    ASSERT_TRUE(client.send(upload_head(100000) + pattern_string(1000)));
    ASSERT_TRUE(p.up.wait_requests(1)) << p.weir->log();
    ASSERT_TRUE(wait_for([&] { return answered.load(); }, 5s));
    const auto start = Clock::now();
    Response r = client.read_response();
    const auto took = ms_since(start);
    ASSERT_EQ(r.status, status) << "the client paused mid-upload; the upstream's early answer was not forwarded "
                                   "(waited " << took << " ms): " << r.describe() << "\n" << p.weir->log();
    EXPECT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.body, body);
    EXPECT_LT(took, 5000) << "the early answer must arrive promptly, not after a timeout";
    EXPECT_TRUE(r.connection_close()) << "the request was cut short: the connection cannot carry another one\n"
                                      << r.describe();
    EXPECT_TRUE(client.wait_closed(5s)) << "the proxy did not close the connection after the early answer";
    // The upstream connection carrying the partial request is closed too.
    const auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_TRUE(p.up.wait_connection_closed(reqs[0].conn_id, 5s));
    EXPECT_FALSE(reqs[0].complete);
}

TEST(EarlyAnswer, Early413DuringAPausedUploadIsForwardedAtOnceAndClosesTheConnection) {
    early_answer_during_paused_upload(413, "payload too large");
}

TEST(EarlyAnswer, Early401DuringAPausedUploadIsForwardedAtOnceAndClosesTheConnection) {
    early_answer_during_paused_upload(401, "who are you");
}

// Some servers send "100 Continue" as soon as they see any upload's head,
// Expect or not. Seen while the client is between two parts of its body, it
// must not stop the rest of the body from being pumped: the upstream reads
// all 100000 bytes and answers 200, which the client gets.
TEST(EarlyAnswer, UnsolicitedContinueFromTheUpstreamDoesNotStallTheUpload) {
    std::atomic<bool> continued{false};  // before the upstream: its hook uses it
    SingleProxy p([](ConfigSpec& c) {
        c.idle_timeout = "20s";
        c.pools[0].response_timeout = "15s";
    });
    p.up.set_head_hook([&](UpstreamConn& c, const UpstreamRequest&) -> std::optional<After> {
        c.send("HTTP/1.1 100 Continue\r\n\r\n");
        continued = true;
        return std::nullopt;  // then read the whole body and call the handler
    });
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& req) {
        c.send(make_response(200, "got " + std::to_string(req.body_bytes) + (req.complete ? " complete" : " partial")));
        return After::keep_alive;
    });

    constexpr std::size_t total = 100000, first = 30000;
    const std::string body = pattern_string(total);
    RawClient client(p.port(), 10s);
    ASSERT_TRUE(client.send(upload_head(total) + body.substr(0, first)));
    ASSERT_TRUE(wait_for([&] { return continued.load(); }, 5s)) << p.weir->log();
    // A proxy forwards 1xx it did not ask for itself (RFC 9110 15.2): the
    // interim answer arriving here shows the proxy has handled it while the
    // body was still incomplete.
    ReadOptions interim;
    interim.return_interim = true;
    Response cont = client.read_response(interim);
    ASSERT_EQ(cont.status, 100) << "the upstream's 100 Continue, sent while the upload was paused, was not "
                                   "forwarded: " << cont.describe() << "\n" << p.weir->log();

    ASSERT_TRUE(client.send(body.substr(first)));
    const auto start = Clock::now();
    Response r = client.read_response();
    EXPECT_EQ(r.status, 200) << "the upload stalled after an unsolicited 100 Continue (" << ms_since(start)
                             << " ms): " << r.describe() << "\n" << p.weir->log();
    EXPECT_EQ(r.body, "got 100000 complete") << r.describe();
    EXPECT_LT(ms_since(start), 5000);
    const auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_TRUE(reqs[0].complete) << reqs[0].body_error;
    EXPECT_EQ(reqs[0].body_bytes, total);
    EXPECT_EQ(reqs[0].digest, pattern_digest(total));
}

// The same early answer when the proxy is not waiting for the client but is
// blocked writing the body to the upstream: the client streams a large
// upload; the upstream stops reading, and once the proxy can write no more
// (its unread bytes stop growing) it answers 413 and keeps the connection
// open without reading. The answer is there to read; the client must get it
// promptly, not a 504 once response_timeout (6 s) passes.
TEST(EarlyAnswer, EarlyAnswerWhileTheProxyIsBlockedWritingTheBodyIsForwarded) {
    std::atomic<bool> answered{false};  // before the upstream: its hook uses it
    std::atomic<int> unread_at_answer{0};
    SingleProxy p([](ConfigSpec& c) {
        c.idle_timeout = "20s";
        c.pools[0].response_timeout = "6s";
    });
    p.up.set_head_hook([&](UpstreamConn& c, const UpstreamRequest&) -> std::optional<After> {
        // Not reading: wait until the bytes queued on this socket stop growing.
        int last = -1, same = 0;
        wait_for(
            [&] {
                int n = 0;
                ::ioctl(c.stream().fd(), FIONREAD, &n);
                same = (n > 0 && n == last) ? same + 1 : 0;
                last = n;
                return same >= 10;  // unchanged for ~200 ms
            },
            5s, 20ms);
        unread_at_answer = last;
        c.send(make_response(413, "payload too large", "Connection: close\r\n"));
        answered = true;
        c.sleep_for(25s);  // never reads again
        return After::close;
    });

    RawClient client(p.port(), 15s);
    constexpr std::uint64_t total = 1ull << 30;
    ASSERT_TRUE(client.send(upload_head(total)));
    std::thread writer([&] {
        const Pattern& pat = Pattern::get();
        for (std::uint64_t off = 0; off < total; off += Pattern::max_slice)
            if (!client.stream().write_all(pat.at(off), Pattern::max_slice)) break;
    });
    struct Join {
        RawClient& c;
        std::thread& t;
        ~Join() {
            ::shutdown(c.fd(), SHUT_RDWR);
            t.join();
        }
    } join{client, writer};

    ASSERT_TRUE(wait_for([&] { return answered.load(); }, 10s)) << p.weir->log();
    const auto start = Clock::now();
    Response r = client.read_response();
    const auto took = ms_since(start);
    EXPECT_EQ(r.status, 413) << "the upstream answered 413 (with " << unread_at_answer.load()
                             << " body bytes it had not read) while the proxy was blocked writing the body; "
                                "the client got instead, after " << took << " ms: " << r.describe() << "\n"
                             << p.weir->log();
    EXPECT_LT(took, 3000) << "the early answer must arrive promptly, not after response_timeout";
}

}  // namespace
}  // namespace weir_it
