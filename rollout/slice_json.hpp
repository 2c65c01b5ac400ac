// A pool's slice as JSON, for the fleet's leader to gather every replica's
// traffic (docs/fleet.md): the error count and the non-empty histogram
// buckets as [index, count] pairs. Histograms add bucket by bucket, so the
// leader's merge is exact.
#pragma once

#include "rollout/slice.hpp"

#include <boost/json/value.hpp>

#include <string>

namespace weir::rollout {

boost::json::object slice_to_json(const PoolSlice& slice);
// Adds the slice `v` describes to `into`; false (with `error`) when `v` is
// not one (then `into` is unchanged).
bool merge_slice_json(const boost::json::value& v, PoolSlice& into, std::string& error);

}  // namespace weir::rollout
