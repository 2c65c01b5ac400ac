// Progressive rollout end to end (docs/config.md `rollout`, docs/admin-api.md, docs/metrics.md):
// the real binary in front of two fake pools on loopback, a rollout started
// through the admin API, and the judge's verdict observed through
// GET /routes/{r}/rollout, GET /routes/{r}, /metrics and where the traffic
// goes. Short step durations (2 s) and 100-300 requests/s from a few paced
// client threads; every wait is a condition with a generous deadline.
#include "rollout_support.hpp"

#include <signal.h>

#include <chrono>
#include <iostream>

namespace weir_it::rollout {
namespace {

namespace json = boost::json;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

std::string dump(const json::value& v) { return json::serialize(v); }

// Sends SIGTERM and waits up to 15 s: the exit status, if weir exited.
std::optional<int> terminate(WeirProcess& weir) {
    weir.signal(SIGTERM);
    return weir.wait_exit(15s);
}

// SIGTERM, and weir exits with status 0.
void stop_cleanly(WeirProcess& weir) {
    auto code = terminate(weir);
    ASSERT_TRUE(code.has_value()) << "weir did not exit after SIGTERM\n" << weir.log();
    EXPECT_EQ(*code, 0) << weir.log();
}

// The rollout call answered 200 with the rollout's state; returns it parsed.
json::value expect_ok(const Response& r, const std::string& what) {
    EXPECT_EQ(r.status, 200) << what << ": " << r.describe() << "\n" << r.body;
    return control::parse_json(r.body);
}

// One weir running the rollout config (control::stateful_config plus `block`) and its
// admin client. Tests take its parts by name: auto& [dir, c, weir, admin] = rig;
struct RolloutRig {
    TempDir dir;
    ControlConfig c;
    WeirProcess weir;
    AdminClient admin;
    RolloutRig(const std::string& stable, const std::string& canary, const RolloutBlock& block = {})
        : c(control::stateful_config(dir, stable, canary)), weir(rollout_yaml(c, block)), admin(weir.admin_port()) {}
};

// ---------------------------------------------------------------- 1. slow canary

TEST(RolloutEndToEnd, SlowCanaryIsRolledBackAutomatically) {
    PoolBackend stable("stable", 5ms), canary("canary", 40ms);
    RolloutRig rig(stable.address(), canary.address());
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;

    RolloutView idle = rollout_view(admin);
    ASSERT_EQ(idle.status, 200) << idle.raw;
    EXPECT_EQ(idle.phase, "idle") << idle.raw;
    EXPECT_EQ(idle.canary_percent, 0) << idle.raw;

    Traffic load(weir.port(), 4, 60);  // ~240 requests/s
    ASSERT_TRUE(load.wait_total(100)) << describe(load.counts());
    EXPECT_EQ(canary.requests(), 0u) << "split {stable: 100, canary: 0} before the rollout starts";

    const auto started = Clock::now();
    json::value s = expect_ok(rollout_call(admin, "start"), "start");
    EXPECT_EQ(str_at(s, {"phase"}), "running") << dump(s);
    EXPECT_EQ(num_at(s, {"canary_percent"}), 10.0) << dump(s);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;

    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 30s);
    const double took = seconds_since(started);
    ASSERT_EQ(v.phase, "rolled_back") << "after " << took << " s: " << kinds_text(v) << "\n"
                                      << describe(load.counts()) << "\n" << v.raw.substr(0, 4000);
    std::cout << "[rollout-e2e] slow canary (5 ms vs 40 ms): rolled back " << took
              << " s after start; canary requests before: " << canary.requests() << "\n";

    // The verdict and its evidence.
    EXPECT_EQ(v.count("rollback"), 1) << kinds_text(v);
    EXPECT_EQ(v.count("advance"), 0) << kinds_text(v);
    EXPECT_EQ(v.count("promote"), 0) << kinds_text(v);
    EXPECT_EQ(v.step, 0) << v.raw.substr(0, 2000);
    EXPECT_EQ(v.canary_percent, 0) << v.raw.substr(0, 2000);
    const RolloutView::Decision* rb = v.last("rollback");
    ASSERT_NE(rb, nullptr);
    EXPECT_EQ(str_at(rb->evidence, {"trigger"}), "latency") << rb->reason << "\n" << dump(rb->evidence);
    EXPECT_TRUE(contains(rb->reason, "slower")) << rb->reason;
    EXPECT_TRUE(contains(dump(rb->evidence), "\"latency\"")) << dump(rb->evidence);
    EXPECT_GT(rb->at_ms, 0);
    ASSERT_TRUE(v.json.is_object());
    EXPECT_TRUE(v.json.as_object().contains("spec")) << v.raw.substr(0, 2000);

