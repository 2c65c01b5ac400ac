// The path a route's prefix is matched against: RFC 3986 §6.2.2 syntax-based
// normalisation, so "/public/../admin", "/%61dmin" and "/admin" choose the
// same route. Percent-escapes of unreserved characters are decoded (others
// keep their escape, with upper-case hex), then dot-segments are removed.
// Only the choice of route sees this form: the request goes upstream as the
// client sent it.
#pragma once

#include <string>
#include <string_view>

namespace weir::routing {

// `raw` itself when it is already normal (the common case, no copy), else
// the normal form written into `scratch`.
std::string_view normalize_path(std::string_view raw, std::string& scratch);

// A host without its port and without a trailing dot ("Example.com.:8080"
// -> "Example.com"); case is left to the comparison.
std::string_view host_for_matching(std::string_view host);

}  // namespace weir::routing
