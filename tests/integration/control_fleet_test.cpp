// The control plane with a fleet's store (control/fleet_store.hpp), in
// process and deterministic: a scripted store stands in for etcd. Runtime
// edits go through one queue and are written by compare-and-swap; states
// from the fleet are served like local edits, against this replica's file.
#include "config/config.hpp"
#include "control/control_plane.hpp"
#include "control/fleet_store.hpp"
#include "control/state_store.hpp"
#include "proxy/server.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weir::control {
namespace {

namespace fs = std::filesystem;
using Kind = FleetWriteOutcome::Kind;

const std::string stable_a = "10.0.1.10:8000";
const std::string stable_b = "10.0.1.11:8000";
const Split file_web_split{{"stable", 90}, {"canary", 10}};
const Split file_api_split{{"stable", 99}, {"canary", 1}};

std::string config_text(const std::string& state_file) {
    return R"(listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
state_file: )" + state_file + R"(
pools:
  - name: stable
    endpoints:
      - {address: 10.0.1.10:8000, weight: 1}
      - {address: 10.0.1.11:8000, weight: 1}
  - name: canary
    endpoints:
      - {address: 10.0.3.10:8000, weight: 1}
routes:
  - name: api
    match: {host: "*", path_prefix: /api/}
    split: {stable: 99, canary: 1}
  - name: web
    match: {host: "*", path_prefix: /}
    split: {stable: 90, canary: 10}
)";
}

// Stands in for the fleet's store: records every write and answers as the
// test says, at once (a scripted answer) or later (answer()).
class FakeFleetStore : public FleetStore {
public:
    struct Write {
        RuntimeState state;
        std::uint64_t base = 0;
        std::function<void(FleetWriteOutcome)> done;  // empty once answered
    };

    std::string down;  // what unavailable() says
    // Answers a write from inside write() when set (and returns true); else it waits.
    std::function<bool(std::size_t index)> auto_answer;

    std::string unavailable() const override { return down; }

    void write(const RuntimeState& state, std::uint64_t base, std::function<void(FleetWriteOutcome)> done) override {
        writes_.push_back({state, base, std::move(done)});
        if (auto_answer) auto_answer(writes_.size() - 1);
    }

    std::size_t count() const { return writes_.size(); }
    const Write& at(std::size_t i) const { return writes_.at(i); }
    bool pending(std::size_t i) const { return static_cast<bool>(writes_.at(i).done); }

    // Answers write `i`. A deque: answering may start the next write.
    void answer(std::size_t i, FleetWriteOutcome outcome) {
        auto done = std::move(writes_.at(i).done);
        writes_.at(i).done = nullptr;
        ASSERT_TRUE(done) << "write " << i << " answered twice";
        done(std::move(outcome));
    }
    void written(std::size_t i, std::uint64_t revision) { answer(i, {Kind::written, revision, ""}); }
    // What the real store does on a failed compare: it brings the newer
    // state in first, then says the write was stale.
    void stale(std::size_t i, ControlPlane& plane, RuntimeState newer, std::uint64_t revision) {
        plane.apply_fleet(std::move(newer), revision);
        answer(i, {Kind::stale, revision, ""});
    }

private:
    std::deque<Write> writes_;
};

// What the admin API would have answered, kept for the test.
struct Outcome {
    std::optional<Result> result;
    int calls = 0;
    ControlPlane::Done done() {
        return [this](Result r) {
            ++calls;
            result = std::move(r);
        };
    }
    bool ok() const { return result && result->ok(); }
    Errc code() const { return result ? result->code : Errc::ok; }
};

std::map<std::string, double> as_map(const Split& s) { return {s.begin(), s.end()}; }

