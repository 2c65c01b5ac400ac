// The effective configuration as JSON, for `GET /config`.
#pragma once

#include "config/config.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>

namespace weir::config {

// Keys and spellings follow the YAML file (durations as "250ms"), so what an
// operator reads back can be compared with what they wrote.
std::string to_json(const Config& config, std::uint64_t version);

// Boost.JSON prints every double in exponent form (90.0 -> "9E1"); weights
// are nearly always whole, so those go out as integers.
boost::json::value json_number(double w);

// One route as in the file (match, split, rules, sticky, on_pool_unhealthy).
boost::json::object route_to_json(const RouteConfig& route);

}  // namespace weir::config