    // The route: canary weight 0, visible in GET /routes/web.
    auto route = admin.route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 100}, {"canary", 0}})) << route.raw;
    json::value rs = rollout_state(admin);
    EXPECT_EQ(str_at(rs, {"phase"}), "rolled_back") << dump(rs);
    EXPECT_EQ(str_at(rs, {"last_decision"}), "rollback") << dump(rs);
    EXPECT_EQ(str_at(rs, {"last_reason"}), rb->reason) << dump(rs);
    EXPECT_EQ(num_at(rs, {"canary_percent"}), 0.0) << dump(rs);

    // No request reaches the canary after the rollback: once every client
    // finished the exchange it had in flight, the canary count stays put.
    ASSERT_TRUE(load.wait_each_thread(2)) << describe(load.counts());
    const std::uint64_t mark = canary.requests();
    ASSERT_TRUE(load.wait_total(300)) << describe(load.counts());
    EXPECT_EQ(canary.requests(), mark) << "requests reached the canary after the rollback";

    // Metrics.
    EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", "rollback"}}), 1.0);
    EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", "start"}}), 1.0);
    EXPECT_EQ(metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), 0.0);
    EXPECT_EQ(metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "stable"}}), 1.0);
    EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), -1.0);

    load.stop();
    const auto counts = load.counts();
    EXPECT_EQ(counts.failures, 0u) << describe(counts);
    EXPECT_EQ(counts.errors_of("stable") + counts.errors_of("canary"), 0u) << describe(counts);
    EXPECT_GT(counts.ok_of("canary"), 0u) << describe(counts);
}

// ---------------------------------------------------------------- 2. canary with 5xx

TEST(RolloutEndToEnd, ErroringCanaryIsRolledBackQuickly) {
    PoolBackend stable("stable", 5ms), canary("canary", 5ms, 0.30);
    RolloutRig rig(stable.address(), canary.address());
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;

    Traffic load(weir.port(), 3, 50);  // ~150 requests/s
    ASSERT_TRUE(load.wait_total(60)) << describe(load.counts());

    const auto started = Clock::now();
    expect_ok(rollout_call(admin, "start"), "start");
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 20s);
    const double took = seconds_since(started);
    ASSERT_EQ(v.phase, "rolled_back") << "after " << took << " s: " << kinds_text(v) << "\n"
                                      << describe(load.counts()) << "\n" << v.raw.substr(0, 4000);
    const RolloutView::Decision* rb = v.last("rollback");
    ASSERT_NE(rb, nullptr);
    const std::string trigger = str_at(rb->evidence, {"trigger"});
    EXPECT_TRUE(trigger == "errors" || trigger == "failure_streak") << trigger << ": " << rb->reason;
    EXPECT_TRUE(contains(rb->reason, "canary")) << rb->reason;
    // The error test's evidence: the recent minute's and the step's counts.
    std::optional<double> judged_errors;
    if (const auto* tests = rb->evidence.as_object().at("errors").as_object().if_contains("tests"))
        judged_errors = num_at(tests->as_array().at(1), {"canary_errors"});
    EXPECT_TRUE(judged_errors.has_value()) << dump(rb->evidence);

    // Wait out the exchanges in flight at the rollback; from then on nothing reaches the canary.
    ASSERT_TRUE(load.wait_each_thread(2)) << describe(load.counts());
    const std::uint64_t mark = canary.requests();
    ASSERT_TRUE(load.wait_total(150)) << describe(load.counts());
    EXPECT_EQ(canary.requests(), mark) << "requests reached the canary after the rollback";
    load.stop();

    // Every canary error a client ever saw was before the rollback.
    const auto counts = load.counts();
    const std::uint64_t seen = counts.errors_of("canary");
    std::cout << "[rollout-e2e] canary with 30% 5xx: rolled back " << took << " s after start; clients saw " << seen
              << " canary errors (" << counts.ok_of("canary") << " canary successes); the judge counted "
              << judged_errors.value_or(-1) << "; reason: " << rb->reason << "\n";
    EXPECT_GE(seen, 3u) << describe(counts);
    EXPECT_LE(seen, 20u) << "too many canary errors reached clients before the rollback\n" << describe(counts);
    EXPECT_EQ(seen, canary.errors_sent()) << describe(counts);
    EXPECT_EQ(counts.errors_of("stable"), 0u) << describe(counts);
    EXPECT_EQ(counts.failures, 0u) << describe(counts);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 100}, {"canary", 0}})) << admin.route().raw;
    EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", "rollback"}}), 1.0);
    EXPECT_EQ(metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), 0.0);
}

// ---------------------------------------------------------------- 3. equal canary