class ControlFleet : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("weir-control-fleet-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        state_file_ = (dir_ / "state.json").string();
        auto loaded = config::load_config_text(config_text(state_file_), (dir_ / "weir.yaml").string());
        ASSERT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front().text());
        plane_ = std::make_unique<ControlPlane>(*loaded.config, "", server_, metrics_, io_);
        ASSERT_TRUE(plane_->start());
        plane_->attach_fleet(&store_);
        plane_->on_fleet_applied([this] { ++fleet_applied_; });
    }

    void TearDown() override {
        if (plane_) plane_->stop();
        plane_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    ControlPlane& plane() { return *plane_; }

    // The web route's weights in the snapshot in force, by pool.
    std::map<std::string, double> routed(const std::string& route) const {
        std::map<std::string, double> out;
        const auto& snap = plane_->current();
        for (const auto& r : snap->routes) {
            if (r.name != route) continue;
            for (std::size_t i = 0; i < r.pools.size(); ++i) out[snap->pools[r.pools[i]].name] = r.weights[i];
        }
        return out;
    }
    std::map<std::string, double> effective(const std::string& route) const {
        for (const auto& r : plane_->effective_config().routes) {
            if (r.name == route) return as_map(r.split);
        }
        return {};
    }
    // The snapshot's endpoint, or nullptr.
    const routing::Endpoint* endpoint(const std::string& pool, const std::string& name) const {
        for (const auto& p : plane_->current()->pools) {
            if (p.name != pool) continue;
            for (const auto& e : p.endpoints) {
                if (e.name == name) return &e;
            }
        }
        return nullptr;
    }
    bool draining(const std::string& pool, const std::string& name) const {
        const routing::Endpoint* e = endpoint(pool, name);
        EXPECT_NE(e, nullptr) << pool << " " << name;
        return e && e->draining;
    }
    RuntimeState state_file() const {
        StateStore reader(state_file_);
        auto loaded = reader.load();
        EXPECT_TRUE(loaded.error.empty()) << loaded.error;
        return loaded.state;
    }
    static RuntimeState with_split(RuntimeState s, const std::string& route, Split split, Split file_split) {
        s.routes[route] = RouteOverride{std::move(split), std::move(file_split)};
        return s;
    }
    static RuntimeState with_drain(RuntimeState s, const std::string& pool, const std::string& endpoint) {
        s.drained[pool].push_back(endpoint);
        return s;
    }

    fs::path dir_;
    std::string state_file_;
    boost::asio::io_context io_;
    proxy::Server server_{1};
    telemetry::Metrics metrics_;
    FakeFleetStore store_;
    std::unique_ptr<ControlPlane> plane_;
    int fleet_applied_ = 0;
};

const Split half{{"stable", 50}, {"canary", 50}};

// ---------------------------------------------------------------- written

TEST_F(ControlFleet, WrittenEditIsInForceAtTheWrittenRevision) {
    EXPECT_EQ(plane().fleet_revision(), 0u);
    EXPECT_EQ(plane().etag_version(), 0u) << "with a fleet the entity tag is the fleet's revision";
    const std::uint64_t config_version = plane().version();

    Outcome out;
    plane().set_split("web", half, std::nullopt, out.done());
    ASSERT_EQ(store_.count(), 1u);
    EXPECT_EQ(store_.at(0).base, 0u);
    ASSERT_EQ(store_.at(0).state.routes.count("web"), 1u);
    EXPECT_EQ(as_map(store_.at(0).state.routes.at("web").split), as_map(half));
    EXPECT_EQ(as_map(store_.at(0).state.routes.at("web").file_split), as_map(file_web_split));

    // Nothing is in force, nor answered, before the store took it.
    EXPECT_EQ(out.calls, 0);
    EXPECT_EQ(effective("web"), as_map(file_web_split));
    EXPECT_EQ(routed("web"), as_map(file_web_split));
    EXPECT_TRUE(plane().state().routes.empty());

    store_.written(0, 17);
    EXPECT_EQ(out.calls, 1);
    EXPECT_TRUE(out.ok()) << (out.result ? out.result->message : "");
    EXPECT_EQ(plane().fleet_revision(), 17u);
    EXPECT_EQ(plane().etag_version(), 17u);
    EXPECT_EQ(effective("web"), as_map(half));
    EXPECT_EQ(routed("web"), as_map(half));
    EXPECT_EQ(routed("api"), as_map(file_api_split));
    EXPECT_GT(plane().version(), config_version) << "a new snapshot for the new split";
    EXPECT_EQ(fleet_applied_, 1);

    // Cached in the state file.
    RuntimeState cached = state_file();
    ASSERT_EQ(cached.routes.count("web"), 1u);
    EXPECT_EQ(as_map(cached.routes.at("web").split), as_map(half));

    // The same revision coming back through the watch changes nothing.
    plane().apply_fleet(store_.at(0).state, 17);
    EXPECT_EQ(fleet_applied_, 1);
    EXPECT_EQ(routed("web"), as_map(half));
}

