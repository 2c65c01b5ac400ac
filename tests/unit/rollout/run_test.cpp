// The step walker: operator commands, automatic advance / promote / hold /
// inconclusive / rollback under simulated time, decision records with
// evidence, and the state round trip through JSON.
#include "rollout/run.hpp"

#include "traffic.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace weir::rollout {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Short steps for walker tests.
RolloutSpec fast_spec() {
    RolloutSpec s;
    s.canary = "canary";
    s.baseline = "stable";
    s.steps = {10, 50};
    s.step_min_duration = 5s;
    s.step_max_duration = 60s;
    s.min_samples = 100;
    s.max_latency_ratio = 1.10;
    s.max_error_rate_increase = 0.01;
    s.on_inconclusive = OnInconclusive::hold;
    return s;
}

struct Feed {
    testing::Rng rng{1};
    testing::Traffic traffic;
    std::int64_t t = 0;  // next second
    int changes = 0;     // looks that returned true

    // Feeds `seconds` slices; stops early once the run is finished.
    void run_for(RolloutRun& run, std::int64_t seconds) {
        Slice s;
        for (std::int64_t i = 0; i < seconds; ++i, ++t) {
            testing::fill_slice(rng, traffic, t, run.canary_percent() / 100, s);
            const double before = run.canary_percent();
            const bool changed = run.look((t + 1) * 1000, s);
            EXPECT_EQ(changed, before != run.canary_percent()) << "look() returns true exactly when the share changes";
            if (changed) ++changes;
        }
    }
};

// Equal up to number kinds (int64 / uint64 / double) and the last digit of
// a double (Boost.JSON's default parser may be off by an ulp).
bool same_json(const json::value& a, const json::value& b) {
    if (a.is_number() && b.is_number()) {
        const double x = a.to_number<double>(), y = b.to_number<double>();
        return x == y || std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
    }
    if (a.kind() != b.kind()) return false;
    if (a.is_object()) {
        const json::object &oa = a.get_object(), &ob = b.get_object();
        if (oa.size() != ob.size()) return false;
        for (const auto& kv : oa) {
            const json::value* other = ob.if_contains(kv.key());
            if (!other || !same_json(kv.value(), *other)) return false;
        }
        return true;
    }
    if (a.is_array()) {
        const json::array &xa = a.get_array(), &xb = b.get_array();
        if (xa.size() != xb.size()) return false;
        for (std::size_t i = 0; i < xa.size(); ++i)
            if (!same_json(xa[i], xb[i])) return false;
        return true;
    }
    return a == b;
}

int count(const RolloutRun& run, const std::string& decision) {
    return static_cast<int>(std::count_if(run.decisions().begin(), run.decisions().end(),
                                          [&](const DecisionRecord& d) { return d.decision == decision; }));
}

const DecisionRecord* last(const RolloutRun& run, const std::string& decision) {
    for (auto it = run.decisions().rbegin(); it != run.decisions().rend(); ++it)
        if (it->decision == decision) return &*it;
    return nullptr;
}

TEST(RolloutRun, CommandsWalkThePhases) {
    RolloutRun run(testing::scenario_spec());
    EXPECT_EQ(run.phase(), Phase::idle);
    EXPECT_EQ(run.canary_percent(), 0);
    EXPECT_STREQ(phase_name(Phase::rolled_back), "rolled_back");

    ASSERT_TRUE(run.start(1000));
    EXPECT_EQ(run.phase(), Phase::running);
    EXPECT_EQ(run.step_index(), 0);
    EXPECT_EQ(run.canary_percent(), 1);
    ASSERT_TRUE(run.pause(2000));
    EXPECT_EQ(run.phase(), Phase::paused);
    EXPECT_EQ(run.canary_percent(), 1) << "a paused run keeps its share";
    ASSERT_TRUE(run.resume(3000));
    EXPECT_EQ(run.phase(), Phase::running);
    ASSERT_TRUE(run.rollback(4000, "bad build"));
    EXPECT_EQ(run.phase(), Phase::rolled_back);
    EXPECT_EQ(run.canary_percent(), 0);
    EXPECT_NE(run.decisions().back().reason.find("bad build"), std::string::npos);
    ASSERT_TRUE(run.start(5000)) << "a finished rollout can start again";
    EXPECT_EQ(run.canary_percent(), 1);
    ASSERT_TRUE(run.promote(6000));
    EXPECT_EQ(run.phase(), Phase::promoted);
    EXPECT_EQ(run.canary_percent(), 100);

    std::vector<std::string> names;
    for (const DecisionRecord& d : run.decisions()) names.push_back(d.decision);
    EXPECT_EQ(names, (std::vector<std::string>{"start", "pause", "resume", "rollback", "start", "promote"}));
    EXPECT_EQ(run.decisions().front().at_ms, 1000);
    for (const DecisionRecord& d : run.decisions()) {
        EXPECT_FALSE(d.reason.empty());
        EXPECT_EQ(d.evidence.at("trigger").as_string(), "operator");
    }
}