TEST(RolloutEndToEnd, EqualCanaryIsPromoted) {
    PoolBackend stable("stable", 5ms), canary("canary", 5ms);
    RolloutRig rig(stable.address(), canary.address());
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;

    Traffic load(weir.port(), 4, 60);  // ~240 requests/s
    ASSERT_TRUE(load.wait_total(100)) << describe(load.counts());

    const auto started = Clock::now();
    expect_ok(rollout_call(admin, "start"), "start");
    // Halfway: the first advance moves the split to 50/50.
    RolloutView mid = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running" || x.step >= 1; }, 25s);
    ASSERT_TRUE(mid.count("advance") == 1 || mid.phase == "promoted")
        << kinds_text(mid) << "\n" << mid.raw.substr(0, 4000);
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 25s);
    const double took = seconds_since(started);
    ASSERT_EQ(v.phase, "promoted") << "after " << took << " s: " << kinds_text(v) << "\n"
                                   << describe(load.counts()) << "\n" << v.raw.substr(0, 6000);
    std::cout << "[rollout-e2e] equal canary: promoted " << took << " s after start; decisions " << kinds_text(v)
              << "\n";

    // start, advance (10% -> 50%), promote (50% -> 100%), in that order; never a rollback.
    std::vector<std::string> changes;
    for (const auto& k : v.kinds())
        if (k != "hold" && k != "inconclusive") changes.push_back(k);
    EXPECT_EQ(changes, (std::vector<std::string>{"start", "advance", "promote"})) << kinds_text(v);
    const RolloutView::Decision* adv = v.last("advance");
    const RolloutView::Decision* pro = v.last("promote");
    ASSERT_NE(adv, nullptr);
    ASSERT_NE(pro, nullptr);
    EXPECT_EQ(adv->step, 0);
    EXPECT_EQ(pro->step, 1);
    EXPECT_LE(adv->at_ms, pro->at_ms);
    EXPECT_EQ(str_at(adv->evidence, {"trigger"}), "evidence") << dump(adv->evidence);
    EXPECT_EQ(str_at(pro->evidence, {"trigger"}), "evidence") << dump(pro->evidence);
    EXPECT_EQ(v.canary_percent, 100) << v.raw.substr(0, 2000);

    // The route and its summary.
    auto route = admin.route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 0}, {"canary", 100}})) << route.raw;
    json::value rs = rollout_state(admin);
    EXPECT_EQ(str_at(rs, {"phase"}), "promoted") << dump(rs);
    EXPECT_EQ(str_at(rs, {"last_decision"}), "promote") << dump(rs);
    EXPECT_EQ(num_at(rs, {"canary_percent"}), 100.0) << dump(rs);

    // Metrics: the promoted step value (the last index + 1 = number of steps).
    EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 3.0);
    EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", "advance"}}), 1.0);
    EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", "promote"}}), 1.0);
    EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", "rollback"}})
                  .value_or(0),
              0.0);
    EXPECT_EQ(metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), 1.0);
    EXPECT_EQ(metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "stable"}}), 0.0);

    // All traffic goes to the canary now.
    ASSERT_TRUE(load.wait_each_thread(2)) << describe(load.counts());
    const auto before = load.counts();
    ASSERT_TRUE(load.wait_total(200)) << describe(load.counts());
    const auto after = load.counts();
    EXPECT_EQ(after.ok_of("stable"), before.ok_of("stable")) << describe(after);
    EXPECT_GE(after.ok_of("canary") - before.ok_of("canary"), 200u) << describe(after);
    load.stop();
    EXPECT_EQ(after.failures, 0u) << describe(after);
}

// ---------------------------------------------------------------- 4. restart mid-rollout