TEST_F(ControlFleet, EditAlreadyInForceWritesNothing) {
    Outcome out;
    plane().clear_split("web", std::nullopt, out.done());  // no override to clear
    EXPECT_EQ(out.calls, 1);
    EXPECT_TRUE(out.ok());
    EXPECT_EQ(store_.count(), 0u);

    Outcome bad;
    plane().set_split("web", {{"nowhere", 1}}, std::nullopt, bad.done());
    EXPECT_EQ(bad.code(), Errc::invalid);
    EXPECT_EQ(store_.count(), 0u);
}

// ---------------------------------------------------------------- the queue

TEST_F(ControlFleet, EditWaitsForTheWriteInFlight) {
    // The store answers later, from the event loop, as the real one does.
    std::vector<std::string> order;
    Outcome first, second;
    plane().set_split("web", half, std::nullopt, [&](Result r) {
        order.push_back("split");
        first.done()(std::move(r));
    });
    plane().drain("stable", stable_b, [&](Result r) {
        order.push_back("drain");
        second.done()(std::move(r));
    });
    ASSERT_EQ(store_.count(), 1u) << "the second write must wait for the first";
    EXPECT_EQ(first.calls, 0);
    EXPECT_EQ(second.calls, 0);
    EXPECT_TRUE(store_.at(0).state.drained.empty()) << "the first write holds the first edit alone";

    boost::asio::post(io_, [&] { store_.written(0, 3); });
    EXPECT_EQ(store_.count(), 1u);
    io_.poll();
    io_.restart();
    EXPECT_TRUE(first.ok());
    EXPECT_EQ(second.calls, 0);
    ASSERT_EQ(store_.count(), 2u) << "the second write starts once the first is answered";

    // Made on the state the first one left, from its revision.
    const auto& w = store_.at(1);
    EXPECT_EQ(w.base, 3u);
    ASSERT_EQ(w.state.routes.count("web"), 1u);
    EXPECT_EQ(as_map(w.state.routes.at("web").split), as_map(half));
    ASSERT_EQ(w.state.drained.count("stable"), 1u);
    EXPECT_EQ(w.state.drained.at("stable"), std::vector<std::string>{stable_b});
    EXPECT_FALSE(draining("stable", stable_b)) << "not in force before it is written";

    boost::asio::post(io_, [&] { store_.written(1, 4); });
    io_.poll();
    EXPECT_TRUE(second.ok());
    EXPECT_EQ(order, (std::vector<std::string>{"split", "drain"}));
    EXPECT_EQ(plane().fleet_revision(), 4u);
    EXPECT_TRUE(draining("stable", stable_b));
    EXPECT_FALSE(draining("stable", stable_a));
    EXPECT_EQ(routed("web"), as_map(half));
    EXPECT_EQ(store_.count(), 2u);
}