TEST(RolloutRun, InvalidCommandsChangeNothing) {
    RolloutRun run(testing::scenario_spec());
    EXPECT_FALSE(run.pause(1));
    EXPECT_FALSE(run.resume(1));
    EXPECT_FALSE(run.rollback(1, "x")) << "nothing to roll back";
    EXPECT_TRUE(run.decisions().empty());
    ASSERT_TRUE(run.start(1));
    EXPECT_FALSE(run.start(2)) << "already running";
    EXPECT_FALSE(run.resume(2)) << "not paused";
    ASSERT_TRUE(run.pause(3));
    EXPECT_FALSE(run.pause(4));
    EXPECT_FALSE(run.start(4));
    ASSERT_TRUE(run.promote(5));
    EXPECT_FALSE(run.promote(6));
    EXPECT_FALSE(run.pause(6));
    EXPECT_FALSE(run.resume(6));
    ASSERT_TRUE(run.rollback(7, "")) << "a promoted canary can still be rolled back";
    EXPECT_FALSE(run.rollback(8, ""));
    EXPECT_EQ(run.decisions().size(), 4u);
    EXPECT_EQ(run.canary_percent(), 0);

    RolloutSpec none = testing::scenario_spec();
    none.steps.clear();
    RolloutRun empty(none);
    EXPECT_FALSE(empty.start(1));
    EXPECT_EQ(empty.phase(), Phase::idle);
}

TEST(RolloutRun, LooksBeforeStartOrAfterTheEndDoNothing) {
    RolloutRun run(fast_spec());
    Slice s;
    s.canary.errors = 100;
    EXPECT_FALSE(run.look(1000, s));
    EXPECT_TRUE(run.decisions().empty());
    run.start(1000);
    run.promote(2000);
    EXPECT_FALSE(run.look(3000, s));
    EXPECT_EQ(run.phase(), Phase::promoted);
}

TEST(RolloutRun, EqualCanaryAdvancesOnEvidenceAndPastTheLastStepIsPromoted) {
    RolloutRun run(fast_spec());  // steps 10%, 50%; then 100%
    Feed f;
    f.traffic.rps = 1000;
    run.start(0);
    f.run_for(run, 600);
    ASSERT_EQ(run.phase(), Phase::promoted) << run.decisions().back().reason;
    EXPECT_EQ(run.canary_percent(), 100);
    EXPECT_EQ(f.changes, 2);
    std::vector<std::string> names;
    for (const DecisionRecord& d : run.decisions())
        if (d.decision != "hold") names.push_back(d.decision);
    EXPECT_EQ(names, (std::vector<std::string>{"start", "advance", "promote"}));
    const DecisionRecord* adv = last(run, "advance");
    ASSERT_NE(adv, nullptr);
    EXPECT_GE(adv->at_ms, 5000) << "not before step_min_duration";
    EXPECT_EQ(adv->step, 0);
    EXPECT_NE(adv->reason.find("step 0 (10%) -> step 1 (50%)"), std::string::npos) << adv->reason;
    // The evidence of an advance: counts, error bounds, quantiles with
    // bounds for both pools, the rank test.
    const json::object& ev = adv->evidence;
    EXPECT_EQ(ev.at("trigger").as_string(), "evidence");
    const json::object& a = ev.at("advance").as_object();
    EXPECT_TRUE(a.at("ready").as_bool());
    EXPECT_GE(a.at("canary_samples").to_number<double>(), 100);
    EXPECT_LT(a.at("error_rate_increase_upper_95").to_number<double>(), 0.01);
    ASSERT_EQ(a.at("latency").as_array().size(), 3u);
    for (const json::value& q : a.at("latency").as_array()) {
        const json::object& qo = q.as_object();
        EXPECT_TRUE(qo.contains("canary_ms") && qo.contains("baseline_ms") && qo.contains("bounds"));
    }
    ASSERT_EQ(ev.at("latency").as_array().size(), 2u);
    const json::object& recent = ev.at("latency").as_array()[0].as_object();
    EXPECT_EQ(recent.at("scope").as_string(), "recent");
    EXPECT_TRUE(recent.at("mann_whitney").as_object().contains("z"));
    EXPECT_EQ(recent.at("quantiles").as_array().size(), 3u);
    EXPECT_EQ(ev.at("errors").as_object().at("tests").as_array().size(), 2u);
    EXPECT_EQ(run.decisions().back().decision, "promote");
    EXPECT_NE(run.decisions().back().reason.find("promoted"), std::string::npos);
}

