// health_check.type (http | grpc) and health_check.service: defaults, what
// each rule refuses at FILE:LINE:COL, and GET /config showing (and reading
// back) them.
#include "config/config.hpp"
#include "config/to_json.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace weir::config {
namespace {

using namespace config_test;

// The pool's protocol line is line 5, its health_check line 6:
//   1 listeners: [...]
//   2 pools:
//   3   - name: p
//   4     endpoints: [{address: 127.0.0.1:9001}]
//   5     protocol: h2
//   6     health_check: <check>
const std::string check_prefix = "    health_check: ";

LoadResult load_check(const std::string& protocol, const std::string& check) {
    return load_config_text("listeners: [{name: public, address: 127.0.0.1:8080}]\n"
                            "pools:\n"
                            "  - name: p\n"
                            "    endpoints: [{address: 127.0.0.1:9001}]\n"
                            "    protocol: " +
                                protocol + "\n" + check_prefix + check + "\n" + "routes: [{name: r, split: {p: 1}}]\n",
                            "test.yaml");
}

// The column of `needle` on the health_check line.
int col(const std::string& check, const std::string& needle) {
    return static_cast<int>(check_prefix.size() + check.find(needle)) + 1;
}

const health::CheckSpec& check_of(const LoadResult& r) { return ok(r).pools.at(0).health_check.value(); }

TEST(ConfigHealthType, DefaultIsHttpWithNoService) {
    for (const std::string protocol : {"http1", "h2"}) {
        SCOPED_TRACE(protocol);
        const auto r = load_check(protocol, "{}");
        EXPECT_EQ(check_of(r).type, health::CheckType::http);
        EXPECT_EQ(check_of(r).service, "");
        EXPECT_EQ(check_of(r).path, "/healthz");
    }
}

TEST(ConfigHealthType, HttpOnEitherProtocol) {
    EXPECT_EQ(check_of(load_check("http1", "{type: http, path: /ready}")).path, "/ready");
    const auto r = load_check("h2", "{type: http, path: /ready, expect_status: [200, 204]}");
    EXPECT_EQ(check_of(r).type, health::CheckType::http);
    EXPECT_EQ(check_of(r).expect_max, 204);
}

TEST(ConfigHealthType, GrpcOnAnH2PoolWithAndWithoutAService) {
    const auto whole = load_check("h2", "{type: grpc, interval: 1s}");
    EXPECT_EQ(check_of(whole).type, health::CheckType::grpc);
    EXPECT_EQ(check_of(whole).service, "");
    const auto named = load_check("h2", "{type: grpc, service: my.pkg.Greeter}");
    EXPECT_EQ(check_of(named).type, health::CheckType::grpc);
    EXPECT_EQ(check_of(named).service, "my.pkg.Greeter");
}

TEST(ConfigHealthTypeErrors, GrpcNeedsAnH2Pool) {
    const std::string check = "{type: grpc}";
    EXPECT_TRUE(only_error(load_check("http1", check), 6, col(check, "grpc"),
                           "pools[0].health_check.type: type grpc needs the pool's protocol: h2"));
}

TEST(ConfigHealthTypeErrors, UnknownType) {
    for (const std::string bad : {"tcp", "GRPC", "\"\"", "h2"}) {
        SCOPED_TRACE(bad);
        const std::string check = "{type: " + bad + "}";
        EXPECT_TRUE(only_error(load_check("h2", check), 6, col(check, bad),
                               "pools[0].health_check.type: must be 'http' or 'grpc'"));
    }
    const std::string check = "{type: [grpc]}";
    EXPECT_FALSE(load_check("h2", check).errors.empty());
}

TEST(ConfigHealthTypeErrors, ServiceOnlyWithGrpc) {
    for (const std::string check : {"{service: svc}", "{type: http, service: svc}"}) {
        SCOPED_TRACE(check);
        EXPECT_TRUE(only_error(load_check("h2", check), 6, col(check, "svc"),
                               "pools[0].health_check.service: only with type: grpc"));
    }
    const std::string check = "{service: svc}";
    EXPECT_TRUE(only_error(load_check("http1", check), 6, col(check, "svc"), "only with type: grpc"));
}

TEST(ConfigHealthTypeErrors, PathAndExpectStatusMeanNothingWithGrpc) {
    std::string check = "{type: grpc, path: /healthz}";
    EXPECT_TRUE(only_error(load_check("h2", check), 6, col(check, "/healthz"),
                           "pools[0].health_check.path: means nothing with type: grpc"));
    check = "{type: grpc, expect_status: [200, 299]}";
    EXPECT_TRUE(only_error(load_check("h2", check), 6, col(check, "[200"),
                           "pools[0].health_check.expect_status: means nothing with type: grpc"));
    // Both, and on an http1 pool the protocol too: every problem is reported.
    check = "{type: grpc, path: /h, expect_status: [200, 299]}";
    const auto r = load_check("http1", check);
    EXPECT_EQ(r.errors.size(), 3u) << dump(r.errors);
    EXPECT_TRUE(has_error(r, 6, col(check, "grpc"), "needs the pool's protocol: h2"));
    EXPECT_TRUE(has_error(r, 6, col(check, "/h"), "means nothing with type: grpc"));
    EXPECT_TRUE(has_error(r, 6, col(check, "[200"), "means nothing with type: grpc"));
}

TEST(ConfigHealthType, ShownByGetConfigAndReadBack) {
    const auto r = load_check("h2", "{type: grpc, service: my.pkg.Greeter, interval: 1s, timeout: 500ms}");
    auto shown = boost::json::parse(to_json(ok(r), 1)).as_object();
    const auto& hc = shown.at("pools").as_array().at(0).as_object().at("health_check").as_object();
    EXPECT_EQ(hc.at("type").as_string(), "grpc");
    EXPECT_EQ(hc.at("service").as_string(), "my.pkg.Greeter");
    // A gRPC check has no path or status range: showing them would not read back.
    EXPECT_FALSE(hc.contains("path")) << boost::json::serialize(hc);
    EXPECT_FALSE(hc.contains("expect_status")) << boost::json::serialize(hc);
    EXPECT_EQ(hc.at("interval").as_string(), "1s");
    shown.erase("version");
    shown.erase("source");
    const auto again = load_config_text(boost::json::serialize(shown), "<config>");
    EXPECT_EQ(check_of(again), check_of(r));

    const auto http = load_check("h2", "{path: /ready}");
    auto shown_http = boost::json::parse(to_json(ok(http), 1)).as_object();
    const auto& hh = shown_http.at("pools").as_array().at(0).as_object().at("health_check").as_object();
    EXPECT_EQ(hh.at("type").as_string(), "http");
    EXPECT_EQ(hh.at("path").as_string(), "/ready");
    EXPECT_FALSE(hh.contains("service"));
    EXPECT_EQ(boost::json::serialize(hh.at("expect_status")), "[200,399]");
}

}  // namespace
}  // namespace weir::config
