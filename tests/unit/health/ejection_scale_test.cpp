// Passive health at scale: the ejection cap counts serving endpoints (not
// draining, passing checks, accepting connections), refused connections take
// an endpoint out at once whatever the cap, and a failure that cannot eject
// costs no scan and at most one log line per interval however often it comes.
#include "health/health_manager.hpp"
#include "health_fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace weir::health {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using testing::ep;
using testing::slow_check;

// This suite's own seed for the check jitter.
struct Fixture : testing::Fixture {
    Fixture() : testing::Fixture(777) {}
};

PoolTargets pool(const std::string& name, std::vector<std::uint16_t> ports, std::optional<CheckSpec> check = {},
                 std::optional<OutlierSpec> outlier = OutlierSpec{}) {
    PoolTargets p;
    p.name = name;
    p.check = check;
    p.outlier = outlier;
    for (auto port : ports)
        p.endpoints.push_back(
            {"127.0.0.1:" + std::to_string(port), tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)});
    return p;
}




// Collects what is written to standard error (the event log) while alive.
class StderrCapture {
public:
    StderrCapture() {
        std::fflush(stderr);
        saved_ = ::dup(2);
        file_ = std::tmpfile();
        ::dup2(::fileno(file_), 2);
    }
    ~StderrCapture() { restore(); }
    std::string text() {
        restore();
        std::fflush(file_);
        std::rewind(file_);
        std::string out;
        char buf[4096];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, file_)) out.append(buf, n);
        return out;
    }

private:
    void restore() {
        if (saved_ < 0) return;
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
    }
    int saved_ = -1;
    std::FILE* file_ = nullptr;
};

int count_of(const std::string& text, const std::string& needle) {
    int n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

TEST(HealthEjectionCap, DrainedEndpointsDoNotCountAsServing) {
    // 4 endpoints, 2 drained: of the 2 that serve, only one may be ejected.
    Fixture f;
    f.hm.update({pool("p", {9001, 9002, 9003, 9004})}, true);
    f.hm.set_draining("p", ep(9001), true);
    f.hm.set_draining("p", ep(9002), true);
    f.hm.report_failure("p", ep(9003), 5);
    EXPECT_TRUE(f.hm.status("p", ep(9003)).ejected);
    f.hm.report_failure("p", ep(9004), 5);
    EXPECT_FALSE(f.hm.status("p", ep(9004)).ejected) << "both serving endpoints ejected";
    // Undrained again, the pool has 4 serving endpoints: a second one may go.
    f.hm.set_draining("p", ep(9001), false);
    f.hm.set_draining("p", ep(9002), false);
    f.hm.report_failure("p", ep(9004), 6);
    EXPECT_TRUE(f.hm.status("p", ep(9004)).ejected);
}

TEST(HealthEjectionCap, TheSurvivorIsNotEjectedWhileItsSiblingFailsChecks) {
    Fixture f;
    f.hm.update({pool("p", {9001}, slow_check())}, true);
    // Added at runtime to a checked pool: unhealthy until its first check passes.
    f.hm.update({pool("p", {9001, 9002}, slow_check())}, false);
    ASSERT_FALSE(f.hm.status("p", ep(9002)).healthy);
    f.hm.report_failure("p", ep(9001), 5);
    EXPECT_FALSE(f.hm.status("p", ep(9001)).ejected) << "the only serving endpoint was ejected";
}

TEST(HealthEjectionCap, RefusingEndpointsAreNotServing) {
    // 4 endpoints: 2 refuse connections; of the other 2 only one may be ejected.
    Fixture f;
    f.hm.update({pool("p", {9001, 9002, 9003, 9004})}, true);
    f.hm.report_failure("p", ep(9001), 0, /*refused=*/true);
    f.hm.report_failure("p", ep(9002), 0, /*refused=*/true);
    f.hm.report_failure("p", ep(9003), 5);
    f.hm.report_failure("p", ep(9004), 5);
    EXPECT_TRUE(f.hm.status("p", ep(9003)).ejected);
    EXPECT_FALSE(f.hm.status("p", ep(9004)).ejected);
}

TEST(HealthRefusal, EveryEndpointThatRefusesIsOutAtOnceWhateverTheCap) {
    Fixture f;
    // One pool with passive ejection configured (its cap would keep half in),
    // one without any.
    f.hm.update({pool("capped", {9001, 9002, 9003}), pool("plain", {9011}, {}, std::nullopt)}, true);
    for (std::uint16_t port : {9001, 9002, 9003}) f.hm.report_failure("capped", ep(port), 0, true);
    f.hm.report_failure("plain", ep(9011), 0, true);
    for (std::uint16_t port : {9001, 9002, 9003}) EXPECT_TRUE(f.hm.status("capped", ep(port)).refusing) << port;
    EXPECT_TRUE(f.hm.status("plain", ep(9011)).refusing);
    EXPECT_EQ(f.changes, 4);
    // Further refusals of the same moment (other workers) change nothing.
    for (int i = 0; i < 100; ++i) f.hm.report_failure("capped", ep(9001), 0, true);
    EXPECT_EQ(f.changes, 4);
}

TEST(HealthRefusal, ARefusingEndpointIsTriedAgainAfterTheBackoff) {
    Fixture f;
    f.hm.update({pool("p", {9001})}, true);
    const auto start = std::chrono::steady_clock::now();
    f.hm.report_failure("p", ep(9001), 0, true);
    ASSERT_TRUE(f.hm.status("p", ep(9001)).refusing);
    ASSERT_TRUE(f.run_until([&] { return !f.hm.status("p", ep(9001)).refusing; }, 10s));
    EXPECT_GE(std::chrono::steady_clock::now() - start, refusal_base);
    // Refusing again right after coming back: out for twice as long.
    f.hm.report_failure("p", ep(9001), 0, true);
    const auto st = f.hm.status("p", ep(9001));
    ASSERT_TRUE(st.refusing);
    EXPECT_GE(st.refusing_until - std::chrono::steady_clock::now(), 2 * refusal_base - 100ms);
}

TEST(HealthEjectionCap, TenThousandFailuresThatCannotEjectLogOnceAndChangeNothing) {
    Fixture f;
    f.hm.update({pool("p", {9001, 9002})}, true);
    f.hm.report_failure("p", ep(9001), 5);
    ASSERT_TRUE(f.hm.status("p", ep(9001)).ejected);
    const int changes = f.changes;
    StderrCapture capture;
    for (int i = 0; i < 10000; ++i) f.hm.report_failure("p", ep(9002), 5 + i);
    const std::string log = capture.text();
    EXPECT_FALSE(f.hm.status("p", ep(9002)).ejected);
    EXPECT_EQ(f.changes, changes);
    EXPECT_EQ(count_of(log, "not ejected"), 1) << log.substr(0, 2000);
}

}  // namespace
}  // namespace weir::health