TEST(RolloutRun, AStepOfOneHundredPercentIsPromotion) {
    RolloutSpec spec = fast_spec();
    spec.steps = {20, 100};
    RolloutRun run(spec);
    Feed f;
    f.traffic.rps = 1000;
    run.start(0);
    f.run_for(run, 300);
    EXPECT_EQ(run.phase(), Phase::promoted);
    EXPECT_EQ(count(run, "advance"), 0);
    EXPECT_EQ(count(run, "promote"), 1);
    EXPECT_EQ(run.step_index(), 1);
}

TEST(RolloutRun, NeverAdvancesBeforeMinDurationOrMinSamples) {
    RolloutSpec spec = fast_spec();
    spec.step_min_duration = 120s;
    spec.step_max_duration = 600s;
    RolloutRun run(spec);
    Feed f;
    f.traffic.rps = 1000;
    run.start(0);
    f.run_for(run, 119);
    EXPECT_EQ(run.step_index(), 0) << "lots of samples, not enough time";
    f.run_for(run, 30);
    EXPECT_EQ(run.step_index(), 1);

    RolloutSpec many = fast_spec();
    many.min_samples = 5000;  // 100 canary requests/s: ~50 s
    RolloutRun run2(many);
    Feed g;
    g.traffic.rps = 1000;
    run2.start(0);
    g.run_for(run2, 45);
    EXPECT_EQ(run2.step_index(), 0) << "enough time, not enough samples";
    g.run_for(run2, 30);
    EXPECT_EQ(run2.step_index(), 1);
}

TEST(RolloutRun, PausedRunNeitherAdvancesNorRollsBackButKeepsItsWindow) {
    RolloutRun run(fast_spec());
    Feed f;
    f.traffic.rps = 1000;
    f.traffic.canary.error_rate = 1.0;  // every canary request fails
    run.start(0);
    run.pause(0);
    f.run_for(run, 120);
    EXPECT_EQ(run.phase(), Phase::paused);
    EXPECT_EQ(run.decisions().size(), 2u) << "no automatic decisions while paused";
    run.resume(f.t * 1000);
    f.traffic.canary.error_rate = 0;  // fine from now on, but the window remembers
    f.run_for(run, 1);
    EXPECT_EQ(run.phase(), Phase::rolled_back);
    EXPECT_EQ(run.decisions().back().evidence.at("trigger").as_string(), "errors");
}

TEST(RolloutRun, ErrorRollbackIsImmediateAndExplained) {
    RolloutRun run(testing::scenario_spec());
    Feed f;
    f.traffic.canary.error_rate = 0.5;
    run.start(0);
    f.run_for(run, 120);
    ASSERT_EQ(run.phase(), Phase::rolled_back);
    EXPECT_EQ(f.changes, 1);
    const DecisionRecord& d = run.decisions().back();
    EXPECT_EQ(d.decision, "rollback");
    EXPECT_LT(d.at_ms, 60000);
    EXPECT_NE(d.reason.find("canary requests failed"), std::string::npos) << d.reason;
    const json::object& e = d.evidence.at("errors").as_object();
    EXPECT_GE(e.at("tests").as_array()[0].as_object().at("likelihood_ratio_z").to_number<double>(), judge::error_z_recent);
    EXPECT_TRUE(e.at("significant").as_bool());
    EXPECT_EQ(d.evidence.at("phase").as_string(), "running") << "the evidence is what the judge saw before acting";
}

