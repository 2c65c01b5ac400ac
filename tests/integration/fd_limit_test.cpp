// Open-file limits: weir raises its soft RLIMIT_NOFILE to the hard limit at
// start, warns when the configuration may need more descriptors than that,
// and its acceptors (admin and data plane), out of descriptors, pause instead
// of spinning; an upstream connection it cannot open for want of descriptors
// is not held against the endpoint.
#include "harness.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>

namespace weir_it {
namespace {

// {soft, hard} "Max open files" of a running process.
std::optional<std::pair<std::uint64_t, std::uint64_t>> open_file_limits(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Max open files", 0) != 0) continue;
        std::istringstream fields(line.substr(std::string("Max open files").size()));
        std::uint64_t soft = 0, hard = 0;
        if (fields >> soft >> hard) return std::make_pair(soft, hard);
    }
    return std::nullopt;
}

// User + system CPU time of a process, in clock ticks.
long cpu_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream fields(stat.substr(close + 2));
    std::string f;
    long utime = 0, stime = 0;
    // Fields from 3 (state) on; utime and stime are 14 and 15.
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14) utime = std::stol(f);
        if (i == 15) stime = std::stol(f);
    }
    return utime + stime;
}

std::uint64_t own_hard_limit() {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_max;
}

const char* kShort = "is below what the configuration may need";

TEST(FdLimit, SoftLimitIsRaisedToTheHardOne) {
    const std::uint64_t hard = std::min<std::uint64_t>(own_hard_limit(), 4096);
    if (hard < 1024) GTEST_SKIP() << "the test process's hard limit (" << hard << ") leaves no room";
    FakeUpstream up("stable");
    ConfigSpec c = ConfigSpec::single(up.address());
    c.max_connections = 100;  // 2 x 100 + idle pools + reserve fits well below `hard`
    WeirProcess weir(c.yaml(), {}, SpawnOptions{std::make_pair(std::uint64_t{256}, hard)});
    auto limits = open_file_limits(weir.pid());
    ASSERT_TRUE(limits.has_value());
    EXPECT_EQ(limits->first, hard) << "soft limit not raised";
    EXPECT_EQ(limits->second, hard);
    EXPECT_TRUE(weir.wait_log("raised the open-file limit from 256 to " + std::to_string(hard))) << weir.log();
    EXPECT_EQ(weir.log().find(kShort), std::string::npos) << weir.log();
    EXPECT_EQ(fetch(weir.port()).status, 200);
}

TEST(FdLimit, WarnsWhenTheConfigurationMayNeedMoreThanTheHardLimit) {
    const std::uint64_t hard = std::min<std::uint64_t>(own_hard_limit(), 2048);
    if (hard < 512) GTEST_SKIP() << "the test process's hard limit (" << hard << ") leaves no room";
    FakeUpstream up("stable");
    ConfigSpec c = ConfigSpec::single(up.address());
    c.max_connections = 5000;  // 10000 descriptors for connections alone
    WeirProcess weir(c.yaml(), {}, SpawnOptions{std::make_pair(std::uint64_t{256}, hard)});
    EXPECT_TRUE(weir.wait_log(kShort)) << weir.log();
    const std::string log = weir.log();
    const auto at = log.find(kShort);
    ASSERT_NE(at, std::string::npos);
    const std::string line = log.substr(log.rfind('\n', at) + 1, log.find('\n', at) - log.rfind('\n', at) - 1);
    EXPECT_NE(line.find("WARN"), std::string::npos) << line;
    EXPECT_NE(line.find("open-file limit " + std::to_string(hard)), std::string::npos) << line;
    EXPECT_NE(line.find("2 x limits.max_connections = 10000"), std::string::npos) << line;
    auto limits = open_file_limits(weir.pid());
    ASSERT_TRUE(limits.has_value());
    EXPECT_EQ(limits->first, hard);
    // It still serves.
    EXPECT_EQ(fetch(weir.port()).status, 200);
}