TEST_F(ControlFleet, RefusedEditInTheQueueDoesNotBlockTheNext) {
    Outcome first, refused, third;
    plane().set_split("web", half, std::nullopt, first.done());
    plane().drain("stable", "10.9.9.9:1", refused.done());  // no such endpoint
    plane().drain("stable", stable_a, third.done());
    ASSERT_EQ(store_.count(), 1u);
    store_.written(0, 1);
    EXPECT_TRUE(first.ok());
    EXPECT_EQ(refused.code(), Errc::not_found);
    ASSERT_EQ(store_.count(), 2u);
    EXPECT_EQ(store_.at(1).base, 1u);
    store_.written(1, 2);
    EXPECT_TRUE(third.ok());
    EXPECT_TRUE(draining("stable", stable_a));
}

// ---------------------------------------------------------------- stale

TEST_F(ControlFleet, StaleEditIsMadeAgainOnTheNewerState) {
    Outcome out;
    plane().set_split("web", half, std::nullopt, out.done());
    ASSERT_EQ(store_.count(), 1u);

    // Another replica drained an endpoint first.
    const RuntimeState remote = with_drain({}, "stable", stable_b);
    store_.stale(0, plane(), remote, 8);
    EXPECT_EQ(out.calls, 0) << "an unpinned edit is made again, not refused";
    EXPECT_EQ(plane().fleet_revision(), 8u);
    EXPECT_TRUE(draining("stable", stable_b)) << "the remote drain is in force";

    ASSERT_EQ(store_.count(), 2u);
    const auto& again = store_.at(1);
    EXPECT_EQ(again.base, 8u);
    ASSERT_EQ(again.state.drained.count("stable"), 1u);
    EXPECT_EQ(again.state.drained.at("stable"), std::vector<std::string>{stable_b}) << "the remote drain is kept";
    ASSERT_EQ(again.state.routes.count("web"), 1u);
    EXPECT_EQ(as_map(again.state.routes.at("web").split), as_map(half));

    store_.written(1, 9);
    EXPECT_TRUE(out.ok()) << (out.result ? out.result->message : "");
    EXPECT_EQ(plane().fleet_revision(), 9u);
    EXPECT_TRUE(draining("stable", stable_b));
    EXPECT_EQ(routed("web"), as_map(half));
    EXPECT_EQ(store_.count(), 2u);
}

TEST_F(ControlFleet, PinnedEditThatGoesStaleIsRefusedAndNothingApplied) {
    plane().apply_fleet({}, 2);
    ASSERT_EQ(plane().etag_version(), 2u);

    Outcome out;
    plane().set_split("web", half, 2, out.done());
    ASSERT_EQ(store_.count(), 1u);
    EXPECT_EQ(store_.at(0).base, 2u);

    const RuntimeState remote = with_drain({}, "stable", stable_a);
    store_.stale(0, plane(), remote, 3);
    ASSERT_EQ(out.calls, 1);
    EXPECT_EQ(out.code(), Errc::stale) << out.result->message;
    EXPECT_EQ(store_.count(), 1u) << "a pinned edit is not made again";
    EXPECT_TRUE(plane().state().routes.empty());
    EXPECT_EQ(effective("web"), as_map(file_web_split));
    EXPECT_EQ(routed("web"), as_map(file_web_split));
    EXPECT_EQ(plane().fleet_revision(), 3u);
    EXPECT_TRUE(draining("stable", stable_a)) << "what the fleet holds is served";
    EXPECT_TRUE(state_file().routes.empty());
}

TEST_F(ControlFleet, PinnedToAnOldRevisionIsRefusedWithoutAWrite) {
    plane().apply_fleet({}, 5);
    Outcome out;
    plane().set_split("web", half, 4, out.done());
    EXPECT_EQ(out.code(), Errc::stale);
    EXPECT_EQ(store_.count(), 0u);

    // The config version is not what a fleet replica's tags name.
    Outcome by_config;
    const std::uint64_t config_version = plane().version();
    ASSERT_NE(config_version, 5u);
    plane().set_split("web", half, config_version, by_config.done());
    EXPECT_EQ(by_config.code(), Errc::stale);
    EXPECT_EQ(store_.count(), 0u);
}

