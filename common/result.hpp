// The outcome of a control-plane or admin operation: a kind of failure from a
// small fixed set, and a message for the operator. Callers branch on the kind;
// only the admin API turns it into an HTTP status (admin/status.cpp), so the
// control plane knows nothing of HTTP.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace weir {

enum class Errc : std::uint8_t {
    ok,
    invalid,      // the request itself is wrong (bad value, unknown pool)
    not_found,    // it names a route, pool, endpoint or action that does not exist
    conflict,     // not possible in the current state (a rollout owns the split)
    stale,        // made against a version that is no longer current (If-Match)
    unavailable,  // cannot be served now (the routing table cannot be built)
    internal,     // the change could not be made durable (state file)
};

struct Result {
    Errc code = Errc::ok;
    std::string message;  // why, when not ok

    bool ok() const { return code == Errc::ok; }
    static Result fail(Errc code, std::string message) { return {code, std::move(message)}; }
};

}  // namespace weir
