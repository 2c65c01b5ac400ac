// One active health check: an HTTP/1.1 GET on a fresh connection,
// judged by its status against the expected range; refused, timed out,
// garbage and early-closed checks fail with a reason. Loopback only.
#include "health/prober.hpp"
#include "tiny_http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>

namespace weir::health {
namespace {

using namespace std::chrono_literals;
using test::TinyHttpServer;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Outcome {
    std::optional<ProbeResult> result;
    int calls = 0;
    std::chrono::milliseconds took{0};
};

Outcome run_probe(std::uint16_t port, int expect_min = 200, int expect_max = 399,
                  std::chrono::milliseconds timeout = 1000ms, const std::string& path = "/healthz") {
    asio::io_context io;
    Outcome out;
    const auto start = std::chrono::steady_clock::now();
    const Target target{"127.0.0.1:" + std::to_string(port), tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                        "127.0.0.1", nullptr};
    probe(io, target, path, timeout, expect_min, expect_max, [&](ProbeResult r) {
              ++out.calls;
              out.result = std::move(r);
          });
    io.run_for(10s);
    out.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return out;
}

TEST(HealthProbe, StatusInTheRangePasses) {
    TinyHttpServer s;
    s.set_status(200);
    auto o = run_probe(s.port());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_TRUE(o.result->passed());
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::ok);
    EXPECT_EQ(o.result->status, 200);
    EXPECT_EQ(o.result->detail, "status 200");
}

TEST(HealthProbe, SendsAGetForThePathWithHostAndConnectionClose) {
    TinyHttpServer s;
    auto o = run_probe(s.port(), 200, 399, 1000ms, "/ready?deep=1");
    ASSERT_TRUE(o.result && o.result->passed());
    ASSERT_EQ(s.count(), 1u);
    const std::string head = s.heads()[0];
    EXPECT_EQ(head.rfind("GET /ready?deep=1 HTTP/1.1\r\n", 0), 0u) << head;
    EXPECT_NE(head.find("\r\nHost: 127.0.0.1:" + std::to_string(s.port()) + "\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos) << head;
}

TEST(HealthProbe, StatusOutsideTheRangeFailsWithTheStatus) {
    TinyHttpServer s;
    s.set_status(503);
    auto o = run_probe(s.port());
    ASSERT_TRUE(o.result);
    EXPECT_FALSE(o.result->passed());
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::bad_status);
    EXPECT_EQ(o.result->status, 503);
    EXPECT_EQ(o.result->detail, "status 503");
}

TEST(HealthProbe, TheRangeIsInclusiveAtBothEnds) {
    TinyHttpServer s;
    struct Case {
        int status, lo, hi;
        bool pass;
    };
    const Case cases[] = {
        {200, 200, 200, true}, {204, 200, 204, true}, {205, 200, 204, false}, {300, 200, 299, false},
        {404, 200, 499, true}, {399, 200, 399, true}, {400, 200, 399, false}, {500, 500, 599, true},
    };
    for (const Case& c : cases) {
        s.set_status(c.status);
        auto o = run_probe(s.port(), c.lo, c.hi);
        ASSERT_TRUE(o.result) << c.status;
        EXPECT_EQ(o.result->passed(), c.pass) << c.status << " in [" << c.lo << ", " << c.hi << "]";
        EXPECT_EQ(o.result->status, c.status);
    }
}

TEST(HealthProbe, ARefusedConnectionFailsAsRefused) {
    auto o = run_probe(test::refused_port());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_FALSE(o.result->passed());
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::refused);
    EXPECT_FALSE(o.result->detail.empty());
}

TEST(HealthProbe, NoAnswerWithinTheTimeoutFailsAsTimeout) {
    TinyHttpServer s;
    s.set_mode(TinyHttpServer::Mode::silent);
    auto o = run_probe(s.port(), 200, 399, 150ms);
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::timeout);
    EXPECT_EQ(o.result->detail, "timeout");
    EXPECT_GE(o.took, 140ms);
    EXPECT_LT(o.took, 1500ms) << "the timeout does not bound the check";
}

TEST(HealthProbe, GarbageFailsAsAnError) {
    TinyHttpServer s;
    s.set_mode(TinyHttpServer::Mode::garbage);
    auto o = run_probe(s.port());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_FALSE(o.result->passed());
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::error);
}

TEST(HealthProbe, AConnectionClosedBeforeAnAnswerFails) {
    TinyHttpServer s;
    s.set_mode(TinyHttpServer::Mode::close_at_once);
    auto o = run_probe(s.port());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_FALSE(o.result->passed());
    EXPECT_NE(o.result->kind, ProbeResult::Kind::timeout) << "a close is not a timeout";
}

TEST(HealthProbe, AHeadArrivingInPiecesIsReadWhole) {
    TinyHttpServer s;
    s.set_mode(TinyHttpServer::Mode::split_head);
    s.set_status(204);
    auto o = run_probe(s.port());
    ASSERT_TRUE(o.result);
    EXPECT_TRUE(o.result->passed()) << o.result->detail;
    EXPECT_EQ(o.result->status, 204);
}

}  // namespace
}  // namespace weir::health
