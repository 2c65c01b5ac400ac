// Weighted split (docs/config.md, routes): per-request draws follow the pool
// weights (chi-square at p = 0.001, and the check catches a small bias),
// weight 0 is never chosen, all weights 0 answers none, a one-in-a-million
// share still draws traffic, and requests without the sticky key are split
// per request.
#include "decision_support.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace weir::routing::decision_tests {
namespace {

struct ShareCase {
    std::vector<std::string> pools;
    std::vector<double> weights;
    std::uint64_t seed;
};

TEST(RoutingShares, PerRequestSharesFollowTheWeights) {
    constexpr std::uint64_t kDraws = 200000;
    const ShareCase cases[] = {
        {{"stable", "canary"}, {90, 10}, 11},
        {{"stable", "canary"}, {99, 1}, 12},
        {{"stable", "canary"}, {99.9, 0.1}, 13},
        {{"stable", "canary"}, {10, 90}, 14},
        {{"stable", "canary", "green"}, {50, 30, 20}, 15},
        {{"stable", "canary"}, {33.3, 66.7}, 16},
        {{"a", "b", "c", "d"}, {0.25, 0.25, 0.4, 0.1}, 17},
    };
    for (const ShareCase& c : cases) {
        std::vector<std::pair<std::string, double>> split;
        for (std::size_t i = 0; i < c.pools.size(); ++i) split.emplace_back(c.pools[i], c.weights[i]);
        Snapshot s = make_snapshot(c.pools, split);
        s.finalize();
        Req req({});
        auto counts = draw(s, req, c.seed, kDraws);
        EXPECT_EQ(counts.back(), 0u) << "503s without any unhealthy pool";
        counts.pop_back();
        EXPECT_TRUE(shares_match(c.weights, counts)) << "weights " << ::testing::PrintToString(c.weights);
    }
}

TEST(RoutingShares, TheChiSquareCheckDetectsASmallBias) {
    // The check has teeth: 90/10 draws judged against 89/11 must fail.
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.finalize();
    Req req({});
    auto counts = draw(s, req, 21, 200000);
    counts.pop_back();
    EXPECT_TRUE(shares_match({90, 10}, counts));
    EXPECT_FALSE(shares_match({89, 11}, counts));
    EXPECT_FALSE(shares_match({10, 90}, counts));
}

TEST(RoutingShares, WeightZeroIsNeverChosen) {
    for (auto weights : std::vector<std::vector<double>>{{100, 0}, {0, 100}, {50, 0, 50}, {0, 0, 1}, {1e-6, 0, 0}}) {
        std::vector<std::string> names = {"p0", "p1", "p2"};
        names.resize(weights.size());
        std::vector<std::pair<std::string, double>> split;
        for (std::size_t i = 0; i < weights.size(); ++i) split.emplace_back(names[i], weights[i]);
        Snapshot s = make_snapshot(names, split);
        s.finalize();
        Req req({});
        auto counts = draw(s, req, 31, 100000);
        EXPECT_EQ(counts.back(), 0u);
        for (std::size_t i = 0; i < weights.size(); ++i) {
            if (weights[i] == 0) EXPECT_EQ(counts[i], 0u) << "pool " << i << " of " << ::testing::PrintToString(weights);
        }
    }
}

TEST(RoutingShares, AllWeightsZeroAnswersNone) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 0}, {"canary", 0}});
    s.finalize();
    Req req({});
    Random rng(1);
    for (int i = 0; i < 100; ++i) {
        PoolDecision d = decide(s, req, rng);
        EXPECT_EQ(d.pool, PoolDecision::none);
        EXPECT_FALSE(d.why.empty());
    }
}

TEST(RoutingShares, ResolutionOfOneMillionth) {
    // The table itself: weight 1 against 999999 owns exactly [0, 1e-6) of u.
    const WeightedChoice c({1, 999999});
    EXPECT_EQ(c.pick(0.0), 0u);
    EXPECT_EQ(c.pick(0.999e-6), 0u);
    EXPECT_EQ(c.pick(1.001e-6), 1u);
    EXPECT_EQ(c.pick(0.5), 1u);
    const WeightedChoice d({0.999999, 0.000001});  // the same as decimals, the small one last
    EXPECT_EQ(d.pick(0.999998), 0u);
    EXPECT_EQ(d.pick(0.9999989), 0u);
    EXPECT_EQ(d.pick(0.9999991), 1u);

    // Through choose_pool: 10M draws, expected 10 hits of the 1e-6 pool
    // (Poisson(10): P(0) = 4.5e-5, P(> 30) < 1e-7).
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 999999}, {"canary", 1}});
    s.finalize();
    Req req({});
    constexpr std::uint64_t kDraws = 10'000'000;
    auto counts = draw(s, req, 41, kDraws);
    EXPECT_GT(counts[1], 0u) << "a 1e-6 share never drew traffic";
    EXPECT_LT(static_cast<double>(counts[1]) / kDraws, 3e-6) << counts[1] << " hits";
    EXPECT_EQ(counts[0] + counts[1], kDraws);
}

TEST(RoutingShares, RequestsWithoutTheStickyKeyAreSplitPerRequest) {
    Snapshot s = make_snapshot({"stable", "canary"}, {{"stable", 90}, {"canary", 10}});
    s.routes[0].sticky = StickySpec{Source::header, "x-user-id", false, {}};
    s.finalize();
    Req req({{"x-other", "u1"}});
    Random rng(5);
    EXPECT_EQ(decide(s, req, rng).by, PoolDecision::By::split);
    auto counts = draw(s, req, 51, 200000);
    counts.pop_back();
    EXPECT_TRUE(shares_match({90, 10}, counts));

    // An empty key is no key: split per request too (the id would be shared by everyone).
    Req empty({{"x-user-id", ""}});
    EXPECT_EQ(decide(s, empty, rng).by, PoolDecision::By::split);
}

}  // namespace
}  // namespace weir::routing::decision_tests
