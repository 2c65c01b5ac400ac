// Durations and addresses as the config spells them, with the reason when a
// spelling is refused (parse_duration/parse_host_port in config.hpp only say
// whether it is valid).
#pragma once

#include "config/config.hpp"

#include <string>
#include <string_view>

namespace weir::config {

struct DurationParse {
    Duration value{0};
    std::string error;  // empty: ok
};
DurationParse parse_duration_detailed(std::string_view text);

struct HostPortParse {
    HostPort value;
    std::string error;  // empty: ok
};
HostPortParse parse_host_port_detailed(std::string_view text);

}  // namespace weir::config
