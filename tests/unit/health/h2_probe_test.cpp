// One active check over HTTP/2 (protocol h2 pools), against a hand-driven
// server on loopback: a GET judged by :status; the gRPC health Check call
// judged by grpc-status and the SERVING status, whether the status comes in
// trailers or a trailers-only head; and each way a check fails, with the
// reason it reports.
#include "health/h2_probe.hpp"
#include "health/grpc_health_message.hpp"
#include "tiny_h2_server.hpp"
#include "tiny_http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>

namespace weir::health {
namespace {

using namespace std::chrono_literals;
using test::TinyH2Server;
using test::TinyHttpServer;
namespace asio = boost::asio;
namespace f = test::h2frames;
using tcp = asio::ip::tcp;

struct Outcome {
    std::optional<ProbeResult> result;
    int calls = 0;
    std::chrono::milliseconds took{0};
};

Outcome run_probe(std::uint16_t port, const CheckSpec& spec) {
    asio::io_context io;
    Outcome out;
    const auto start = std::chrono::steady_clock::now();
    Target target{"127.0.0.1:" + std::to_string(port), tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                  "127.0.0.1", nullptr, true};
    probe_h2(io, target, spec, [&](ProbeResult r) {
        ++out.calls;
        out.result = std::move(r);
    });
    io.run_for(10s);
    out.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return out;
}

CheckSpec http_check(const std::string& path = "/healthz", int lo = 200, int hi = 399) {
    CheckSpec s;
    s.path = path;
    s.expect_min = lo;
    s.expect_max = hi;
    return s;
}

CheckSpec grpc_check(const std::string& service = "") {
    CheckSpec s;
    s.type = CheckType::grpc;
    s.service = service;
    return s;
}

const std::string grpc_head = f::status_field(200) + f::field("content-type", "application/grpc");

// A complete unary answer: head, one message, trailers.
std::string grpc_answer(const std::string& message, const std::string& grpc_status = "0") {
    return f::headers(grpc_head, false) + f::data(grpc_frame(message), false) +
           f::headers(f::field("grpc-status", grpc_status), true);
}

std::string serving_message(std::uint32_t status) { return std::string("\x08", 1) + static_cast<char>(status); }

TEST(HealthH2Probe, GetIsOneStreamJudgedByItsStatus) {
    TinyH2Server s;
    s.set_response(f::headers(f::status_field(204), true));
    auto o = run_probe(s.port(), http_check("/ready", 200, 299));
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::ok) << o.result->detail;
    EXPECT_EQ(o.result->status, 204);
    EXPECT_EQ(o.result->detail, "status 204");
    ASSERT_EQ(s.headers_ended().size(), 1u);
    EXPECT_TRUE(s.headers_ended()[0]) << "a GET has no body: its HEADERS end the stream";

    s.set_response(f::headers(f::status_field(503), false) + f::data("down", true));
    o = run_probe(s.port(), http_check("/ready", 200, 299));
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::bad_status);
    EXPECT_EQ(o.result->status, 503);
    EXPECT_EQ(o.result->detail, "status 503");
}

TEST(HealthH2Probe, GrpcServingPassesAndTheRequestNamesTheService) {
    TinyH2Server s;
    s.set_response(grpc_answer(serving_message(1)));
    auto o = run_probe(s.port(), grpc_check("my.pkg.Greeter"));
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::ok) << o.result->detail;
    EXPECT_EQ(o.result->detail, "SERVING");
    ASSERT_EQ(s.bodies().size(), 1u);
    EXPECT_EQ(s.bodies()[0], grpc_frame(encode_health_request("my.pkg.Greeter")));
    EXPECT_FALSE(s.headers_ended()[0]) << "the Check call has a body";

    // The whole server: an empty HealthCheckRequest, still one framed message.
    o = run_probe(s.port(), grpc_check());
    ASSERT_TRUE(o.result && o.result->passed()) << (o.result ? o.result->detail : "");
    EXPECT_EQ(s.bodies().back(), std::string(5, '\0'));
}