TEST(RolloutEndToEnd, RestartResumesTheRolloutAtItsStep) {
    PoolBackend stable("stable", 5ms), canary("canary", 5ms);
    TempDir dir;
    const ControlConfig c = control::stateful_config(dir, stable.address(), canary.address());
    RolloutBlock block;
    block.step_min_duration = "10m";  // never advances during the test
    block.step_max_duration = "20m";
    const std::string yaml = rollout_yaml(c, block);

    std::int64_t step_started_ms = 0;
    {
        WeirProcess weir(yaml);
        AdminClient admin(weir.admin_port());
        Traffic load(weir.port(), 3, 50);
        json::value s = expect_ok(rollout_call(admin, "start"), "start");
        step_started_ms = static_cast<std::int64_t>(num_at(s, {"step_started_ms"}).value_or(0));
        EXPECT_GT(step_started_ms, 0) << dump(s);
        // A few looks with traffic on both pools, and over a second at the
        // step, which the saved elapsed time must then show.
        const auto started = Clock::now();
        ASSERT_TRUE(wait_for([&] { return canary.requests() >= 40 && ms_since(started) >= 1500; }, 20s))
            << describe(load.counts());
        load.stop();
        RolloutView v = rollout_view(admin);
        ASSERT_EQ(v.phase, "running") << kinds_text(v);
        ASSERT_EQ(v.step, 0);
        EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 0.0);
        ASSERT_NO_FATAL_FAILURE(stop_cleanly(weir));
    }
    ASSERT_TRUE(control::file_exists(c.state_file));
    const std::string saved = read_file(c.state_file);
    EXPECT_TRUE(contains(saved, "rollouts") || contains(saved, "rollout")) << saved.substr(0, 2000);
    // The time spent at the step is saved at shutdown; the restart goes on from it.
    const auto saved_elapsed = num_at(control::parse_json(saved), {"rollouts", "web", "step_elapsed_ms"});
    ASSERT_TRUE(saved_elapsed) << saved.substr(0, 2000);
    EXPECT_GE(*saved_elapsed, 1000) << saved.substr(0, 2000);

    WeirProcess weir(yaml);
    AdminClient admin(weir.admin_port());
    RolloutView v = rollout_view(admin);
    ASSERT_EQ(v.status, 200) << v.raw;
    EXPECT_EQ(v.phase, "running") << v.raw.substr(0, 3000) << "\n" << weir.log();
    EXPECT_EQ(v.step, 0);
    EXPECT_EQ(v.canary_percent, 10);
    EXPECT_EQ(num_at(v.json, {"step_started_ms"}), static_cast<double>(step_started_ms)) << v.raw.substr(0, 2000);
    EXPECT_GE(num_at(v.json, {"step_elapsed_ms"}).value_or(-1), *saved_elapsed) << v.raw.substr(0, 2000);
    ASSERT_FALSE(v.decisions.empty());
    EXPECT_EQ(v.decisions.front().decision, "start") << kinds_text(v);
    const auto& note = v.decisions.back();
    EXPECT_EQ(note.decision, "hold") << kinds_text(v);
    EXPECT_TRUE(contains(note.reason, "restart")) << note.reason;
    EXPECT_EQ(str_at(note.evidence, {"trigger"}), "restart") << dump(note.evidence);
    std::cout << "[rollout-e2e] after the restart: " << kinds_text(v) << "; note: " << note.reason << "\n";

    auto route = admin.route();
    EXPECT_EQ(route.split, (SplitMap{{"stable", 90}, {"canary", 10}})) << route.raw;
    json::value rs = rollout_state(admin);
    EXPECT_EQ(str_at(rs, {"phase"}), "running") << dump(rs);
    EXPECT_EQ(num_at(rs, {"step"}), 0.0) << dump(rs);
    EXPECT_TRUE(contains(str_at(rs, {"last_reason"}), "restart")) << dump(rs);
    EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 0.0);
    auto w = metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}});
    ASSERT_TRUE(w.has_value());
    EXPECT_NEAR(*w, 0.1, 1e-9);

    // It keeps running at 10% with traffic: ~10% of requests reach the canary, no decision but holds.
    Traffic load(weir.port(), 3, 50);
    ASSERT_TRUE(load.wait_total(500, 20s)) << describe(load.counts());
    load.stop();
    const auto counts = load.counts();
    const double share = static_cast<double>(counts.ok_of("canary")) / static_cast<double>(counts.done);
    EXPECT_GT(share, 0.04) << describe(counts);
    EXPECT_LT(share, 0.18) << describe(counts);
    EXPECT_EQ(counts.failures, 0u) << describe(counts);
    RolloutView later = rollout_view(admin);
    EXPECT_EQ(later.phase, "running") << kinds_text(later);
    EXPECT_EQ(later.step, 0) << kinds_text(later);
    EXPECT_EQ(later.count("rollback"), 0) << kinds_text(later);
}

TEST(RolloutEndToEnd, RestartAtALaterStepResumesThereAndFinishes) {
    PoolBackend stable("stable", 5ms), canary("canary", 5ms);
    TempDir dir;
    const ControlConfig c = control::stateful_config(dir, stable.address(), canary.address());
    const std::string yaml = rollout_yaml(c, RolloutBlock{});

    {
        WeirProcess weir(yaml);
        AdminClient admin(weir.admin_port());
        Traffic load(weir.port(), 4, 60);
        expect_ok(rollout_call(admin, "start"), "start");
        RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running" || x.step >= 1; }, 25s);
        // Without traffic the step cannot pass (it needs min_samples at the step).
        load.stop();
        ASSERT_EQ(v.phase, "running") << kinds_text(v) << "\n" << v.raw.substr(0, 3000);
        ASSERT_EQ(v.step, 1) << kinds_text(v);
        ASSERT_NO_FATAL_FAILURE(stop_cleanly(weir));
    }

    WeirProcess weir(yaml);
    AdminClient admin(weir.admin_port());
    RolloutView v = rollout_view(admin);
    EXPECT_EQ(v.phase, "running") << v.raw.substr(0, 3000) << "\n" << weir.log();
    EXPECT_EQ(v.step, 1) << kinds_text(v);
    EXPECT_EQ(v.canary_percent, 50);
    ASSERT_FALSE(v.decisions.empty());
    EXPECT_EQ(v.decisions.back().decision, "hold") << kinds_text(v);
    EXPECT_TRUE(contains(v.decisions.back().reason, "restart")) << v.decisions.back().reason;
    EXPECT_EQ(v.count("start"), 1) << kinds_text(v);
    EXPECT_EQ(v.count("advance"), 1) << kinds_text(v);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 50}, {"canary", 50}})) << admin.route().raw;
    EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 1.0);

    // With traffic again, the step passes on fresh evidence and the canary is promoted.
    const auto resumed = Clock::now();
    Traffic load(weir.port(), 4, 60);
    RolloutView done = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 25s);
    ASSERT_EQ(done.phase, "promoted") << kinds_text(done) << "\n" << done.raw.substr(0, 4000);
    std::cout << "[rollout-e2e] restarted at step 1: promoted " << seconds_since(resumed)
              << " s after traffic resumed; decisions " << kinds_text(done) << "\n";
    // The step's time counts from the restart (the evidence window was lost).
    const RolloutView::Decision* pro = done.last("promote");
    ASSERT_NE(pro, nullptr);
    EXPECT_GE(pro->at_ms - v.decisions.back().at_ms, 2000) << kinds_text(done);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 0}, {"canary", 100}})) << admin.route().raw;
    load.stop();
    EXPECT_EQ(load.counts().failures, 0u) << describe(load.counts());
}

