#include "config/config.hpp"
#include "test_support.hpp"
#include "config/to_json.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace weir::config {
namespace {

using namespace std::chrono_literals;

using namespace config_test;

// Raw literals start with a newline for readability; line 1 is the line after it.
LoadResult load(const std::string& yaml) { return load_config_text(without_leading_newline(yaml), "test.yaml"); }

// ---------------------------------------------------------------- HostPort

TEST(HostPortTest, ParsesIpv4NameAndBracketedIpv6) {
    auto a = parse_host_port("127.0.0.1:8080");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 8080);
    EXPECT_EQ(a->text(), "127.0.0.1:8080");

    auto b = parse_host_port("backend.internal:65535");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "backend.internal");
    EXPECT_EQ(b->port, 65535);

    auto c = parse_host_port("[::1]:9901");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->host, "::1");
    EXPECT_EQ(c->port, 9901);
    EXPECT_EQ(c->text(), "[::1]:9901");
}

TEST(HostPortTest, PortZeroParsesForTheCallerToJudge) {
    auto a = parse_host_port("127.0.0.1:0");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->port, 0);
}

TEST(HostPortTest, RejectsMalformed) {
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":8080", "host:65536", "host:99999999", "host:80a",
                            "host:-1", "::1:80", "[::1]", "[::1]80", "[nonsense]:80", "[]:80", "ho st:80",
                            "host:+80"}) {
        EXPECT_FALSE(parse_host_port(bad)) << bad;
    }
}

// ---------------------------------------------------------------- Duration

