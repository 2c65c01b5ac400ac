// Shared readers for weir's admin API, used by every support file: one admin
// call on a fresh connection, JSON parsing, and a Prometheus text reader.
#pragma once

#include "raw_client.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace weir_it {

// One admin call on a fresh connection (Connection: close). `extra` is raw
// header lines ending in CRLF. A body (or a PUT/POST/DELETE/PATCH) gets a
// Content-Length; "Authorization: Bearer `token`" is sent when `token` is set.
Response admin_request(std::uint16_t admin_port, const std::string& method, const std::string& path,
                       const std::string& body = "", const std::string& extra = "", const std::string& token = "");

// Parsed JSON, or null if `text` is not JSON.
boost::json::value parse_json(const std::string& text);
// The number `v` holds (any JSON number kind), nullopt if it holds none.
std::optional<double> json_number(const boost::json::value& v);

// The value of the sample `name{labels}` in Prometheus text (labels in any
// order, exactly these).
std::optional<double> metric_value(const std::string& text, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});

}  // namespace weir_it