TEST(RolloutEndToEnd, ReloadOfTheSameFileKeepsTheRunningRollout) {
    PoolBackend stable("stable", 0ms), canary("canary", 0ms);
    RolloutRig rig(stable.address(), canary.address());
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;
    expect_ok(rollout_call(admin, "start"), "start");
    RolloutView before = rollout_view(admin);
    ASSERT_EQ(before.phase, "running");

    auto [status, body] = admin.reload();
    ASSERT_EQ(status, 200) << dump(body);
    RolloutView after = rollout_view(admin);
    EXPECT_EQ(after.phase, "running") << kinds_text(after) << "\n" << weir.log();
    EXPECT_EQ(after.step, 0);
    EXPECT_EQ(after.count("start"), 1) << kinds_text(after);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;
    EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 0.0);
    auto w = metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}});
    ASSERT_TRUE(w.has_value());
    EXPECT_NEAR(*w, 0.1, 1e-9);
}

TEST(RolloutEndToEnd, CanaryThatRefusesConnectionsIsRolledBack) {
    PoolBackend stable("stable", 5ms);
    RolloutRig rig(stable.address(), "127.0.0.1:" + std::to_string(closed_port()));
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;

    Traffic load(weir.port(), 3, 50);
    ASSERT_TRUE(load.wait_total(60)) << describe(load.counts());
    const auto started = Clock::now();
    expect_ok(rollout_call(admin, "start"), "start");
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 20s);
    const double took = seconds_since(started);
    ASSERT_EQ(v.phase, "rolled_back") << "after " << took << " s: " << kinds_text(v) << "\n"
                                      << describe(load.counts()) << "\n" << v.raw.substr(0, 4000);
    ASSERT_TRUE(load.wait_each_thread(2)) << describe(load.counts());
    const auto at_rollback = load.counts();
    ASSERT_TRUE(load.wait_total(150)) << describe(load.counts());
    load.stop();
    const auto counts = load.counts();
    // Refused connects move each request to the stable pool, so clients see
    // no failure; the refusals still count against the canary for the judge.
    std::cout << "[rollout-e2e] canary refusing connections: rolled back " << took << " s after start; clients saw "
              << at_rollback.failures << " failed requests; reason: " << v.last("rollback")->reason << "\n";
    EXPECT_EQ(at_rollback.failures, 0u) << describe(at_rollback);
    EXPECT_EQ(counts.failures, 0u) << "failures after the rollback\n" << describe(counts);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 100}, {"canary", 0}})) << admin.route().raw;
}

TEST(RolloutEndToEnd, PromotedRolloutSurvivesARestart) {
    PoolBackend stable("stable", 0ms), canary("canary", 0ms);
    TempDir dir;
    const ControlConfig c = control::stateful_config(dir, stable.address(), canary.address());
    const std::string yaml = rollout_yaml(c, RolloutBlock{});
    {
        WeirProcess weir(yaml);
        AdminClient admin(weir.admin_port());
        expect_ok(rollout_call(admin, "start"), "start");
        expect_ok(rollout_call(admin, "promote"), "promote");
        EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 3.0);
        // A reload of the same file keeps the run, and the gauge with it.
        auto [status, body] = admin.reload();
        EXPECT_EQ(status, 200) << dump(body);
        EXPECT_EQ(rollout_view(admin).phase, "promoted");
        EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 3.0) << "after POST /reload";
        auto code = terminate(weir);
        ASSERT_TRUE(code.has_value()) << weir.log();
    }
    WeirProcess weir(yaml);
    AdminClient admin(weir.admin_port());
    RolloutView v = rollout_view(admin);
    EXPECT_EQ(v.phase, "promoted") << v.raw.substr(0, 2000);
    EXPECT_EQ(v.canary_percent, 100);
    EXPECT_EQ(v.kinds(), (std::vector<std::string>{"start", "promote"})) << kinds_text(v);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 0}, {"canary", 100}})) << admin.route().raw;
    auto all = control::sample_pools(weir.port(), 50);
    EXPECT_EQ(all["canary"], 50) << "stable=" << all["stable"] << " error=" << all["error"];
    // The gauge reads the same as before the restart (its help: "the last index + 1: promoted").
    EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 3.0) << "after the restart";
    EXPECT_EQ(metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), 1.0);
}

