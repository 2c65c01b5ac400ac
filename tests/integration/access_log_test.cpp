// The access log: one JSON line per request, written in batches by the
// workers, reopened by a reload (log rotation).
#include "harness.hpp"

#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <map>
#include <sstream>

namespace weir_it {
namespace {

namespace json = boost::json;

struct AccessLogProxy {
    FakeUpstream up{"stable"};
    std::unique_ptr<WeirProcess> weir;
    std::string log_path;

    AccessLogProxy() {
        ConfigSpec c = ConfigSpec::single(up.address());
        c.routes[0].path_prefix = "/app";
        weir = std::make_unique<WeirProcess>("access_log: {path: access.log}\n" + c.yaml());
        log_path = weir->dir() + "/access.log";
    }
    bool wait_lines(std::size_t n, Millis timeout = 10s) {
        return wait_for([&] { return lines_of(log_path).size() >= n; }, timeout);
    }
};

TEST(AccessLog, OneValidJsonLinePerRequestWithItsOutcome) {
    AccessLogProxy p;
    for (int i = 0; i < 20; ++i) ASSERT_EQ(fetch(p.weir->port(), "/app/item?n=" + std::to_string(i)).status, 200);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(fetch(p.weir->port(), "/elsewhere").status, 404);
    {
        RawClient c(p.weir->port());
        ASSERT_EQ(c.request("GET /app HTTP/1.1\r\n\r\n").status, 400);  // no Host on HTTP/1.1
    }
    ASSERT_TRUE(p.wait_lines(26)) << "lines: " << lines_of(p.log_path).size();
    const auto lines = lines_of(p.log_path);
    EXPECT_EQ(lines.size(), 26u) << "one line per request, no more";

    std::map<int, int> by_status;
    int with_query = 0;
    for (const auto& line : lines) {
        boost::system::error_code ec;
        json::value v = json::parse(line, ec);
        ASSERT_FALSE(ec) << "not JSON: " << line;
        const auto& o = v.as_object();
        ASSERT_TRUE(o.contains("time") && o.contains("client") && o.contains("status") && o.contains("duration_ms"))
            << line;
        EXPECT_EQ(o.at("client").as_string(), "127.0.0.1") << line;
        EXPECT_GE(o.at("duration_ms").to_number<double>(), 0.0) << line;
        const std::string time(o.at("time").as_string());
        EXPECT_EQ(time.size(), 24u) << "2026-11-27T22:35:31.187Z form: " << line;
        EXPECT_EQ(time.back(), 'Z') << line;
        const int status = static_cast<int>(o.at("status").to_number<std::int64_t>());
        ++by_status[status];
        if (status == 200) {
            EXPECT_EQ(o.at("route").as_string(), "web") << line;
            EXPECT_EQ(o.at("pool").as_string(), "stable") << line;
            EXPECT_EQ(o.at("endpoint").as_string(), p.up.address()) << line;
            EXPECT_EQ(o.at("method").as_string(), "GET") << line;
            if (std::string(o.at("path").as_string()).find("/app/item?n=") == 0) ++with_query;
        } else if (status == 404) {
            EXPECT_EQ(o.at("route").as_string(), "none") << line;
            EXPECT_EQ(o.at("path").as_string(), "/elsewhere") << line;
        } else if (status == 400) {
            EXPECT_FALSE(o.contains("path")) << "a head that never parsed has no path: " << line;
        }
    }
    EXPECT_EQ(by_status[200], 20);
    EXPECT_EQ(by_status[404], 5);
    EXPECT_EQ(by_status[400], 1);
    EXPECT_EQ(with_query, 20) << "the path keeps its query";
}

TEST(AccessLog, AReloadAfterRotationWritesToTheNewFile) {
    AccessLogProxy p;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(fetch(p.weir->port(), "/app/before").status, 200);
    ASSERT_TRUE(p.wait_lines(3));
    const std::string rotated = p.log_path + ".1";
    ASSERT_EQ(std::rename(p.log_path.c_str(), rotated.c_str()), 0);
    p.weir->signal(SIGHUP);
    ASSERT_TRUE(p.weir->wait_log("SIGHUP: reloaded", 10s)) << p.weir->log();
    for (int i = 0; i < 4; ++i) ASSERT_EQ(fetch(p.weir->port(), "/app/after").status, 200);
    ASSERT_TRUE(p.wait_lines(4)) << p.weir->log();
    const auto fresh = lines_of(p.log_path);
    const auto old = lines_of(rotated);
    EXPECT_EQ(fresh.size(), 4u);
    EXPECT_EQ(old.size(), 3u);
    for (const auto& l : fresh) EXPECT_NE(l.find("/app/after"), std::string::npos) << l;
    for (const auto& l : old) EXPECT_NE(l.find("/app/before"), std::string::npos) << l;
}

TEST(AccessLog, AnUnwritablePathIsAConfigErrorAtStart) {
    FakeUpstream up;
    ConfigSpec c = ConfigSpec::single(up.address());
    TempDir dir;
    const std::string path = dir.path + "/weir.yaml";
    write_file(path, "access_log: {path: /nonexistent-dir/access.log}\n" + c.yaml());
    auto r = run_weir({"run", "-c", path}, 10s);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("access_log: cannot open /nonexistent-dir/access.log"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace weir_it