TEST(RolloutRun, LatencyRollbackNeedsThreeConsecutiveLooks) {
    RolloutRun run(fast_spec());
    run.start(0);
    // 20 canary samples at 200 ms, 100 baseline at 50 ms per second: the
    // judge may look at latency from 50 canary samples (3rd second) and
    // must see it slower on three looks in a row (3rd, 4th, 5th).
    for (int t = 0; t < 10 && run.phase() == Phase::running; ++t) {
        Slice s;
        s.start_ms = t * 1000;
        s.canary.latency.add(200000, 20);
        s.baseline.latency.add(50000, 100);
        run.look((t + 1) * 1000, s);
    }
    ASSERT_EQ(run.phase(), Phase::rolled_back);
    const DecisionRecord& d = run.decisions().back();
    EXPECT_EQ(d.at_ms, 5000);
    EXPECT_NE(d.reason.find("3 consecutive looks"), std::string::npos) << d.reason;
    EXPECT_EQ(d.evidence.at("trigger").as_string(), "latency");
}

TEST(RolloutRun, InconclusiveTimeoutHoldsAndSaysSoOnce) {
    RolloutRun run(fast_spec());  // step_max_duration 60 s
    Feed f;
    f.traffic.rps = 2;
    run.start(0);
    f.run_for(run, 600);
    EXPECT_EQ(run.phase(), Phase::running);
    EXPECT_EQ(run.step_index(), 0);
    int timeouts = 0;
    for (const DecisionRecord& d : run.decisions())
        if (d.decision == "inconclusive" && d.reason.find("step_max_duration") != std::string::npos) {
            ++timeouts;
            EXPECT_GE(d.at_ms, 60000);
            EXPECT_LE(d.at_ms, 61000);
            EXPECT_NE(d.reason.find("on_inconclusive: hold"), std::string::npos);
        }
    EXPECT_EQ(timeouts, 1);
    // Holds are noted every 30 s, no more.
    int notes = count(run, "hold") + count(run, "inconclusive");
    EXPECT_GE(notes, 600 / 30 - 1);
    EXPECT_LE(notes, 600 / 30 + 1);
    for (std::size_t i = 1; i < run.decisions().size(); ++i)
        EXPECT_GE(run.decisions()[i].at_ms - run.decisions()[i - 1].at_ms, 1000);
    EXPECT_EQ(run.decisions().back().reason.rfind("holding", 0), 0u) << run.decisions().back().reason;
}

TEST(RolloutRun, InconclusiveTimeoutRollsBackWhenConfigured) {
    RolloutSpec spec = fast_spec();
    spec.on_inconclusive = OnInconclusive::rollback;
    RolloutRun run(spec);
    Feed f;
    f.traffic.rps = 2;
    run.start(0);
    f.run_for(run, 600);
    ASSERT_EQ(run.phase(), Phase::rolled_back);
    const DecisionRecord& d = run.decisions().back();
    EXPECT_EQ(d.at_ms, 60000);
    EXPECT_NE(d.reason.find("on_inconclusive: rollback"), std::string::npos) << d.reason;
    EXPECT_EQ(d.evidence.at("trigger").as_string(), "inconclusive");
}

TEST(RolloutRun, TimePausedDoesNotCountTowardStepMaxDuration) {
    RolloutSpec spec = fast_spec();  // step_max_duration 60 s
    spec.on_inconclusive = OnInconclusive::rollback;
    RolloutRun run(spec);
    Feed f;
    f.traffic.rps = 2;
    run.start(0);
    f.run_for(run, 30);
    run.pause(30000);
    f.run_for(run, 600);
    run.resume(630000);
    f.run_for(run, 29);
    EXPECT_EQ(run.phase(), Phase::running) << "59 s of running time";
    f.run_for(run, 2);
    EXPECT_EQ(run.phase(), Phase::rolled_back);
}

TEST(RolloutRun, WithoutBaselineTrafficItNeverPromotes) {
    RolloutRun run(fast_spec());
    run.start(0);
    for (int t = 0; t < 900; ++t) {
        Slice s;
        s.start_ms = t * 1000;
        s.canary.latency.add(50000, 100);
        run.look((t + 1) * 1000, s);
    }
    EXPECT_EQ(run.phase(), Phase::running);
    EXPECT_EQ(run.step_index(), 0);
}

