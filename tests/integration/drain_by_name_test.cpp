// Drain and undrain accept an endpoint by its configured (DNS) name as well as
// by its resolved address, and the drain survives a reload and a restart.
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

using namespace std::string_literals;

TEST(DrainByName, DrainAndUndrainAcceptTheConfiguredNameAndTheResolvedAddress) {
    using namespace health;
    FakeUpstream a("a"), b("b");
    const std::string a_name = "localhost:" + std::to_string(a.port());  // as configured
    const std::string a_addr = a.address();                               // as GET /pools shows it
    HealthConfig cfg;
    cfg.workers = 1;
    cfg.pools = {{"stable", {a_name, b.address()}}};
    WeirProcess weir(cfg.yaml());
    const auto admin = weir.admin_port();

    auto pool = get_pool(admin, "stable");
    ASSERT_TRUE(pool) << weir.log();
    ASSERT_TRUE(pool->find(a_addr)) << "GET /pools shows the resolved address of " << a_name << ": " << pool->raw;
    ASSERT_TRUE(pool->find(b.address())) << pool->raw;
    {
        // Both endpoints serve before the drain.
        RawClient c(weir.port());
        ASSERT_TRUE(wait_for([&] { return c.request(get_request("/warm")).status == 200 && a.complete_count() > 0; },
                             5s, 1ms))
            << weir.log();
    }

    auto sample_only_b = [&](const std::string& what) {
        const auto a_before = a.request_count();
        RawClient c(weir.port());
        int from_b = 0;
        for (int i = 0; i < 40; ++i) {
            Response r = c.request(get_request("/s"));
            if (r.status == 200 && r.body.rfind("b ", 0) == 0) ++from_b;
        }
        EXPECT_EQ(from_b, 40) << what;
        EXPECT_EQ(a.request_count(), a_before) << what << ": the drained endpoint received new requests";
    };

    // Drain by the configured DNS name.
    Response r = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(a_name) + "/drain");
    ASSERT_EQ(r.status, 200) << r.describe();
    auto ep = get_endpoint(admin, "stable", a_addr);
    ASSERT_TRUE(ep);
    EXPECT_TRUE(ep->draining) << "drained by its configured name " << a_name << ", yet GET /pools says "
                              << a_addr << " is not draining";
    EXPECT_FALSE(ep->eligible);
    wait_out(1s);  // the contract: runtime edits apply within one second on every worker
    sample_only_b("drained by " + a_name);

    // Undrain by the name (unencoded): it serves again.
    r = admin_call(admin, "POST", "/pools/stable/endpoints/" + a_name + "/undrain");
    ASSERT_EQ(r.status, 200) << r.describe();
    ep = get_endpoint(admin, "stable", a_addr);
    ASSERT_TRUE(ep);
    EXPECT_FALSE(ep->draining) << "undrained by its configured name, still draining";
    {
        const auto before = a.request_count();
        RawClient c(weir.port());
        EXPECT_TRUE(wait_for([&] { return c.request(get_request("/u")).status == 200 && a.request_count() > before; },
                             5s, 1ms))
            << "undrained endpoint gets no requests";
    }

    // The resolved address GET /pools shows works too.
    r = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(a_addr) + "/drain");
    ASSERT_EQ(r.status, 200) << "drain by the address GET /pools shows: " << r.describe();
    ep = get_endpoint(admin, "stable", a_addr);
    ASSERT_TRUE(ep);
    EXPECT_TRUE(ep->draining);
    wait_out(1s);
    sample_only_b("drained by " + a_addr);
    r = admin_call(admin, "POST", "/pools/stable/endpoints/" + a_addr + "/undrain");
    ASSERT_EQ(r.status, 200) << r.describe();
    ep = get_endpoint(admin, "stable", a_addr);
    ASSERT_TRUE(ep);
    EXPECT_FALSE(ep->draining);

    // Unknown endpoints: 404 with a JSON error, for names and addresses alike.
    for (const std::string& unknown : {"localhost:1"s, "127.0.0.1:1"s, "no-such-host.invalid:80"s}) {
        for (const char* verb : {"drain", "undrain"}) {
            Response u = admin_call(admin, "POST", "/pools/stable/endpoints/" + percent_encode(unknown) + "/" + verb);
            EXPECT_EQ(u.status, 404) << verb << " " << unknown << ": " << u.describe();
            EXPECT_TRUE(parse_json(u.body).is_object()) << u.body;
        }
    }
    pool = get_pool(admin, "stable");
    ASSERT_TRUE(pool);
    for (const auto& e : pool->endpoints) EXPECT_FALSE(e.draining) << e.address << ": " << pool->raw;
}

// A drain made by the configured name is persisted and survives a reload and
// a restart (it is kept against the endpoints the name resolves to).
TEST(DrainByName, DrainByNameSurvivesAReloadAndARestart) {
    using namespace health;
    FakeUpstream a("a"), b("b");
    const std::string a_name = "localhost:" + std::to_string(a.port());
    TempDir state_dir;
    HealthConfig cfg;
    cfg.workers = 1;
    cfg.state_file = state_dir.path + "/weir.state.json";
    cfg.pools = {{"stable", {a_name, b.address()}}};
    auto weir = std::make_unique<WeirProcess>(cfg.yaml());
    Response r = admin_call(weir->admin_port(), "POST", "/pools/stable/endpoints/" + percent_encode(a_name) + "/drain");
    ASSERT_EQ(r.status, 200) << r.describe();
    ASSERT_TRUE(wait_endpoint(weir->admin_port(), "stable", a.address(), [](const EndpointView& e) { return e.draining; },
                              2s));

    Response reload = admin_call(weir->admin_port(), "POST", "/reload");
    ASSERT_EQ(reload.status, 200) << reload.describe() << "\n" << weir->log();
    auto e = get_endpoint(weir->admin_port(), "stable", a.address());
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->draining) << "a drain made by name was dropped by a reload\n" << weir->log();

    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir = std::make_unique<WeirProcess>(cfg.yaml());
    e = get_endpoint(weir->admin_port(), "stable", a.address());
    ASSERT_TRUE(e) << weir->log();
    EXPECT_TRUE(e->draining) << "a drain made by name did not survive a restart\n"
                             << read_file(cfg.state_file) << "\n" << weir->log();
    const auto a_before = a.request_count();
    RawClient c(weir->port());
    for (int i = 0; i < 20; ++i) EXPECT_EQ(c.request(get_request("/s")).body.rfind("b ", 0), 0u);
    EXPECT_EQ(a.request_count(), a_before);

    // Undrain by name after the restart.
    r = admin_call(weir->admin_port(), "POST", "/pools/stable/endpoints/" + a_name + "/undrain");
    ASSERT_EQ(r.status, 200) << r.describe();
    e = get_endpoint(weir->admin_port(), "stable", a.address());
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->draining);
}

}  // namespace
}  // namespace weir_it
