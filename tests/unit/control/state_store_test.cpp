#include "control/state_store.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace weir::control {
namespace {

namespace fs = std::filesystem;

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/weir-state-test-XXXXXX";
        char* p = ::mkdtemp(tmpl);
        if (!p) throw std::runtime_error("mkdtemp failed");
        path_ = p;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

RuntimeState sample_state() {
    RuntimeState s;
    s.routes["web"] = {{{"stable", 80}, {"canary", 20}}, {{"stable", 90}, {"canary", 10}}};
    // Pool order is kept as given (not sorted), odd names survive, odd weights are exact.
    s.routes["api.v2 \"quoted\" \xc3\xa9"] = {
        {{"zeta", 0.1}, {"alpha", 1.0 / 3.0}, {"mid", 0.30000000000000004}, {"tiny", 5e-324}},
        {{"zeta", 1e-7}, {"alpha", 1e300}, {"zero", 0}}};
    s.routes["empty-file-split"] = {{{"blue", 0}, {"green", 100}}, {}};
    return s;
}

RuntimeState large_state(int routes) {
    RuntimeState s;
    for (int i = 0; i < routes; ++i) {
        auto name = "route-" + std::to_string(i);
        s.routes[name] = {{{"stable", 100.0 - i % 100}, {"canary", i % 100 + 0.125}, {"green", 1.0 / (i + 3)}},
                          {{"stable", 90}, {"canary", 10}}};
    }
    return s;
}

// ------------------------------------------------------------------ JSON

TEST(StateJson, RoundTripsExactly) {
    RuntimeState s = sample_state();
    std::string text = to_json(s);
    EXPECT_NE(text.find("\"format\": 1"), std::string::npos) << text;
    EXPECT_NE(text.find('\n'), std::string::npos) << "should be human-readable:\n" << text;
    std::string error;
    auto back = state_from_json(text, error);
    ASSERT_TRUE(back) << error << "\n" << text;
    EXPECT_EQ(*back, s) << text;
    EXPECT_EQ(back->routes.at("api.v2 \"quoted\" \xc3\xa9").split.front().first, "zeta");
    EXPECT_EQ(to_json(*back), text);
}

TEST(StateJson, ConfigVersionRoundTripsAndDefaultsToZero) {
    RuntimeState s = sample_state();
    s.config_version = 123456789012ULL;
    std::string error;
    auto back = state_from_json(to_json(s), error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->config_version, 123456789012ULL);
    auto old = state_from_json(R"({"format": 1, "routes": {}})", error);
    ASSERT_TRUE(old) << error;
    EXPECT_EQ(old->config_version, 0u);
    EXPECT_FALSE(state_from_json(R"({"format": 1, "config_version": -3})", error));
    EXPECT_NE(error.find("config_version"), std::string::npos) << error;
}

TEST(StateJson, EmptyStateRoundTrips) {
    std::string text = to_json(RuntimeState{});
    std::string error;
    auto back = state_from_json(text, error);
    ASSERT_TRUE(back) << error << "\n" << text;
    EXPECT_TRUE(back->routes.empty());
}

TEST(StateJson, RandomWeightsRoundTripBitForBit) {
    std::mt19937_64 rng(20260101);
    std::uniform_real_distribution<double> uni(0.0, 100.0);
    RuntimeState s;
    auto& split = s.routes["r"].split;
    for (int i = 0; i < 5000; ++i) {
        double w;
        if (i % 2 == 0) {
            w = uni(rng);
        } else {
            std::uint64_t bits = rng() & 0x7fffffffffffffffULL;  // non-negative
            std::memcpy(&w, &bits, sizeof w);
            if (!std::isfinite(w)) w = 1;
        }
        split.emplace_back("p" + std::to_string(i), w);
    }
    std::string error;
    auto back = state_from_json(to_json(s), error);
    ASSERT_TRUE(back) << error;
    const auto& got = back->routes.at("r").split;
    ASSERT_EQ(got.size(), split.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].first, split[i].first);
        ASSERT_EQ(std::memcmp(&got[i].second, &split[i].second, sizeof(double)), 0)
            << i << ": " << split[i].second << " came back as " << got[i].second;
    }
}