TEST(RolloutRun, DecisionsAreBoundedAndKeepStateChanges) {
    RolloutRun run(fast_spec());
    Feed f;
    f.traffic.rps = 0.2;
    run.start(0);
    f.run_for(run, 3 * 3600);  // 360 hold notes
    EXPECT_LE(run.decisions().size(), 200u);
    EXPECT_GE(run.decisions().size(), 150u);
    EXPECT_EQ(run.decisions().front().decision, "start") << "notes go first, state changes stay";
    EXPECT_EQ(count(run, "inconclusive"), static_cast<int>(run.decisions().size()) - 1 - count(run, "hold"));
}

TEST(RolloutRun, StateRoundTripResumesAtItsStep) {
    RolloutRun run(fast_spec());
    Feed f;
    f.traffic.rps = 1000;
    run.start(0);
    while (run.step_index() == 0 && f.t < 600) f.run_for(run, 1);
    ASSERT_EQ(run.step_index(), 1);
    f.run_for(run, 2);
    ASSERT_EQ(run.phase(), Phase::running);

    // Through text, as the state file does.
    const std::string text = json::serialize(run.to_json());
    const json::object saved = json::parse(text).as_object();
    EXPECT_EQ(saved.at("phase").as_string(), "running");
    EXPECT_EQ(saved.at("step").to_number<int>(), 1);
    EXPECT_EQ(saved.at("canary_percent").to_number<double>(), 50);
    EXPECT_EQ(saved.at("step_elapsed_ms").to_number<std::int64_t>(), 2000);

    std::string error;
    const std::int64_t restart_ms = f.t * 1000 + 3600000;  // an hour later
    std::optional<RolloutRun> back = RolloutRun::from_json(fast_spec(), saved, restart_ms, error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->phase(), Phase::running);
    EXPECT_EQ(back->step_index(), 1);
    EXPECT_EQ(back->canary_percent(), 50);
    EXPECT_EQ(back->to_json().at("step_started_ms"), saved.at("step_started_ms"));
    EXPECT_EQ(back->step_elapsed_ms(restart_ms), 2000) << "the time at the step resumes where it was saved";
    ASSERT_EQ(back->decisions().size(), run.decisions().size() + 1);
    for (std::size_t i = 0; i < run.decisions().size(); ++i) {
        EXPECT_EQ(back->decisions()[i].decision, run.decisions()[i].decision);
        EXPECT_EQ(back->decisions()[i].at_ms, run.decisions()[i].at_ms);
        EXPECT_EQ(back->decisions()[i].reason, run.decisions()[i].reason);
        EXPECT_TRUE(same_json(back->decisions()[i].evidence, run.decisions()[i].evidence))
            << json::serialize(back->decisions()[i].evidence) << "\n" << json::serialize(run.decisions()[i].evidence);
    }
    const DecisionRecord& note = back->decisions().back();
    EXPECT_EQ(note.decision, "hold");
    EXPECT_EQ(note.at_ms, restart_ms);
    EXPECT_EQ(note.reason.rfind("restarted: evidence window lost, holding until new data", 0), 0u) << note.reason;

    // The evidence is gone: it waits for a full step_min_duration and
    // min_samples of new data before it judges again, and an hour away
    // does not count as step_max_duration.
    Feed g;
    g.traffic.rps = 1000;
    g.t = restart_ms / 1000;
    g.run_for(*back, 4);
    EXPECT_EQ(back->phase(), Phase::running);
    EXPECT_EQ(back->step_index(), 1);
    EXPECT_EQ(std::count_if(back->decisions().begin(), back->decisions().end(),
                            [](const DecisionRecord& d) { return d.decision == "inconclusive"; }),
              0);
    g.run_for(*back, 120);
    EXPECT_EQ(back->phase(), Phase::promoted);
}

