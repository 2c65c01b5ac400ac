// Per-request log lines are rate-limited per worker: a client sending
// thousands of bad requests gets them all answered and counted in the
// metrics, but the log takes about 20 lines a second, and says how many it
// left out.
#include "harness.hpp"

#include <chrono>
#include <regex>
#include <string>

namespace weir_it {
namespace {

constexpr int kRequests = 2000;
// Per worker and kind of line: the rate and the burst the log allows.
constexpr double kPerSecond = 20;
constexpr double kBurst = 40;

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size()) ++n;
    return n;
}

// Lines the log reports as suppressed: on later lines ("(suppressed N similar
// lines)") and in the worker's periodic report ("suppressed N similar client
// error lines").
std::uint64_t suppressed_total(const std::string& log) {
    static const std::regex note(R"(suppressed (\d+) similar)");
    std::uint64_t n = 0;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), note); it != std::sregex_iterator(); ++it)
        n += std::stoull((*it)[1].str());
    return n;
}

ConfigSpec one_worker(const std::string& upstream) {
    ConfigSpec c = ConfigSpec::single(upstream);
    c.workers = 1;  // one limiter: the bound below is per worker
    c.routes[0].path_prefix = "/app/";
    return c;
}

TEST(LogFlood, ThousandsOfUnroutedRequestsLogAtTheRateAndCountInFull) {
    FakeUpstream up("stable");
    WeirProcess weir(one_worker(up.address()).yaml());
    const auto started = std::chrono::steady_clock::now();
    RawClient c(weir.port());
    // In rounds, so neither side's socket buffer fills while the other writes.
    const std::string req = get_request("/nope");
    for (int round = 0; round < kRequests / 100; ++round) {
        std::string batch;
        for (int i = 0; i < 100; ++i) batch += req;
        ASSERT_TRUE(c.send(batch));
        for (int i = 0; i < 100; ++i) ASSERT_EQ(c.read_response().status, 404) << round << "/" << i;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    // Every request is counted.
    const auto metrics = admin_request(weir.admin_port(), "GET", "/metrics").body;
    EXPECT_EQ(metric_value(metrics, "weir_requests_total", {{"route", "none"}, {"pool", "none"}, {"code", "404"}}),
              kRequests);
    // Each line written or reported as suppressed: all of them, once the
    // worker's periodic report has come (it reports what no later line did).
    const std::string marker = "no route for host";
    std::string log;
    EXPECT_TRUE(wait_for(
        [&] {
            log = weir.log();
            return count_of(log, marker) + suppressed_total(log) == kRequests;
        },
        10s, 100ms))
        << count_of(log, marker) << " lines written, " << suppressed_total(log) << " reported as suppressed\n"
        << log.substr(0, 4000);
    const std::size_t written = count_of(log, marker);
    EXPECT_LE(written, static_cast<std::size_t>(kBurst + kPerSecond * (elapsed + 1)))
        << written << " lines in " << elapsed << " s";
    EXPECT_NE(log.find("suppressed"), std::string::npos);
    EXPECT_EQ(c.request(get_request("/app/x")).status, 200);
}

TEST(LogFlood, MalformedRequestsOnFreshConnectionsAreLimitedToo) {
    FakeUpstream up("stable");
    WeirProcess weir(one_worker(up.address()).yaml());
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < kRequests / 2; ++i) {
        RawClient c(weir.port());
        ASSERT_EQ(c.request("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status, 400) << i;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const auto metrics = admin_request(weir.admin_port(), "GET", "/metrics").body;
    EXPECT_EQ(metric_value(metrics, "weir_requests_total", {{"route", "none"}, {"pool", "none"}, {"code", "400"}}),
              kRequests / 2);
    std::string log;
    EXPECT_TRUE(wait_for(
        [&] {
            log = weir.log();
            return log.find("suppressed") != std::string::npos;
        },
        10s, 100ms))
        << log.substr(0, 4000);
    // The 400 lines are the ones that name the client.
    const std::size_t written = count_of(log, "INFO proxy: client ");
    EXPECT_LE(written, static_cast<std::size_t>(kBurst + kPerSecond * (elapsed + 1)))
        << written << " lines in " << elapsed << " s";
    EXPECT_GE(written, static_cast<std::size_t>(kBurst));
}

}  // namespace
}  // namespace weir_it
