// A pool's slice as JSON (rollout/slice_json.hpp): what a fleet replica sends
// its leader must add up, bucket by bucket, to what the replica counted; and
// anything that is not a slice must be refused without touching the sum.
#include "rollout/slice_json.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace weir::rollout {
namespace {

namespace json = boost::json;

// Many distinct buckets: latencies spread over several octaves, from below
// the first bucket to far above the last one.
PoolSlice wide_slice(std::uint32_t seed, std::uint64_t errors) {
    PoolSlice s;
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> latency(8.0, 2.0);  // ~3 ms median, long tail
    for (int i = 0; i < 20000; ++i) s.latency.add(static_cast<std::uint64_t>(latency(rng)));
    s.latency.add(1);                             // bucket 0
    s.latency.add(std::uint64_t{1} << 40);        // the last bucket
    s.latency.add(5000, 1000);                    // one heavy bucket
    s.errors = errors;
    return s;
}

int non_empty_buckets(const Histogram& h) {
    int n = 0;
    for (int i = 0; i < Histogram::bucket_count; ++i) n += h.at(i) != 0;
    return n;
}

void expect_same(const PoolSlice& a, const PoolSlice& b) {
    EXPECT_EQ(a.errors, b.errors);
    EXPECT_EQ(a.latency.count(), b.latency.count());
    for (int i = 0; i < Histogram::bucket_count; ++i) ASSERT_EQ(a.latency.at(i), b.latency.at(i)) << "bucket " << i;
    for (double q : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) EXPECT_EQ(a.latency.quantile(q), b.latency.quantile(q)) << q;
}

// The text a replica sends, parsed back as the leader sees it.
json::value over_the_wire(const PoolSlice& s) { return json::parse(json::serialize(slice_to_json(s))); }

TEST(SliceJson, RoundTripKeepsEveryBucketAndQuantile) {
    const PoolSlice original = wide_slice(7, 42);
    ASSERT_GT(non_empty_buckets(original.latency), 200);

    const json::object o = slice_to_json(original);
    ASSERT_TRUE(o.contains("errors"));
    ASSERT_TRUE(o.contains("buckets"));
    // Only the non-empty buckets travel.
    EXPECT_EQ(o.at("buckets").as_array().size(), static_cast<std::size_t>(non_empty_buckets(original.latency)));

    PoolSlice back;
    std::string error;
    ASSERT_TRUE(merge_slice_json(over_the_wire(original), back, error)) << error;
    EXPECT_TRUE(error.empty()) << error;
    expect_same(back, original);
}

TEST(SliceJson, EmptySliceRoundTrips) {
    PoolSlice empty;
    empty.errors = 3;  // errors without one success
    const json::object o = slice_to_json(empty);
    EXPECT_TRUE(o.at("buckets").as_array().empty());
    PoolSlice back;
    std::string error;
    ASSERT_TRUE(merge_slice_json(over_the_wire(empty), back, error)) << error;
    EXPECT_EQ(back.errors, 3u);
    EXPECT_EQ(back.latency.count(), 0u);
}

TEST(SliceJson, MergingTwoJsonSlicesEqualsHistogramMerge) {
    const PoolSlice a = wide_slice(1, 5);
    const PoolSlice b = wide_slice(2, 11);

    PoolSlice expected = a;
    expected.merge(b);

    PoolSlice sum;
    std::string error;
    ASSERT_TRUE(merge_slice_json(over_the_wire(a), sum, error)) << error;
    ASSERT_TRUE(merge_slice_json(over_the_wire(b), sum, error)) << error;
    expect_same(sum, expected);
    EXPECT_EQ(sum.errors, 16u);

    // Adding to a slice that already holds local traffic: the leader's own.
    PoolSlice local = a;
    ASSERT_TRUE(merge_slice_json(over_the_wire(b), local, error)) << error;
    expect_same(local, expected);
}

// Every malformed input is refused with a reason and leaves `into` as it was.
TEST(SliceJson, MalformedInputsAreRefusedAndChangeNothing) {
    const std::string big = std::to_string(std::uint64_t{UINT32_MAX} + 1);
    const std::string last = std::to_string(Histogram::bucket_count);  // one past the end
    const char* const cases[] = {
        R"([])",
        R"("slice")",
        R"(17)",
        R"(null)",
        R"({})",
        R"({"buckets": [[1, 2]]})",                          // no errors
        R"({"errors": 1})",                                  // no buckets
        R"({"errors": 1, "buckets": {"1": 2}})",             // buckets not an array
        R"({"errors": 1, "buckets": "[[1, 2]]"})",
        R"({"errors": -1, "buckets": [[1, 2]]})",            // negative errors
        R"({"errors": 1.5, "buckets": [[1, 2]]})",           // non-integer errors
        R"({"errors": "1", "buckets": [[1, 2]]})",
        R"({"errors": null, "buckets": [[1, 2]]})",
        R"({"errors": 1, "buckets": [[1, 2], [3]]})",        // a pair too short
        R"({"errors": 1, "buckets": [[1, 2], [3, 4, 5]]})",  // too long
        R"({"errors": 1, "buckets": [[1, 2], 3]})",          // not a pair
        R"({"errors": 1, "buckets": [[1, 2], {"3": 4}]})",
        R"({"errors": 1, "buckets": [[1, 2], [-3, 4]]})",    // negative index
        R"({"errors": 1, "buckets": [[1, 2], [3, -4]]})",    // negative count
        R"({"errors": 1, "buckets": [[1, 2], [3.5, 4]]})",   // non-integer index
        R"({"errors": 1, "buckets": [[1, 2], [3, 4.5]]})",   // non-integer count
        R"({"errors": 1, "buckets": [[1, 2], ["3", 4]]})",
        R"({"errors": 1, "buckets": [[1, 2], [3, null]]})",
    };
    std::vector<std::string> inputs(std::begin(cases), std::end(cases));
    inputs.push_back(R"({"errors": 1, "buckets": [[1, 2], [)" + last + R"(, 4]]})");      // index out of range
    inputs.push_back(R"({"errors": 1, "buckets": [[1, 2], [99999999999, 4]]})");            // far out of range
    inputs.push_back(R"({"errors": 1, "buckets": [[1, 2], [3, )" + big + R"(]]})");        // count > UINT32_MAX
    inputs.push_back(R"({"errors": 1, "buckets": [[1, 2], [3, 18446744073709551615]]})");

    const PoolSlice before = wide_slice(3, 9);
    for (const std::string& text : inputs) {
        SCOPED_TRACE(text);
        PoolSlice into = before;
        std::string error;
        EXPECT_FALSE(merge_slice_json(json::parse(text), into, error));
        EXPECT_FALSE(error.empty());
        expect_same(into, before);
    }
}

// The edges that are still valid: the last bucket, and a count of exactly UINT32_MAX.
TEST(SliceJson, LimitsThatAreStillValid) {
    const std::string last = std::to_string(Histogram::bucket_count - 1);
    const json::value v = json::parse(R"({"errors": 0, "buckets": [[0, 1], [)" + last + ", " +
                                      std::to_string(UINT32_MAX) + "]]}");
    PoolSlice into;
    std::string error;
    ASSERT_TRUE(merge_slice_json(v, into, error)) << error;
    EXPECT_EQ(into.latency.at(0), 1u);
    EXPECT_EQ(into.latency.at(Histogram::bucket_count - 1), UINT32_MAX);
    EXPECT_EQ(into.latency.count(), std::uint64_t{UINT32_MAX} + 1);
}

}  // namespace
}  // namespace weir::rollout
