// A retry never lands on an endpoint that already failed the request, in a
// pool of any size (exclusion used to cover only the first 32 endpoints).
#include "harness.hpp"

#include <map>
#include <memory>
#include <vector>

namespace weir_it {
namespace {

TEST(RetryExclusionTest, NoEndpointOfAFortyEndpointPoolSeesTheSameRequestTwice) {
    // 40 endpoints that take the request and reset without answering: a
    // bodiless GET is retried on another endpoint, 4 attempts in all (a
    // request that was sent is tried fewer times than a refused connect).
    std::vector<std::unique_ptr<FakeUpstream>> ups;
    std::vector<std::string> addresses;
    for (int i = 0; i < 40; ++i) {
        ups.push_back(std::make_unique<FakeUpstream>("e" + std::to_string(i)));
        ups.back()->set_handler([](UpstreamConn&, const UpstreamRequest&) { return After::reset; });
        addresses.push_back(ups.back()->address());
    }
    ConfigSpec c = ConfigSpec::single(addresses);
    c.workers = 1;
    // The endpoints past the 32nd weigh most, so a retry that ignored their
    // failures would often draw the same one again.
    for (std::size_t i = 32; i < 40; ++i) c.pools[0].endpoints[i].weight = 10;
    WeirProcess weir(c.yaml());
    constexpr int requests = 120;
    for (int i = 0; i < requests; ++i) {
        Response r = fetch(weir.port(), "/q" + std::to_string(i));
        ASSERT_EQ(r.status, 502) << r.describe();
    }
    int attempts = 0, repeats = 0, high_index_attempts = 0;
    for (std::size_t e = 0; e < ups.size(); ++e) {
        std::map<std::string, int> seen;
        for (const auto& req : ups[e]->requests()) {
            ++attempts;
            if (e >= 32) ++high_index_attempts;
            if (++seen[req.target] > 1) ++repeats;
        }
    }
    EXPECT_EQ(repeats, 0) << "a retry went back to an endpoint that had just failed";
    EXPECT_EQ(attempts, requests * 4) << "every request should have tried 4 different endpoints";
    EXPECT_GT(high_index_attempts, 0) << "the endpoints past the 32nd were never tried";
}

}  // namespace
}  // namespace weir_it