TEST_F(ControlFleet, FiveStaleAnswersInARowAreUnavailable) {
    plane().apply_fleet({}, 10);
    ASSERT_EQ(plane().fleet_revision(), 10u);
    std::uint64_t revision = 10;
    store_.auto_answer = [&](std::size_t i) {
        ++revision;
        store_.stale(i, plane(), with_drain({}, "stable", i % 2 ? stable_a : stable_b), revision);
        return true;
    };
    Outcome out;
    plane().set_split("web", half, std::nullopt, out.done());
    ASSERT_EQ(out.calls, 1);
    EXPECT_EQ(out.code(), Errc::unavailable) << out.result->message;
    EXPECT_EQ(store_.count(), 5u);
    for (std::size_t i = 0; i < store_.count(); ++i) {
        EXPECT_EQ(store_.at(i).base, 10 + i) << "write " << i << " is made on the newest state";
        if (i > 0) {
            // Each attempt carries the drain the store brought in before it.
            EXPECT_EQ(store_.at(i).state.drained.at("stable"),
                      std::vector<std::string>{(i - 1) % 2 ? stable_a : stable_b});
        }
    }
    EXPECT_EQ(plane().fleet_revision(), 15u);
    EXPECT_TRUE(plane().state().routes.empty());
    EXPECT_EQ(routed("web"), as_map(file_web_split));

    // The queue is free again: the next edit is written.
    store_.auto_answer = nullptr;
    Outcome next;
    plane().set_split("web", half, std::nullopt, next.done());
    ASSERT_EQ(store_.count(), 6u);
    store_.written(5, 16);
    EXPECT_TRUE(next.ok());
    EXPECT_EQ(routed("web"), as_map(half));
}

TEST_F(ControlFleet, FourStaleAnswersThenWrittenSucceeds) {
    std::uint64_t revision = 0;
    store_.auto_answer = [&](std::size_t i) {
        ++revision;
        if (i < 4) store_.stale(i, plane(), with_drain({}, "stable", stable_b), revision);
        else store_.written(i, revision);
        return true;
    };
    Outcome out;
    plane().set_split("web", half, std::nullopt, out.done());
    EXPECT_TRUE(out.ok()) << (out.result ? out.result->message : "");
    EXPECT_EQ(store_.count(), 5u);
    EXPECT_EQ(plane().fleet_revision(), 5u);
    EXPECT_EQ(routed("web"), as_map(half));
    EXPECT_TRUE(draining("stable", stable_b));
}

// ---------------------------------------------------------------- unavailable

TEST_F(ControlFleet, UnavailableStoreRefusesAtOnceWithoutAWrite) {
    store_.down = "etcd unreachable";
    Outcome out;
    plane().set_split("web", half, std::nullopt, out.done());
    ASSERT_EQ(out.calls, 1);
    EXPECT_EQ(out.code(), Errc::unavailable);
    EXPECT_NE(out.result->message.find("etcd unreachable"), std::string::npos) << out.result->message;
    EXPECT_EQ(store_.count(), 0u);
    EXPECT_TRUE(plane().state().routes.empty());

    Outcome drain;
    plane().drain("stable", stable_a, drain.done());
    EXPECT_EQ(drain.code(), Errc::unavailable);
    EXPECT_EQ(store_.count(), 0u);
    EXPECT_FALSE(draining("stable", stable_a));

    store_.down.clear();
    Outcome later;
    plane().set_split("web", half, std::nullopt, later.done());
    EXPECT_EQ(later.calls, 0);
    EXPECT_EQ(store_.count(), 1u);
}

