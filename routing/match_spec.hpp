// How a route or rule looks at one request attribute (docs/config.md rules and
// route header matchers), as configured. Compiled into a ValueMatcher.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace weir::routing {

// Where the value comes from.
enum class Source : std::uint8_t { header, cookie, query };

enum class MatchKind : std::uint8_t {
    exact,    // equal to `value`
    prefix,   // starts with `value`
    regex,    // RE2 full match of `value`
    present,  // the attribute is there (or, with present == false, is not)
    in,       // equal to one of `values`
};

struct MatchSpec {
    MatchKind kind = MatchKind::present;
    std::string value;
    std::vector<std::string> values;
    bool present = true;
};

const char* source_name(Source s);
const char* kind_name(MatchKind k);

}  // namespace weir::routing
