// Open-file limits. Every client connection, upstream connection and idle
// pooled connection is a descriptor; the usual soft limit (1024) is far
// below what limits.max_connections allows, so weir raises the soft limit to
// the hard one at start (as HAProxy and nginx do) and warns when the
// configuration may need more than that.
#pragma once

#include "config/config.hpp"

#include <cstdint>

namespace weir::control {

struct FdLimit {
    std::uint64_t soft_before = 0;
    std::uint64_t soft = 0;  // after the raise
    std::uint64_t hard = 0;
    int error = 0;           // errno of a failed getrlimit/setrlimit, else 0
};

// Raises the soft RLIMIT_NOFILE to the hard limit (RLIM_INFINITY counts as
// the kernel's nr_open); never lowers it.
FdLimit raise_fd_limit();

// What the configuration may keep open at once, estimated: each client
// connection and its upstream connection (2 x max_connections), every
// worker's idle pool (max_idle_per_endpoint x endpoints, per pool), and a
// fixed reserve for listeners, event loops, the admin API, logs and files.
struct FdNeed {
    std::uint64_t connections = 0;
    std::uint64_t idle_pools = 0;
    std::uint64_t reserve = 0;
    std::uint64_t total() const { return connections + idle_pools + reserve; }
};
FdNeed estimate_fd_need(const config::Config& config, unsigned workers);

// Logs the raise and, when `need` exceeds the limit, a WARN with the estimate.
void report_fd_limit(const FdLimit& limit, const FdNeed& need);
// Only the WARN (after a reload).
void warn_if_short(const FdLimit& limit, const FdNeed& need);

}  // namespace weir::control