TEST_F(ControlFleet, WriteAnsweredUnavailableFails) {
    Outcome out, queued;
    plane().set_split("web", half, std::nullopt, out.done());
    plane().drain("stable", stable_a, queued.done());
    ASSERT_EQ(store_.count(), 1u);
    store_.answer(0, {Kind::unavailable, 0, "lost the lease"});
    ASSERT_EQ(out.calls, 1);
    EXPECT_EQ(out.code(), Errc::unavailable);
    EXPECT_NE(out.result->message.find("lost the lease"), std::string::npos) << out.result->message;
    EXPECT_TRUE(plane().state().routes.empty());
    EXPECT_EQ(routed("web"), as_map(file_web_split));
    // The queued edit goes on, on the state in force (without the failed one).
    ASSERT_EQ(store_.count(), 2u);
    EXPECT_TRUE(store_.at(1).state.routes.empty());
    EXPECT_EQ(store_.at(1).state.drained.at("stable"), std::vector<std::string>{stable_a});
}

// ---------------------------------------------------------------- apply_fleet

TEST_F(ControlFleet, OlderRevisionsAreIgnored) {
    plane().apply_fleet(with_split({}, "web", half, file_web_split), 5);
    EXPECT_EQ(plane().fleet_revision(), 5u);
    EXPECT_EQ(routed("web"), as_map(half));
    EXPECT_EQ(fleet_applied_, 1);

    const Split other{{"stable", 20}, {"canary", 80}};
    plane().apply_fleet(with_split({}, "web", other, file_web_split), 4);
    plane().apply_fleet(with_split({}, "web", other, file_web_split), 5);
    EXPECT_EQ(plane().fleet_revision(), 5u);
    EXPECT_EQ(routed("web"), as_map(half));
    EXPECT_EQ(effective("web"), as_map(half));
    EXPECT_EQ(fleet_applied_, 1) << "an ignored revision runs no hook";
    EXPECT_EQ(as_map(state_file().routes.at("web").split), as_map(half));

    plane().apply_fleet(with_split({}, "web", other, file_web_split), 6);
    EXPECT_EQ(routed("web"), as_map(other));
    EXPECT_EQ(fleet_applied_, 2);
}

// A state naming a pool this replica's file does not know: the override that
// names it is dropped (as a reload would) and the rest is served; the revision
// moves on and the hook runs.
TEST_F(ControlFleet, StateNamingAnUnknownPoolDropsThatOverride) {
    plane().apply_fleet(with_split({}, "api", {{"stable", 70}, {"canary", 30}}, file_api_split), 1);
    ASSERT_EQ(routed("api"), (std::map<std::string, double>{{"stable", 70}, {"canary", 30}}));

    RuntimeState remote = with_split({}, "web", {{"stable", 50}, {"green", 50}}, file_web_split);
    remote = with_drain(remote, "stable", stable_b);
    remote.pools["green"] = PoolOverride{{{"10.0.9.9:8000", 1}}, {{"10.0.9.9:8000", 1}}};
    plane().apply_fleet(remote, 2);

    EXPECT_EQ(plane().fleet_revision(), 2u);
    EXPECT_EQ(fleet_applied_, 2);
    EXPECT_EQ(plane().state().routes.count("web"), 0u);
    EXPECT_EQ(plane().state().routes.count("api"), 0u) << "revision 2 has no override of api";
    EXPECT_EQ(plane().state().pools.count("green"), 0u);
    EXPECT_EQ(routed("web"), as_map(file_web_split));
    EXPECT_EQ(routed("api"), as_map(file_api_split));
    EXPECT_TRUE(draining("stable", stable_b)) << "the rest of the state is served";
    for (const auto& p : plane().current()->pools) EXPECT_NE(p.name, "green");

    // An edit made now is made on the fleet's document: what this replica
    // leaves out of what it serves stays in the fleet for the others.
    Outcome out;
    plane().drain("stable", stable_a, out.done());
    ASSERT_EQ(store_.count(), 1u);
    EXPECT_EQ(store_.at(0).base, 2u);
    EXPECT_EQ(store_.at(0).state.routes.count("web"), 1u) << "the write drops another replica's override of web";
    EXPECT_EQ(store_.at(0).state.pools.count("green"), 1u) << "the write drops another replica's endpoints of green";
    EXPECT_EQ(store_.at(0).state.drained.at("stable").size(), 2u);
}

