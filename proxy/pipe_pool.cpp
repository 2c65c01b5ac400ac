#include "proxy/pipe_pool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace weir::proxy {

PipePool::~PipePool() {
    for (Pipe p : free_) discard(p);
}

Pipe PipePool::take() {
    if (!free_.empty()) {
        Pipe p = free_.back();
        free_.pop_back();
        if (free_.size() < low_) low_ = free_.size();
        return p;
    }
    low_ = 0;
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
    // Larger than the default 64 KiB: fewer moves per megabyte. Pages are
    // taken only for bytes in flight; a refusal (the per-user pipe budget)
    // leaves the default size, which works as well, a little slower.
    ::fcntl(fds[0], F_SETPIPE_SZ, static_cast<int>(capacity));
    return {fds[0], fds[1]};
}

void PipePool::give_back(Pipe p) {
    if (!p) return;
    if (free_.size() >= max_cached) {
        discard(p);
        return;
    }
    free_.push_back(p);
}

void PipePool::housekeeping() {
    const std::size_t unused = std::min(low_, free_.size());
    for (std::size_t i = 0; i < unused; ++i) discard(free_[i]);
    free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(unused));
    low_ = free_.size();
}

void PipePool::discard(Pipe p) {
    if (p.read_fd >= 0) ::close(p.read_fd);
    if (p.write_fd >= 0) ::close(p.write_fd);
}

}  // namespace weir::proxy
