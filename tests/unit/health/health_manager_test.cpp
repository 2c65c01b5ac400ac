// The health manager on its own io_context: which endpoints start
// healthy, what an update keeps, passive ejection through report_failure
// with the half-pool cap and the automatic return, and active checks
// flipping an endpoint against a loopback responder. Ejection and cap
// checks do not run the io_context (no time passes); the few tests that do
// use short intervals and generous deadlines.
#include "health/health_manager.hpp"
#include "health_fixture.hpp"
#include "tiny_h2_server.hpp"
#include "tiny_http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
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
using testing::Fixture;

using testing::target;

PoolTargets pool(const std::string& name, std::vector<std::uint16_t> ports, std::optional<CheckSpec> check = {},
                 std::optional<OutlierSpec> outlier = {}) {
    PoolTargets p;
    p.name = name;
    p.check = check;
    p.outlier = outlier;
    for (auto port : ports) p.endpoints.push_back(target(port));
    return p;
}




// ---------------------------------------------------------------- initial states

TEST(HealthManagerStates, EndpointsPresentAtStartBeginHealthy) {
    Fixture f;
    f.hm.update({pool("p", {9001, 9002}, slow_check())}, /*initial=*/true);
    EXPECT_TRUE(f.hm.status("p", ep(9001)).healthy);
    EXPECT_TRUE(f.hm.status("p", ep(9002)).healthy);
    EXPECT_EQ(f.hm.status("p", ep(9001)).last_check, "") << "no check has run yet";
    EXPECT_EQ(f.changes, 0);
}

TEST(HealthManagerStates, EndpointsAddedAtRuntimeToACheckedPoolBeginUnhealthy) {
    Fixture f;
    f.hm.update({pool("p", {9001}, slow_check()), pool("q", {9101})}, true);
    // A reload or PUT endpoints adds 9002 to the checked pool and 9102 to the unchecked one.
    f.hm.update({pool("p", {9001, 9002}, slow_check()), pool("q", {9101, 9102})}, /*initial=*/false);
    EXPECT_TRUE(f.hm.status("p", ep(9001)).healthy) << "an endpoint that stays keeps its verdict";
    EXPECT_FALSE(f.hm.status("p", ep(9002)).healthy) << "a runtime-added endpoint must pass a check first";
    EXPECT_TRUE(f.hm.status("q", ep(9102)).healthy) << "without health_check there is nothing to wait for";
    EXPECT_EQ(f.changes, 0) << "update itself is not a state flip";
}

TEST(HealthManagerStates, ChangingTheCheckKeepsTheCurrentVerdict) {
    Fixture f;
    f.hm.update({pool("p", {9001}, slow_check())}, true);
    f.hm.update({pool("p", {9001, 9002}, slow_check())}, false);
    ASSERT_FALSE(f.hm.status("p", ep(9002)).healthy);
    CheckSpec other = slow_check();
    other.path = "/other";
    other.healthy_threshold = 5;
    f.hm.update({pool("p", {9001, 9002}, other)}, false);
    EXPECT_TRUE(f.hm.status("p", ep(9001)).healthy);
    EXPECT_FALSE(f.hm.status("p", ep(9002)).healthy) << "a new check spec must not admit an unchecked endpoint";
}

TEST(HealthManagerStates, DroppingTheCheckMakesEndpointsHealthy) {
    Fixture f;
    f.hm.update({pool("p", {9001}, slow_check())}, true);
    f.hm.update({pool("p", {9001, 9002}, slow_check())}, false);
    ASSERT_FALSE(f.hm.status("p", ep(9002)).healthy);
    f.hm.update({pool("p", {9001, 9002})}, false);
    EXPECT_TRUE(f.hm.status("p", ep(9002)).healthy);
}

TEST(HealthManagerStates, ARemovedAndReaddedEndpointStartsOver) {
    Fixture f;
    f.hm.update({pool("p", {9001, 9002}, slow_check())}, true);
    f.hm.update({pool("p", {9001}, slow_check())}, false);
    f.hm.update({pool("p", {9001, 9002}, slow_check())}, false);
    EXPECT_FALSE(f.hm.status("p", ep(9002)).healthy) << "re-added at runtime: unhealthy until a check passes";
}

// ---------------------------------------------------------------- passive ejection

OutlierSpec outlier(int n, std::chrono::milliseconds t) { return OutlierSpec{n, t}; }

