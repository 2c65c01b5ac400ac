// The judge end to end as an operator runs it: the real binary in front of
// two real nginx processes (NginxBackend: exact delays with echo_sleep,
// static bodies, a share of 500s), a rollout started through the admin API,
// and its verdict read back from GET /routes/{r}/rollout. The latencies are
// the ones where a fixed absolute floor used to hide a slower canary
// (sub-millisecond and ~10 ms), and the traffic is as low as a few requests
// a second, where errors used to go unseen.
#include "nginx_backend.hpp"
#include "rollout_support.hpp"

#include <chrono>
#include <iostream>

namespace weir_it::rollout {
namespace {

namespace json = boost::json;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

std::string dump(const json::value& v) { return json::serialize(v); }

// Two nginx backends, the weir in front of them with `block`, its admin.
struct NginxRig {
    NginxBackend stable, canary;
    TempDir dir;
    ControlConfig c;
    std::unique_ptr<WeirProcess> weir;
    std::unique_ptr<AdminClient> admin;

    NginxRig(NginxSpec s, NginxSpec k, const RolloutBlock& block)
        : stable(std::move(s)), canary(std::move(k)), c(control::stateful_config(dir, stable.address(), canary.address())) {
        if (!stable.running() || !canary.running()) return;
        weir = std::make_unique<WeirProcess>(rollout_yaml(c, block));
        admin = std::make_unique<AdminClient>(weir->admin_port());
    }
    // Both nginx and the weir are up, or why not.
    ::testing::AssertionResult up() const {
        std::string why;
        if (!nginx_available(why)) return ::testing::AssertionFailure() << why;
        if (!stable.running()) return ::testing::AssertionFailure() << "stable nginx: " << stable.error();
        if (!canary.running()) return ::testing::AssertionFailure() << "canary nginx: " << canary.error();
        return ::testing::AssertionSuccess();
    }
    // Once `load` has had `warm` answers (the route's traffic before the
    // rollout), starts the rollout.
    ::testing::AssertionResult start_after(const Traffic& load, std::uint64_t warm) const {
        if (!load.wait_total(warm, 60s)) return ::testing::AssertionFailure() << describe(load.counts());
        const Response r = rollout_call(*admin, "start");
        if (r.status != 200) return ::testing::AssertionFailure() << "start: " << r.describe() << "\n" << r.body;
        return ::testing::AssertionSuccess();
    }
};

// The decisions' names, and the highest canary share any decision recorded.
double max_share(const RolloutView& v) {
    double m = 0;
    for (const auto& d : v.decisions)
        if (auto p = num_at(d.evidence, {"canary_percent"})) m = std::max(m, *p);
    return m;
}

// The judged latency ratio at p50 in a decision's step-scope evidence.
std::optional<double> step_p50_ratio(const RolloutView::Decision& d) {
    const json::object* ev = d.evidence.if_object();
    if (!ev || !ev->contains("latency")) return std::nullopt;
    for (const json::value& scope : ev->at("latency").as_array()) {
        if (str_at(scope, {"scope"}) != "step") continue;
        const json::array& qs = scope.as_object().at("quantiles").as_array();
        if (qs.empty()) return std::nullopt;
        return num_at(qs[0], {"ratio"});
    }
    return std::nullopt;
}

// "p50 canary/baseline ms, ..." of the newest decision's step evidence, for messages.
std::string latency_summary(const RolloutView& v) {
    if (v.decisions.empty()) return "no decisions";
    const json::object* ev = v.decisions.back().evidence.if_object();
    if (!ev || !ev->contains("latency")) return "no latency evidence";
    std::string out = v.decisions.back().decision + ": ";
    for (const json::value& scope : ev->at("latency").as_array()) {
        if (str_at(scope, {"scope"}) != "step") continue;
        out += "samples " + std::to_string(num_at(scope, {"canary_samples"}).value_or(-1)) + "/" +
               std::to_string(num_at(scope, {"baseline_samples"}).value_or(-1));
        for (const json::value& q : scope.as_object().at("quantiles").as_array())
            out += "; q" + std::to_string(num_at(q, {"q"}).value_or(0)) + " " +
                   std::to_string(num_at(q, {"canary_ms"}).value_or(-1)) + " vs " +
                   std::to_string(num_at(q, {"baseline_ms"}).value_or(-1)) + " ms";
    }
    return out + "; " + v.decisions.back().reason;
}

RolloutBlock block(const std::string& steps, int min_samples) {
    RolloutBlock b;
    b.steps = steps;
    b.step_min_duration = "2s";
    b.step_max_duration = "60s";
    b.min_samples = min_samples;
    b.max_latency_ratio = 1.10;
    b.max_error_rate_increase = 0.05;
    return b;
}

// ---------------------------------------------------------------- sub-millisecond

TEST(RolloutNginx, SubMillisecondCanaryTwiceAsSlowIsRolledBackAtItsFirstStep) {
    // The stable nginx answers a 16 KiB body, the canary 256 KiB: both
    // well under a few milliseconds through the proxy, the canary several
    // times slower.
    NginxRig rig({.name = "stable", .body_bytes = 16 << 10}, {.name = "canary", .body_bytes = 256 << 10},
                 block("[5, 25, 50, 100]", 200));
    ASSERT_TRUE(rig.up());
    AdminClient& admin = *rig.admin;
    Traffic load(rig.weir->port(), 4, 75);  // ~300 requests/s: ~15/s to the canary at 5%
    ASSERT_TRUE(rig.start_after(load, 200));
    const auto started = Clock::now();
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 90s);
    const double took = seconds_since(started);
    ASSERT_EQ(v.phase, "rolled_back") << "after " << took << " s: " << kinds_text(v) << "\n" << latency_summary(v);
    const RolloutView::Decision* rb = v.last("rollback");
    ASSERT_NE(rb, nullptr);
    EXPECT_EQ(str_at(rb->evidence, {"trigger"}), "latency") << rb->reason;
    EXPECT_EQ(v.count("advance"), 0) << "a canary several times slower advanced: " << kinds_text(v);
    EXPECT_LE(max_share(v), 5) << kinds_text(v);
    const auto ratio = step_p50_ratio(*rb);
    ASSERT_TRUE(ratio) << dump(rb->evidence);
    EXPECT_GT(*ratio, 1.3) << dump(rb->evidence);
    std::cout << "[rollout-nginx] sub-millisecond canary (16 KiB vs 256 KiB bodies): rolled back " << took
              << " s after start at p50 ratio x" << *ratio << "; " << rb->reason << "\n";
    load.stop();
    EXPECT_EQ(load.counts().failures, 0u) << describe(load.counts());
}

// Two identical nginx behind a 50/50 first step: equal load, equal latency.
// At ~0.15 ms a descheduled moment of one process (other tests share these
// two cores) moves a quantile by tens of microseconds — over 10% — for a
// few seconds; a 50 us tolerance absorbs that noise and nothing more (the
// slow canary above is 200+ us slower).
TEST(RolloutNginx, SubMillisecondEqualCanaryIsPromoted) {
    RolloutBlock b = block("[50, 100]", 200);
    b.extra = "min_latency_difference: 50us";
    NginxRig rig({.name = "stable"}, {.name = "canary"}, b);
    ASSERT_TRUE(rig.up());
    AdminClient& admin = *rig.admin;
    Traffic load(rig.weir->port(), 4, 75);
    ASSERT_TRUE(rig.start_after(load, 200));
    const auto started = Clock::now();
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 120s);
    const double took = seconds_since(started);
    ASSERT_EQ(v.phase, "promoted") << "after " << took << " s: " << kinds_text(v) << "\n" << latency_summary(v);
    EXPECT_EQ(v.count("rollback"), 0) << kinds_text(v);
    std::cout << "[rollout-nginx] equal sub-millisecond canary at 50%: promoted " << took << " s after start: "
              << latency_summary(v) << "\n";
    load.stop();
    const auto counts = load.counts();
    EXPECT_EQ(counts.failures, 0u) << describe(counts);
    EXPECT_GT(counts.ok_of("canary"), 200u) << describe(counts);
}

