// The rollout driver's fleet parts (control/rollout_driver.hpp), in process:
// the records a replica keeps for the leader, the leader's check of the
// records it gathers, runs followed from the fleet's state, and a command
// that waits for the fleet's store.
#include "config/config.hpp"
#include "control/control_plane.hpp"
#include "control/fleet_store.hpp"
#include "control/rollout_driver.hpp"
#include "fake_upstream.hpp"
#include "proxy/server.hpp"
#include "raw_client.hpp"
#include "rollout/run.hpp"
#include "rollout/slice_json.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weir::control {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string config_text(const std::string& state_file, const std::string& stable = "10.0.1.10:8000",
                        const std::string& canary = "10.0.3.10:8000") {
    return R"(listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
state_file: )" + state_file + R"(
pools:
  - name: stable
    endpoints:
      - {address: )" + stable + R"(, weight: 1}
  - name: canary
    endpoints:
      - {address: )" + canary + R"(, weight: 1}
routes:
  - name: web
    match: {host: "*", path_prefix: /}
    split: {stable: 100, canary: 0}
    rollout:
      canary: canary
      baseline: stable
      steps: [1, 5, 50]
)";
}

class RecordingStore : public FleetStore {
public:
    struct Write {
        RuntimeState state;
        std::uint64_t base;
        std::function<void(FleetWriteOutcome)> done;
    };
    std::vector<Write> writes;
    std::string unavailable() const override { return {}; }
    void write(const RuntimeState& state, std::uint64_t base, std::function<void(FleetWriteOutcome)> done) override {
        writes.push_back({state, base, std::move(done)});
    }
    void written(std::size_t i, std::uint64_t revision) {
        auto done = std::move(writes.at(i).done);
        done({FleetWriteOutcome::Kind::written, revision, ""});
    }
};

std::int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t mono_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

json::object slice_json(std::uint64_t errors) {
    return json::object{{"errors", errors}, {"buckets", json::array{json::array{100, 3}}}};
}

class ControlFleetRollout : public ::testing::Test {
protected:
    void SetUp() override { build("10.0.1.10:8000", "10.0.3.10:8000"); }

    void build(const std::string& stable, const std::string& canary) {
        dir_ = fs::temp_directory_path() /
               ("weir-control-fleet-rollout-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        auto loaded = config::load_config_text(config_text((dir_ / "state.json").string(), stable, canary),
                                              (dir_ / "w.yaml").string());
        ASSERT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front().text());
        plane_ = std::make_unique<ControlPlane>(*loaded.config, "", server_, metrics_, io_);
        ASSERT_TRUE(plane_->start());
        plane_->attach_fleet(&store_);
        driver_ = std::make_unique<RolloutDriver>(io_, *plane_, server_, metrics_);
        driver_->sync();
        plane_->on_fleet_applied([this] { driver_->follow(); });
    }
    void TearDown() override {
        if (driver_) driver_->stop();
        if (server_started_) server_.stop();
        if (plane_) plane_->stop();
        driver_.reset();
        plane_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    std::map<std::string, double> routed(const std::string& route) const {
        std::map<std::string, double> out;
        const auto& snap = plane_->current();
        for (const auto& r : snap->routes) {
            if (r.name != route) continue;
            for (std::size_t i = 0; i < r.pools.size(); ++i) out[snap->pools[r.pools[i]].name] = r.weights[i];
        }
        return out;
    }
    rollout::RolloutSpec spec() const { return *plane_->file_config().routes.at(0).rollout; }

    fs::path dir_;
    boost::asio::io_context io_;
    proxy::Server server_{1};
    telemetry::Metrics metrics_;
    RecordingStore store_;
    std::unique_ptr<ControlPlane> plane_;
    std::unique_ptr<RolloutDriver> driver_;
    bool server_started_ = false;
};

TEST_F(ControlFleetRollout, SlicesBeforeAnyTraffic) {
    driver_->join_fleet();
    const json::object o = driver_->slices_after(0);
    ASSERT_TRUE(o.contains("epoch"));
    ASSERT_TRUE(o.contains("seq"));
    ASSERT_TRUE(o.contains("slices"));
    EXPECT_EQ(o.at("epoch").as_string().size(), 16u);
    EXPECT_EQ(o.at("seq").to_number<std::uint64_t>(), 0u);
    EXPECT_TRUE(o.at("slices").as_array().empty());

    // Another process (a restart) has another epoch: its sequence starts over.
    RolloutDriver other(io_, *plane_, server_, metrics_);
    other.join_fleet();
    EXPECT_NE(std::string(other.slices_after(0).at("epoch").as_string()), o.at("epoch").as_string());
}

