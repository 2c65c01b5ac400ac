// Routes' upgrade, tunnel_idle_timeout and max_tunnel_age: defaults, errors at
// FILE:LINE:COL, GET /config, and what reaches the snapshot.
#include "config/config.hpp"
#include "config/to_json.hpp"
#include "control/snapshot_builder.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace weir::config {
namespace {

using namespace config_test;
using namespace std::chrono_literals;

// The route is on line 5; `route_extra` goes inside its flow mapping.
LoadResult load_route(const std::string& route_extra, const std::string& top = "drain_timeout: 30s\n") {
    return load_config_text(top +
                                "listeners: [{name: public, address: 127.0.0.1:8080}]\n"
                                "pools: [{name: p, endpoints: [{address: 127.0.0.1:9001}]}]\n"
                                "routes:\n"
                                "  - {name: r, split: {p: 1}" + route_extra + "}\n",
                            "test.yaml");
}

TEST(ConfigTunnel, Defaults) {
    const auto r = load_route("");
    const routing::TunnelSettings& t = ok(r).routes.at(0).tunnel;
    EXPECT_EQ(t.upgrade, std::vector<std::string>{"websocket"});
    EXPECT_EQ(t.idle_timeout, 1h);
    EXPECT_EQ(t.max_age, 0ms);
}

TEST(ConfigTunnel, ValuesAreRead) {
    const auto r = load_route(", upgrade: [WebSocket, h2c], tunnel_idle_timeout: 90s, max_tunnel_age: 2h");
    const routing::TunnelSettings& t = ok(r).routes.at(0).tunnel;
    EXPECT_EQ(t.upgrade, (std::vector<std::string>{"websocket", "h2c"}));  // lower-cased
    EXPECT_EQ(t.idle_timeout, 90s);
    EXPECT_EQ(t.max_age, 2h);
    const auto none = load_route(", upgrade: []");
    EXPECT_TRUE(ok(none).routes.at(0).tunnel.upgrade.empty());
}

TEST(ConfigTunnel, BadValuesAreErrorsAtTheirPlace) {
    EXPECT_TRUE(only_error(load_route(", upgrade: [websocket/13]"), 5, 40, "protocol name such as \"websocket\""));
    EXPECT_TRUE(only_error(load_route(", upgrade: [\"web socket\"]"), 5, 40, "protocol name"));
    EXPECT_TRUE(only_error(load_route(", upgrade: [websocket, WebSocket]"), 5, 51, "listed twice"));
    EXPECT_TRUE(only_error(load_route(", upgrade: websocket"), 5, 39, "sequence"));
    EXPECT_TRUE(only_error(load_route(", tunnel_idle_timeout: 0s"), 5, 51, "greater than zero"));
    EXPECT_TRUE(only_error(load_route(", max_tunnel_age: 5ms"), 5, 46, "at least"));
    EXPECT_TRUE(has_error(load_route(", tunnel_idle_timout: 1m"), 5, 30, "tunnel_idle_timout"));
}

TEST(ConfigTunnel, ShownByGetConfigAndReadBack) {
    const auto r = load_route(", upgrade: [websocket, h2c], tunnel_idle_timeout: 90s, max_tunnel_age: 2h");
    auto shown = boost::json::parse(to_json(ok(r), 1)).as_object();
    const auto& route = shown.at("routes").as_array().at(0).as_object();
    EXPECT_EQ(boost::json::serialize(route.at("upgrade")), R"(["websocket","h2c"])");
    shown.erase("version");
    shown.erase("source");
    const auto again = load_config_text(boost::json::serialize(shown), "<config>");
    const routing::TunnelSettings& t = ok(again).routes.at(0).tunnel;
    EXPECT_EQ(t.upgrade, (std::vector<std::string>{"websocket", "h2c"}));
    EXPECT_EQ(t.idle_timeout, 90s);
    EXPECT_EQ(t.max_age, 2h);
}

TEST(ConfigTunnel, SnapshotCarriesTheSettingsAndDrainTimeout) {
    const auto r = load_route(", upgrade: [], tunnel_idle_timeout: 5m", "drain_timeout: 7s\n");
    control::StableKeys keys;
    control::StatKeys stats;
    control::AddressBook book;
    auto built = control::build_snapshot(ok(r), 1, keys, stats, book, true);
    ASSERT_TRUE(built.snapshot);
    EXPECT_TRUE(built.snapshot->routes.at(0).tunnel.upgrade.empty());
    EXPECT_EQ(built.snapshot->routes.at(0).tunnel.idle_timeout, 5min);
    EXPECT_EQ(built.snapshot->drain_timeout, 7s);
}

}  // namespace
}  // namespace weir::config
