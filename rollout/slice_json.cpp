#include "rollout/slice_json.hpp"

#include <boost/json.hpp>

#include <utility>
#include <vector>

namespace weir::rollout {

namespace json = boost::json;

json::object slice_to_json(const PoolSlice& slice) {
    json::array buckets;
    if (slice.latency.count() > 0) {
        const std::uint32_t* counts = slice.latency.data();
        for (int i = 0; i < Histogram::bucket_count; ++i) {
            if (counts[i] != 0) buckets.push_back(json::array{i, counts[i]});
        }
    }
    return json::object{{"errors", slice.errors}, {"buckets", std::move(buckets)}};
}

bool merge_slice_json(const json::value& v, PoolSlice& into, std::string& error) {
    const json::object* o = v.if_object();
    const json::value* errors = o ? o->if_contains("errors") : nullptr;
    const json::value* buckets = o ? o->if_contains("buckets") : nullptr;
    if (!errors || !buckets || !buckets->is_array()) {
        error = "a slice is {\"errors\": N, \"buckets\": [[index, count], ...]}";
        return false;
    }
    auto count_of = [](const json::value& n) -> std::optional<std::uint64_t> {
        if (n.is_uint64()) return n.as_uint64();
        if (n.is_int64() && n.as_int64() >= 0) return static_cast<std::uint64_t>(n.as_int64());
        return std::nullopt;
    };
    auto err = count_of(*errors);
    if (!err) {
        error = "errors must be a count";
        return false;
    }
    // Checked whole before anything is added.
    std::vector<std::pair<int, std::uint32_t>> adds;
    for (const json::value& b : buckets->as_array()) {
        const json::array* pair = b.if_array();
        if (!pair || pair->size() != 2) {
            error = "a bucket is [index, count]";
            return false;
        }
        auto index = count_of((*pair)[0]);
        auto n = count_of((*pair)[1]);
        if (!index || *index >= static_cast<std::uint64_t>(Histogram::bucket_count) || !n || *n > UINT32_MAX) {
            error = "bucket index or count out of range";
            return false;
        }
        adds.emplace_back(static_cast<int>(*index), static_cast<std::uint32_t>(*n));
    }
    for (const auto& [i, n] : adds) into.latency.add_to_bucket(i, n);
    into.errors += *err;
    return true;
}

}  // namespace weir::rollout
