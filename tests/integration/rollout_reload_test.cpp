// A reload (or a restart) that changes a route's file split while a rollout
// runs keeps the rollout's share.
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

TEST(RolloutReload, ReloadChangingTheFileSplitKeepsTheRunningRolloutsShare) {
    using namespace rollout;
    PoolBackend stable("stable", 0ms), canary("canary", 0ms);
    TempDir dir;
    ControlConfig c = control::stateful_config(dir, stable.address(), canary.address());
    RolloutBlock block;
    block.steps = "[10, 100]";
    block.step_min_duration = "5m";
    block.step_max_duration = "10m";
    block.min_samples = 100000;  // never enough: the run stays at step 0
    block.file_split = {{"stable", 100}, {"canary", 0}};
    WeirProcess weir(rollout_yaml(c, block));
    AdminClient admin(weir.admin_port());

    Response started = rollout_call(admin, "start");
    ASSERT_EQ(started.status, 200) << started.describe() << "\n" << started.body;
    RolloutView v = rollout_view(admin);
    ASSERT_EQ(v.phase, "running") << v.raw;
    ASSERT_EQ(v.step, 0) << v.raw;
    ASSERT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;

    // The file's split changes 100/0 -> 50/50 and is reloaded.
    block.file_split = {{"stable", 50}, {"canary", 50}};
    write_file_atomic(weir.config_path(), rollout_yaml(c, block));
    auto [status, body] = admin.reload();
    ASSERT_EQ(status, 200) << boost::json::serialize(body) << "\n" << weir.log();

    auto route = admin.route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 90}, {"canary", 10}}))
        << "after a reload that changed the file split, the route serves " << control::to_text(route.split)
        << " while the rollout is at step 0 (10% canary): " << route.raw << "\n" << weir.log();
    EXPECT_EQ(route.file_split, (SplitMap{{"stable", 50}, {"canary", 50}})) << route.raw;
    v = rollout_view(admin);
    EXPECT_EQ(v.phase, "running") << v.raw;
    EXPECT_EQ(v.step, 0) << v.raw;
    EXPECT_EQ(v.canary_percent, 10) << v.raw;
    auto w = metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}});
    ASSERT_TRUE(w.has_value());
    EXPECT_NEAR(*w, 0.1, 1e-9);

    // And the traffic follows: about 10% canary, not 50%.
    wait_out(1s);  // the contract: within one second on every worker
    auto s = control::sample_pools(weir.port(), 400);
    EXPECT_EQ(s["error"], 0);
    EXPECT_GE(s["stable"], 330) << "stable=" << s["stable"] << " canary=" << s["canary"];
    EXPECT_LE(s["canary"], 70) << "stable=" << s["stable"] << " canary=" << s["canary"];

    // It stays that way (the next rollout tick does not undo it).
    wait_out(1500ms);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;
    EXPECT_EQ(rollout_view(admin).phase, "running");
}

// The same for a paused rollout, and across a restart with a file whose
// split changed while weir was down (the run is restored from the state file).
TEST(RolloutReload, PausedRolloutAndRestartWithAChangedFileSplitKeepTheShare) {
    using namespace rollout;
    PoolBackend stable("stable", 0ms), canary("canary", 0ms);
    TempDir dir;
    ControlConfig c = control::stateful_config(dir, stable.address(), canary.address());
    RolloutBlock block;
    block.steps = "[10, 100]";
    block.step_min_duration = "5m";
    block.step_max_duration = "10m";
    block.min_samples = 100000;
    block.file_split = {{"stable", 100}, {"canary", 0}};
    auto weir = std::make_unique<WeirProcess>(rollout_yaml(c, block));
    auto admin = std::make_unique<AdminClient>(weir->admin_port());
    ASSERT_EQ(rollout_call(*admin, "start").status, 200);
    ASSERT_EQ(rollout_call(*admin, "pause").status, 200);
    ASSERT_EQ(rollout_view(*admin).phase, "paused");

    block.file_split = {{"stable", 50}, {"canary", 50}};
    write_file_atomic(weir->config_path(), rollout_yaml(c, block));
    auto [status, body] = admin->reload();
    ASSERT_EQ(status, 200) << boost::json::serialize(body);
    auto route = admin->route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 90}, {"canary", 10}}))
        << "paused rollout at 10%; after a reload the route serves " << control::to_text(route.split) << ": "
        << route.raw;
    EXPECT_EQ(rollout_view(*admin).phase, "paused");

    // Down, the file changes again (70/30), up again from the state file.
    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir.reset();
    block.file_split = {{"stable", 70}, {"canary", 30}};
    weir = std::make_unique<WeirProcess>(rollout_yaml(c, block));
    admin = std::make_unique<AdminClient>(weir->admin_port());
    RolloutView v = rollout_view(*admin);
    EXPECT_EQ(v.phase, "paused") << v.raw << "\n" << weir->log();
    EXPECT_EQ(v.step, 0) << v.raw;
    route = admin->route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 90}, {"canary", 10}}))
        << "restored rollout at 10%; after a restart with a changed file split the route serves "
        << control::to_text(route.split) << ": " << route.raw << "\n" << weir->log();
}

}  // namespace
}  // namespace weir_it