TEST(HealthH2Probe, GrpcStatusesOtherThanServingFail) {
    TinyH2Server s;
    struct Case {
        std::uint32_t status;
        const char* detail;
    };
    for (const Case c : {Case{2, "NOT_SERVING"}, Case{3, "SERVICE_UNKNOWN"}, Case{0, "UNKNOWN"}, Case{7, "status 7"}}) {
        s.set_response(grpc_answer(serving_message(c.status)));
        auto o = run_probe(s.port(), grpc_check());
        ASSERT_TRUE(o.result);
        EXPECT_EQ(o.result->kind, ProbeResult::Kind::bad_status) << c.detail;
        EXPECT_EQ(o.result->detail, c.detail);
    }
}

TEST(HealthH2Probe, GrpcErrorInATrailersOnlyAnswerFailsWithItsCode) {
    TinyH2Server s;
    s.set_response(f::headers(grpc_head + f::field("grpc-status", "5") + f::field("grpc-message", "unknown service"), true));
    auto o = run_probe(s.port(), grpc_check("no.Such"));
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::bad_status);
    EXPECT_EQ(o.result->detail, "grpc-status 5: unknown service");

    // An error status in the trailers counts even with a SERVING message before it.
    s.set_response(grpc_answer(serving_message(1), "14"));
    o = run_probe(s.port(), grpc_check());
    ASSERT_TRUE(o.result);
    EXPECT_FALSE(o.result->passed());
    EXPECT_EQ(o.result->detail, "grpc-status 14");
}

TEST(HealthH2Probe, GrpcAnswersThatAreNotCompleteFail) {
    TinyH2Server s;
    // No trailers: the body ends the stream without a grpc-status.
    s.set_response(f::headers(grpc_head, false) + f::data(grpc_frame(serving_message(1)), true));
    auto o = run_probe(s.port(), grpc_check());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::error);
    EXPECT_EQ(o.result->detail, "no grpc-status");

    // grpc-status 0 without a message.
    s.set_response(f::headers(grpc_head, false) + f::headers(f::field("grpc-status", "0"), true));
    o = run_probe(s.port(), grpc_check());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.result->detail, "grpc-status 0, no message");

    // A message that is not a HealthCheckResponse.
    s.set_response(grpc_answer("\x08"));
    o = run_probe(s.port(), grpc_check());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.result->detail, "grpc-status 0, malformed HealthCheckResponse");

    // An HTTP status other than 200 (a proxy in front, say).
    s.set_response(f::headers(f::status_field(503), true));
    o = run_probe(s.port(), grpc_check());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::bad_status);
    EXPECT_EQ(o.result->detail, "status 503");

    // The stream reset instead of answered.
    s.set_response(f::frame(f::type_rst_stream, 0, 1, std::string("\x00\x00\x00\x02", 4)));
    o = run_probe(s.port(), grpc_check());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::error);
    EXPECT_EQ(o.result->detail, "stream reset (HTTP/2 error 2)");
}

TEST(HealthH2Probe, AnHttp1ServerIsNotH2) {
    TinyHttpServer s;
    auto o = run_probe(s.port(), http_check());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::error);
    EXPECT_EQ(o.result->detail, "not h2 (no SETTINGS first)");
}

TEST(HealthH2Probe, RefusedAndSilentEndpointsFail) {
    auto o = run_probe(test::refused_port(), grpc_check());
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::refused);

    TinyHttpServer silent;
    silent.set_mode(TinyHttpServer::Mode::silent);
    CheckSpec spec = grpc_check();
    spec.timeout = 150ms;
    o = run_probe(silent.port(), spec);
    ASSERT_TRUE(o.result);
    EXPECT_EQ(o.calls, 1);
    EXPECT_EQ(o.result->kind, ProbeResult::Kind::timeout);
    EXPECT_EQ(o.result->detail, "timeout");
    EXPECT_GE(o.took, 140ms);
    EXPECT_LT(o.took, 1500ms) << "the timeout does not bound the check";
}

}  // namespace
}  // namespace weir::health
