// libFuzzer target for what a fleet replica reads from outside: etcd's JSON
// gateway answers and watch stream (cluster/etcd_json), and the traffic
// records other replicas serve to the leader (rollout/slice_json). Beyond
// memory safety and not throwing, it checks:
//  - the watch stream splits into the same values whatever the chunks
//    (the input cut at a point the first byte picks, or byte by byte);
//  - a refused slice leaves the pool's slice untouched; an accepted one
//    adds exactly its counts.
#include "cluster/etcd_json.hpp"
#include "fuzz_check.hpp"
#include "rollout/slice_json.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace weir;

namespace {

// The values of a stream fed in pieces of `piece` bytes, or nullopt when
// it was refused.
std::optional<std::vector<boost::json::value>> stream_values(std::string_view bytes, std::size_t piece) {
    cluster::JsonStream stream;
    std::vector<boost::json::value> values;
    while (!bytes.empty()) {
        const std::size_t n = std::min(piece, bytes.size());
        if (stream.feed(bytes.substr(0, n), values)) return std::nullopt;
        bytes.remove_prefix(n);
    }
    return values;
}

void check_slice(const boost::json::value& v) {
    rollout::PoolSlice slice;
    slice.latency.add(1000, 3);
    slice.errors = 2;
    const std::uint64_t count = slice.latency.count(), errors = slice.errors;
    std::string error;
    if (!rollout::merge_slice_json(v, slice, error)) {
        FUZZ_CHECK(!error.empty());
        FUZZ_CHECK(slice.latency.count() == count && slice.errors == errors);
        FUZZ_CHECK(slice.latency.at(rollout::Histogram::bucket_of(1000)) == 3);
        return;
    }
    std::uint64_t added = 0;
    for (const auto& b : v.as_object().at("buckets").as_array()) added += b.as_array()[1].to_number<std::uint64_t>();
    FUZZ_CHECK(slice.latency.count() == count + added);
    FUZZ_CHECK(slice.errors == errors + v.as_object().at("errors").to_number<std::uint64_t>());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);

    // Unary answers: any body, any status.
    (void)cluster::decode_error(200, body);
    (void)cluster::decode_error(size > 0 ? 400 + data[0] % 200 : 500, body);
    cluster::RangeResult range;
    (void)cluster::decode_range(body, range);
    cluster::TxnResult txn;
    (void)cluster::decode_txn(body, txn);
    std::int64_t id = 0, ttl = 0;
    (void)cluster::decode_lease_grant(body, id, ttl);
    (void)cluster::decode_lease_keepalive(body, ttl);
    std::string token;
    (void)cluster::decode_authenticate(body, token);
    std::string bytes;
    (void)cluster::base64_decode(body, bytes);

    // The watch stream: the same values whatever the chunks.
    const auto whole = stream_values(body, size == 0 ? 1 : size);
    const std::size_t cut = size > 0 ? 1 + data[0] % 64 : 1;
    const auto pieces = stream_values(body, cut);
    // Adjacent top-level numbers ("12": one value or two?) are ambiguous
    // without whitespace; etcd sends objects, which end where they end.
    const auto delimited = [](const std::vector<boost::json::value>& vs) {
        return std::all_of(vs.begin(), vs.end(), [](const auto& v) { return v.is_object() || v.is_array() || v.is_string(); });
    };
    if (whole) {
        if (delimited(*whole)) {
            FUZZ_CHECK(pieces && *pieces == *whole);
            if (size <= 512) FUZZ_CHECK(stream_values(body, 1) == whole);
        }
        for (const auto& v : *whole) {
            cluster::WatchMessage m = cluster::decode_watch_message(v);
            for (const auto& e : m.events)
                FUZZ_CHECK(e.type == cluster::WatchEvent::Type::put || e.type == cluster::WatchEvent::Type::del);
            check_slice(v);
        }
    }
    return 0;
}
