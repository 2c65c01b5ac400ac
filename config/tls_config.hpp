// Reading listeners[].tls and pools[].upstream.tls: the certificate files are read and checked at load
// (so `weir check`, a reload and POST /reload refuse a missing file, a key
// that does not match, or an expired certificate with FILE:LINE:COL, and the
// certificates in force stay), and kept with the configuration.
#pragma once

#include "config/yaml_reader.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace weir::config {

// `resolve` turns a path as written into one relative to the config file.
// `now` (Unix seconds) is what "expired" is measured against.
std::optional<ListenerTlsConfig> read_listener_tls(const yaml::Field& f, yaml::Diagnostics& diag,
                                                   const std::function<std::optional<std::string>(const yaml::Field&)>& resolve,
                                                   std::int64_t now);

// pools[].upstream.tls: `true`, `false` or a mapping; nullopt for `false`
// and after errors (reported to `diag`).
std::optional<UpstreamTlsConfig> read_upstream_tls(const yaml::Field& f, yaml::Diagnostics& diag,
                                                   const std::function<std::optional<std::string>(const yaml::Field&)>& resolve,
                                                   std::int64_t now);

}  // namespace weir::config