TEST(StateJson, RejectsBadInputWithAReason) {
    struct Case {
        std::string text;
        std::string error;
    };
    const std::vector<Case> cases = {
        {"", "invalid JSON"},
        {"{", "invalid JSON"},
        {R"({"format": 1} trailing)", "invalid JSON"},
        {"[]", "top level: not an object"},
        {"{}", "format: missing"},
        {R"({"format": "1"})", "format: not an integer"},
        {R"({"format": 2, "routes": {}})", "format: unsupported version 2"},
        {R"({"format": 1, "routes": []})", "routes: not an object"},
        {R"({"format": 1, "routes": {"": {"split": {}, "file_split": {}}}})", "routes: empty route name"},
        {R"({"format": 1, "routes": {"web": 1}})", "routes.web: not an object"},
        {R"({"format": 1, "routes": {"web": {"file_split": {}}}})", "routes.web.split: missing"},
        {R"({"format": 1, "routes": {"web": {"split": {}}}})", "routes.web.file_split: missing"},
        {R"({"format": 1, "routes": {"web": {"split": [1], "file_split": {}}}})", "routes.web.split: not an object"},
        {R"({"format": 1, "routes": {"web": {"split": {"canary": "10"}, "file_split": {}}}})",
         "routes.web.split.canary: not a number"},
        {R"({"format": 1, "routes": {"web": {"split": {"canary": null}, "file_split": {}}}})",
         "routes.web.split.canary: not a number"},
        {R"({"format": 1, "routes": {"web": {"split": {"canary": -1}, "file_split": {}}}})",
         "routes.web.split.canary: negative weight"},
        {R"({"format": 1, "routes": {"web": {"split": {"canary": -0.5}, "file_split": {}}}})",
         "routes.web.split.canary: negative weight"},
        {R"({"format": 1, "routes": {"web": {"split": {"canary": 1e999}, "file_split": {}}}})",
         "routes.web.split.canary: weight is not finite"},
        {R"({"format": 1, "routes": {"web": {"split": {}, "file_split": {"stable": -1e999}}}})",
         "routes.web.file_split.stable:"},
        {R"({"format": 1, "routes": {"web": {"split": {"": 1}, "file_split": {}}}})",
         "routes.web.split: empty pool name"},
    };
    for (const auto& c : cases) {
        std::string error;
        auto got = state_from_json(c.text, error);
        EXPECT_FALSE(got) << c.text;
        EXPECT_NE(error.find(c.error), std::string::npos) << "input: " << c.text << "\nerror: " << error
                                                          << "\nexpected to contain: " << c.error;
    }
}

TEST(StateJson, ParseErrorsNameTheLine) {
    std::string error;
    EXPECT_FALSE(state_from_json("{\n  \"format\": 1,\n  oops\n}", error));
    EXPECT_NE(error.find("line 3"), std::string::npos) << error;
}

TEST(StateJson, IgnoresUnknownKeysAndAcceptsMissingRoutes) {
    std::string error;
    auto s = state_from_json(R"({"format": 1, "drains": {"stable": ["10.0.0.1:80"]},
        "routes": {"web": {"split": {"a": 1}, "file_split": {"a": 2}, "rollout": {"step": 3}}}})",
                             error);
    ASSERT_TRUE(s) << error;
    ASSERT_EQ(s->routes.size(), 1u);
    EXPECT_EQ(s->routes.at("web").split, (Split{{"a", 1}}));
    EXPECT_EQ(s->routes.at("web").file_split, (Split{{"a", 2}}));

    auto empty = state_from_json(R"({"format": 1})", error);
    ASSERT_TRUE(empty) << error;
    EXPECT_TRUE(empty->routes.empty());
}