TEST(DurationTest, ParsesEveryUnit) {
    EXPECT_EQ(parse_duration("250ms"), Duration{250});
    EXPECT_EQ(parse_duration("2s"), Duration{2'000});
    EXPECT_EQ(parse_duration("1m"), Duration{60'000});
    EXPECT_EQ(parse_duration("1h"), Duration{3'600'000});
    EXPECT_EQ(parse_duration("0s"), Duration{0});
}

TEST(DurationTest, ParsesCompoundsAndWholeMillisecondDecimals) {
    EXPECT_EQ(parse_duration("1m30s"), Duration{90'000});
    EXPECT_EQ(parse_duration("1h1m1s1ms"), Duration{3'661'001});
    EXPECT_EQ(parse_duration("1.5s"), Duration{1'500});
    EXPECT_EQ(parse_duration("0.25s"), Duration{250});
}

// Past ten years a deadline on a nanosecond clock would overflow.
TEST(DurationTest, RejectsMoreThanTenYears) {
    EXPECT_EQ(parse_duration("87600h"), Duration(87600LL * 3'600'000));
    EXPECT_FALSE(parse_duration("87601h"));
    EXPECT_FALSE(parse_duration("99999999999h"));
}

TEST(DurationTest, RejectsBareNumbersUnknownUnitsAndNegatives) {
    for (const char* bad : {"", "30", "1.5", "5x", "5sec", "2S", "-1s", "s", "1.s", "0.5ms", "1 s", " 1s",
                            "1s ", "1e3ms", "99999999999999h"}) {
        EXPECT_FALSE(parse_duration(bad)) << bad;
    }
}

TEST(DurationTest, FormatsWithTheLargestExactUnit) {
    EXPECT_EQ(format_duration(Duration{250}), "250ms");
    EXPECT_EQ(format_duration(Duration{1'500}), "1500ms");
    EXPECT_EQ(format_duration(Duration{2'000}), "2s");
    EXPECT_EQ(format_duration(Duration{90'000}), "90s");
    EXPECT_EQ(format_duration(Duration{60'000}), "1m");
    EXPECT_EQ(format_duration(Duration{7'200'000}), "2h");
    EXPECT_EQ(format_duration(Duration{0}), "0ms");
    for (auto d : {Duration{1}, Duration{999}, Duration{61'000}, Duration{3'660'000}}) {
        EXPECT_EQ(parse_duration(format_duration(d)), d);
    }
}

// ---------------------------------------------------------------- valid configs

constexpr const char* kFull = R"(
workers: 4
drain_timeout: 45s
listeners:
  - name: public
    address: 127.0.0.1:8080
  - name: v6
    address: "[::1]:8443"
admin:
  address: 127.0.0.1:9902
limits:
  max_header_bytes: 16384
  max_body_bytes: 1048576
  header_timeout: 5s
  idle_timeout: 2m
  max_connections: 500
pools:
  - name: stable
    endpoints:
      - {address: 127.0.0.1:9001, weight: 3}
      - {address: "backend.local:9003", weight: 0.5}
    upstream:
      connect_timeout: 250ms
      response_timeout: 20s
      tls: false
      max_idle_per_endpoint: 8
  - name: canary
    endpoints: [{address: 127.0.0.1:9002}]
routes:
  - name: api
    match: {host: "*.Example.com", path_prefix: /api/}
    split: {canary: 1, stable: 99}
  - name: web
    match: {host: www.example.com}
    split: {stable: 90, canary: 10}
)";

TEST(ConfigLoad, FullConfigParsesToExpectedValues) {
    const auto r = load(kFull);
    const Config& c = ok(r);
    EXPECT_EQ(c.source_path, "test.yaml");
    EXPECT_EQ(c.workers, 4u);
    EXPECT_EQ(c.drain_timeout, 45s);

    ASSERT_EQ(c.listeners.size(), 2u);
    EXPECT_EQ(c.listeners[0].name, "public");
    EXPECT_EQ(c.listeners[0].address.text(), "127.0.0.1:8080");
    EXPECT_EQ(c.listeners[1].name, "v6");
    EXPECT_EQ(c.listeners[1].address.host, "::1");
    EXPECT_EQ(c.listeners[1].address.port, 8443);

    EXPECT_EQ(c.admin.address.text(), "127.0.0.1:9902");

    EXPECT_EQ(c.limits.max_header_bytes, 16384u);
    EXPECT_EQ(c.limits.max_body_bytes, 1048576u);
    EXPECT_EQ(c.limits.header_timeout, 5s);
    EXPECT_EQ(c.limits.idle_timeout, 2min);
    EXPECT_EQ(c.limits.max_connections, 500u);

    ASSERT_EQ(c.pools.size(), 2u);
    const auto& stable = c.pools[0];
    EXPECT_EQ(stable.name, "stable");
    ASSERT_EQ(stable.endpoints.size(), 2u);
    EXPECT_EQ(stable.endpoints[0].address.text(), "127.0.0.1:9001");
    EXPECT_DOUBLE_EQ(stable.endpoints[0].weight, 3.0);
    EXPECT_EQ(stable.endpoints[1].address.host, "backend.local");
    EXPECT_DOUBLE_EQ(stable.endpoints[1].weight, 0.5);
    EXPECT_EQ(stable.upstream.connect_timeout, 250ms);
    EXPECT_EQ(stable.upstream.response_timeout, 20s);
    EXPECT_FALSE(stable.upstream.tls);
    EXPECT_EQ(stable.upstream.max_idle_per_endpoint, 8u);
    const auto& canary = c.pools[1];
    ASSERT_EQ(canary.endpoints.size(), 1u);
    EXPECT_DOUBLE_EQ(canary.endpoints[0].weight, 1.0);  // default
    EXPECT_EQ(canary.upstream.connect_timeout, 1s);     // defaults
    EXPECT_EQ(canary.upstream.max_idle_per_endpoint, 64u);

    ASSERT_EQ(c.routes.size(), 2u);
    EXPECT_EQ(c.routes[0].name, "api");
    EXPECT_EQ(c.routes[0].match.host, "*.example.com");  // lowered
    EXPECT_EQ(c.routes[0].match.path_prefix, "/api/");
    ASSERT_EQ(c.routes[0].split.size(), 2u);
    EXPECT_EQ(c.routes[0].split[0].first, "canary");  // file order, not sorted
    EXPECT_DOUBLE_EQ(c.routes[0].split[0].second, 1.0);
    EXPECT_EQ(c.routes[0].split[1].first, "stable");
    EXPECT_DOUBLE_EQ(c.routes[0].split[1].second, 99.0);
    EXPECT_EQ(c.routes[1].match.host, "www.example.com");
    EXPECT_EQ(c.routes[1].match.path_prefix, "/");  // default
}

constexpr const char* kMinimal = R"(
listeners:
  - {name: public, address: 127.0.0.1:0}
pools:
  - name: p
    endpoints: [{address: 127.0.0.1:9001}]
routes:
  - {name: r, split: {p: 1}}
)";

TEST(ConfigLoad, DefaultsMatchTheSpec) {
    const auto r = load(kMinimal);
    const Config& c = ok(r);
    EXPECT_EQ(c.workers, 0u);
    EXPECT_EQ(c.drain_timeout, 30s);
    EXPECT_EQ(c.admin.address.text(), "127.0.0.1:9901");
    EXPECT_EQ(c.limits.max_header_bytes, 65536u);
    EXPECT_EQ(c.limits.max_body_bytes, 0u);
    EXPECT_EQ(c.limits.header_timeout, 10s);
    EXPECT_EQ(c.limits.idle_timeout, 60s);
    EXPECT_EQ(c.limits.max_connections, 10000u);
    EXPECT_EQ(c.pools[0].upstream.connect_timeout, 1s);
    EXPECT_EQ(c.pools[0].upstream.response_timeout, 15s);
    EXPECT_FALSE(c.pools[0].upstream.tls);
    EXPECT_EQ(c.pools[0].upstream.max_idle_per_endpoint, 64u);
    EXPECT_EQ(c.routes[0].match.host, "*");
    EXPECT_EQ(c.routes[0].match.path_prefix, "/");
    EXPECT_EQ(c.listeners[0].address.port, 0);  // "pick a free port"
}

TEST(ConfigLoad, EmptyOptionalSectionsMeanDefaults) {
    const auto r = load(R"(
admin:
limits:
listeners:
  - {name: public, address: 127.0.0.1:0}
pools:
  - name: p
    endpoints: [{address: 127.0.0.1:9001}]
    upstream:
routes:
  - {name: r, match: , split: {p: 1}}
)");
    const Config& c = ok(r);
    EXPECT_EQ(c.admin.address.text(), "127.0.0.1:9901");
    EXPECT_EQ(c.limits.max_connections, 10000u);
}

TEST(ConfigLoad, ErrorTextIsFileLineColMessage) {
    ConfigError e{"weir.yaml", 3, 7, "boom"};
    EXPECT_EQ(e.text(), "weir.yaml:3:7: boom");
    ConfigError whole{"weir.yaml", 0, 0, "cannot read file"};
    EXPECT_EQ(whole.text(), "weir.yaml: cannot read file");
}

TEST(ConfigLoad, MissingFileIsOneErrorForTheWholeFile) {
    const auto r = load_config_file("/nonexistent/weir.yaml");
    EXPECT_FALSE(r.config);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].file, "/nonexistent/weir.yaml");
    EXPECT_EQ(r.errors[0].line, 0);
    EXPECT_NE(r.errors[0].message.find("cannot read"), std::string::npos);
}

TEST(ConfigLoad, EveryExampleInConfLoads) {
    const std::filesystem::path dir = std::filesystem::path(WEIR_SOURCE_DIR) / "conf";
    int seen = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".yaml" && entry.path().extension() != ".yml") continue;
        ++seen;
        const auto r = load_config_file(entry.path().string());
        EXPECT_TRUE(r.config) << entry.path() << ":\n" << dump(r.errors);
    }
    EXPECT_GE(seen, 4);
}

TEST(ConfigLoad, DemoExampleIsTheDemo) {
    const auto r = load_config_file(std::string(WEIR_SOURCE_DIR) + "/conf/demo.yaml");
    const Config& c = ok(r);
    EXPECT_EQ(c.listeners.at(0).address.text(), "127.0.0.1:8080");
    EXPECT_EQ(c.admin.address.text(), "127.0.0.1:9901");
    EXPECT_EQ(c.pools.at(0).endpoints.at(0).address.text(), "127.0.0.1:9001");
    EXPECT_EQ(c.pools.at(1).endpoints.at(0).address.text(), "127.0.0.1:9002");
    ASSERT_EQ(c.routes.at(0).split.size(), 2u);
    EXPECT_EQ(c.routes[0].split[0], (std::pair<std::string, double>{"stable", 90}));
    EXPECT_EQ(c.routes[0].split[1], (std::pair<std::string, double>{"canary", 10}));
}

// ---------------------------------------------------------------- YAML-level errors

TEST(ConfigErrors, YamlSyntaxErrorIsOneLocatedError) {
    const auto r = load(R"(
listeners:
  - {name: public, address: 127.0.0.1:8080
pools: []
)");
    EXPECT_FALSE(r.config);
    ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
    // yaml-cpp notices the unclosed flow mapping at the next ':'.
    EXPECT_EQ(r.errors[0].line, 3);
    EXPECT_EQ(r.errors[0].col, 6);
    EXPECT_EQ(r.errors[0].text(), "test.yaml:3:6: YAML syntax error: end of map flow not found");
}

TEST(ConfigErrors, BadIndentationIsASyntaxError) {
    const auto r = load(R"(
listeners:
  - name: public
   address: 127.0.0.1:8080
)");
    ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
    EXPECT_TRUE(has_error(r, 3, 4, "YAML syntax error"));
}

TEST(ConfigErrors, EmptyFileIsAnError) {
    const auto r = load("# nothing here\n");
    EXPECT_FALSE(r.config);
    EXPECT_TRUE(has_error(r, 1, 1, "empty"));
}

TEST(ConfigErrors, TopLevelMustBeAMapping) {
    const auto r = load("- a\n- b\n");
    EXPECT_TRUE(has_error(r, 1, 1, "expected a mapping, got a sequence"));
}

TEST(ConfigErrors, MoreThanOneDocumentIsAnError) {
    const auto r = load(std::string(kMinimal) + "---\nworkers: 2\n");
    EXPECT_TRUE(has_error(r, 9, 1, "one YAML document"));
}

TEST(ConfigErrors, DuplicateKeyIsAnError) {
    const auto r = load(R"(
workers: 2
workers: 3
listeners:
  - {name: public, address: 127.0.0.1:0}
pools:
  - name: p
    endpoints: [{address: 127.0.0.1:9001}]
routes:
  - {name: r, split: {p: 1}}
)");
    EXPECT_TRUE(has_error(r, 2, 1, "duplicate key 'workers' at top level (first at line 1)"));
}

// ---------------------------------------------------------------- unknown and unsupported keys

TEST(ConfigErrors, UnknownKeysAreErrorsAtTheKey) {
    const auto r = load(R"(
listeners:
  - {name: public, address: 127.0.0.1:0, backlog: 10}
pools:
  - name: p
    endpoint: [{address: 127.0.0.1:9001}]
    endpoints: [{address: 127.0.0.1:9001, wieght: 2}]
    upstream: {keepalive: 5}
routes:
  - {name: r, split: {p: 1}, match: {path: /}}
frobnicate: true
)");
    EXPECT_FALSE(r.config);
    EXPECT_TRUE(has_error(r, 2, 42, "unknown key 'backlog' in listeners[0]"));
    EXPECT_TRUE(has_error(r, 5, 5, "unknown key 'endpoint' in pools[0] (did you mean 'endpoints'?)"));
    EXPECT_TRUE(has_error(r, 6, 43, "unknown key 'wieght' in pools[0].endpoints[0] (did you mean 'weight'?)"));
    EXPECT_TRUE(has_error(r, 7, 16, "unknown key 'keepalive' in pools[0].upstream"));
    EXPECT_TRUE(has_error(r, 9, 38, "unknown key 'path' in routes[0].match"));
    EXPECT_TRUE(has_error(r, 10, 1, "unknown key 'frobnicate' at top level"));
    EXPECT_EQ(r.errors.size(), 6u) << dump(r.errors);
}

TEST(ConfigErrors, UpstreamTlsFalseIsAccepted) {
    const auto r = load(R"(
listeners: [{name: public, address: 127.0.0.1:0}]
pools:
  - name: p
    endpoints: [{address: 127.0.0.1:9001}]
    upstream: {tls: false}
routes: [{name: r, split: {p: 1}}]
)");
    EXPECT_FALSE(ok(r).pools[0].upstream.tls);
}

// ---------------------------------------------------------------- types

TEST(ConfigErrors, WrongTypesAreReportedAtTheValue) {
    const auto r = load(R"(
workers: two
drain_timeout: [1s]
listeners: {name: public}
admin: 127.0.0.1:9901
limits:
  max_header_bytes: "65536"
  max_connections: 1.5
pools:
  - name: [p]
    endpoints:
      - address: {host: x}
        weight: heavy
    upstream:
      tls: yes
routes:
  - just-a-string
)");
    EXPECT_FALSE(r.config);
    EXPECT_TRUE(has_error(r, 1, 10, "workers: expected an integer from 1 to 256, got 'two'"));
    EXPECT_TRUE(has_error(r, 2, 16, "drain_timeout: expected a duration"));
    EXPECT_TRUE(has_error(r, 3, 12, "listeners: expected a sequence, got a mapping"));
    EXPECT_TRUE(has_error(r, 4, 8, "admin: expected a mapping, got a scalar"));
    EXPECT_TRUE(has_error(r, 6, 21,
                          "limits.max_header_bytes: expected an integer from 1024 to 1048576, got a quoted "
                          "string '65536'"));
    EXPECT_TRUE(has_error(r, 7, 20, "limits.max_connections: expected an integer"));
    EXPECT_TRUE(has_error(r, 9, 11, "pools[0].name: expected a string, got a sequence"));
    EXPECT_TRUE(has_error(r, 11, 18, "pools[0].endpoints[0].address: expected an address"));
    EXPECT_TRUE(has_error(r, 12, 17, "pools[0].endpoints[0].weight: expected a number"));
    EXPECT_TRUE(has_error(r, 14, 12, "pools[0].upstream.tls: expected true or false, got a scalar 'yes'"));
    EXPECT_TRUE(has_error(r, 16, 5, "routes[0]: expected a mapping, got a scalar"));
    EXPECT_EQ(r.errors.size(), 11u) << dump(r.errors);
}

TEST(ConfigErrors, EmptyValueIsReportedAtItsKey) {
    const auto r = load(R"(
workers:
listeners:
  - name: public
    address:
pools:
  - name: p
    endpoints: [{address: 127.0.0.1:9001}]
routes: [{name: r, split: {p: 1}}]
)");
    EXPECT_TRUE(has_error(r, 1, 1, "workers: expected an integer from 1 to 256, got nothing"));
    EXPECT_TRUE(has_error(r, 4, 5, "listeners[0].address: expected an address"));
    EXPECT_EQ(r.errors.size(), 2u) << dump(r.errors);
}

// ---------------------------------------------------------------- values

TEST(ConfigErrors, WorkersOutOfRange) {
    for (const char* w : {"0", "257", "-1"}) {
        const auto r = load(std::string("workers: ") + w + "\n" + (kMinimal + 1));
        EXPECT_TRUE(has_error(r, 1, 10, "workers: expected an integer from 1 to 256")) << w;
    }
    const auto r = load(std::string("workers: 256\n") + (kMinimal + 1));
    EXPECT_EQ(ok(r).workers, 256u);
}

TEST(ConfigErrors, DurationsNeedAUnitAndTimeoutsMustBePositive) {
    const auto r = load(R"(
drain_timeout: 30
limits:
  header_timeout: 0s
  idle_timeout: 5 minutes
listeners: [{name: public, address: 127.0.0.1:0}]
pools:
  - name: p
    endpoints: [{address: 127.0.0.1:9001}]
    upstream: {connect_timeout: 1x, response_timeout: -2s}
routes: [{name: r, split: {p: 1}}]
)");
    EXPECT_TRUE(has_error(r, 1, 16, "drain_timeout: duration '30' has no unit"));
    EXPECT_TRUE(has_error(r, 3, 19, "limits.header_timeout: a timeout must be greater than zero"));
    EXPECT_TRUE(has_error(r, 4, 17, "limits.idle_timeout: duration '5 minutes' has unknown unit"));
    EXPECT_TRUE(has_error(r, 9, 33, "pools[0].upstream.connect_timeout: duration '1x' has unknown unit 'x'"));
    EXPECT_TRUE(has_error(r, 9, 55, "pools[0].upstream.response_timeout: invalid duration '-2s'"));
    EXPECT_EQ(r.errors.size(), 5u) << dump(r.errors);
}

TEST(ConfigErrors, AddressesAreChecked) {
    const auto r = load(R"(
listeners:
  - {name: a, address: "localhost"}
  - {name: b, address: "127.0.0.1:70000"}
  - {name: c, address: ":8080"}
  - {name: d, address: "::1:8080"}
admin: {address: "127.0.0.1:x"}
pools:
  - name: p
    endpoints:
      - {address: 127.0.0.1:0}
      - {address: 127.0.0.1:9001}
routes: [{name: r, split: {p: 1}}]
)");
    EXPECT_TRUE(has_error(r, 2, 24, "listeners[0].address: address 'localhost' has no port"));
    EXPECT_TRUE(has_error(r, 3, 24, "listeners[1].address: address '127.0.0.1:70000': port must be at most 65535"));
    EXPECT_TRUE(has_error(r, 4, 24, "listeners[2].address: address ':8080' has an empty host"));
    EXPECT_TRUE(has_error(r, 5, 24, "IPv6 addresses need brackets"));
    EXPECT_TRUE(has_error(r, 6, 18, "admin.address: address '127.0.0.1:x' has an invalid port"));
    EXPECT_TRUE(has_error(r, 10, 19, "pools[0].endpoints[0].address: port must be from 1 to 65535, got 0"));
    EXPECT_EQ(r.errors.size(), 6u) << dump(r.errors);
}

TEST(ConfigErrors, AdminOffLoopbackIsRefusedWithoutTokens) {
    const auto r = load(std::string("admin: {address: 0.0.0.0:9901}\n") + (kMinimal + 1));
    EXPECT_TRUE(has_error(r, 1, 18, "not a loopback address"));
    for (const char* loopback : {"127.0.0.1:9901", "127.1.2.3:0", "localhost:9901", "\"[::1]:9901\""}) {
        const auto good = load(std::string("admin: {address: ") + loopback + "}\n" + (kMinimal + 1));
        EXPECT_TRUE(good.config) << loopback << "\n" << dump(good.errors);
    }
}

TEST(ConfigErrors, ListenersNeedUniqueNamesAndAddresses) {
    const auto r = load(R"(
listeners:
  - {name: public, address: 127.0.0.1:8080}
  - {name: public, address: 127.0.0.1:8081}
  - {name: other, address: 127.0.0.1:8080}
  - {name: "", address: 127.0.0.1:0}
  - {name: free, address: 127.0.0.1:0}
  - {address: 127.0.0.1:8082}
admin: {address: 127.0.0.1:8081}
pools: [{name: p, endpoints: [{address: 127.0.0.1:9001}]}]
routes: [{name: r, split: {p: 1}}]
)");
    EXPECT_TRUE(has_error(r, 3, 12, "duplicate listener name 'public' (first at line 2)"));
    EXPECT_TRUE(has_error(r, 4, 28, "address 127.0.0.1:8080 is already used (first at line 2)"));
    EXPECT_TRUE(has_error(r, 5, 12, "listeners[3].name: must not be empty"));
    EXPECT_TRUE(has_error(r, 7, 5, "missing required key 'name' in listeners[5]"));
    EXPECT_TRUE(has_error(r, 8, 18, "address 127.0.0.1:8081 is already used (first at line 3)"));
    EXPECT_EQ(r.errors.size(), 5u) << dump(r.errors);
}

TEST(ConfigErrors, NamesMustBeUrlAndLabelSafe) {
    const auto r = load(R"(
listeners: [{name: "pub lic", address: 127.0.0.1:0}]
pools: [{name: a/b, endpoints: [{address: 127.0.0.1:9001}]}]
routes: [{name: web-1.v2_x, split: {p: 1}}]
)");
    EXPECT_TRUE(has_error(r, 1, 20, "listeners[0].name: 'pub lic' may only contain letters, digits"));
    EXPECT_TRUE(has_error(r, 2, 16, "pools[0].name: 'a/b' may only contain"));
    EXPECT_TRUE(has_error(r, 3, 37, "unknown pool 'p'"));
    EXPECT_EQ(r.errors.size(), 3u) << dump(r.errors);
}

TEST(ConfigErrors, DefaultAdminAddressCollisionIsReported) {
    const auto r = load(R"(
listeners: [{name: public, address: 127.0.0.1:9901}]
pools: [{name: p, endpoints: [{address: 127.0.0.1:9001}]}]
routes: [{name: r, split: {p: 1}}]
)");
    EXPECT_TRUE(has_error(r, 1, 37, "is also the default admin address"));
}

TEST(ConfigErrors, RequiredSectionsMustBePresentAndNonEmpty) {
    const auto missing = load("workers: 2\n");
    EXPECT_TRUE(has_error(missing, 1, 1, "missing required key 'listeners' at top level"));
    EXPECT_TRUE(has_error(missing, 1, 1, "missing required key 'pools' at top level"));
    EXPECT_TRUE(has_error(missing, 1, 1, "missing required key 'routes' at top level"));
    EXPECT_EQ(missing.errors.size(), 3u) << dump(missing.errors);

    const auto empty = load(R"(
listeners: []
pools: []
routes: []
)");
    EXPECT_TRUE(has_error(empty, 1, 12, "listeners: at least one listener is required"));
    EXPECT_TRUE(has_error(empty, 2, 8, "pools: at least one pool is required"));
    EXPECT_TRUE(has_error(empty, 3, 9, "routes: at least one route is required"));
    EXPECT_EQ(empty.errors.size(), 3u) << dump(empty.errors);
}

TEST(ConfigErrors, LimitsAreRangeChecked) {
    const auto r = load(std::string(R"(
limits:
  max_header_bytes: 512
  max_connections: 0
  max_body_bytes: -1
)") + (kMinimal + 1));
    EXPECT_TRUE(has_error(r, 2, 21, "limits.max_header_bytes: expected an integer from 1024 to 1048576, got '512'"));
    EXPECT_TRUE(has_error(r, 3, 20, "limits.max_connections: expected an integer from 1 to"));
    EXPECT_TRUE(has_error(r, 4, 19, "limits.max_body_bytes: expected an integer from 0"));
    EXPECT_EQ(r.errors.size(), 3u) << dump(r.errors);

    const auto edge = load(std::string("limits: {max_header_bytes: 1048576}\n") + (kMinimal + 1));
    EXPECT_EQ(ok(edge).limits.max_header_bytes, 1048576u);
}

TEST(ConfigErrors, PoolsAreChecked) {
    const auto r = load(R"(
listeners: [{name: public, address: 127.0.0.1:0}]
pools:
  - name: a
    endpoints:
      - {address: 127.0.0.1:9001, weight: 1}
      - {address: 127.0.0.1:9001, weight: 2}
  - name: a
    endpoints: [{address: 127.0.0.1:9002}]
  - name: zero
    endpoints:
      - {address: 127.0.0.1:9003, weight: 0}
      - {address: 127.0.0.1:9004, weight: 0.0}
  - name: bad
    endpoints:
      - {address: 127.0.0.1:9005, weight: -1}
      - {address: 127.0.0.1:9006, weight: .inf}
      - {address: 127.0.0.1:9007, weight: nan}
  - name: none
    endpoints: []
  - name: missing
    upstream: {max_idle_per_endpoint: 100001}
routes: [{name: r, split: {a: 1}}]
)");
    EXPECT_TRUE(has_error(r, 6, 19, "duplicate endpoint 127.0.0.1:9001 in pool 'a' (first at line 5)"));
    EXPECT_TRUE(has_error(r, 7, 11, "duplicate pool name 'a' (first at line 3)"));
    EXPECT_TRUE(has_error(r, 11, 7, "pools[2].endpoints: at least one endpoint needs a weight above 0"));
    EXPECT_TRUE(has_error(r, 15, 43, "pools[3].endpoints[0].weight: expected a number from 0 to 1000000000, got '-1'"));
    EXPECT_TRUE(has_error(r, 16, 43, "got '.inf'"));
    EXPECT_TRUE(has_error(r, 17, 43, "got 'nan'"));
    EXPECT_TRUE(has_error(r, 19, 16, "pools[4].endpoints: at least one endpoint is required"));
    EXPECT_TRUE(has_error(r, 20, 5, "missing required key 'endpoints' in pools[5]"));
    EXPECT_TRUE(has_error(r, 21, 39, "pools[5].upstream.max_idle_per_endpoint: expected an integer from 0 to 100000"));
    EXPECT_EQ(r.errors.size(), 9u) << dump(r.errors);
}

TEST(ConfigErrors, RoutesAreChecked) {
    const auto r = load(R"(
listeners: [{name: public, address: 127.0.0.1:0}]
pools:
  - {name: stable, endpoints: [{address: 127.0.0.1:9001}]}
  - {name: canary, endpoints: [{address: 127.0.0.1:9002}]}
routes:
  - name: a
    match: {host: "*.", path_prefix: api}
    split: {stable: 90, canry: 10}
  - name: a
    match: {host: "example.com:8080"}
    split: {stable: 0, canary: 0}
  - name: c
    split: {}
  - name: d
    split: {stable: -5}
  - name: e
    match: {host: "bad host"}
  - name: f
    split: [stable]
)");
    EXPECT_TRUE(has_error(r, 7, 19, "routes[0].match.host: host '*.' needs a name after '*.'"));
    EXPECT_TRUE(has_error(r, 7, 38, "routes[0].match.path_prefix: must start with '/', got 'api'"));
    EXPECT_TRUE(has_error(r, 8, 25, "routes[0].split: unknown pool 'canry'"));
    EXPECT_TRUE(has_error(r, 9, 11, "duplicate route name 'a' (first at line 6)"));
    EXPECT_TRUE(has_error(r, 10, 19, "must not include a port"));
    EXPECT_TRUE(has_error(r, 11, 12, "routes[1].split: at least one pool needs a weight above 0"));
    EXPECT_TRUE(has_error(r, 13, 12, "routes[2].split: at least one pool is required"));
    EXPECT_TRUE(has_error(r, 15, 21, "routes[3].split.stable: expected a number from 0"));
    EXPECT_TRUE(has_error(r, 17, 19, "is not \"*\", \"*.suffix\" or a host name"));
    EXPECT_TRUE(has_error(r, 16, 5, "missing required key 'split' in routes[4]"));
    EXPECT_TRUE(has_error(r, 19, 12, "routes[5].split: expected a mapping, got a sequence"));
    EXPECT_EQ(r.errors.size(), 11u) << dump(r.errors);
}

TEST(ConfigErrors, SplitDoesNotBlameRoutesWhenPoolsAreUnreadable) {
    const auto r = load(R"(
listeners: [{name: public, address: 127.0.0.1:0}]
pools: nope
routes: [{name: r, split: {p: 1}}]
)");
    EXPECT_TRUE(has_error(r, 2, 8, "pools: expected a sequence"));
    EXPECT_EQ(r.errors.size(), 1u) << dump(r.errors);
}

TEST(ConfigErrors, CollectsAllErrorsOfAFileInOrder) {
    const auto r = load(R"(
workers: 1000
listeners:
  - {name: public, address: nowhere}
pools:
  - name: p
    endpoints: [{address: 127.0.0.1:9001, weight: -3}]
    health_check: {path: healthz}
routes:
  - {name: r, split: {q: 1}, sticky: {header: x, assign: true}}
)");
    EXPECT_FALSE(r.config);
    std::vector<std::string> texts;
    for (const auto& e : r.errors) texts.push_back(e.text());
    const std::vector<std::string> expected = {
        "test.yaml:1:10: workers: expected an integer from 1 to 256, got '1000'",
        "test.yaml:3:29: listeners[0].address: address 'nowhere' has no port (expected host:port or [v6]:port)",
        "test.yaml:6:51: pools[0].endpoints[0].weight: expected a number from 0 to 1000000000, got '-3'",
        "test.yaml:7:26: pools[0].health_check.path: must start with '/' and contain no spaces or controls",
        "test.yaml:9:23: routes[0].split: unknown pool 'q'",
        "test.yaml:9:58: routes[0].sticky.assign: only a cookie can be assigned (use sticky: {cookie: NAME, assign: true})",
    };
    EXPECT_EQ(texts, expected);
}

// ---------------------------------------------------------------- JSON

TEST(ConfigJson, RoundTripsTheEffectiveConfig) {
    const auto r = load(kFull);
    const Config& c = ok(r);
    const auto v = boost::json::parse(to_json(c, 42));
    const auto& o = v.as_object();
    EXPECT_EQ(o.at("version").to_number<std::uint64_t>(), 42u);
    EXPECT_EQ(o.at("workers").to_number<int>(), 4);
    EXPECT_EQ(o.at("drain_timeout").as_string(), "45s");

    const auto& listeners = o.at("listeners").as_array();
    ASSERT_EQ(listeners.size(), 2u);
    EXPECT_EQ(listeners[0].at("name").as_string(), "public");
    EXPECT_EQ(listeners[1].at("address").as_string(), "[::1]:8443");
    EXPECT_EQ(o.at("admin").at("address").as_string(), "127.0.0.1:9902");

    const auto& limits = o.at("limits").as_object();
    EXPECT_EQ(limits.at("max_header_bytes").to_number<int>(), 16384);
    EXPECT_EQ(limits.at("max_body_bytes").to_number<int>(), 1048576);
    EXPECT_EQ(limits.at("header_timeout").as_string(), "5s");
    EXPECT_EQ(limits.at("idle_timeout").as_string(), "2m");
    EXPECT_EQ(limits.at("max_connections").to_number<int>(), 500);

    const auto& pools = o.at("pools").as_array();
    ASSERT_EQ(pools.size(), 2u);
    const auto& stable = pools[0].as_object();
    EXPECT_EQ(stable.at("name").as_string(), "stable");
    const auto& endpoints = stable.at("endpoints").as_array();
    ASSERT_EQ(endpoints.size(), 2u);
    EXPECT_EQ(endpoints[0].at("address").as_string(), "127.0.0.1:9001");
    EXPECT_TRUE(endpoints[0].at("weight").is_int64());  // whole weights print as integers
    EXPECT_EQ(endpoints[0].at("weight").to_number<double>(), 3.0);
    EXPECT_EQ(endpoints[1].at("weight").to_number<double>(), 0.5);
    const auto& up = stable.at("upstream").as_object();
    EXPECT_EQ(up.at("connect_timeout").as_string(), "250ms");
    EXPECT_EQ(up.at("response_timeout").as_string(), "20s");
    EXPECT_EQ(up.at("tls").as_bool(), false);
    EXPECT_EQ(up.at("max_idle_per_endpoint").to_number<int>(), 8);

    const auto& routes = o.at("routes").as_array();
    ASSERT_EQ(routes.size(), 2u);
    EXPECT_EQ(routes[0].at("name").as_string(), "api");
    EXPECT_EQ(routes[0].at("match").at("host").as_string(), "*.example.com");
    EXPECT_EQ(routes[0].at("match").at("path_prefix").as_string(), "/api/");
    const auto& split = routes[0].at("split").as_object();
    ASSERT_EQ(split.size(), 2u);
    EXPECT_EQ(split.begin()->key(), "canary");  // file order kept
    EXPECT_EQ(split.at("canary").to_number<double>(), 1.0);
    EXPECT_EQ(split.at("stable").to_number<double>(), 99.0);
}

TEST(ConfigJson, OutputLoadsBackAsTheSameConfigThroughYaml) {
    // JSON is YAML; reading GET /config back must give the same config.
    const auto first = load(kFull);
    const std::string json = to_json(ok(first), 7);
    auto value = boost::json::parse(json);
    auto& o = value.as_object();
    o.erase("version");
    o.erase("source");
    const auto second = load_config_text(boost::json::serialize(o), "test.yaml");
    const Config& c = ok(second);
    EXPECT_EQ(to_json(c, 7), json);
}

}  // namespace
}  // namespace weir::config