TEST_F(ControlFleetRollout, MalformedRemoteRecordsAreRefusedWithAReason) {
    const json::object good_pair{{"baseline", slice_json(0)}, {"canary", slice_json(1)}};
    const std::vector<json::object> bad = {
        json::object{},
        json::object{{"routes", json::object{{"web", good_pair}}}},                        // no start_ms
        json::object{{"start_ms", "1000"}, {"routes", json::object{{"web", good_pair}}}},  // start_ms not a number
        json::object{{"start_ms", 1000}},                                                  // no routes
        json::object{{"start_ms", 1000}, {"routes", json::array{}}},                       // routes not an object
        json::object{{"start_ms", 1000}, {"routes", json::object{{"web", 5}}}},
        json::object{{"start_ms", 1000}, {"routes", json::object{{"web", json::object{{"baseline", slice_json(0)}}}}}},
        json::object{{"start_ms", 1000}, {"routes", json::object{{"web", json::object{{"canary", slice_json(0)}}}}}},
        json::object{{"start_ms", 1000},
                     {"routes", json::object{{"web", json::object{{"baseline", slice_json(0)},
                                                                  {"canary", json::object{{"errors", -1},
                                                                                          {"buckets", json::array{}}}}}}}}},
        json::object{{"start_ms", 1000},
                     {"routes", json::object{{"web", json::object{{"baseline", json::array{}}, {"canary", slice_json(0)}}}}}},
    };
    for (const auto& record : bad) {
        SCOPED_TRACE(json::serialize(record));
        EXPECT_FALSE(driver_->add_remote(record).empty());
    }
    // A bad slice names its route.
    const std::string why = driver_->add_remote(bad[8]);
    EXPECT_NE(why.find("web"), std::string::npos) << why;

    // Well formed: accepted, for a route with a run and for one without.
    EXPECT_EQ(driver_->add_remote(json::object{{"start_ms", 1000}, {"routes", json::object{{"web", good_pair}}}}), "");
    EXPECT_EQ(driver_->add_remote(json::object{{"start_ms", 1000}, {"routes", json::object{{"gone", good_pair}}}}), "");
    EXPECT_EQ(driver_->add_remote(json::object{{"start_ms", 1000}, {"routes", json::object{}}}), "");
}

// A run recorded in the fleet's state by another replica (the leader) is the
// run here too.
TEST_F(ControlFleetRollout, FollowsTheRunRecordedInTheFleet) {
    driver_->set_judge(false);
    ASSERT_FALSE(driver_->controls_split("web"));
    ASSERT_EQ(std::string(driver_->summary("web")->at("phase").as_string()), "idle");

    rollout::RolloutRun leader(spec());
    ASSERT_TRUE(leader.start(mono_ms()));
    RuntimeState remote;
    remote.rollouts["web"] = json::serialize(leader.to_json());
    remote.routes["web"] = RouteOverride{{{"stable", 99}, {"canary", 1}}, {{"stable", 100}, {"canary", 0}}};
    plane_->apply_fleet(remote, 4);

    EXPECT_TRUE(driver_->controls_split("web"));
    auto summary = driver_->summary("web");
    ASSERT_TRUE(summary);
    EXPECT_EQ(std::string(summary->at("phase").as_string()), "running");
    EXPECT_EQ(summary->at("step").to_number<int>(), 0);
    EXPECT_EQ(routed("web"), (std::map<std::string, double>{{"stable", 99}, {"canary", 1}}));
    EXPECT_TRUE(store_.writes.empty()) << "following writes nothing";

    // The leader rolls back.
    ASSERT_TRUE(leader.rollback(mono_ms(), "canary errors"));
    remote.rollouts["web"] = json::serialize(leader.to_json());
    remote.routes["web"] = RouteOverride{{{"stable", 100}, {"canary", 0}}, {{"stable", 100}, {"canary", 0}}};
    plane_->apply_fleet(remote, 5);
    EXPECT_FALSE(driver_->controls_split("web"));
    EXPECT_EQ(std::string(driver_->summary("web")->at("phase").as_string()), "rolled_back");
    EXPECT_TRUE(store_.writes.empty());
}