TEST(StateJson, ValidateMatchesTheLoader) {
    EXPECT_EQ(validate(sample_state()), "");
    RuntimeState s;
    s.routes["web"].split = {{"a", std::nan("")}};
    EXPECT_EQ(validate(s), "routes.web.split.a: weight is not finite");
    s.routes["web"].split = {{"a", -1}};
    EXPECT_NE(validate(s).find("routes.web.split.a: negative weight"), std::string::npos);
    s.routes["web"].split = {{"a", 1}, {"a", 2}};
    EXPECT_EQ(validate(s), "routes.web.split.a: duplicate pool");
    s.routes["web"].split = {{"", 1}};
    EXPECT_EQ(validate(s), "routes.web.split: empty pool name");
    s.routes.clear();
    s.routes[""] = {};
    EXPECT_EQ(validate(s), "routes: empty route name");
}

// ------------------------------------------------------------------ store

TEST(StateStore, SaveThenLoadGivesTheSameStateAndLeavesNoTempFiles) {
    TempDir dir;
    StateStore store(dir.file("weir.state.json"));
    EXPECT_EQ(store.path(), dir.file("weir.state.json"));
    ASSERT_FALSE(store.save(sample_state()));
    EXPECT_EQ(list_dir(dir.path()), std::vector<std::string>{"weir.state.json"});
    EXPECT_EQ(read_bytes(store.path()), to_json(sample_state()));

    auto loaded = StateStore(store.path()).load();
    EXPECT_EQ(loaded.error, "");
    EXPECT_EQ(loaded.moved_to, "");
    EXPECT_EQ(loaded.state, sample_state());

    // Overwrite with a different state.
    RuntimeState other;
    other.routes["web"] = {{{"green", 100}}, {{"blue", 100}}};
    ASSERT_FALSE(store.save(other));
    EXPECT_EQ(store.load().state, other);
    EXPECT_EQ(list_dir(dir.path()), std::vector<std::string>{"weir.state.json"});
}

TEST(StateStore, RelativePathWorks) {
    TempDir dir;
    char old_cwd[4096];
    ASSERT_TRUE(::getcwd(old_cwd, sizeof old_cwd));
    ASSERT_EQ(::chdir(dir.path().c_str()), 0);
    StateStore store("state.json");
    auto err = store.save(sample_state());
    auto loaded = store.load();
    ASSERT_EQ(::chdir(old_cwd), 0);
    EXPECT_FALSE(err) << err.message();
    EXPECT_EQ(loaded.state, sample_state());
}

TEST(StateStore, MissingFileIsAnEmptyStateWithoutError) {
    TempDir dir;
    auto loaded = StateStore(dir.file("absent.json")).load();
    EXPECT_TRUE(loaded.state.routes.empty());
    EXPECT_EQ(loaded.error, "");
    EXPECT_EQ(loaded.moved_to, "");
    EXPECT_TRUE(list_dir(dir.path()).empty());
}

TEST(StateStore, CorruptFilesAreMovedAsideWithTheirBytesKept) {
    const std::vector<std::string> bad = {
        "{\"format\": 1, \"routes\": {\"web\": {\"split\": {\"a\": 1",  // truncated
        "not json at all",
        "",                                                             // empty
        std::string("\x00\xff\xfe garbage", 11),                        // binary
        R"({"format": 1, "routes": {"web": {"split": {"a": "1"}, "file_split": {}}}})",   // wrong type
        R"({"format": 1, "routes": {"web": {"split": {"a": -5}, "file_split": {}}}})",    // negative
        R"({"format": 1, "routes": {"web": {"split": {"a": 1e400}, "file_split": {}}}})", // not finite
        R"({"format": 99, "routes": {}})",                                                // unknown format
        R"(["format", 1])",
    };
    const std::regex moved_name(R"(weir\.state\.json\.corrupt-\d{8}T\d{6}Z(-\d+)?)");
    for (const auto& bytes : bad) {
        TempDir dir;
        std::string path = dir.file("weir.state.json");
        write_bytes(path, bytes);
        auto loaded = StateStore(path).load();
        EXPECT_TRUE(loaded.state.routes.empty()) << bytes;
        EXPECT_NE(loaded.error, "") << bytes;
        ASSERT_NE(loaded.moved_to, "") << bytes << " / " << loaded.error;
        EXPECT_TRUE(std::regex_match(fs::path(loaded.moved_to).filename().string(), moved_name)) << loaded.moved_to;
        EXPECT_EQ(fs::path(loaded.moved_to).parent_path(), fs::path(dir.path()));
        EXPECT_FALSE(fs::exists(path)) << "the bad file must not stay in place";
        EXPECT_EQ(read_bytes(loaded.moved_to), bytes) << "the moved file must keep the original bytes";
        EXPECT_EQ(list_dir(dir.path()).size(), 1u);
    }
}