TEST(RolloutRun, StateKeepsRecentStateChangesAndLeavesHoldNotesOut) {
    RolloutRun run(fast_spec());
    Feed f;
    f.traffic.rps = 0.2;
    run.start(0);
    // An hour of holding at a fifth of a request a second: notes every 30 s.
    f.run_for(run, 3600);
    ASSERT_GT(run.decisions().size(), 100u);
    json::object o = run.to_json();
    ASSERT_EQ(o.at("decisions").as_array().size(), 2u) << "hold notes are not state";
    EXPECT_EQ(o.at("decisions").as_array()[0].as_object().at("decision").as_string(), "start");
    EXPECT_EQ(o.at("decisions").as_array()[1].as_object().at("decision").as_string(), "inconclusive")
        << "step_max_duration passed: said once, and kept";
    // Many changes of state: the newest 20, the newest 5 with evidence.
    for (int i = 0; i < 30; ++i) {
        run.pause(f.t * 1000);
        run.resume(f.t * 1000);
        f.run_for(run, 1);
    }
    o = run.to_json();
    const json::array& ds = o.at("decisions").as_array();
    ASSERT_EQ(ds.size(), 20u);
    EXPECT_EQ(ds.back().as_object().at("at_ms").to_number<std::int64_t>(), run.decisions().back().at_ms);
    for (std::size_t i = 0; i < ds.size(); ++i) {
        EXPECT_NE(ds[i].as_object().at("decision").as_string(), "hold");
        EXPECT_EQ(ds[i].as_object().contains("evidence"), i >= ds.size() - 5) << i;
    }
    const json::object all = run.to_json(/*all_decisions=*/true);
    EXPECT_EQ(all.at("decisions").as_array().size(), run.decisions().size());
    EXPECT_TRUE(all.at("decisions").as_array()[0].as_object().contains("evidence"));
}

TEST(RolloutRun, StepTimeIsMonotonicAndCountsAcrossRestarts) {
    // step_max_duration 60 s at a trickle of traffic: the step holds and
    // says "inconclusive" once its time is up — counting the time before a
    // restart, not the time the process was down.
    RolloutSpec spec = fast_spec();
    spec.step_max_duration = std::chrono::seconds(60);
    RolloutRun run(spec);
    run.set_wall_offset_ms(1'700'000'000'000);  // decisions carry wall time
    Feed f;
    f.traffic.rps = 0.2;
    run.start(0);
    EXPECT_EQ(run.decisions().back().at_ms, 1'700'000'000'000);
    f.run_for(run, 40);
    EXPECT_EQ(run.step_elapsed_ms(40000), 40000);
    const json::object saved = json::parse(json::serialize(run.to_json())).as_object();
    EXPECT_EQ(saved.at("step_elapsed_ms").to_number<std::int64_t>(), 40000);

    // Restarted on a machine whose monotonic clock reads 5 s.
    std::string error;
    auto back = RolloutRun::from_json(spec, saved, 5000, error, 1'800'000'000'000);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->step_elapsed_ms(5000), 40000);
    EXPECT_NE(back->decisions().back().reason.find("40s already spent"), std::string::npos)
        << back->decisions().back().reason;
    EXPECT_EQ(back->decisions().back().at_ms, 1'800'000'000'000 + 5000);
    Feed g;
    g.traffic.rps = 0.2;
    g.t = 5;
    g.run_for(*back, 19);
    EXPECT_EQ(std::count_if(back->decisions().begin(), back->decisions().end(),
                            [](const DecisionRecord& d) { return d.decision == "inconclusive"; }),
              0)
        << "59 s at the step";
    g.run_for(*back, 2);
    ASSERT_EQ(back->decisions().back().decision, "inconclusive");
    EXPECT_NE(back->decisions().back().reason.find("no verdict after"), std::string::npos);
}

TEST(RolloutRun, StartSaysWhatTheLimitsAskOfTraffic) {
    RolloutSpec spec = testing::scenario_spec();
    spec.max_error_rate_increase = 0.001;
    spec.step_max_duration = std::chrono::minutes(10);
    // 20 requests/s on the route: the first step (1%) gets 0.2 canary
    // requests/s, far too few for ~2700 requests within 10 minutes.
    RolloutRun run(spec);
    run.start(0, 20.0);
    const DecisionRecord& d = run.decisions().back();
    EXPECT_NE(d.reason.find("WARNING: max_error_rate_increase 0.001 is shown only after about"), std::string::npos)
        << d.reason;
    EXPECT_NE(d.reason.find("longer than step_max_duration 10m"), std::string::npos) << d.reason;
    const json::object& t = d.evidence.at("traffic").as_object();
    EXPECT_EQ(t.at("warnings").as_array().size(), 2u);
    const auto needed = t.at("route_rps_needed").to_number<double>();
    EXPECT_NEAR(needed, static_cast<double>(t.at("step_requests").to_number<std::uint64_t>()) / (0.01 * 600), 0.01);
    // A limit of zero can never be shown: said, not an absurd request count.
    RolloutSpec zero = spec;
    zero.max_error_rate_increase = 0;
    const TrafficNeeds never = traffic_needs(zero, 100.0);
    ASSERT_EQ(never.warnings.size(), 1u);
    EXPECT_NE(never.warnings[0].find("can never be shown"), std::string::npos) << never.warnings[0];
    EXPECT_TRUE(never.to_json().at("route_rps_needed").is_null());
    // With enough traffic and an error limit min_samples can show, no warning.
    spec.max_error_rate_increase = 0.01;
    RolloutRun fine(spec);
    fine.start(0, 1000.0);
    EXPECT_EQ(fine.decisions().back().reason.find("WARNING"), std::string::npos) << fine.decisions().back().reason;
}

