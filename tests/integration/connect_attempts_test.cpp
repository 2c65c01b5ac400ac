// A pool of endpoints that all refuse connections: one request tries at most
// five of them, then answers 503.
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

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.find(needle) != std::string::npos) ++n;
    return n;
}

TEST(ConnectAttempts, PoolOfEightRefusingEndpointsAnswers503AfterAtMostFiveAttempts) {
    std::set<std::uint16_t> ports;
    for (int i = 0; i < 100 && ports.size() < 8; ++i) ports.insert(closed_port());
    ASSERT_EQ(ports.size(), 8u);
    std::vector<std::string> addresses;
    for (auto port : ports) addresses.push_back("127.0.0.1:" + std::to_string(port));
    ConfigSpec c = ConfigSpec::single(addresses);
    c.workers = 1;
    WeirProcess weir(c.yaml());
    ASSERT_EQ(count_lines_with(weir.log(), "connect failed"), 0u) << weir.log();

    RawClient client(weir.port(), 10s);
    const auto start = Clock::now();
    Response r = client.request(get_request("/dead"));
    const auto took = ms_since(start);
    EXPECT_EQ(r.status, 503) << r.describe();
    EXPECT_LT(took, 3000) << "refused connects on loopback fail at once";
    ASSERT_TRUE(weir.wait_log("no endpoint left to try", 5s)) << weir.log();
    const std::string log = weir.log();
    const auto attempts = count_lines_with(log, "connect failed");
    EXPECT_GE(attempts, 1u) << log;
    EXPECT_LE(attempts, 5u) << "one request tried " << attempts << " endpoints (cap: 5)\n" << log;
}

}  // namespace
}  // namespace weir_it
