// A silent new connection gets header_timeout, a connection that was served
// keeps the keep-alive idle_timeout.
#include "control_support.hpp"
#include "health_support.hpp"
#include "rollout_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace weir_it {
namespace {

TEST(HeaderTimeout, SilentNewConnectionIsClosedAfterHeaderTimeoutNotIdleTimeout) {
    SingleProxy p([](ConfigSpec& c) {
        c.header_timeout = "1s";
        c.idle_timeout = "30s";
    });
    RawClient silent(p.port());
    ASSERT_TRUE(silent.connected());
    const auto start = Clock::now();
    std::string extra;
    const bool closed = silent.wait_closed(8s, &extra);
    const auto took = ms_since(start);
    EXPECT_TRUE(closed) << "a connection that never sent a byte was still open after " << took
                        << " ms (header_timeout 1s, idle_timeout 30s); got: " << extra;
    if (closed) {
        EXPECT_GE(took, 800) << "closed before header_timeout";
        EXPECT_LT(took, 5000);
    }
    EXPECT_EQ(p.up.request_count(), 0u);
}

TEST(HeaderTimeout, ServedConnectionKeepsTheKeepAliveIdleTimeout) {
    SingleProxy p([](ConfigSpec& c) {
        c.header_timeout = "1s";
        c.idle_timeout = "30s";
    });
    RawClient client(p.port());
    Response first = client.request(get_request("/first"));
    ASSERT_EQ(first.status, 200) << first.describe();
    ASSERT_FALSE(first.connection_close()) << first.describe();
    // Idle between requests: governed by idle_timeout (30 s), not header_timeout (1 s).
    std::string extra;
    EXPECT_FALSE(client.wait_closed(2500ms, &extra))
        << "a keep-alive connection that was served was closed within 2.5 s (header_timeout 1s, idle_timeout 30s)";
    EXPECT_TRUE(extra.empty()) << "unexpected bytes on an idle connection: " << extra;
    Response second = client.request(get_request("/second"));
    EXPECT_EQ(second.status, 200) << second.describe();
    EXPECT_EQ(p.up.request_count(), 2u);
}

}  // namespace
}  // namespace weir_it
