#include "config/config.hpp"
#include "config/to_json.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace weir::config {
namespace {

// GET /config must be a configuration that loads back: an unset `workers`
// (0, one per CPU) is left out, since the file cannot say 0.
TEST(ConfigJsonRoundTrip, DefaultWorkersIsLeftOutAndTheOutputLoadsBack) {
    const auto first = load_config_text(
        "listeners: [{name: public, address: 127.0.0.1:8080}]\n"
        "pools: [{name: stable, endpoints: [{address: 127.0.0.1:9001}]}]\n"
        "routes: [{name: web, split: {stable: 1}}]\n",
        "test.yaml");
    ASSERT_TRUE(first.config);
    ASSERT_EQ(first.config->workers, 0u);
    auto shown = boost::json::parse(to_json(*first.config, 3));
    EXPECT_FALSE(shown.as_object().contains("workers")) << shown;
    shown.as_object().erase("version");
    shown.as_object().erase("source");
    const auto second = load_config_text(boost::json::serialize(shown), "<config>");
    ASSERT_TRUE(second.config) << (second.errors.empty() ? "" : second.errors.front().text());
    EXPECT_EQ(second.config->workers, 0u);
}

}  // namespace
}  // namespace weir::config
