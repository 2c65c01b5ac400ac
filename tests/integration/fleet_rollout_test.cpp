// One judge for a fleet (docs/fleet.md): three real replicas sharing their
// state in a real etcd cluster, two fake pools on loopback, and a rollout
// whose verdict must come from the leader judging every replica's traffic.
// Traffic that reaches only a follower must still drive the rollout; a leader
// killed in the middle must be replaced within two lease periods, and the new
// leader must go on from the recorded step, with no decision lost or repeated.
#include "etcd_cluster.hpp"
#include "rollout_support.hpp"

#include <signal.h>

#include <chrono>
#include <iostream>
#include <set>

namespace weir_it::rollout {
namespace {

namespace json = boost::json;

constexpr int lease_seconds = 2;

std::string without_trailing_slash(std::string s) {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
}

std::string cluster_yaml(const std::vector<std::string>& etcd, const std::string& prefix, const std::string& name,
                         const std::string& extra = {}) {
    std::string list;
    for (const auto& u : etcd) list += (list.empty() ? "" : ", ") + u;
    return "cluster:\n  etcd: [" + list + "]\n  prefix: " + prefix + "\n  lease: " + std::to_string(lease_seconds) +
           "s\n  name: " + name + "\n" + extra;
}

struct Replica {
    TempDir dir;
    std::unique_ptr<WeirProcess> weir;
    std::unique_ptr<AdminClient> admin;
    std::string name;
};

json::value cluster_view(const AdminClient& admin) {
    Response r = admin.get("/cluster");
    if (r.status != 200) return nullptr;
    return control::parse_json(r.body);
}

// The replicas of one fleet, all with the same rollout configuration.
struct FleetRig {
    std::vector<std::string> etcd;
    std::string prefix;
    std::vector<std::unique_ptr<Replica>> replicas;

    FleetRig(std::vector<std::string> urls, const std::string& test, const std::string& stable,
             const std::string& canary, const RolloutBlock& block, int n = 3)
        : etcd(std::move(urls)), prefix(without_trailing_slash(unique_etcd_prefix(test))) {
        for (int i = 0; i < n; ++i) add(stable, canary, block, "r" + std::to_string(i + 1));
    }

    Replica& add(const std::string& stable, const std::string& canary, const RolloutBlock& block,
                 const std::string& name) {
        auto r = std::make_unique<Replica>();
        ControlConfig c = control::stateful_config(r->dir, stable, canary);
        r->name = name;
        r->weir = std::make_unique<WeirProcess>(rollout_yaml(c, block) + cluster_yaml(etcd, prefix, name));
        r->admin = std::make_unique<AdminClient>(r->weir->admin_port());
        replicas.push_back(std::move(r));
        return *replicas.back();
    }

