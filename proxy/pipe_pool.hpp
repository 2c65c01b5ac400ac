// Pipes for moving tunnel bytes between two plain sockets without copying
// them through user space (splice(2): socket -> pipe -> socket, the kernel
// passes page references). A direction holds a pipe only while bytes are in
// it; empty pipes go back to the worker's pool, so idle tunnels hold none and
// a busy worker does not make a pipe per read; pipes the pool kept unused for
// a housekeeping period are closed.
#pragma once

#include <cstddef>
#include <vector>

namespace weir::proxy {

struct Pipe {
    int read_fd = -1;
    int write_fd = -1;
    explicit operator bool() const { return read_fd >= 0; }
};

class PipePool {
public:
    PipePool() = default;
    ~PipePool();
    PipePool(const PipePool&) = delete;
    PipePool& operator=(const PipePool&) = delete;

    // An empty pipe; a null one when none can be made (out of descriptors):
    // the caller copies through user space instead.
    Pipe take();
    // `p` must be empty. Kept for reuse up to max_cached, else closed.
    void give_back(Pipe p);
    // A pipe that may still hold bytes: closed.
    static void discard(Pipe p);
    // Once per housekeeping period: closes the pipes no tunnel needed since
    // the last call (those that stayed in the pool the whole period), so a
    // quiet worker holds no descriptors for them.
    void housekeeping();

    std::size_t cached() const { return free_.size(); }
    // Enough for the busy tunnels of one worker at a time; the rest are made
    // and closed on demand.
    static constexpr std::size_t max_cached = 32;
    // Bytes a pipe holds: one move takes up to this much.
    static constexpr std::size_t capacity = 256 * 1024;

private:
    std::vector<Pipe> free_;
    std::size_t low_ = 0;  // fewest pipes in free_ since the last housekeeping
};

}  // namespace weir::proxy