// What the limits ask of traffic is said at load and shown in the rollout's
// description: with max_error_rate_increase 0.001 no step can advance on
// fewer than ~2 700 canary requests, whatever min_samples says; at the
// first step's 1% that is ~4.5 route requests a second for 10 minutes.
TEST(RolloutEndToEnd, WhatTheLimitsAskOfTrafficIsSaidAtLoad) {
    PoolBackend stable("stable", 5ms), canary("canary", 5ms);
    RolloutBlock block;
    block.steps = "[1, 10, 100]";
    block.step_max_duration = "10m";
    block.min_samples = 500;
    block.max_error_rate_increase = 0.001;
    RolloutRig rig(stable.address(), canary.address(), block);
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;

    ASSERT_TRUE(wait_for([&] { return contains(weir.log(), "each step needs about"); }, 10s)) << weir.log();
    EXPECT_TRUE(contains(weir.log(), "max_error_rate_increase 0.001 is shown only after about")) << weir.log();
    RolloutView v = rollout_view(admin);
    const auto needed = num_at(v.json, {"traffic", "error_proof_requests"});
    ASSERT_TRUE(needed) << v.raw.substr(0, 2000);
    EXPECT_GT(*needed, 2400);
    EXPECT_LT(*needed, 3000);
    const auto rps = num_at(v.json, {"traffic", "route_rps_needed"});
    ASSERT_TRUE(rps) << v.raw.substr(0, 2000);
    EXPECT_NEAR(*rps, *needed / (0.01 * 600), 0.01);
}

// The judge must look only at traffic of the step it judges. With the file
// split giving the canary a share while the rollout is idle (docs/config.md's own
// example: split 90/10 plus a rollout), traffic before the start must not
// count as evidence for step 0: without a single request after the start,
// the rollout holds (it never advances on missing data).
TEST(RolloutEndToEnd, TrafficBeforeTheStartIsNotEvidence) {
    PoolBackend stable("stable", 5ms), canary("canary", 5ms);
    RolloutBlock block;
    block.file_split = {{"stable", 90}, {"canary", 10}};
    RolloutRig rig(stable.address(), canary.address(), block);
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;

    // Idle rollout, file split 90/10: the canary serves well over min_samples (50).
    {
        Traffic load(weir.port(), 4, 60);
        ASSERT_TRUE(wait_for([&] { return canary.requests() >= 120; }, 20s)) << describe(load.counts());
        load.stop();
        EXPECT_EQ(load.counts().failures, 0u) << describe(load.counts());
    }
    ASSERT_EQ(rollout_view(admin).phase, "idle");

    // Start, then no traffic at all.
    const std::uint64_t served_before = stable.requests() + canary.requests();
    expect_ok(rollout_call(admin, "start"), "start");
    // Long enough for step_min_duration (2 s) and a few looks; nothing should happen.
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running" || x.step != 0; }, 6s);
    EXPECT_EQ(stable.requests() + canary.requests(), served_before) << "no request was sent after the start";
    EXPECT_EQ(v.phase, "running") << kinds_text(v);
    EXPECT_EQ(v.step, 0) << kinds_text(v);
    if (const auto* adv = v.last("advance")) {
        ADD_FAILURE() << "advanced without a single request since the start: " << adv->reason
                      << "\nevidence.advance: " << dump(adv->evidence.as_object().contains("advance")
                                                             ? adv->evidence.at("advance")
                                                             : json::value(nullptr));
    }
}

// ---------------------------------------------------------------- 5. operator commands

