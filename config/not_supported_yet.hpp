// Keys the configuration contract defines but this build does not implement yet. They are
// refused at load, never ignored: an operator who writes `health_check:` must
// not believe endpoints are being checked. When a feature lands, delete its
// line here and read the key in config.cpp.
#pragma once

#include <string_view>

namespace weir::config {

struct NotSupportedYet {
    std::string_view section;  // schema path: "" (top level), "pools[]", "pools[].upstream"
    std::string_view key;
    std::string_view feature;  // shown to the operator
    bool only_when_true = false;  // for switches whose `false` is already the behaviour
};

inline constexpr NotSupportedYet kNotSupportedYet[] = {
    {"pools[].upstream", "tls", "TLS to upstreams", true},
};

}  // namespace weir::config
