// libFuzzer target for the admin API's mutation bodies (admin/bodies):
// the split, switch and endpoint-list parsers get every input. Beyond memory
// safety and not throwing, it checks:
//  - a result is a value or an error message, never both, never neither;
//  - an accepted body, written back as JSON the canonical way, parses to the
//    same value (names exact, weights to within Boost.JSON's rounding, order kept);
//  - the three parsers agree on what is JSON: "not valid JSON" from one means
//    "not valid JSON" from the others.
#include "admin/bodies.hpp"
#include "fuzz_check.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <string>

using namespace weir::admin;

namespace {

template <class T>
void check_shape(const ParsedBody<T>& p) {
    FUZZ_CHECK(p.value.has_value() == p.error.empty());
}

bool invalid_json(const std::string& error) { return error.rfind("body is not valid JSON", 0) == 0; }

bool unique_names(const WeightList& list) {
    std::set<std::string> names;
    for (const auto& [n, _] : list) {
        if (!names.insert(n).second) return false;
    }
    return true;
}

bool finite(const WeightList& list) {
    for (const auto& [_, w] : list) {
        if (!std::isfinite(w)) return false;
    }
    return true;
}

// Boost.JSON (1.81) parses numbers with an exponent to within one unit in
// the last place, not always to the nearest double: a weight written back
// may come in again one ulp away. Names must match exactly.
bool same(const WeightList& a, const WeightList& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].first != b[i].first) return false;
        const double x = a[i].second, y = b[i].second;
        if (x != y && std::fabs(x - y) > 2 * std::numeric_limits<double>::epsilon() * std::max(std::fabs(x), std::fabs(y)))
            return false;
    }
    return true;
}

std::string split_text(const WeightList& split) {
    boost::json::object o;
    for (const auto& [pool, w] : split) o[pool] = w;
    return boost::json::serialize(o);
}

std::string endpoints_text(const WeightList& endpoints, bool wrapped) {
    boost::json::array a;
    for (const auto& [address, w] : endpoints) a.push_back(boost::json::object{{"address", address}, {"weight", w}});
    if (wrapped) return boost::json::serialize(boost::json::object{{"endpoints", std::move(a)}});
    return boost::json::serialize(a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);

    const auto split = parse_split_body(body);
    const auto pool = parse_switch_body(body);
    const auto endpoints = parse_endpoints_body(body);
    check_shape(split);
    check_shape(pool);
    check_shape(endpoints);
    FUZZ_CHECK(invalid_json(split.error) == invalid_json(pool.error));
    FUZZ_CHECK(invalid_json(split.error) == invalid_json(endpoints.error));

    if (split.value && unique_names(*split.value) && finite(*split.value)) {
        const auto again = parse_split_body(split_text(*split.value));
        FUZZ_CHECK(again.value && same(*again.value, *split.value));
    }
    if (pool.value) {
        const std::string text = boost::json::serialize(boost::json::object{{"pool", *pool.value}});
        const auto again = parse_switch_body(text);
        FUZZ_CHECK(again.value && *again.value == *pool.value);
        // A switch body is never a valid endpoint list.
        FUZZ_CHECK(!parse_endpoints_body(text).value);
    }
    if (endpoints.value && finite(*endpoints.value)) {
        for (bool wrapped : {false, true}) {
            const auto again = parse_endpoints_body(endpoints_text(*endpoints.value, wrapped));
            FUZZ_CHECK(again.value && same(*again.value, *endpoints.value));
        }
    }
    return 0;
}