TEST(StateStore, RepeatedCorruptionNeverOverwritesAnEarlierCorruptFile) {
    TempDir dir;
    std::string path = dir.file("s.json");
    std::vector<std::string> moved;
    for (int i = 0; i < 3; ++i) {  // normally within the same second: the names must still differ
        write_bytes(path, "corrupt #" + std::to_string(i));
        auto loaded = StateStore(path).load();
        ASSERT_NE(loaded.moved_to, "") << loaded.error;
        moved.push_back(loaded.moved_to);
    }
    for (int i = 0; i < 3; ++i) EXPECT_EQ(read_bytes(moved[i]), "corrupt #" + std::to_string(i)) << moved[i];
    EXPECT_EQ(list_dir(dir.path()).size(), 3u);
}

TEST(StateStore, UnreadableStateIsMovedAside) {
    TempDir dir;
    std::string path = dir.file("s.json");
    fs::create_directory(path);  // a directory where the file should be: cannot be read
    write_bytes(path + "/keep", "x");
    auto loaded = StateStore(path).load();
    EXPECT_TRUE(loaded.state.routes.empty());
    EXPECT_NE(loaded.error.find("cannot read"), std::string::npos) << loaded.error;
    ASSERT_NE(loaded.moved_to, "");
    EXPECT_EQ(read_bytes(loaded.moved_to + "/keep"), "x");
    EXPECT_FALSE(fs::exists(path));
}

TEST(StateStore, SaveIntoAMissingDirectoryFails) {
    TempDir dir;
    StateStore store(dir.file("no/such/dir/s.json"));
    auto err = store.save(sample_state());
    EXPECT_TRUE(err);
    EXPECT_EQ(err, std::errc::no_such_file_or_directory) << err.message();
    EXPECT_TRUE(list_dir(dir.path()).empty());
}

TEST(StateStore, SaveOverADirectoryFailsAndLeavesItAlone) {
    TempDir dir;
    std::string path = dir.file("s.json");
    fs::create_directory(path);
    write_bytes(path + "/keep", "x");
    auto err = StateStore(path).save(sample_state());
    EXPECT_TRUE(err);
    EXPECT_TRUE(fs::is_directory(path));
    EXPECT_EQ(read_bytes(path + "/keep"), "x");
    EXPECT_EQ(list_dir(dir.path()), std::vector<std::string>{"s.json"}) << "temp file left behind";
}

TEST(StateStore, FailedSaveLeavesThePreviousFileIntact) {
    TempDir dir;
    std::string path = dir.file("s.json");
    StateStore store(path);
    ASSERT_FALSE(store.save(sample_state()));
    const std::string before = read_bytes(path);

    // The temp file cannot be created: a directory sits at its name.
    std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    fs::create_directory(tmp);
    auto err = store.save(large_state(10));
    EXPECT_TRUE(err);
    EXPECT_EQ(read_bytes(path), before);
    EXPECT_TRUE(fs::is_directory(tmp)) << "must not remove what it did not create";
    fs::remove(tmp);

    // Invalid states are refused before anything is written.
    for (double w : {std::nan(""), std::numeric_limits<double>::infinity(), -1.0}) {
        RuntimeState bad;
        bad.routes["web"] = {{{"a", w}}, {}};
        EXPECT_EQ(store.save(bad), std::errc::invalid_argument) << w;
        RuntimeState bad_file;
        bad_file.routes["web"] = {{{"a", 1}}, {{"b", w}}};
        EXPECT_EQ(store.save(bad_file), std::errc::invalid_argument) << w;
    }
    RuntimeState unnamed;
    unnamed.routes["web"] = {{{"", 1}}, {}};
    EXPECT_EQ(store.save(unnamed), std::errc::invalid_argument);
    EXPECT_EQ(read_bytes(path), before);
    EXPECT_EQ(list_dir(dir.path()), std::vector<std::string>{"s.json"});
}