TEST(RolloutOperator, InvalidTransitionsAnswer409AndChangeNothing) {
    PoolBackend stable("stable", 0ms), canary("canary", 0ms);
    RolloutRig rig(stable.address(), canary.address());
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;

    auto expect_409 = [&](const std::string& verb, const RolloutView& before) {
        SCOPED_TRACE(verb + " in phase " + before.phase);
        Response r = rollout_call(admin, verb);
        EXPECT_EQ(r.status, 409) << r.describe() << "\n" << r.body;
        json::value e = control::parse_json(r.body);
        EXPECT_FALSE(str_at(e, {"error"}).empty()) << r.body;
        RolloutView after = rollout_view(admin);
        EXPECT_EQ(after.phase, before.phase);
        EXPECT_EQ(after.step, before.step);
        EXPECT_EQ(after.canary_percent, before.canary_percent);
        EXPECT_EQ(after.kinds(), before.kinds()) << kinds_text(after);
    };

    // Idle: nothing to pause, resume or roll back.
    RolloutView idle = rollout_view(admin);
    ASSERT_EQ(idle.phase, "idle") << idle.raw;
    EXPECT_TRUE(idle.decisions.empty()) << kinds_text(idle);
    for (const char* verb : {"pause", "resume", "rollback"}) expect_409(verb, idle);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 100}, {"canary", 0}})) << admin.route().raw;
    EXPECT_FALSE(admin.route().override_) << admin.route().raw;

    // Running: cannot start again or resume.
    expect_ok(rollout_call(admin, "start"), "start");
    RolloutView running = rollout_view(admin);
    ASSERT_EQ(running.phase, "running");
    for (const char* verb : {"start", "resume"}) expect_409(verb, running);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;

    // Paused: cannot pause again or start.
    expect_ok(rollout_call(admin, "pause"), "pause");
    RolloutView paused = rollout_view(admin);
    ASSERT_EQ(paused.phase, "paused");
    for (const char* verb : {"pause", "start"}) expect_409(verb, paused);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;

    // Rolled back: cannot roll back again, pause or resume.
    expect_ok(rollout_call(admin, "rollback"), "rollback");
    RolloutView back = rollout_view(admin);
    ASSERT_EQ(back.phase, "rolled_back");
    for (const char* verb : {"rollback", "pause", "resume"}) expect_409(verb, back);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 100}, {"canary", 0}})) << admin.route().raw;

    // Unknown verbs and routes; GET only on the rollout resource, POST only on its verbs.
    EXPECT_EQ(rollout_call(admin, "advance").status, 404);
    EXPECT_EQ(rollout_call(admin, "start", "nosuchroute").status, 404);
    EXPECT_EQ(admin.get("/routes/web/rollout/start").status, 405);
    EXPECT_EQ(admin.post("/routes/web/rollout").status, 405);

    // Only the accepted commands were counted.
    for (const char* d : {"start", "pause", "rollback"})
        EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", d}}), 1.0) << d;
    EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", "resume"}}).value_or(0),
              0.0);
}

