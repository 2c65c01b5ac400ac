// The request bodies of the admin API's mutations, parsed and validated
// without touching any state: what the admin handlers act on, and what the
// fuzz target feeds arbitrary bytes. Every refusal is a 400 with `error`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weir::admin {

template <class T>
struct ParsedBody {
    std::optional<T> value;  // set when the body is acceptable
    std::string error;       // otherwise: why not, for {"error": ...}
};

using WeightList = std::vector<std::pair<std::string, double>>;  // name -> weight, in body order

// PUT /routes/{r}/split: {"stable": 80, "canary": 20}; weights as written
// (their range is the control plane's business).
ParsedBody<WeightList> parse_split_body(std::string_view body);
// POST /routes/{r}/switch: {"pool": "green"}, nothing else.
ParsedBody<std::string> parse_switch_body(std::string_view body);
// PUT /pools/{p}/endpoints: [{"address": "host:port", "weight": 1}, ...] or
// {"endpoints": [...]}; weight defaults to 1.
ParsedBody<WeightList> parse_endpoints_body(std::string_view body);

}  // namespace weir::admin