// A command is answered once the fleet's store took the run and its split.
TEST_F(ControlFleetRollout, CommandWaitsForTheFleetsStore) {
    std::optional<Result> answer;
    driver_->command("web", "start", [&](Result r) { answer = std::move(r); });
    ASSERT_EQ(store_.writes.size(), 1u);
    EXPECT_FALSE(answer) << "answered only once written";
    const RuntimeState& w = store_.writes[0].state;
    ASSERT_EQ(w.rollouts.count("web"), 1u);
    json::value run = json::parse(w.rollouts.at("web"));
    EXPECT_EQ(std::string(run.at("phase").as_string()), "running");
    ASSERT_EQ(w.routes.count("web"), 1u);
    EXPECT_EQ(w.routes.at("web").split, (Split{{"stable", 99}, {"canary", 1}}));

    store_.written(0, 1);
    ASSERT_TRUE(answer);
    EXPECT_TRUE(answer->ok()) << answer->message;
    EXPECT_EQ(plane_->fleet_revision(), 1u);
    EXPECT_TRUE(driver_->controls_split("web"));
    EXPECT_EQ(routed("web"), (std::map<std::string, double>{{"stable", 99}, {"canary", 1}}));

    // The same run coming back from the fleet is not news: still running at step 0.
    EXPECT_EQ(std::string(driver_->summary("web")->at("phase").as_string()), "running");
    EXPECT_EQ(store_.writes.size(), 1u);
}

// The leader judges on other replicas' traffic too, but a second that began
// before the run's evidence window (a start, a step change, a resume) is
// evidence about what came before: skipped.
TEST_F(ControlFleetRollout, RemoteTrafficFromBeforeTheEvidenceWindowIsSkipped) {
    std::optional<Result> started;
    driver_->command("web", "start", [&](Result r) { started = std::move(r); });
    ASSERT_EQ(store_.writes.size(), 1u);
    store_.written(0, 1);
    ASSERT_TRUE(started && started->ok());
    ASSERT_EQ(std::string(driver_->summary("web")->at("phase").as_string()), "running");

    // Every canary request fails, the baseline's all succeed.
    auto storm = [](std::int64_t start_ms) {
        return json::object{
            {"start_ms", start_ms},
            {"routes", json::object{{"web", json::object{{"baseline", json::object{{"errors", 0},
                                                                                    {"buckets", json::array{json::array{100, 20000}}}}},
                                                         {"canary", json::object{{"errors", 5000}, {"buckets", json::array{}}}}}}}}};
    };
    EXPECT_EQ(driver_->add_remote(storm(wall_ms() - 60000)), "");
    driver_->start_ticking();
    io_.run_for(std::chrono::milliseconds(2000));  // one look (after 1 s, then up to 0.5 s gathering)
    EXPECT_EQ(std::string(driver_->summary("web")->at("phase").as_string()), "running")
        << json::serialize(*driver_->describe("web"));
    // What the look wrote, if anything (the run's elapsed step time), is the running run.
    std::uint64_t revision = 1;
    for (std::size_t i = 1; i < store_.writes.size(); ++i) {
        EXPECT_EQ(std::string(json::parse(store_.writes[i].state.rollouts.at("web")).at("phase").as_string()), "running");
        EXPECT_EQ(store_.writes[i].state.routes.at("web").split, (Split{{"stable", 99}, {"canary", 1}}));
        store_.written(i, ++revision);
    }
    const std::size_t before = store_.writes.size();

    // The same traffic from within the window is evidence: the canary goes.
    EXPECT_EQ(driver_->add_remote(storm(wall_ms())), "");
    for (int i = 0; i < 100 && driver_->summary("web")->at("phase").as_string() == "running"; ++i)
        io_.run_for(std::chrono::milliseconds(100));
    EXPECT_EQ(std::string(driver_->summary("web")->at("phase").as_string()), "rolled_back")
        << json::serialize(*driver_->describe("web"));
    ASSERT_EQ(store_.writes.size(), before + 1);
    const RuntimeState& w = store_.writes.back().state;
    EXPECT_EQ(std::string(json::parse(w.rollouts.at("web")).at("phase").as_string()), "rolled_back");
    ASSERT_EQ(w.routes.count("web"), 1u);
    EXPECT_EQ(w.routes.at("web").split, (Split{{"stable", 100}, {"canary", 0}}));
}