TEST(RolloutOperator, PauseHoldsResumeContinuesPromoteAndRollbackByHand) {
    PoolBackend stable("stable", 5ms), canary("canary", 5ms);
    RolloutRig rig(stable.address(), canary.address());
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;

    Traffic load(weir.port(), 4, 60);  // ~240 requests/s
    ASSERT_TRUE(load.wait_total(100)) << describe(load.counts());

    expect_ok(rollout_call(admin, "start"), "start");
    json::value p = expect_ok(rollout_call(admin, "pause"), "pause");
    EXPECT_EQ(str_at(p, {"phase"}), "paused") << dump(p);
    EXPECT_EQ(num_at(p, {"canary_percent"}), 10.0) << dump(p);
    EXPECT_EQ(str_at(rollout_state(admin), {"last_decision"}), "pause");

    // Paused: traffic keeps flowing at 10% well beyond what would advance
    // (2 s and 50 canary samples), and nothing is decided.
    const std::uint64_t mark = canary.requests();
    ASSERT_TRUE(wait_for([&] { return canary.requests() >= mark + 150; }, 20s)) << describe(load.counts());
    RolloutView paused = rollout_view(admin);
    EXPECT_EQ(paused.phase, "paused") << kinds_text(paused);
    EXPECT_EQ(paused.step, 0) << kinds_text(paused);
    EXPECT_EQ(paused.count("advance"), 0) << kinds_text(paused);
    EXPECT_EQ(paused.kinds(), (std::vector<std::string>{"start", "pause"})) << kinds_text(paused);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 90}, {"canary", 10}})) << admin.route().raw;

    // Resume: the walk continues and advances on evidence.
    json::value r = expect_ok(rollout_call(admin, "resume"), "resume");
    EXPECT_EQ(str_at(r, {"phase"}), "running") << dump(r);
    RolloutView adv = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running" || x.step >= 1; }, 25s);
    ASSERT_EQ(adv.phase, "running") << kinds_text(adv) << "\n" << adv.raw.substr(0, 4000);
    ASSERT_EQ(adv.step, 1) << kinds_text(adv);
    EXPECT_EQ(adv.count("advance"), 1) << kinds_text(adv);
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 50}, {"canary", 50}})) << admin.route().raw;

    // Promote by hand (before the step's 2 s are up): 100% canary at once.
    json::value pr = expect_ok(rollout_call(admin, "promote"), "promote");
    EXPECT_EQ(str_at(pr, {"phase"}), "promoted") << dump(pr);
    EXPECT_EQ(num_at(pr, {"canary_percent"}), 100.0) << dump(pr);
    RolloutView promoted = rollout_view(admin);
    ASSERT_NE(promoted.last("promote"), nullptr);
    EXPECT_TRUE(contains(promoted.last("promote")->reason, "operator")) << promoted.last("promote")->reason;
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 0}, {"canary", 100}})) << admin.route().raw;
    ASSERT_TRUE(load.wait_each_thread(2)) << describe(load.counts());
    {
        const auto before = load.counts();
        ASSERT_TRUE(load.wait_total(100)) << describe(load.counts());
        EXPECT_EQ(load.counts().ok_of("stable"), before.ok_of("stable")) << describe(load.counts());
    }
    EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), 3.0);

    // Roll back by hand from promoted: everything back on stable at once.
    json::value rb = expect_ok(rollout_call(admin, "rollback"), "rollback");
    EXPECT_EQ(str_at(rb, {"phase"}), "rolled_back") << dump(rb);
    RolloutView back = rollout_view(admin);
    ASSERT_NE(back.last("rollback"), nullptr);
    EXPECT_TRUE(contains(back.last("rollback")->reason, "operator")) << back.last("rollback")->reason;
    EXPECT_EQ(str_at(back.last("rollback")->evidence, {"trigger"}), "operator");
    EXPECT_EQ(admin.route().split, (SplitMap{{"stable", 100}, {"canary", 0}})) << admin.route().raw;
    ASSERT_TRUE(load.wait_each_thread(2)) << describe(load.counts());
    {
        const std::uint64_t canary_mark = canary.requests();
        ASSERT_TRUE(load.wait_total(100)) << describe(load.counts());
        EXPECT_EQ(canary.requests(), canary_mark) << "requests reached the canary after the rollback";
    }
    EXPECT_EQ(metric(admin, "weir_rollout_step", {{"route", "web"}}), -1.0);
    EXPECT_EQ(metric(admin, "weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), 0.0);

    // The whole history, in order.
    std::vector<std::string> changes;
    for (const auto& k : back.kinds())
        if (k != "hold" && k != "inconclusive") changes.push_back(k);
    EXPECT_EQ(changes, (std::vector<std::string>{"start", "pause", "resume", "advance", "promote", "rollback"}))
        << kinds_text(back);
    for (const char* d : {"start", "pause", "resume", "advance", "promote", "rollback"})
        EXPECT_EQ(metric(admin, "weir_rollout_decisions_total", {{"route", "web"}, {"decision", d}}), 1.0) << d;

    load.stop();
    EXPECT_EQ(load.counts().failures, 0u) << describe(load.counts());
}

// While a rollout runs, the route's split belongs to it. A manual edit of
// that split (PUT/DELETE /split, POST /switch) must either be refused (409)
// or be reflected by the rollout; what must not happen is that the rollout
// reports one canary share while the route serves another (the judge would
// then compare pools at a share the run does not know, or — after DELETE —
// never see a canary request again and hold forever).
TEST(RolloutOperator, ManualSplitEditsNeverDisagreeWithARunningRollout) {
    PoolBackend stable("stable", 0ms), canary("canary", 0ms);
    RolloutRig rig(stable.address(), canary.address());
    [[maybe_unused]] auto& [dir, c, weir, admin] = rig;
    expect_ok(rollout_call(admin, "start"), "start");

    struct Edit {
        const char* what;
        std::function<Response()> call;
    };
    const std::vector<Edit> edits = {
        {"PUT /routes/web/split {stable: 50, canary: 50}",
         [&] { return admin.put("/routes/web/split", R"({"stable": 50, "canary": 50})"); }},
        {"DELETE /routes/web/split", [&] { return admin.del("/routes/web/split"); }},
        {"POST /routes/web/switch {pool: canary}",
         [&] { return admin.post("/routes/web/switch", R"({"pool": "canary"})"); }},
    };
    for (const auto& e : edits) {
        SCOPED_TRACE(e.what);
        Response r = e.call();
        auto route = admin.route();
        RolloutView v = rollout_view(admin);
        ASSERT_EQ(v.phase, "running") << kinds_text(v);
        const double served = route.split.count("canary") ? route.split.at("canary") : -1;
        double total = 0;
        for (const auto& [_, w] : route.split) total += w;
        const double served_percent = total > 0 ? 100 * served / total : -1;
        if (r.status == 409) {
            EXPECT_EQ(route.split, (SplitMap{{"stable", 90}, {"canary", 10}})) << "refused, yet changed: " << route.raw;
        } else {
            EXPECT_EQ(served_percent, v.canary_percent)
                << e.what << " answered " << r.status << "; the route now serves " << control::to_text(route.split)
                << " while GET /routes/web/rollout says canary_percent " << v.canary_percent;
        }
        // Put the rollout's split back for the next edit.
        admin.put("/routes/web/split", R"({"stable": 90, "canary": 10})");
    }
}

}  // namespace
}  // namespace weir_it::rollout
