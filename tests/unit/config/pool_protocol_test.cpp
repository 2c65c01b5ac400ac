// Pools' protocol (http1 | h2) and grpc_error_codes: defaults, errors at
// FILE:LINE:COL, GET /config, and what reaches the snapshot.
#include "config/config.hpp"
#include "config/to_json.hpp"
#include "control/snapshot_builder.hpp"
#include "routing/grpc_status.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace weir::config {
namespace {

using namespace config_test;
using routing::grpc_status_bit;

// The pool is on line 3; `pool_extra` goes inside its flow mapping.
const std::string pool_line = "  - {name: p, endpoints: [{address: 127.0.0.1:9001}]";

LoadResult load_pool(const std::string& pool_extra) {
    return load_config_text("listeners: [{name: public, address: 127.0.0.1:8080}]\n"
                            "pools:\n" +
                                pool_line + pool_extra + "}\n" +
                                "routes: [{name: r, split: {p: 1}}]\n",
                            "test.yaml");
}

// The column of `needle` within `pool_extra` on line 3.
int col(const std::string& pool_extra, const std::string& needle) {
    return static_cast<int>(pool_line.size() + pool_extra.find(needle)) + 1;
}

TEST(ConfigPoolProtocol, Defaults) {
    const LoadResult loaded = load_pool("");
    const PoolConfig& p = ok(loaded).pools.at(0);
    EXPECT_EQ(p.protocol, routing::UpstreamProtocol::http1);
    EXPECT_EQ(p.grpc_error_codes, routing::default_grpc_error_codes);
    EXPECT_EQ(p.grpc_error_codes, grpc_status_bit(14) | grpc_status_bit(4) | grpc_status_bit(13) |
                                      grpc_status_bit(2) | grpc_status_bit(15));
}

TEST(ConfigPoolProtocol, ProtocolIsRead) {
    EXPECT_EQ(ok(load_pool(", protocol: h2")).pools.at(0).protocol, routing::UpstreamProtocol::h2);
    EXPECT_EQ(ok(load_pool(", protocol: http1")).pools.at(0).protocol, routing::UpstreamProtocol::http1);
}

TEST(ConfigPoolProtocol, UnknownProtocolIsAnErrorAtItsValue) {
    for (const std::string bad : {"h3", "HTTP2", "http/1.1", "h2c", "\"\""}) {
        SCOPED_TRACE(bad);
        const std::string extra = ", protocol: " + bad;
        EXPECT_TRUE(only_error(load_pool(extra), 3, col(extra, bad), "must be 'http1' or 'h2'"));
    }
    const std::string extra = ", protocol: [h2]";
    EXPECT_FALSE(load_pool(extra).errors.empty());
}

TEST(ConfigPoolProtocol, GrpcErrorCodesByNameAnyCaseOrNumber) {
    const auto r = load_pool(", grpc_error_codes: [unavailable, Resource_Exhausted, 16, 1]");
    EXPECT_EQ(ok(r).pools.at(0).grpc_error_codes,
              grpc_status_bit(14) | grpc_status_bit(8) | grpc_status_bit(16) | grpc_status_bit(1));
    EXPECT_EQ(ok(load_pool(", grpc_error_codes: []")).pools.at(0).grpc_error_codes, 0u);
}

TEST(ConfigPoolProtocol, UnknownGrpcCodesAreErrorsAtTheirPlace) {
    for (const std::string bad : {"NOPE", "17", "0", "OK", "-1", "UNAVAILABLEX", "1.5"}) {
        SCOPED_TRACE(bad);
        const std::string extra = ", grpc_error_codes: [INTERNAL, " + bad + "]";
        EXPECT_TRUE(only_error(load_pool(extra), 3, col(extra, bad), "is not a gRPC error status"));
    }
    const std::string extra = ", grpc_error_codes: UNAVAILABLE";
    EXPECT_TRUE(only_error(load_pool(extra), 3, col(extra, "UNAVAILABLE"), "sequence"));
}

TEST(ConfigPoolProtocol, ShownByGetConfigAndReadBack) {
    const auto r = load_pool(", protocol: h2, grpc_error_codes: [UNAVAILABLE, 4]");
    auto shown = boost::json::parse(to_json(ok(r), 1)).as_object();
    const auto& pool = shown.at("pools").as_array().at(0).as_object();
    EXPECT_EQ(pool.at("protocol").as_string(), "h2");
    EXPECT_EQ(boost::json::serialize(pool.at("grpc_error_codes")), R"(["DEADLINE_EXCEEDED","UNAVAILABLE"])");
    shown.erase("version");
    shown.erase("source");
    const auto again = load_config_text(boost::json::serialize(shown), "<config>");
    EXPECT_EQ(ok(again).pools.at(0).protocol, routing::UpstreamProtocol::h2);
    EXPECT_EQ(ok(again).pools.at(0).grpc_error_codes, grpc_status_bit(14) | grpc_status_bit(4));

    const auto defaults = boost::json::parse(to_json(ok(load_pool("")), 1)).as_object();
    const auto& d = defaults.at("pools").as_array().at(0).as_object();
    EXPECT_EQ(d.at("protocol").as_string(), "http1");
    EXPECT_EQ(boost::json::serialize(d.at("grpc_error_codes")),
              R"(["UNKNOWN","DEADLINE_EXCEEDED","INTERNAL","UNAVAILABLE","DATA_LOSS"])");
}

TEST(ConfigPoolProtocol, SnapshotCarriesThem) {
    const auto r = load_pool(", protocol: http1, grpc_error_codes: [INTERNAL]");
    control::StableKeys keys;
    control::StatKeys stats;
    control::AddressBook book;
    auto built = control::build_snapshot(ok(r), 1, keys, stats, book, true);
    ASSERT_TRUE(built.snapshot);
    EXPECT_TRUE(built.errors.empty());
    EXPECT_EQ(built.snapshot->pools.at(0).protocol, routing::UpstreamProtocol::http1);
    EXPECT_EQ(built.snapshot->pools.at(0).grpc_error_codes, grpc_status_bit(13));
}

TEST(ConfigPoolProtocol, H2PoolsReachTheSnapshot) {
    const auto r = load_pool(", protocol: h2, grpc_error_codes: []");
    control::StableKeys keys;
    control::StatKeys stats;
    control::AddressBook book;
    auto built = control::build_snapshot(ok(r), 1, keys, stats, book, true);
    ASSERT_TRUE(built.snapshot);
    EXPECT_TRUE(built.errors.empty());
    EXPECT_EQ(built.snapshot->pools.at(0).protocol, routing::UpstreamProtocol::h2);
    EXPECT_EQ(built.snapshot->pools.at(0).grpc_error_codes, 0u);
}

TEST(GrpcStatus, NamesAndNumbers) {
    EXPECT_EQ(routing::grpc_status_name(14), "UNAVAILABLE");
    EXPECT_EQ(routing::grpc_status_name(0), "OK");
    EXPECT_EQ(routing::grpc_status_name(16), "UNAUTHENTICATED");
    EXPECT_TRUE(routing::grpc_status_name(17).empty());
    EXPECT_TRUE(routing::grpc_status_name(-1).empty());
    for (int code = 0; code <= routing::max_grpc_status; ++code) {
        EXPECT_EQ(routing::parse_grpc_status(routing::grpc_status_name(code)), code);
        EXPECT_EQ(routing::parse_grpc_status(std::to_string(code)), code);
    }
    EXPECT_EQ(routing::parse_grpc_status("data_loss"), 15);
    EXPECT_EQ(routing::parse_grpc_status("017"), std::nullopt);
    EXPECT_EQ(routing::parse_grpc_status(""), std::nullopt);
    EXPECT_EQ(routing::parse_grpc_status("17"), std::nullopt);
}

}  // namespace
}  // namespace weir::config