// An identical canary at a 5% share is a less busy process: at these
// latencies its wake-ups make it measurably slower (tens of microseconds,
// well over 10% of 0.1 ms), and the ratio rule says so. An operator who
// does not mind that sets an absolute tolerance.
TEST(RolloutNginx, SubMillisecondIdleCanaryNeedsMinLatencyDifference) {
    RolloutBlock b = block("[5, 25, 50, 100]", 200);
    b.extra = "min_latency_difference: 0.3ms";
    NginxRig rig({.name = "stable"}, {.name = "canary"}, b);
    ASSERT_TRUE(rig.up());
    AdminClient& admin = *rig.admin;
    Traffic load(rig.weir->port(), 4, 75);
    ASSERT_TRUE(rig.start_after(load, 200));
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 150s);
    ASSERT_EQ(v.phase, "promoted") << kinds_text(v) << "\n" << latency_summary(v);
    EXPECT_EQ(num_at(v.json, {"spec", "min_latency_difference_ms"}), 0.3) << v.raw.substr(0, 2000);
    std::cout << "[rollout-nginx] identical canary at 5% with min_latency_difference 0.3ms: promoted: "
              << latency_summary(v) << "\n";
}

// ---------------------------------------------------------------- ~10 ms

TEST(RolloutNginx, TenMillisecondCanaryEighteenPercentSlowerIsRolledBackNotHeld) {
    // 10 ms against 12 ms: a 1.10 limit is exceeded by ~2 ms, below the old
    // 2 ms floor.
    NginxRig rig({.name = "stable", .delay_ms = 10}, {.name = "canary", .delay_ms = 12},
                 block("[25, 50, 100]", 200));
    ASSERT_TRUE(rig.up());
    AdminClient& admin = *rig.admin;
    Traffic load(rig.weir->port(), 8, 12);  // ~96 requests/s: ~24/s to the canary at 25%
    ASSERT_TRUE(rig.start_after(load, 100));
    const auto started = Clock::now();
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 120s);
    const double took = seconds_since(started);
    ASSERT_EQ(v.phase, "rolled_back") << "after " << took << " s: " << kinds_text(v) << "\n" << latency_summary(v);
    EXPECT_EQ(v.count("advance"), 0) << kinds_text(v);
    const RolloutView::Decision* rb = v.last("rollback");
    ASSERT_NE(rb, nullptr);
    EXPECT_EQ(str_at(rb->evidence, {"trigger"}), "latency") << rb->reason;
    EXPECT_TRUE(contains(rb->reason, "> limit x1.10")) << rb->reason;
    const auto ratio = step_p50_ratio(*rb);
    ASSERT_TRUE(ratio) << dump(rb->evidence);
    EXPECT_GT(*ratio, 1.10) << dump(rb->evidence);
    EXPECT_LT(*ratio, 1.35) << dump(rb->evidence);
    std::cout << "[rollout-nginx] 10 ms vs 12 ms canary: rolled back " << took << " s after start at p50 ratio x"
              << *ratio << "; " << rb->reason << "\n";
}