TEST(StateStore, LoadRemovesTempFilesOfDeadProcessesOnly) {
    TempDir dir;
    std::string path = dir.file("s.json");
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) ::_exit(0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    std::string dead = path + ".tmp-" + std::to_string(child);  // its pid is free now
    std::string alive = path + ".tmp-1";                         // pid 1 always exists
    std::string other = path + ".tmp-notapid";
    for (const auto& f : {dead, alive, other}) write_bytes(f, "partial");
    auto loaded = StateStore(path).load();
    EXPECT_EQ(loaded.error, "");
    EXPECT_FALSE(fs::exists(dead));
    EXPECT_TRUE(fs::exists(alive));
    EXPECT_TRUE(fs::exists(other));
}

// ------------------------------------------------------------------ crash safety

// A child saves in a tight loop, alternating a small and a large state, and is
// SIGKILLed at a pseudo-random moment. The file must always be one of the two
// states, whole.
TEST(StateCrash, KilledDuringSavesNeverLeavesATruncatedFile) {
    TempDir dir;
    const std::string path = dir.file("weir.state.json");
    RuntimeState small;
    small.routes["web"] = {{{"stable", 50}, {"canary", 50}}, {{"stable", 90}, {"canary", 10}}};
    const RuntimeState large = large_state(3000);
    ASSERT_GT(to_json(large).size(), 200000u);
    ASSERT_FALSE(StateStore(path).save(small));

    std::mt19937 rng(4242);
    std::uniform_int_distribution<int> delay_us(0, 20000);
    int saw_small = 0, saw_large = 0;
    for (int round = 0; round < 50; ++round) {
        int ready[2];
        ASSERT_EQ(::pipe(ready), 0);
        pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            ::close(ready[0]);
            StateStore store(path);
            char one = 1;
            if (::write(ready[1], &one, 1) != 1) ::_exit(2);
            for (;;) {
                if (store.save(large)) ::_exit(3);
                if (store.save(small)) ::_exit(3);
            }
        }
        ::close(ready[1]);
        pollfd pfd{ready[0], POLLIN, 0};
        ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "child did not start";
        char byte;
        ASSERT_EQ(::read(ready[0], &byte, 1), 1);
        ::close(ready[0]);

        ::usleep(static_cast<useconds_t>(delay_us(rng)));  // the kill moment, not a synchronisation
        ASSERT_EQ(::kill(child, SIGKILL), 0);
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            << "child exited on its own: a save failed (status " << status << ")";

        std::string error;
        std::string text = read_bytes(path);
        auto got = state_from_json(text, error);
        ASSERT_TRUE(got) << "round " << round << ": state file unreadable after kill: " << error << " ("
                         << text.size() << " bytes)";
        if (*got == small) {
            ++saw_small;
        } else if (*got == large) {
            ++saw_large;
        } else {
            FAIL() << "round " << round << ": state file is neither of the written states";
        }
    }
    EXPECT_EQ(saw_small + saw_large, 50);
    std::cout << "[          ] after 50 kills: small " << saw_small << ", large " << saw_large << "\n";

    // Temp files of the killed children are cleaned up by the next load.
    auto loaded = StateStore(path).load();
    EXPECT_EQ(loaded.error, "");
    EXPECT_EQ(list_dir(dir.path()), std::vector<std::string>{"weir.state.json"});
}

}  // namespace
}  // namespace weir::control