TEST(FdLimit, AdminAcceptPausesWhenOutOfDescriptors) {
    if (own_hard_limit() < 64) GTEST_SKIP();
    FakeUpstream up("stable");
    ConfigSpec c = ConfigSpec::single(up.address());
    c.workers = 1;
    c.max_connections = 10;
    WeirProcess weir(c.yaml(), {}, SpawnOptions{std::make_pair(std::uint64_t{64}, std::uint64_t{64})});
    const auto admin = weir.admin_port();
    ASSERT_EQ(admin_request(admin, "GET", "/healthz").status, 200);

    // Idle connections to the admin port until weir has no descriptor left;
    // the rest wait in the listen queue.
    std::vector<std::unique_ptr<RawClient>> hogs;
    for (int i = 0; i < 100; ++i) {
        hogs.push_back(std::make_unique<RawClient>(admin, 15s));
        ASSERT_TRUE(hogs.back()->connected()) << i;
    }
    ASSERT_TRUE(weir.wait_log("admin: cannot accept", 10s)) << weir.log();

    // Paused, not spinning: well under half a CPU over two seconds (a retry
    // loop takes a whole one).
    const long before = cpu_ticks(weir.pid());
    std::this_thread::sleep_for(2s);
    const long used = cpu_ticks(weir.pid()) - before;
    const long per_second = ::sysconf(_SC_CLK_TCK);
    EXPECT_LT(used, per_second) << "control thread busy while out of descriptors: " << used << " ticks in 2 s";
    // The report is rate-limited: one line for many pauses.
    std::size_t lines = 0;
    for (std::size_t at = 0; (at = weir.log().find("admin: cannot accept", at)) != std::string::npos; ++at) ++lines;
    EXPECT_LE(lines, 2u) << weir.log();

    // Descriptors come back: the admin accepts again.
    hogs.clear();
    EXPECT_TRUE(wait_for([&] { return admin_request(admin, "GET", "/healthz").status == 200; }, 20s, 200ms))
        << weir.log();
}

// Sum of the samples of `name` whose line contains `label` (e.g. kind="connect").
double sum_of(const std::string& metrics, const std::string& name, const std::string& label) {
    double sum = 0;
    std::istringstream in(metrics);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(name + "{", 0) != 0 || line.find(label) == std::string::npos) continue;
        sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
    }
    return sum;
}

TEST(FdLimit, DataPlaneAcceptPausesWhenOutOfDescriptorsAndNoEndpointIsBlamed) {
    if (own_hard_limit() < 64) GTEST_SKIP();
    FakeUpstream up("stable");
    ConfigSpec c = ConfigSpec::single(up.address());
    c.workers = 1;
    c.max_connections = 1000;  // descriptors run out first
    c.header_timeout = "30s";  // the hogs stay while they say nothing
    c.idle_timeout = "30s";
    // No request before the descriptors are gone: a pooled upstream
    // connection would spare the one the test wants weir to need.
    WeirProcess weir(c.yaml(), {}, SpawnOptions{std::make_pair(std::uint64_t{64}, std::uint64_t{64})});

    std::vector<std::unique_ptr<RawClient>> hogs;
    for (int i = 0; i < 100; ++i) {
        hogs.push_back(std::make_unique<RawClient>(weir.port(), 15s));
        ASSERT_TRUE(hogs.back()->connected()) << i;
    }
    const std::string marker = "listener public: cannot accept";
    ASSERT_TRUE(weir.wait_log(marker, 10s)) << weir.log();

    // Paused, not spinning, although queued connections keep it busy.
    const long before = cpu_ticks(weir.pid());
    std::this_thread::sleep_for(2s);
    const long used = cpu_ticks(weir.pid()) - before;
    EXPECT_LT(used, ::sysconf(_SC_CLK_TCK)) << "worker busy while out of descriptors: " << used << " ticks in 2 s";

    // A request on an accepted connection needs an upstream descriptor there
    // is none of: refused locally, never an upstream failure.
    Response r = hogs.front()->request(get_request("/"));
    EXPECT_EQ(r.status, 503) << r.describe();
    EXPECT_TRUE(weir.wait_log("not counted against the endpoint", 5s)) << weir.log();

    // One line for many pauses (one per 10 s per listener).
    std::size_t lines = 0;
    const std::string log = weir.log();
    for (std::size_t at = 0; (at = log.find(marker, at)) != std::string::npos; ++at) ++lines;
    EXPECT_LE(lines, 2u) << log;

    // Descriptors come back: accepting resumes, the endpoint serves, and the
    // shortage shows in the pause counter, not in the endpoint's errors.
    hogs.clear();
    EXPECT_TRUE(wait_for([&] { return fetch(weir.port()).status == 200; }, 20s, 200ms)) << weir.log();
    const std::string metrics = admin_request(weir.admin_port(), "GET", "/metrics").body;
    EXPECT_GE(metric_value(metrics, "weir_accept_pauses_total").value_or(0), 1.0) << metrics;
    EXPECT_EQ(sum_of(metrics, "weir_upstream_errors_total", "kind=\"connect\""), 0.0) << metrics;
}

}  // namespace
}  // namespace weir_it