TEST(RolloutNginx, MinLatencyDifferenceLetsASmallAbsoluteSlowdownThrough) {
    // The same 2 ms, with an explicit tolerance of 5 ms: promoted, and the
    // tolerance is in the evidence.
    RolloutBlock b = block("[25, 50, 100]", 200);
    b.extra = "min_latency_difference: 5ms";
    NginxRig rig({.name = "stable", .delay_ms = 10}, {.name = "canary", .delay_ms = 12}, b);
    ASSERT_TRUE(rig.up());
    AdminClient& admin = *rig.admin;
    Traffic load(rig.weir->port(), 8, 12);
    ASSERT_TRUE(rig.start_after(load, 100));
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 150s);
    ASSERT_EQ(v.phase, "promoted") << kinds_text(v) << "\n" << latency_summary(v);
    const RolloutView::Decision* p = v.last("promote");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(num_at(p->evidence, {"advance", "min_latency_difference_ms"}), 5.0) << dump(p->evidence);
    EXPECT_EQ(num_at(v.json, {"spec", "min_latency_difference_ms"}), 5.0) << v.raw.substr(0, 2000);
}

// ---------------------------------------------------------------- a few requests a second

TEST(RolloutNginx, FailingCanaryAtFourRequestsPerSecondIsRolledBack) {
    // 4 requests/s, half of them to a canary failing ~19% (3 in 16); the
    // route served its baseline for 20 s before the start. the contract's default
    // max_error_rate_increase.
    RolloutBlock b = block("[50, 100]", 200);
    b.max_error_rate_increase = 0.001;
    NginxRig rig({.name = "stable"}, {.name = "canary", .fail_sixteenths = 3}, b);
    ASSERT_TRUE(rig.up());
    AdminClient& admin = *rig.admin;
    Traffic load(rig.weir->port(), 2, 2);
    ASSERT_TRUE(rig.start_after(load, 80));
    const auto started = Clock::now();
    RolloutView v = wait_rollout(admin, [](const RolloutView& x) { return x.phase != "running"; }, 120s);
    const double took = seconds_since(started);
    load.stop();
    const auto counts = load.counts();
    ASSERT_EQ(v.phase, "rolled_back") << "after " << took << " s: " << kinds_text(v) << "\n" << describe(counts)
                                      << "\n" << v.raw.substr(0, 6000);
    const RolloutView::Decision* rb = v.last("rollback");
    ASSERT_NE(rb, nullptr);
    const std::string trigger = str_at(rb->evidence, {"trigger"});
    EXPECT_TRUE(trigger == "errors" || trigger == "failure_streak") << trigger << ": " << rb->reason;
    std::cout << "[rollout-nginx] canary failing 3/16 at 4 requests/s: rolled back " << took
              << " s after start; clients saw " << counts.errors_of("canary") << " canary errors of "
              << counts.answers_of("canary") << " canary answers; " << rb->reason << "\n";
    EXPECT_LE(counts.errors_of("canary"), 15u) << describe(counts);
    EXPECT_EQ(counts.errors_of("stable"), 0u) << describe(counts);
}

}  // namespace
}  // namespace weir_it::rollout