    // The index of the one replica that says it leads, once all live ones
    // agree on it; -1 if that does not happen within `timeout`.
    int wait_leader(Millis timeout, const std::set<int>& skip = {}) const {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            int leader = -1, leaders = 0;
            std::set<std::string> named;
            for (int i = 0; i < static_cast<int>(replicas.size()); ++i) {
                if (skip.count(i)) continue;
                json::value v = cluster_view(*replicas[i]->admin);
                if (v.is_null()) continue;
                if (v.at("leader").as_bool()) {
                    leader = i;
                    ++leaders;
                }
                named.insert(v.at("leader_name").is_string() ? std::string(v.at("leader_name").as_string()) : "");
            }
            if (leaders == 1 && named.size() == 1 && *named.begin() == replicas[leader]->name) return leader;
            std::this_thread::sleep_for(20ms);
        }
        return -1;
    }
};

// Non-hold decisions as "decision@step", in order.
std::vector<std::string> changes(const RolloutView& v) {
    std::vector<std::string> out;
    for (const auto& d : v.decisions) {
        if (d.decision != "hold" && d.decision != "inconclusive") out.push_back(d.decision + "@" + std::to_string(d.step));
    }
    return out;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out;
}

RolloutBlock quick_steps() {
    RolloutBlock b;
    b.steps = "[10, 50, 100]";
    b.step_min_duration = "2s";
    b.step_max_duration = "60s";
    b.min_samples = 50;
    return b;
}

TEST(FleetRollout, TrafficOnlyOnAFollowerDrivesTheRollout) {
    PoolBackend stable("stable", 2ms), canary("canary", 2ms);
    FleetRig fleet(shared_etcd(), "follower-traffic", stable.address(), canary.address(), quick_steps());
    const int leader = fleet.wait_leader(20s);
    ASSERT_GE(leader, 0) << "no single leader";
    const int follower = (leader + 1) % 3;
    const int other = (leader + 2) % 3;

    // Started on the other follower; traffic only through `follower`.
    Traffic load(fleet.replicas[follower]->weir->port(), 4, 60);
    ASSERT_TRUE(load.wait_total(100)) << describe(load.counts());
    Response started = rollout_call(*fleet.replicas[other]->admin, "start");
    ASSERT_EQ(started.status, 200) << started.body;

    RolloutView v = wait_rollout(*fleet.replicas[leader]->admin,
                                 [](const RolloutView& x) { return x.phase != "running"; }, 60s);
    EXPECT_EQ(v.phase, "promoted") << kinds_text(v) << "\n" << fleet.replicas[leader]->weir->log();
    // Every replica follows the leader's decisions, and serves the new split.
    for (auto& r : fleet.replicas) {
        RolloutView f = wait_rollout(*r->admin, [](const RolloutView& x) { return x.phase == "promoted"; }, 10s);
        EXPECT_EQ(f.phase, "promoted") << r->name << ": " << kinds_text(f);
        EXPECT_EQ(changes(f), changes(v)) << r->name;
    }
    const auto before = load.counts();
    ASSERT_TRUE(load.wait_each_thread(20)) << describe(load.counts());
    const auto after = load.counts();
    EXPECT_EQ(after.ok_of("stable"), before.ok_of("stable")) << "promoted: only the canary answers now";
    EXPECT_EQ(after.failures, 0u) << describe(after);
    // The judge saw no traffic of its own.
    auto own = metric(*fleet.replicas[leader]->admin, "weir_requests_total",
                      {{"route", "web"}, {"pool", "canary"}, {"code", "200"}});
    EXPECT_FALSE(own.has_value() && *own > 0) << "the leader served canary requests itself";
}

TEST(FleetRollout, SlowCanaryBehindAFollowerIsRolledBackByTheLeader) {
    PoolBackend stable("stable", 2ms), canary("canary", 30ms);
    FleetRig fleet(shared_etcd(), "follower-slow", stable.address(), canary.address(), quick_steps());
    const int leader = fleet.wait_leader(20s);
    ASSERT_GE(leader, 0) << "no single leader";
    const int follower = (leader + 1) % 3;

    Traffic load(fleet.replicas[follower]->weir->port(), 4, 60);
    ASSERT_TRUE(load.wait_total(100)) << describe(load.counts());
    ASSERT_EQ(rollout_call(*fleet.replicas[follower]->admin, "start").status, 200);

    RolloutView v = wait_rollout(*fleet.replicas[leader]->admin,
                                 [](const RolloutView& x) { return x.phase != "running"; }, 60s);
    EXPECT_EQ(v.phase, "rolled_back") << kinds_text(v);
    const RolloutView::Decision* back = v.last("rollback");
    ASSERT_NE(back, nullptr) << kinds_text(v);
    EXPECT_NE(back->reason.find("slower"), std::string::npos) << back->reason;
    RolloutView f = wait_rollout(*fleet.replicas[follower]->admin,
                                 [](const RolloutView& x) { return x.phase == "rolled_back"; }, 10s);
    EXPECT_EQ(f.phase, "rolled_back") << kinds_text(f);
    // The follower's split went back to the stable pool: the canary gets nothing more.
    const std::uint64_t canary_before = canary.requests();
    ASSERT_TRUE(load.wait_each_thread(20)) << describe(load.counts());
    EXPECT_EQ(canary.requests(), canary_before);
}

TEST(FleetRollout, LeaderKilledMidRolloutAnotherContinuesFromTheRecordedStep) {
    PoolBackend stable("stable", 2ms), canary("canary", 2ms);
    RolloutBlock block = quick_steps();
    block.steps = "[20, 40, 60, 80, 100]";
    block.step_min_duration = "3s";
    // Millisecond backends on a shared machine: noise, not the canary, would
    // decide the p90 bound at a few samples a second.
    block.extra = "min_latency_difference: 3ms";
    FleetRig fleet(shared_etcd(), "leader-kill", stable.address(), canary.address(), block);
    const int leader = fleet.wait_leader(20s);
    ASSERT_GE(leader, 0) << "no single leader";

    std::vector<std::unique_ptr<Traffic>> loads;
    for (auto& r : fleet.replicas) loads.push_back(std::make_unique<Traffic>(r->weir->port(), 3, 40));
    ASSERT_EQ(rollout_call(*fleet.replicas[leader]->admin, "start").status, 200);
    RolloutView mid = wait_rollout(*fleet.replicas[leader]->admin,
                                   [](const RolloutView& x) { return x.phase != "running" || x.step >= 1; }, 60s);
    ASSERT_EQ(mid.phase, "running") << kinds_text(mid);
    ASSERT_GE(mid.step, 1) << kinds_text(mid) << ": " << (mid.decisions.empty() ? "" : mid.decisions.back().reason)
                           << "\n" << fleet.replicas[leader]->weir->log();

    loads[leader]->stop();
    fleet.replicas[leader]->weir->signal(SIGKILL);
    const auto killed = Clock::now();
    const int next = fleet.wait_leader(30s, {leader});
    const double failover = std::chrono::duration<double>(Clock::now() - killed).count();
    ASSERT_GE(next, 0) << "no replica took over";
    std::cout << "[ fleet ] leader killed: replica " << fleet.replicas[next]->name << " leads after " << failover
              << " s (lease " << lease_seconds << " s)\n";
    RecordProperty("failover_seconds", std::to_string(failover));
    // Two lease periods, plus the watch and a loaded machine's slack.
    EXPECT_LT(failover, 2.0 * lease_seconds + 4.0);

    RolloutView done = wait_rollout(*fleet.replicas[next]->admin,
                                    [](const RolloutView& x) { return x.phase != "running"; }, 90s);
    EXPECT_EQ(done.phase, "promoted") << kinds_text(done);
    // The record goes on from where it was: what was decided before the
    // kill is still there, once, and the steps were walked in order.
    const auto before = changes(mid), after = changes(done);
    ASSERT_GE(after.size(), before.size()) << joined(after);
    EXPECT_TRUE(std::equal(before.begin(), before.end(), after.begin())) << joined(before) << " | " << joined(after);
    std::vector<std::string> expected = {"start@0", "advance@0", "advance@1", "advance@2", "promote@3"};
    EXPECT_EQ(after, expected) << joined(after);
}

TEST(FleetAuth, ReplicasAuthenticateToEtcdWithAPasswordFile) {
    EtcdCluster etcd({1});
    etcd.enable_auth("weir", "s3cret-pass");
    PoolBackend stable("stable", 1ms), canary("canary", 1ms);
    TempDir secrets;
    write_file(secrets.path + "/good", "s3cret-pass\n");
    write_file(secrets.path + "/bad", "wrong\n");
    const std::string prefix = "/weir/auth";
    auto yaml = [&](const TempDir& dir, const std::string& name, const std::string& file) {
        ControlConfig c = control::stateful_config(dir, stable.address(), canary.address());
        return rollout_yaml(c, quick_steps()) +
               cluster_yaml(etcd.client_urls(), prefix, name,
                            "  username: weir\n  password_file: " + secrets.path + "/" + file + "\n");
    };
    TempDir d1, d2;
    WeirProcess good(yaml(d1, "good", "good"));
    AdminClient admin(good.admin_port());
    const auto deadline = Clock::now() + 20s;
    json::value v;
    while (Clock::now() < deadline) {
        v = cluster_view(admin);
        if (!v.is_null() && v.at("synced").as_bool()) break;
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(!v.is_null() && v.at("synced").as_bool()) << json::serialize(v) << "\n" << good.log();
    Response edit = admin.put("/routes/web/split", R"({"stable": 70, "canary": 30})");
    EXPECT_EQ(edit.status, 200) << edit.body;

    // A wrong password: serving goes on, edits are refused, /cluster says why.
    WeirProcess bad(yaml(d2, "bad", "bad"));
    AdminClient bad_admin(bad.admin_port());
    std::this_thread::sleep_for(1s);
    json::value b = cluster_view(bad_admin);
    ASSERT_FALSE(b.is_null());
    EXPECT_FALSE(b.at("synced").as_bool()) << json::serialize(b);
    EXPECT_NE(json::serialize(b).find("auth"), std::string::npos) << json::serialize(b) << "\n" << bad.log();
    Response refused = bad_admin.put("/routes/web/split", R"({"stable": 10, "canary": 90})");
    EXPECT_EQ(refused.status, 503) << refused.body;
}

}  // namespace
}  // namespace weir_it::rollout
