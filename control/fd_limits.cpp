#include "control/fd_limits.hpp"

#include "common/log.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace weir::control {
namespace {

// RLIM_INFINITY cannot be a soft NOFILE limit: the kernel caps it at fs.nr_open.
rlim_t nr_open() {
    std::ifstream in("/proc/sys/fs/nr_open");
    unsigned long long v = 0;
    if (in >> v && v > 0) return static_cast<rlim_t>(v);
    return 1024 * 1024;  // the kernel's default nr_open
}

}  // namespace

FdLimit raise_fd_limit() {
    FdLimit out;
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        out.error = errno;
        return out;
    }
    out.soft_before = out.soft = rl.rlim_cur;
    out.hard = rl.rlim_max;
    rlim_t target = rl.rlim_max == RLIM_INFINITY ? nr_open() : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < target) {
        rlimit raised{target, rl.rlim_max};
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            out.soft = target;
        } else {
            out.error = errno;
        }
    }
    if (out.hard == RLIM_INFINITY) out.hard = out.soft;
    return out;
}

FdNeed estimate_fd_need(const config::Config& config, unsigned workers) {
    FdNeed need;
    need.connections = 2 * static_cast<std::uint64_t>(config.limits.max_connections);
    for (const config::PoolConfig& p : config.pools)
        need.idle_pools += static_cast<std::uint64_t>(p.upstream.max_idle_per_endpoint) * p.endpoints.size() * workers;
    // Per worker: its epoll, wake-up fd and one socket per listener; then the
    // control thread's loop, admin sockets, health probes, logs, state file.
    need.reserve = static_cast<std::uint64_t>(workers) * (2 + config.listeners.size()) + 64;
    return need;
}

void report_fd_limit(const FdLimit& limit, const FdNeed& need) {
    if (limit.error != 0) {
        log::warn("weir", "cannot raise the open-file limit (soft {}, hard {}): {}", limit.soft, limit.hard,
                  std::strerror(limit.error));
    } else if (limit.soft != limit.soft_before) {
        log::info("weir", "raised the open-file limit from {} to {}", limit.soft_before, limit.soft);
    }
    warn_if_short(limit, need);
}

void warn_if_short(const FdLimit& limit, const FdNeed& need) {
    if (need.total() > limit.soft) {
        log::warn("weir",
                  "the open-file limit {} (hard {}) is below what the configuration may need: {} "
                  "(2 x limits.max_connections = {}, idle upstream connections = {}, reserve {}); "
                  "beyond it accept() and connect() fail with EMFILE; raise the hard limit (ulimit -Hn, LimitNOFILE=) "
                  "or lower limits.max_connections",
                  limit.soft, limit.hard, need.total(), need.connections, need.idle_pools, need.reserve);
    }
}

}  // namespace weir::control