// A state this replica's file cannot be served with at all (the routing table
// cannot be built: an endpoint that does not resolve): the last state that
// works stays in force, the revision is taken as seen, no hook runs and the
// state file keeps the state in force.
TEST_F(ControlFleet, StateThatCannotBeBuiltKeepsTheLastState) {
    plane().apply_fleet(with_split({}, "web", half, file_web_split), 1);
    ASSERT_EQ(fleet_applied_, 1);
    const std::uint64_t version_before = plane().version();
    const RuntimeState before = plane().state();

    RuntimeState remote = with_drain({}, "canary", "10.0.3.10:8000");
    remote.pools["stable"] = PoolOverride{{{"nothing.invalid:8000", 1}}, {{stable_a, 1}, {stable_b, 1}}};
    plane().apply_fleet(remote, 2);

    EXPECT_EQ(plane().fleet_revision(), 2u);
    EXPECT_EQ(plane().state(), before);
    EXPECT_EQ(plane().version(), version_before);
    EXPECT_EQ(routed("web"), as_map(half));
    EXPECT_FALSE(draining("canary", "10.0.3.10:8000"));
    EXPECT_NE(endpoint("stable", stable_a), nullptr);
    EXPECT_EQ(fleet_applied_, 1);
    RuntimeState cached = state_file();
    EXPECT_EQ(cached.pools.count("stable"), 0u);
    EXPECT_TRUE(cached.drained.empty());
    EXPECT_EQ(as_map(cached.routes.at("web").split), as_map(half));
}

// An edit made after such a state must not write the fleet back to what this
// replica still serves: that would undo another replica's change at a
// revision that says it was seen. Refusing the edit is fine, and so is
// writing it on top of the fleet's state; dropping the fleet's changes is not.
TEST_F(ControlFleet, EditAfterAStateThatCannotBeBuiltDoesNotUndoIt) {
    RuntimeState remote = with_drain({}, "canary", "10.0.3.10:8000");
    remote.pools["stable"] = PoolOverride{{{"nothing.invalid:8000", 1}}, {{stable_a, 1}, {stable_b, 1}}};
    plane().apply_fleet(remote, 2);
    ASSERT_EQ(plane().fleet_revision(), 2u);

    Outcome out;
    plane().set_split("web", half, std::nullopt, out.done());
    if (store_.count() == 0) {
        ASSERT_EQ(out.calls, 1);
        EXPECT_FALSE(out.ok()) << "no write, so the edit must have been refused";
        return;
    }
    const auto& w = store_.at(0);
    EXPECT_EQ(w.base, 2u);
    EXPECT_EQ(w.state.drained.count("canary"), 1u) << "the write drops the fleet's drain of canary 10.0.3.10:8000";
    EXPECT_EQ(w.state.pools.count("stable"), 1u) << "the write drops the fleet's endpoint list of pool stable";
}

TEST_F(ControlFleet, OverrideMadeAgainstAnotherFileSplitIsDropped) {
    RuntimeState remote;
    // Made by a replica whose file says 80/20 for web: not this file's intent.
    remote = with_split(remote, "web", half, {{"stable", 80}, {"canary", 20}});
    // Made against this file's split for api: kept.
    remote = with_split(remote, "api", {{"stable", 60}, {"canary", 40}}, file_api_split);
    plane().apply_fleet(remote, 7);

    EXPECT_EQ(plane().fleet_revision(), 7u);
    EXPECT_EQ(plane().state().routes.count("web"), 0u);
    ASSERT_EQ(plane().state().routes.count("api"), 1u);
    EXPECT_EQ(routed("web"), as_map(file_web_split));
    EXPECT_EQ(effective("web"), as_map(file_web_split));
    EXPECT_EQ(routed("api"), (std::map<std::string, double>{{"stable", 60}, {"canary", 40}}));
    RuntimeState cached = state_file();
    EXPECT_EQ(cached.routes.count("web"), 0u);
    EXPECT_EQ(cached.routes.count("api"), 1u);
}

