// trusted_proxies, listeners[].underscores_in_headers and limits.max_via_hops:
// defaults, errors at FILE:LINE:COL, GET /config, and what reaches the snapshot.
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

// `top` is line 1; the listeners start on line 2.
LoadResult load_with(const std::string& top, const std::string& listener_extra = "",
                     const std::string& limits = "") {
    return load_config_text(top +
                                "listeners:\n"
                                "  - {name: public, address: 127.0.0.1:8080" + listener_extra + "}\n" + limits +
                                "pools: [{name: p, endpoints: [{address: 127.0.0.1:9001}]}]\n"
                                "routes: [{name: r, split: {p: 1}}]\n",
                            "test.yaml");
}

TEST(ConfigClaims, Defaults) {
    const auto r = load_with("");
    const Config& c = ok(r);
    EXPECT_TRUE(c.trusted_proxies.empty());
    EXPECT_FALSE(c.listeners.at(0).underscores_in_headers);
    EXPECT_EQ(c.limits.max_via_hops, 3u);
}

TEST(ConfigClaims, TrustedProxiesTakeAddressesAndRangesOfBothFamilies) {
    const auto r = load_with("trusted_proxies: [10.0.0.0/8, 192.0.2.7, \"fd00::/8\", \"::1\"]\n");
    const Config& c = ok(r);
    EXPECT_EQ(c.trusted_proxies, (std::vector<std::string>{"10.0.0.0/8", "192.0.2.7", "fd00::/8", "::1"}));
}

TEST(ConfigClaims, BadEntriesAreErrorsAtTheirPlace) {
    EXPECT_TRUE(only_error(load_with("trusted_proxies: [10.0.0.0/8, 10.0.0.300/8]\n"), 1, 31, "not an address"));
    EXPECT_TRUE(only_error(load_with("trusted_proxies: [10.0.0.0/33]\n"), 1, 19, "prefix length must be 0 to 32"));
    EXPECT_TRUE(only_error(load_with("trusted_proxies: [\"fd00::/129\"]\n"), 1, 19, "0 to 128"));
    EXPECT_TRUE(only_error(load_with("trusted_proxies: [10.1.2.3/8]\n"), 1, 19, "did you mean 10.0.0.0/8?"));
    EXPECT_TRUE(only_error(load_with("trusted_proxies: [example.com]\n"), 1, 19, "not an address"));
    EXPECT_TRUE(only_error(load_with("trusted_proxies: 10.0.0.0/8\n"), 1, 18, "sequence"));
}

TEST(ConfigClaims, UnderscoresSwitchIsABooleanPerListener) {
    const auto on = load_with("", ", underscores_in_headers: true");
    EXPECT_TRUE(ok(on).listeners.at(0).underscores_in_headers);
    EXPECT_FALSE(load_with("", ", underscores_in_headers: maybe").config);
    // A misspelt key stays an error rather than silently meaning "off".
    EXPECT_TRUE(has_error(load_with("", ", underscore_in_headers: true"), 2, 45, "underscore_in_headers"));
}

TEST(ConfigClaims, MaxViaHopsRange) {
    const auto zero = load_with("", "", "limits: {max_via_hops: 0}\n");
    EXPECT_EQ(ok(zero).limits.max_via_hops, 0u);
    EXPECT_TRUE(only_error(load_with("", "", "limits: {max_via_hops: 101}\n"), 3, 24, "100"));
}

TEST(ConfigClaims, ShownByGetConfigAndLoadedBack) {
    const auto r = load_with("trusted_proxies: [10.0.0.0/8]\n", ", underscores_in_headers: true",
                             "limits: {max_via_hops: 1}\n");
    const Config& c = ok(r);
    auto shown = boost::json::parse(to_json(c, 1)).as_object();
    EXPECT_EQ(boost::json::serialize(shown.at("trusted_proxies")), "[\"10.0.0.0/8\"]");
    EXPECT_EQ(shown.at("listeners").at(0).at("underscores_in_headers"), true);
    EXPECT_EQ(shown.at("limits").at("max_via_hops"), 1);
    shown.erase("version");
    shown.erase("source");
    const auto again = load_config_text(boost::json::serialize(shown), "<config>");
    const Config& c2 = ok(again);
    EXPECT_EQ(c2.trusted_proxies, c.trusted_proxies);
    EXPECT_TRUE(c2.listeners.at(0).underscores_in_headers);
    EXPECT_EQ(c2.limits.max_via_hops, 1u);
}

TEST(ConfigClaims, SnapshotCarriesThePolicy) {
    const auto r = load_with("trusted_proxies: [10.0.0.0/8]\n", ", underscores_in_headers: true",
                             "limits: {max_via_hops: 2}\n");
    const Config& c = ok(r);
    control::StableKeys keys;
    control::StatKeys stats;
    control::AddressBook book;
    auto built = control::build_snapshot(c, 1, keys, stats, book, true);
    ASSERT_TRUE(built.snapshot);
    EXPECT_TRUE(built.snapshot->trusted_proxies.contains("10.9.8.7"));
    EXPECT_FALSE(built.snapshot->trusted_proxies.contains("11.0.0.1"));
    EXPECT_TRUE(built.snapshot->listener("public").keep_underscores);
    EXPECT_FALSE(built.snapshot->listener("other").keep_underscores);
    EXPECT_EQ(built.snapshot->limits.max_via_hops, 2u);
}

}  // namespace
}  // namespace weir::config
