// The admin API's route table. Each route is {method, pattern, handler} plus
// what the table must do before the handler runs; so authentication, the
// browser guard, If-Match, 404/405 and the audit log line happen once, here,
// for every resource alike.
#pragma once

#include "admin/server.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace weir::admin {

// A call as a handler sees it: the request and the values of the pattern's
// {placeholders}, percent-decoded, in order.
struct AdminCall {
    const AdminRequest& request;
    std::vector<std::string> params;
};

using AdminHandler = std::function<AdminResponse(const AdminCall&)>;
// A handler that answers later (an edit the fleet's store must accept
// first). The call, and the request it refers to, live until `reply` runs.
using DeferredAdminHandler = std::function<void(const AdminCall&, AdminServer::Reply reply)>;

struct AdminRoute {
    std::string method;       // "GET", "PUT", "POST", "DELETE"
    std::string pattern;      // "/routes/{route}/split"
    AdminHandler handler;
    bool open = false;        // no token and no browser guard: probes and metrics
    bool conditional = false; // If-Match is checked against the config version first
    DeferredAdminHandler deferred = {};  // used instead of `handler` when set
};

class AdminRouter {
public:
    // `token`: the bearer token in force ("" for none); `version`: the
    // config version If-Match is compared with. Both are read per call.
    AdminRouter(std::function<std::string()> token, std::function<std::uint64_t()> version);

    void add(AdminRoute route);
    void handle(const AdminRequest& request, AdminServer::Reply reply) const;

private:
    // The answer, or nullopt when a deferred handler took the call (it
    // replies through `reply`).
    std::optional<AdminResponse> dispatch(const AdminRequest& request, bool& refused,
                                          const AdminServer::Reply& reply) const;
    bool authorized(const AdminRequest& request, const std::string& token) const;

    std::function<std::string()> token_;
    std::function<std::uint64_t()> version_;
    std::vector<AdminRoute> routes_;
};

// Constant-time comparison of a presented secret with the expected one: the
// time taken depends only on the expected length.
bool secret_equals(std::string_view presented, std::string_view expected);

// Whether If-Match (absent, "*" or a list of entity tags; weak tags compare
// by value) accepts `version`.
bool if_match_ok(const AdminRequest& request, std::uint64_t version);

// The version a conditional edit was made against: the one If-Match named
// (already checked to be current), or nullopt without If-Match or with "*".
std::optional<std::uint64_t> pinned_version(const AdminRequest& request, std::uint64_t current);

// The entity tag of a config version: "\"<version>\"".
std::string etag(std::uint64_t version);

}  // namespace weir::admin