TEST_F(ControlFleet, DrainsFromTheFleetAreServedAndUndrainsComeBack) {
    const std::uint64_t version_before = plane().version();
    plane().apply_fleet(with_drain({}, "stable", stable_b), 1);
    EXPECT_TRUE(plane().is_drained("stable", stable_b));
    EXPECT_TRUE(draining("stable", stable_b));
    EXPECT_FALSE(draining("stable", stable_a));
    EXPECT_EQ(plane().version(), version_before) << "same routing: only endpoint states are republished";
    EXPECT_EQ(state_file().drained.at("stable"), std::vector<std::string>{stable_b});

    RuntimeState both = with_drain(with_drain({}, "stable", stable_b), "canary", "10.0.3.10:8000");
    plane().apply_fleet(both, 2);
    EXPECT_TRUE(draining("stable", stable_b));
    EXPECT_TRUE(draining("canary", "10.0.3.10:8000"));

    plane().apply_fleet({}, 3);
    EXPECT_FALSE(plane().is_drained("stable", stable_b));
    EXPECT_FALSE(draining("stable", stable_b));
    EXPECT_FALSE(draining("canary", "10.0.3.10:8000"));
    EXPECT_EQ(fleet_applied_, 3);
    EXPECT_TRUE(state_file().drained.empty());
}

TEST_F(ControlFleet, StateFileIsACacheOfTheFleetsState) {
    RuntimeState remote = with_split({}, "web", half, file_web_split);
    remote = with_drain(remote, "stable", stable_a);
    remote.rollouts["web"] = R"({"phase":"idle"})";
    plane().apply_fleet(remote, 12);

    RuntimeState cached = state_file();
    ASSERT_EQ(cached.routes.count("web"), 1u);
    EXPECT_EQ(cached.routes.at("web"), (RouteOverride{half, file_web_split}));
    EXPECT_EQ(cached.drained.at("stable"), std::vector<std::string>{stable_a});
    EXPECT_EQ(cached.rollouts.at("web"), R"({"phase":"idle"})");
    EXPECT_EQ(cached.routes, plane().state().routes);
    EXPECT_EQ(cached.drained, plane().state().drained);
    EXPECT_EQ(cached.config_version, plane().state().config_version);
    EXPECT_EQ(cached.config_version, plane().version());
}

// ---------------------------------------------------------------- no fleet

TEST(ControlFleetNone, WithoutAFleetEditsCommitAtOnce) {
    const fs::path dir = fs::temp_directory_path() / ("weir-control-nofleet-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string state_path = (dir / "state.json").string();
    auto loaded = config::load_config_text(config_text(state_path), (dir / "weir.yaml").string());
    ASSERT_TRUE(loaded.config);
    boost::asio::io_context io;
    proxy::Server server(1);
    telemetry::Metrics metrics;
    ControlPlane plane(*loaded.config, "", server, metrics, io);
    ASSERT_TRUE(plane.start());
    EXPECT_EQ(plane.etag_version(), plane.version());

    Outcome out;
    plane.set_split("web", half, plane.etag_version(), out.done());
    EXPECT_EQ(out.calls, 1) << "answered before set_split returns";
    EXPECT_TRUE(out.ok());
    EXPECT_EQ(plane.etag_version(), plane.version());
    StateStore reader(state_path);
    auto saved = reader.load();
    ASSERT_EQ(saved.state.routes.count("web"), 1u);
    EXPECT_EQ(as_map(saved.state.routes.at("web").split), as_map(half));

    Outcome stale;
    plane.set_split("web", file_web_split, plane.version() - 1, stale.done());
    EXPECT_EQ(stale.code(), Errc::stale);
    plane.stop();
    fs::remove_all(dir);
}

}  // namespace
}  // namespace weir::control
