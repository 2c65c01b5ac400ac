// proxy/exchange.hpp's free list: steady load keeps reusing warm exchanges,
// a burst's exchanges are freed once unused for a housekeeping period, and
// the allocator is asked to give memory back only after a burst has passed.
#include "proxy/exchange.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace weir::proxy {
namespace {

using Held = std::vector<std::unique_ptr<Exchange>>;

Held take(ExchangeCache& c, std::size_t n) {
    Held h;
    for (std::size_t i = 0; i < n; ++i) h.push_back(c.take());
    return h;
}

void give_back(ExchangeCache& c, Held& h) {
    for (auto& e : h) c.give_back(std::move(e));
    h.clear();
}

TEST(ExchangeCache, SteadyLoadKeepsItsExchangesAndNeverTrims) {
    ExchangeCache c;
    for (int period = 0; period < 5; ++period) {
        for (int request = 0; request < 100; ++request) {
            Held h = take(c, 10);
            give_back(c, h);
        }
        EXPECT_FALSE(c.housekeeping()) << "period " << period;
        EXPECT_EQ(c.cached(), 10u) << "period " << period;
    }
}

TEST(ExchangeCache, ABurstIsBoundedThenFreedAndTrimmedOnceItHasPassed) {
    ExchangeCache c;
    Held h = take(c, 3000);
    EXPECT_EQ(c.in_use(), 3000u);
    give_back(c, h);
    EXPECT_EQ(c.cached(), ExchangeCache::max_cached);
    // Far more than the cache holds was freed: worth a trim at once.
    EXPECT_TRUE(c.housekeeping());
    // The cached ones stayed unused for a whole period: freed, and trimmed.
    EXPECT_TRUE(c.housekeeping());
    EXPECT_EQ(c.cached(), 0u);
    // Nothing more to give back.
    EXPECT_FALSE(c.housekeeping());
}

TEST(ExchangeCache, OnlyWhatAPeriodDidNotNeedIsFreed) {
    ExchangeCache c;
    Held h = take(c, 50);
    give_back(c, h);
    c.housekeeping();  // starts a period with 50 cached
    h = take(c, 20);   // the low-water mark is 30
    give_back(c, h);
    c.housekeeping();
    EXPECT_EQ(c.cached(), 20u);
}

TEST(ExchangeCache, NoTrimWhileTheLoadStaysHigh) {
    ExchangeCache c;
    Held h = take(c, 1000);
    // Half of the burst's connections are still busy: freed memory would
    // only be faulted back in.
    Held rest(std::make_move_iterator(h.begin() + 500), std::make_move_iterator(h.end()));
    h.resize(500);
    give_back(c, h);
    EXPECT_FALSE(c.housekeeping());
    EXPECT_FALSE(c.housekeeping());
    // The load drops to under a quarter of the peak: now it is worth it.
    Held done(std::make_move_iterator(rest.begin() + 100), std::make_move_iterator(rest.end()));
    rest.resize(100);
    give_back(c, done);
    EXPECT_TRUE(c.housekeeping());
    give_back(c, rest);
}

TEST(ExchangeCache, BuffersGrownPastTheBodySizeAreNotKept) {
    ExchangeCache c;
    auto e = c.take();
    EXPECT_EQ(e->client_in.capacity(), Exchange::initial_buffer);
    while (e->client_in.grow(64 * 1024)) {
    }
    c.give_back(std::move(e));
    EXPECT_EQ(c.cached(), 0u);
    e = c.take();
    e->upstream_in.grow(Exchange::body_buffer);
    e->tried_endpoints.push_back(3);
    e->log_prefix = "x";
    c.give_back(std::move(e));
    ASSERT_EQ(c.cached(), 1u);
    e = c.take();
    EXPECT_TRUE(e->tried_endpoints.empty());
    EXPECT_TRUE(e->log_prefix.empty());
    EXPECT_EQ(e->upstream_in.capacity(), 2 * Exchange::initial_buffer);
}

}  // namespace
}  // namespace weir::proxy