// Real traffic through a running server, so the replica has something to record.
class ControlFleetRolloutTraffic : public ControlFleetRollout {
protected:
    void SetUp() override { build(stable_up_.address(), canary_up_.address()); }
    weir_it::FakeUpstream stable_up_{"stable"};
    weir_it::FakeUpstream canary_up_{"canary"};
};

// A replica keeps its last 30 seconds of traffic (one record a second) for
// the leader; slices_after(N) gives only the records after N.
TEST_F(ControlFleetRolloutTraffic, RecordsKeepTheLastThirtySeconds) {
    server_.listen({{"public", {boost::asio::ip::make_address("127.0.0.1"), 0}}});
    server_.start();
    server_started_ = true;
    const std::uint16_t port = server_.bound().at(0).port();
    driver_->join_fleet();
    const std::string epoch(driver_->slices_after(0).at("epoch").as_string());
    driver_->start_ticking();

    std::uint64_t sent = 0;
    const std::int64_t began = wall_ms();
    for (int second = 0; second < 36; ++second) {
        weir_it::RawClient client(port);
        ASSERT_TRUE(client.connected());
        auto r = client.request(weir_it::get_request("/"));
        ASSERT_EQ(r.status, 200) << r.describe();
        ++sent;
        io_.run_for(std::chrono::seconds(1));
    }
    const std::int64_t ended = wall_ms();

    const json::object all = driver_->slices_after(0);
    EXPECT_EQ(std::string(all.at("epoch").as_string()), epoch);
    const std::uint64_t last = all.at("seq").to_number<std::uint64_t>();
    EXPECT_GE(last, 32u) << "about one record a second";
    EXPECT_LE(last, 37u);
    const json::array& slices = all.at("slices").as_array();
    EXPECT_LE(slices.size(), 30u) << "30 records at most";
    EXPECT_GE(slices.size(), 20u) << "nearly every second had a request";
    std::uint64_t previous = 0, baseline = 0, canary = 0;
    for (const json::value& v : slices) {
        SCOPED_TRACE(json::serialize(v));
        const json::object& s = v.as_object();
        const std::uint64_t seq = s.at("seq").to_number<std::uint64_t>();
        EXPECT_GT(seq, previous);
        EXPECT_GT(seq + 30, last) << "older than the last 30 records";
        EXPECT_LE(seq, last);
        previous = seq;
        const std::int64_t start = s.at("start_ms").to_number<std::int64_t>();
        EXPECT_GE(start, ended - 32000) << "older than 30 s";
        EXPECT_GE(start, began - 1000);
        EXPECT_LE(start, ended);
        const json::object& web = s.at("routes").at("web").as_object();
        rollout::PoolSlice b, c;
        std::string error;
        ASSERT_TRUE(rollout::merge_slice_json(web.at("baseline"), b, error)) << error;
        ASSERT_TRUE(rollout::merge_slice_json(web.at("canary"), c, error)) << error;
        EXPECT_GT(b.requests() + c.requests(), 0u) << "only seconds with traffic are sent";
        baseline += b.requests();
        canary += c.requests();
    }
    // The split is the file's 100/0 while the rollout is idle.
    EXPECT_EQ(canary, 0u);
    EXPECT_GE(baseline, slices.size());
    EXPECT_LE(baseline, sent);

    // Only the records after N.
    const json::object recent = driver_->slices_after(last - 5);
    EXPECT_EQ(recent.at("seq").to_number<std::uint64_t>(), last);
    EXPECT_EQ(std::string(recent.at("epoch").as_string()), epoch);
    const json::array& few = recent.at("slices").as_array();
    EXPECT_LE(few.size(), 5u);
    EXPECT_GE(few.size(), 1u);
    for (const json::value& v : few) EXPECT_GT(v.at("seq").to_number<std::uint64_t>(), last - 5);
    EXPECT_TRUE(driver_->slices_after(last).at("slices").as_array().empty());
    EXPECT_TRUE(driver_->slices_after(last + 100).at("slices").as_array().empty());
}

}  // namespace
}  // namespace weir::control
