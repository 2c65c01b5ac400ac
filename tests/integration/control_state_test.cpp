// The state file: a process killed while it writes runtime splits
// never leaves a truncated file, and a corrupt file found at start is moved
// aside while Weir serves the config file.
#include "control_support.hpp"

#include <signal.h>

#include <atomic>
#include <random>

namespace weir_it::control {
namespace {

namespace json = boost::json;

// The split of write number k: unique per k, so the file tells which write it holds.
SplitMap written(int k) { return {{"stable", static_cast<double>(k + 1)}, {"canary", static_cast<double>(1 + k % 3)}}; }

// Which write (index) a state file holds for route web; -1 if none; -2 if the file is not valid.
int write_index(const std::string& text, std::string& why) {
    json::value v = parse_json(text);
    if (!v.is_object()) {
        why = "not a JSON object";
        return -2;
    }
    const json::value* f = v.as_object().if_contains("format");
    if (!f || json_number(*f) != 1.0) {
        why = "no \"format\": 1";
        return -2;
    }
    const json::value* routes = v.as_object().if_contains("routes");
    if (!routes) return -1;
    const json::value* web = routes->is_object() ? routes->as_object().if_contains("web") : nullptr;
    if (!web) return -1;
    auto split = split_from(*web, "split");
    if (!split || split->size() != 2 || !split->count("stable")) {
        why = "routes.web.split is not a two-pool split";
        return -2;
    }
    int k = static_cast<int>(split->at("stable")) - 1;
    if (k < 0 || written(k) != *split) {
        why = "routes.web.split " + to_text(*split) + " was never written";
        return -2;
    }
    return k;
}

// ---------------------------------------------------------------- 9. SIGKILL during state writes

TEST(ControlState, KillDuringStateWritesNeverLeavesATruncatedFile) {
    FakeUpstream stable("stable"), canary("canary");
    TempDir state_dir;
    ControlConfig c = stateful_config(state_dir, stable.address(), canary.address(), {{"stable", 100}, {"canary", 0}});
    const std::string state = c.state_file;

    std::mt19937 rng(20261127);  // seeded: the same kill moments every run
    std::uniform_int_distribution<int> delay_ms(0, 120);
    int next = 0;
    int acked = -1;  // the last write answered 200
    int sent = -1;   // the last write sent (acked, or one more in flight when killed)
    const int rounds = 6;
    for (int round = 0; round <= rounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        WeirProcess weir(c.yaml());
        AdminClient admin(weir.admin_port());
        // The restarted proxy serves what the file holds: the last acknowledged write or the one in flight.
        if (round > 0) {
            std::string why;
            int k = write_index(read_file(state), why);
            auto r = admin.route();
            ASSERT_EQ(r.status, 200) << r.raw;
            ASSERT_GE(k, 0) << why;
            EXPECT_EQ(r.split, written(k)) << r.raw << "\n" << weir.log();
            EXPECT_TRUE(r.override_) << r.raw;
            // Temp files of the killed process are cleaned up at start.
            EXPECT_TRUE(list_dir(state_dir.path, "weir.state.json.tmp").empty())
                << "left-over temp files: " << list_dir(state_dir.path, "weir.state.json.tmp").size();
            EXPECT_TRUE(list_dir(state_dir.path, "weir.state.json.corrupt").empty()) << weir.log();
        }
        if (round == rounds) break;

        std::atomic<bool> stop{false};
        std::atomic<int> round_acked{-1};
        std::atomic<int> round_sent{-1};
        std::thread writer([&] {
            int k = next;
            while (!stop) {
                round_sent = k;
                Response r = admin.put("/routes/web/split", split_body(written(k)));
                if (!r.complete) break;  // killed
                if (r.status != 200) {
                    ADD_FAILURE() << "write " << k << ": " << r.describe();
                    break;
                }
                round_acked = k;
                ++k;
            }
        });
        ASSERT_TRUE(wait_for([&] { return round_acked.load() >= next + 2; }, 10s)) << weir.log();
        std::this_thread::sleep_for(Millis(delay_ms(rng)));  // a random moment, not synchronisation
        weir.signal(SIGKILL);
        EXPECT_EQ(weir.wait_exit(5s), std::optional<int>(128 + SIGKILL));
        stop = true;
        writer.join();
        acked = round_acked;
        sent = round_sent;
        next = sent + 1;

        // The file is whole: the last acknowledged write, or the one in flight.
        std::string why;
        const std::string text = read_file(state);
        int k = write_index(text, why);
        ASSERT_GE(k, 0) << "state file after SIGKILL is not valid (" << why << "):\n" << text;
        EXPECT_TRUE(k == acked || k == sent) << "file holds write " << k << "; last acknowledged " << acked
                                             << ", last sent " << sent;
    }
}

TEST(ControlState, FileSplitChangedWhileDownDropsTheOverrideAtStart) {
    FakeUpstream stable("stable"), canary("canary");
    TempDir state_dir;
    ControlConfig c = stateful_config(state_dir, stable.address(), canary.address(), {{"stable", 100}, {"canary", 0}});
    const std::string state = c.state_file;
    {
        WeirProcess weir(c.yaml());
        AdminClient admin(weir.admin_port());
        ASSERT_EQ(admin.put("/routes/web/split", split_body(written(7))).status, 200);
        weir.signal(SIGTERM);
        ASSERT_EQ(weir.wait_exit(10s), std::optional<int>(0));
    }
    std::string why;
    ASSERT_EQ(write_index(read_file(state), why), 7) << why;
    // The operator edits the route's split while Weir is down: the file is the newer intent.
    c.split = {{"stable", 100}};
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());
    auto r = admin.route();
    EXPECT_EQ(r.split, (SplitMap{{"stable", 100}})) << r.raw << "\n" << weir.log();
    EXPECT_FALSE(r.override_) << r.raw;
    EXPECT_EQ(sample_pools(weir.port(), 20)["stable"], 20);
    EXPECT_EQ(write_index(read_file(state), why), -1) << "the superseded edit is still in the state file: " << why;
}

// ---------------------------------------------------------------- 10. corrupt state file at start

TEST(ControlState, CorruptStateFileIsMovedAsideAndTheConfigServes) {
    FakeUpstream stable("stable"), canary("canary");
    struct Case {
        std::string what;
        std::string bytes;
    };
    const std::vector<Case> cases = {
        {"truncated JSON", R"({"format": 1, "routes": {"web": {"split": {"stable": 0, "canary": 1)"},
        {"binary garbage", std::string("\x00\x01\x02garbage\xff", 11)},
        {"unknown format", R"({"format": 99, "routes": {"web": {"split": {"stable": 0, "canary": 100}}}})"},
        {"negative weight", R"({"format": 1, "routes": {"web": {"split": {"stable": -5, "canary": 100}}}})"},
        {"empty file", ""},
    };
    for (const auto& tc : cases) {
        SCOPED_TRACE(tc.what);
        TempDir state_dir;
        ControlConfig c = stateful_config(state_dir, stable.address(), canary.address(), {{"stable", 100}, {"canary", 0}});
        const std::string state = c.state_file;
        write_file(state, tc.bytes);
        WeirProcess weir(c.yaml());
        AdminClient admin(weir.admin_port());

        EXPECT_TRUE(weir.wait_log("ERROR state")) << "no error logged for the bad state file\n" << weir.log();
        auto aside = list_dir(state_dir.path, "weir.state.json.corrupt-");
        ASSERT_EQ(aside.size(), 1u) << "the bad file was not moved aside\n" << weir.log();
        EXPECT_TRUE(read_file(state_dir.path + "/" + aside[0]) == tc.bytes) << "the moved file lost its bytes";
        EXPECT_NE(weir.log().find(aside[0]), std::string::npos) << "the log does not say where it went\n" << weir.log();
        if (file_exists(state)) {
            std::string why;
            EXPECT_EQ(write_index(read_file(state), why), -1) << "a bad state file is still in place: " << why;
        }
        auto r = admin.route();
        EXPECT_EQ(r.split, (SplitMap{{"stable", 100}, {"canary", 0}})) << r.raw;
        EXPECT_FALSE(r.override_) << r.raw;
        EXPECT_EQ(sample_pools(weir.port(), 20)["stable"], 20);

        // Edits are persisted again, next to the kept bad file.
        ASSERT_EQ(admin.put("/routes/web/split", split_body(written(4))).status, 200);
        std::string why;
        EXPECT_EQ(write_index(read_file(state), why), 4) << why;
        EXPECT_TRUE(read_file(state_dir.path + "/" + aside[0]) == tc.bytes);
    }
}

}  // namespace
}  // namespace weir_it::control