TEST(HealthManagerOutlier, EjectsAtTheConsecutiveFailureCount) {
    Fixture f;
    f.hm.update({pool("p", {9001, 9002, 9003}, {}, outlier(3, 30s))}, true);
    f.hm.report_failure("p", ep(9001), 1);
    f.hm.report_failure("p", ep(9001), 2);
    EXPECT_FALSE(f.hm.status("p", ep(9001)).ejected);
    EXPECT_EQ(f.changes, 0);
    const auto before = Clock::now();
    f.hm.report_failure("p", ep(9001), 3);
    const auto after = Clock::now();
    auto st = f.hm.status("p", ep(9001));
    EXPECT_TRUE(st.ejected);
    EXPECT_TRUE(st.healthy) << "ejection is not a failed health check";
    EXPECT_GE(st.ejected_until, before + 30s);
    EXPECT_LE(st.ejected_until, after + 30s);
    EXPECT_EQ(f.changes, 1) << "an ejection publishes once";
    f.hm.report_failure("p", ep(9001), 4);
    EXPECT_EQ(f.changes, 1) << "failures while ejected change nothing";
    EXPECT_FALSE(f.hm.status("p", ep(9002)).ejected);
}

TEST(HealthManagerOutlier, NeverEjectsMoreThanHalfOfAPool) {
    for (std::uint16_t size = 1; size <= 6; ++size) {
        Fixture f;
        std::vector<std::uint16_t> ports;
        for (std::uint16_t i = 0; i < size; ++i) ports.push_back(static_cast<std::uint16_t>(9001 + i));
        f.hm.update({pool("p", ports, {}, outlier(2, 30s))}, true);
        for (auto port : ports) f.hm.report_failure("p", ep(port), 5);
        int ejected = 0;
        for (auto port : ports) ejected += f.hm.status("p", ep(port)).ejected ? 1 : 0;
        EXPECT_EQ(ejected, size / 2) << "pool of " << size;
        EXPECT_EQ(f.changes, size / 2) << "pool of " << size;
    }
}

TEST(HealthManagerOutlier, TheCapIsPerPool) {
    Fixture f;
    f.hm.update({pool("a", {9001, 9002}, {}, outlier(1, 30s)), pool("b", {9101, 9102}, {}, outlier(1, 30s))}, true);
    f.hm.report_failure("a", ep(9001), 1);
    f.hm.report_failure("b", ep(9101), 1);
    f.hm.report_failure("a", ep(9002), 1);
    EXPECT_TRUE(f.hm.status("a", ep(9001)).ejected);
    EXPECT_TRUE(f.hm.status("b", ep(9101)).ejected) << "an ejection in pool a must not use up pool b's half";
    EXPECT_FALSE(f.hm.status("a", ep(9002)).ejected);
}

TEST(HealthManagerOutlier, PoolsWithoutOutlierAndUnknownEndpointsAreIgnored) {
    Fixture f;
    f.hm.update({pool("p", {9001, 9002})}, true);
    f.hm.report_failure("p", ep(9001), 1000);
    EXPECT_FALSE(f.hm.status("p", ep(9001)).ejected);
    f.hm.report_failure("nope", ep(9001), 1000);
    f.hm.report_failure("p", ep(9999), 1000);
    EXPECT_EQ(f.changes, 0);
}

TEST(HealthManagerOutlier, AnEjectedEndpointComesBackByItselfAndTheNextEjectionDoubles) {
    Fixture f;
    f.hm.update({pool("p", {9001, 9002}, {}, outlier(1, 150ms))}, true);
    const auto start = Clock::now();
    f.hm.report_failure("p", ep(9001), 1);
    ASSERT_TRUE(f.hm.status("p", ep(9001)).ejected);
    ASSERT_TRUE(f.run_until([&] { return !f.hm.status("p", ep(9001)).ejected; }, 5s)) << "never came back";
    const auto back = Clock::now();
    EXPECT_GE(back - start, 150ms) << "came back before ejection_time";
    EXPECT_EQ(f.changes, 2) << "ejection and return each publish once";

    const auto before = Clock::now();
    f.hm.report_failure("p", ep(9001), 1);
    auto st = f.hm.status("p", ep(9001));
    ASSERT_TRUE(st.ejected);
    EXPECT_GE(st.ejected_until - before, 300ms) << "the second ejection doubles";
    EXPECT_LE(st.ejected_until - before, 300ms + 100ms);
    EXPECT_TRUE(f.run_until([&] { return !f.hm.status("p", ep(9001)).ejected; }, 5s));
    EXPECT_EQ(f.changes, 4);
}

TEST(HealthManagerOutlier, AnEndpointRemovedWhileEjectedIsForgotten) {
    Fixture f;
    f.hm.update({pool("p", {9001, 9002}, {}, outlier(1, 100ms))}, true);
    f.hm.report_failure("p", ep(9001), 1);
    ASSERT_TRUE(f.hm.status("p", ep(9001)).ejected);
    f.hm.update({pool("p", {9002}, {}, outlier(1, 100ms))}, false);
    EXPECT_FALSE(f.hm.status("p", ep(9001)).ejected);
    const int changes = f.changes;
    f.run_until([] { return false; }, 300ms);  // the old ejection timer must not fire a change
    EXPECT_EQ(f.changes, changes);
}