TEST(RolloutRun, RestoredFinishedRunsStayFinished) {
    for (const char* phase : {"promoted", "rolled_back", "idle"}) {
        json::object o{{"phase", phase}, {"step", 1}, {"step_started_ms", 5}, {"decisions", json::array{}}};
        std::string error;
        auto run = RolloutRun::from_json(fast_spec(), o, 1000, error);
        ASSERT_TRUE(run) << error;
        EXPECT_STREQ(phase_name(run->phase()), phase);
        EXPECT_TRUE(run->decisions().empty()) << "no restart note: nothing to hold";
        Slice s;
        s.canary.errors = 50;
        EXPECT_FALSE(run->look(2000, s));
    }
    json::object paused{{"phase", "paused"}, {"step", 0}, {"step_started_ms", 5}};
    std::string error;
    auto run = RolloutRun::from_json(fast_spec(), paused, 1000, error);
    ASSERT_TRUE(run) << error;
    EXPECT_EQ(run->phase(), Phase::paused);
    EXPECT_EQ(run->canary_percent(), 10);
    EXPECT_TRUE(run->resume(2000));
}

TEST(RolloutRun, MalformedStateIsRejected) {
    const auto bad = [](json::object o) {
        std::string error;
        auto run = RolloutRun::from_json(fast_spec(), o, 0, error);
        EXPECT_FALSE(run);
        EXPECT_FALSE(error.empty());
        return error;
    };
    EXPECT_NE(bad({{"step", 0}, {"step_started_ms", 0}}).find("phase"), std::string::npos);
    EXPECT_NE(bad({{"phase", "flying"}, {"step", 0}, {"step_started_ms", 0}}).find("flying"), std::string::npos);
    EXPECT_NE(bad({{"phase", "running"}, {"step", -1}, {"step_started_ms", 0}}).find("step"), std::string::npos);
    EXPECT_NE(bad({{"phase", "running"}, {"step", "one"}, {"step_started_ms", 0}}).find("step"), std::string::npos);
    EXPECT_NE(bad({{"phase", "running"}, {"step", 0}}).find("step_started_ms"), std::string::npos);
    EXPECT_NE(bad({{"phase", "running"}, {"step", 0}, {"step_started_ms", 0}, {"decisions", 3}}).find("decisions"),
              std::string::npos);
    EXPECT_NE(bad({{"phase", "running"}, {"step", 0}, {"step_started_ms", 0}, {"canary_percent", "x"}})
                  .find("canary_percent"),
              std::string::npos);
}

TEST(RolloutRun, ChangedStepsResumeAtTheHighestStepNotAboveTheSavedShare) {
    json::object o{{"phase", "running"}, {"step", 3}, {"canary_percent", 25}, {"step_started_ms", 0}};
    RolloutSpec spec = fast_spec();
    spec.steps = {2, 20, 50};
    std::string error;
    auto run = RolloutRun::from_json(spec, o, 1000, error);
    ASSERT_TRUE(run) << error;
    EXPECT_EQ(run->step_index(), 1);
    EXPECT_EQ(run->canary_percent(), 20);
    EXPECT_NE(run->decisions().back().reason.find("the steps changed"), std::string::npos)
        << run->decisions().back().reason;

    // Same steps: no note about them.
    json::object same{{"phase", "running"}, {"step", 1}, {"canary_percent", 20}, {"step_started_ms", 0}};
    auto run2 = RolloutRun::from_json(spec, same, 1000, error);
    ASSERT_TRUE(run2) << error;
    EXPECT_EQ(run2->step_index(), 1);
    EXPECT_EQ(run2->decisions().back().reason.find("the steps changed"), std::string::npos);
}

}  // namespace
}  // namespace weir::rollout