// ---------------------------------------------------------------- active checks

CheckSpec fast_check(int healthy_threshold, int unhealthy_threshold) {
    CheckSpec c;
    c.path = "/healthz";
    c.interval = 40ms;
    c.timeout = 30ms;
    c.healthy_threshold = healthy_threshold;
    c.unhealthy_threshold = unhealthy_threshold;
    return c;
}

TEST(HealthManagerChecks, ARefusingEndpointTurnsUnhealthyAfterTheThreshold) {
    Fixture f;
    const auto port = test::refused_port();
    f.hm.update({pool("p", {port}, fast_check(2, 3))}, true);
    ASSERT_TRUE(f.hm.status("p", ep(port)).healthy);
    ASSERT_TRUE(f.run_until([&] { return !f.hm.status("p", ep(port)).healthy; }, 5s));
    auto st = f.hm.status("p", ep(port));
    EXPECT_EQ(st.checks_failed_in_row, 3) << "flipped exactly at the third failure";
    EXPECT_FALSE(st.last_check.empty());
    EXPECT_EQ(f.changes, 1);
}

TEST(HealthManagerChecks, A503TurnsUnhealthyAndA200BringsItBackAfterTheThreshold) {
    Fixture f;
    test::TinyHttpServer s;
    s.set_status(503);
    f.hm.update({pool("p", {s.port()}, fast_check(2, 2))}, true);
    ASSERT_TRUE(f.run_until([&] { return !f.hm.status("p", ep(s.port())).healthy; }, 5s));
    EXPECT_EQ(f.hm.status("p", ep(s.port())).last_check, "status 503");
    EXPECT_EQ(f.changes, 1);
    s.set_status(200);
    ASSERT_TRUE(f.run_until([&] { return f.hm.status("p", ep(s.port())).healthy; }, 5s));
    auto st = f.hm.status("p", ep(s.port()));
    EXPECT_EQ(st.last_check, "status 200");
    EXPECT_EQ(st.checks_passed_in_row, 2) << "came back exactly at the second pass";
    EXPECT_EQ(f.changes, 2);
    for (const auto& head : s.heads()) EXPECT_EQ(head.rfind("GET /healthz HTTP/1.1\r\n", 0), 0u) << head;
}

TEST(HealthManagerChecks, ARuntimeAddedEndpointIsAdmittedByItsFirstPass) {
    Fixture f;
    test::TinyHttpServer a, b;
    f.hm.update({pool("p", {a.port()}, fast_check(3, 3))}, true);
    f.hm.update({pool("p", {a.port(), b.port()}, fast_check(3, 3))}, false);
    ASSERT_FALSE(f.hm.status("p", ep(b.port())).healthy);
    ASSERT_TRUE(f.run_until([&] { return f.hm.status("p", ep(b.port())).healthy; }, 5s));
    EXPECT_EQ(f.hm.status("p", ep(b.port())).checks_passed_in_row, 1) << "one pass, not healthy_threshold";
    EXPECT_EQ(f.changes, 1);
}

TEST(HealthManagerChecks, StopEndsAllChecks) {
    Fixture f;
    test::TinyHttpServer s;
    f.hm.update({pool("p", {s.port()}, fast_check(1, 1))}, true);
    ASSERT_TRUE(f.run_until([&] { return s.count() >= 2; }, 5s));
    f.hm.stop();
    f.run_until([] { return false; }, 200ms);  // let any check already in flight finish
    const auto n = s.count();
    f.run_until([] { return false; }, 300ms);
    EXPECT_EQ(s.count(), n) << "checks continue after stop()";
}

// An endpoint of a protocol h2 pool is checked over HTTP/2: the same
// HTTP/1.1 responder that passes above fails it, an HTTP/2 one passes.
TEST(HealthManagerChecks, EndpointsOfH2PoolsAreCheckedOverHttp2) {
    Fixture f;
    test::TinyHttpServer http1;
    test::TinyH2Server h2;
    h2.set_response(test::h2frames::headers(test::h2frames::status_field(200), true));
    PoolTargets p = pool("p", {http1.port(), h2.port()}, fast_check(1, 1));
    for (auto& t : p.endpoints) t.h2 = true;
    f.hm.update({p}, true);
    ASSERT_TRUE(f.run_until([&] { return !f.hm.status("p", ep(http1.port())).healthy; }, 5s));
    EXPECT_EQ(f.hm.status("p", ep(http1.port())).last_check, "not h2 (no SETTINGS first)");
    ASSERT_TRUE(f.run_until([&] { return f.hm.status("p", ep(h2.port())).last_check == "status 200"; }, 5s));
    EXPECT_TRUE(f.hm.status("p", ep(h2.port())).healthy);
}

}  // namespace
}  // namespace weir::health
