// Hot reload: reloads under keep-alive load lose nothing, bad files
// change nothing, every trigger (POST /reload, SIGHUP, the file watch) works,
// in-flight responses finish across a reload, idle upstream connections are
// kept, and listeners follow the file.
#include "control_support.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>

namespace weir_it::control {
namespace {

namespace json = boost::json;

const std::map<std::string, std::string> kSuccess = {{"result", "success"}};
const std::map<std::string, std::string> kFailure = {{"result", "failure"}};

// The two weir_config_reloads_total counters of one scrape, with the scrape
// itself for failure messages.
struct Reloads {
    std::string metrics;
    std::optional<double> success, failure;
};

Reloads reloads_now(AdminClient& admin) {
    Reloads r;
    r.metrics = admin.metrics();
    r.success = metric_value(r.metrics, "weir_config_reloads_total", kSuccess);
    r.failure = metric_value(r.metrics, "weir_config_reloads_total", kFailure);
    return r;
}

std::string body_text(const json::value& v) { return v.is_null() ? "(not JSON)" : json::serialize(v); }

// "FILE:LINE:COL: message" for this FILE; the line number, or 0 if not in that form.
int located_line(const std::string& error, const std::string& file) {
    if (error.rfind(file + ":", 0) != 0) return 0;
    std::size_t i = file.size() + 1;
    auto digits = [&] {
        std::size_t start = i;
        while (i < error.size() && std::isdigit(static_cast<unsigned char>(error[i]))) ++i;
        return i > start ? std::atoi(error.c_str() + start) : 0;
    };
    int line = digits();
    if (line <= 0 || i >= error.size() || error[i] != ':') return 0;
    ++i;
    int col = digits();
    if (col <= 0 || error.compare(i, 2, ": ") != 0 || error.size() <= i + 2) return 0;
    return line;
}

// ---------------------------------------------------------------- 1. 100 reloads under load

TEST(ControlReload, HundredReloadsUnderKeepAliveLoadDropNothing) {
    FakeUpstream stable("stable"), canary("canary");
    ControlConfig a(stable.address(), canary.address());
    a.split = {{"stable", 90}, {"canary", 10}};
    ControlConfig b = a;
    b.split = {{"stable", 10}, {"canary", 90}};
    WeirProcess weir(a.yaml());
    AdminClient admin(weir.admin_port());
    TempDir real;
    const std::string file = detach_config(weir, real.path, a.yaml());

    const Reloads r0 = reloads_now(admin);
    const std::string& m0 = r0.metrics;
    const double ok0 = r0.success.value_or(-1);
    const double fail0 = r0.failure.value_or(-1);
    ASSERT_GE(ok0, 0) << m0;
    ASSERT_GE(fail0, 0) << m0;
    const auto start = admin.route();
    ASSERT_EQ(start.status, 200) << start.raw;
    const std::uint64_t v0 = start.version;

    LoadGen load(weir.port(), 4);
    ASSERT_TRUE(load.wait_progress(50)) << describe(load.stats()) << weir.log();

    const int reloads = 100;
    for (int i = 0; i < reloads; ++i) {
        const ControlConfig& next = i % 2 == 0 ? b : a;
        write_file_atomic(file, next.yaml());
        auto [status, body] = admin.reload();
        ASSERT_EQ(status, 200) << "reload " << i << ": " << body_text(body) << "\n" << weir.log();
        ASSERT_TRUE(body.is_object()) << body_text(body);
        EXPECT_EQ(json::value_to<std::string>(body.at("status")), "reloaded") << body_text(body);
        EXPECT_EQ(json_number(body.at("version")).value_or(-1), static_cast<double>(v0 + i + 1)) << body_text(body);
        auto r = admin.route();
        EXPECT_EQ(r.split, split_map(next.split)) << "after reload " << i << ": " << r.raw;
        EXPECT_EQ(r.version, v0 + i + 1) << r.raw;
        // Keep the clients busy between reloads.
        ASSERT_TRUE(load.wait_progress(8)) << describe(load.stats());
    }
    ASSERT_TRUE(load.wait_progress(100)) << describe(load.stats());
    load.stop();
    auto s = load.stats();
    EXPECT_EQ(s.non2xx, 0u) << describe(s);
    EXPECT_EQ(s.errors, 0u) << describe(s);
    EXPECT_EQ(s.reconnects, 0u) << "the proxy closed keep-alive connections during reloads\n" << describe(s);
    EXPECT_GT(s.by_pool["stable"], 0u) << describe(s);
    EXPECT_GT(s.by_pool["canary"], 0u) << describe(s);

    // The last file (a: 90/10) is in force, in the API, the metrics and the traffic.
    auto last = admin.route();
    EXPECT_EQ(last.split, split_map(a.split)) << last.raw;
    EXPECT_FALSE(last.override_) << last.raw;
    EXPECT_EQ(last.version, v0 + reloads) << last.raw;
    const Reloads r1 = reloads_now(admin);
    const std::string& m1 = r1.metrics;
    EXPECT_EQ(r1.success, ok0 + reloads) << m1;
    EXPECT_EQ(r1.failure, fail0) << m1;
    EXPECT_EQ(metric_value(m1, "weir_config_version"), static_cast<double>(v0 + reloads)) << m1;
    auto w = metric_value(m1, "weir_route_weight", {{"route", "web"}, {"pool", "stable"}});
    ASSERT_TRUE(w.has_value()) << m1;
    EXPECT_NEAR(*w, 0.9, 1e-9) << m1;
    auto counts = sample_pools(weir.port(), 200);
    EXPECT_EQ(counts["error"], 0);
    EXPECT_GE(counts["stable"], 160) << "stable " << counts["stable"] << " canary " << counts["canary"];
    EXPECT_LE(counts["stable"], 196) << "stable " << counts["stable"] << " canary " << counts["canary"];
}

// ---------------------------------------------------------------- 2. 20 bad files under load

struct BadFile {
    std::string what;
    std::string yaml;
    int line = 0;  // the line an error must name (0: any)
};

std::vector<BadFile> bad_files(const ControlConfig& good) {
    const std::string y = good.yaml();
    std::vector<BadFile> out;
    auto add = [&](std::string what, std::string text, const std::string& marker) {
        int line = marker.empty() ? 0 : line_of(text, marker);
        out.push_back({std::move(what), std::move(text), line});
    };
    const std::string split_line = "split: {stable: 90, canary: 10}";
    add("YAML syntax: unclosed flow sequence", replace_once(y, "workers: 2", "workers: [2"), "");
    add("unknown top-level key", replace_once(y, "drain_timeout: 5s\n", "drain_timeout: 5s\nbogus_key: 1\n"), "bogus_key");
    add("unknown key in a pool", replace_once(y, "  - name: canary\n", "  - name: canary\n    colour: green\n"), "colour");
    add("unknown key in a route match", replace_once(y, "path_prefix: /}", "path_prefix: /, method: GET}"), "method: GET");
    add("unknown pool in the split", replace_once(y, split_line, "split: {stable: 90, canray: 10}"), "canray");
    add("bad duration", replace_once(y, "drain_timeout: 5s", "drain_timeout: 5 parsecs"), "parsecs");
    add("duration without a unit", replace_once(y, "drain_timeout: 5s", "drain_timeout: 5"), "drain_timeout");
    add("negative weight", replace_once(y, split_line, "split: {stable: 90, canary: -10}"), "canary: -10");
    add("all-zero split", replace_once(y, split_line, "split: {stable: 0, canary: 0}"), "split:");
    add("zero workers", replace_once(y, "workers: 2", "workers: 0"), "workers");
    add("workers not a number", replace_once(y, "workers: 2", "workers: many"), "workers");
    add("endpoint port not a number", replace_once(y, "\"" + good.stable + "\"", "\"127.0.0.1:notaport\""), "notaport");
    add("endpoint port out of range", replace_once(y, "\"" + good.stable + "\"", "\"127.0.0.1:70000\""), "70000");
    add("duplicate pool name", replace_once(y, "  - name: canary", "  - name: stable"), "");
    add("unknown key in limits", replace_once(y, "idle_timeout: 30s}", "idle_timeout: 30s, max_hdr: 5}"), "max_hdr");
    add("routes misspelt", replace_once(y, "routes:", "routez:"), "routez");
    add("listener address without a port",
        replace_once(y, "{name: public, address: \"127.0.0.1:0\"}", "{name: public, address: \"127.0.0.1\"}"),
        "name: public");
    add("admin off loopback without a token",
        replace_once(y, "admin: {address: \"127.0.0.1:0\"}", "admin: {address: \"0.0.0.0:0\"}"), "admin:");
    add("bad upstream timeout", replace_once(y, "connect_timeout: 1s", "connect_timeout: soon"), "connect_timeout: soon");
    add("tab indentation", replace_once(y, "  - name: stable", "\t- name: stable"), "");
    return out;
}

TEST(ControlReload, TwentyBadFilesUnderLoadChangeNothing) {
    FakeUpstream stable("stable"), canary("canary");
    ControlConfig good(stable.address(), canary.address());
    good.split = {{"stable", 90}, {"canary", 10}};
    WeirProcess weir(good.yaml());
    AdminClient admin(weir.admin_port());
    TempDir real;
    const std::string file = detach_config(weir, real.path, good.yaml());

    const Reloads r0 = reloads_now(admin);
    const std::string& m0 = r0.metrics;
    const double ok0 = r0.success.value_or(-1);
    const double fail0 = r0.failure.value_or(-1);
    ASSERT_GE(fail0, 0) << m0;
    const auto before = admin.route();
    ASSERT_EQ(before.status, 200);
    ASSERT_EQ(before.split, split_map(good.split)) << before.raw;

    LoadGen load(weir.port(), 4);
    ASSERT_TRUE(load.wait_progress(50)) << describe(load.stats());

    const auto bad = bad_files(good);
    ASSERT_EQ(bad.size(), 20u);
    for (const auto& f : bad) {
        SCOPED_TRACE(f.what + ":\n" + f.yaml);
        write_file_atomic(file, f.yaml);
        auto [status, body] = admin.reload();
        EXPECT_EQ(status, 400) << body_text(body);
        ASSERT_TRUE(body.is_object()) << body_text(body);
        EXPECT_TRUE(body.as_object().contains("error")) << body_text(body);
        const json::value* errors = body.as_object().if_contains("errors");
        ASSERT_TRUE(errors && errors->is_array() && !errors->as_array().empty()) << body_text(body);
        bool line_named = f.line == 0;
        for (const auto& e : errors->as_array()) {
            ASSERT_TRUE(e.is_string()) << body_text(body);
            const std::string text(e.as_string());
            int line = located_line(text, weir.config_path());
            EXPECT_GT(line, 0) << "error not in the form " << weir.config_path() << ":LINE:COL: message: " << text;
            line_named = line_named || line == f.line;
        }
        EXPECT_TRUE(line_named) << "no error names line " << f.line << ": " << body_text(body);
        // The errors go to the log too.
        const std::string first(errors->as_array().front().as_string());
        EXPECT_TRUE(weir.wait_log(first, 2s)) << "not in the log: " << first;

        auto now = admin.route();
        EXPECT_EQ(now.split, split_map(good.split)) << now.raw;
        EXPECT_EQ(now.version, before.version) << now.raw;
        ASSERT_TRUE(load.wait_progress(8)) << describe(load.stats());
    }
    ASSERT_TRUE(load.wait_progress(100)) << describe(load.stats());
    load.stop();
    auto s = load.stats();
    EXPECT_EQ(s.non2xx, 0u) << describe(s);
    EXPECT_EQ(s.errors, 0u) << describe(s);
    EXPECT_EQ(s.reconnects, 0u) << describe(s);

    const Reloads r1 = reloads_now(admin);
    const std::string& m1 = r1.metrics;
    EXPECT_EQ(r1.failure, fail0 + 20) << m1;
    EXPECT_EQ(r1.success, ok0) << m1;
    EXPECT_EQ(metric_value(m1, "weir_config_version"), static_cast<double>(before.version)) << m1;
    auto counts = sample_pools(weir.port(), 200);
    EXPECT_EQ(counts["error"], 0);
    EXPECT_GE(counts["stable"], 160) << "stable " << counts["stable"] << " canary " << counts["canary"];
    EXPECT_LE(counts["stable"], 196) << "stable " << counts["stable"] << " canary " << counts["canary"];
    EXPECT_TRUE(weir.running());

    // And the good file still loads afterwards.
    write_file_atomic(file, good.yaml());
    EXPECT_EQ(admin.reload().first, 200);
}

// ---------------------------------------------------------------- 3. SIGHUP and the file watch

TEST(ControlReload, SighupAndFileWatchEachApplyTheNewSplit) {
    FakeUpstream stable("stable"), canary("canary");
    ControlConfig c(stable.address(), canary.address());
    c.split = {{"stable", 100}, {"canary", 0}};
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());
    RawClient conn(weir.port());
    ASSERT_EQ(pool_of(conn), "stable");
    auto all_from = [&](const std::string& pool) {
        if (!settle_on(conn, pool)) return "no request answered by " + pool + " within 1 s";
        for (int i = 0; i < 20; ++i) {
            std::string p = pool_of(conn);
            if (p != pool) return "request " + std::to_string(i) + " answered by " + p;
        }
        return std::string();
    };
    const SplitMap to_stable = {{"stable", 100}, {"canary", 0}};
    const SplitMap to_canary = {{"stable", 0}, {"canary", 100}};

    // SIGHUP: the file's target is rewritten where the watch does not look.
    TempDir real;
    const std::string file = detach_config(weir, real.path, c.yaml());
    const auto hups = count_occurrences(weir.log(), "SIGHUP: reloaded");
    c.split = {{"stable", 0}, {"canary", 100}};
    write_file_atomic(file, c.yaml());
    weir.signal(SIGHUP);
    ASSERT_TRUE(wait_for([&] { return count_occurrences(weir.log(), "SIGHUP: reloaded") > hups; }, 5s))
        << weir.log();
    EXPECT_EQ(admin.route().split, to_canary);
    EXPECT_EQ(all_from("canary"), "");

    const std::string watched = "file change: reloaded";
    // File watch 1: an editor's write-to-temp and rename over the config path.
    auto n = count_occurrences(weir.log(), watched);
    c.split = {{"stable", 100}, {"canary", 0}};
    write_file_atomic(weir.config_path(), c.yaml());
    EXPECT_TRUE(wait_for([&] { return admin.route().split == to_stable; }, 5s)) << weir.log();
    EXPECT_GT(count_occurrences(weir.log(), watched), n) << weir.log();
    EXPECT_EQ(all_from("stable"), "");

    // File watch 2: the file rewritten in place.
    n = count_occurrences(weir.log(), watched);
    c.split = {{"stable", 0}, {"canary", 100}};
    write_file(weir.config_path(), c.yaml());
    EXPECT_TRUE(wait_for([&] { return admin.route().split == to_canary; }, 5s)) << weir.log();
    EXPECT_GT(count_occurrences(weir.log(), watched), n) << weir.log();
    EXPECT_EQ(all_from("canary"), "");

    // File watch 3: a burst of writes is debounced into fewer reloads; the last one wins.
    n = count_occurrences(weir.log(), watched);
    const auto failed_before = count_occurrences(weir.log(), "file change: reload failed");
    const int burst = 10;
    for (int i = 0; i < burst; ++i) {
        c.split = {{"stable", static_cast<double>(i + 1)}, {"canary", 3}};
        write_file_atomic(weir.config_path(), c.yaml());
    }
    const SplitMap last = split_map(c.split);
    EXPECT_TRUE(wait_for([&] { return admin.route().split == last; }, 5s)) << weir.log();
    const auto burst_reloads = count_occurrences(weir.log(), watched) - n;
    EXPECT_GE(burst_reloads, 1u);
    EXPECT_LT(burst_reloads, static_cast<std::size_t>(burst)) << "a burst of writes was not debounced";
    EXPECT_EQ(count_occurrences(weir.log(), "file change: reload failed"), failed_before) << weir.log();

    // File watch 4: a Kubernetes ConfigMap update: weir.yaml -> ..data/weir.yaml,
    // and the "..data" symlink is swapped to a new directory.
    const std::string dir = weir.dir();
    ASSERT_EQ(::mkdir((dir + "/..v1").c_str(), 0755), 0);
    write_file(dir + "/..v1/weir.yaml", c.yaml());  // same content as now
    ASSERT_EQ(::symlink("..v1", (dir + "/..data").c_str()), 0);
    ASSERT_EQ(::symlink("..data/weir.yaml", (dir + "/weir.yaml.it-link").c_str()), 0);
    n = count_occurrences(weir.log(), watched);
    ASSERT_EQ(::rename((dir + "/weir.yaml.it-link").c_str(), weir.config_path().c_str()), 0);
    EXPECT_TRUE(wait_for([&] { return count_occurrences(weir.log(), watched) > n; }, 5s)) << weir.log();
    ASSERT_EQ(::mkdir((dir + "/..v2").c_str(), 0755), 0);
    c.split = {{"stable", 0}, {"canary", 100}};
    write_file(dir + "/..v2/weir.yaml", c.yaml());
    ASSERT_EQ(::symlink("..v2", (dir + "/..data_tmp").c_str()), 0);
    ASSERT_EQ(::rename((dir + "/..data_tmp").c_str(), (dir + "/..data").c_str()), 0);
    EXPECT_TRUE(wait_for([&] { return admin.route().split == to_canary; }, 5s))
        << "the ConfigMap-style ..data swap was not noticed\n" << weir.log();
    EXPECT_EQ(all_from("canary"), "");
    EXPECT_TRUE(weir.running());
}

TEST(ControlReload, FileWatchSurvivesTheFileVanishingAndComingBack) {
    FakeUpstream stable("stable"), canary("canary");
    ControlConfig c(stable.address(), canary.address());
    c.split = {{"stable", 100}, {"canary", 0}};
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());
    const auto version = admin.route().version;

    const auto failed = count_occurrences(weir.log(), "file change: reload failed");
    ASSERT_EQ(::unlink(weir.config_path().c_str()), 0);
    EXPECT_TRUE(wait_for([&] { return count_occurrences(weir.log(), "file change: reload failed") > failed; }, 5s))
        << weir.log();
    EXPECT_EQ(admin.route().version, version);
    EXPECT_EQ(sample_pools(weir.port(), 10)["stable"], 10);

    c.split = {{"stable", 0}, {"canary", 100}};
    write_file_atomic(weir.config_path(), c.yaml());
    EXPECT_TRUE(wait_for([&] { return admin.route().split == split_map(c.split); }, 5s))
        << "the watch stopped after the file vanished\n" << weir.log();
    EXPECT_EQ(sample_pools(weir.port(), 10, "canary")["canary"], 10);
}

// ---------------------------------------------------------------- 4. in-flight across a reload

TEST(ControlReload, SlowResponseStartedBeforeAReloadCompletesNormally) {
    FakeUpstream stable("stable"), canary("canary");
    const std::string slow_body = pattern_string(200000);
    stable.set_handler([&](UpstreamConn& conn, const UpstreamRequest& r) {
        if (r.target == "/slow") {
            if (!conn.sleep_for(2500ms)) return After::close;
            conn.send(make_response(200, slow_body));
        } else {
            conn.send(make_response(200, "stable " + r.method + " " + r.target));
        }
        return After::keep_alive;
    });
    ControlConfig c(stable.address(), canary.address());
    c.split = {{"stable", 100}, {"canary", 0}};
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());

    RawClient slow(weir.port(), 15s);
    ASSERT_EQ(pool_of(slow), "stable");
    ASSERT_TRUE(slow.send(get_request("/slow")));
    ASSERT_TRUE(stable.wait([&] {
        for (const auto& r : stable.requests())
            if (r.target == "/slow") return true;
        return false;
    }));
    const auto sent = Clock::now();
    c.split = {{"stable", 0}, {"canary", 100}};
    write_file_atomic(weir.config_path(), c.yaml());
    auto [status, body] = admin.reload();
    ASSERT_EQ(status, 200) << body_text(body);
    EXPECT_LT(Clock::now() - sent, 2s) << "the reload waited for the in-flight response";
    // New requests already follow the new file while the old one is in flight.
    EXPECT_EQ(sample_pools(weir.port(), 10, "canary")["canary"], 10);

    Response r = slow.read_response();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.body.size(), slow_body.size());
    EXPECT_TRUE(r.body == slow_body) << "the in-flight response body was damaged by the reload";
    EXPECT_FALSE(r.connection_close()) << r.describe();
    EXPECT_GE(Clock::now() - sent, 2s);
    // The same keep-alive connection carries on, on the new split.
    EXPECT_EQ(pool_of(slow), "canary");
}

// ---------------------------------------------------------------- idle upstream connections

TEST(ControlReload, IdleUpstreamConnectionsToKeptEndpointsSurviveAReload) {
    FakeUpstream stable("stable"), canary("canary");
    ControlConfig c(stable.address(), canary.address());
    c.split = {{"stable", 100}, {"canary", 0}};
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());
    RawClient conn(weir.port());
    auto run = [&](int n) {
        for (int i = 0; i < n; ++i) ASSERT_EQ(pool_of(conn), "stable");
    };
    run(20);
    const auto warm = stable.connection_count();
    run(20);
    const auto steady = stable.connection_count();
    if (steady != warm) GTEST_SKIP() << "upstream connection reuse is not steady here (" << warm << " -> " << steady << ")";

    c.drain_timeout = "6s";  // a change elsewhere: pools and endpoints stay
    write_file_atomic(weir.config_path(), c.yaml());
    ASSERT_EQ(admin.reload().first, 200);
    run(20);
    EXPECT_EQ(stable.connection_count(), steady)
        << "requests after the reload opened new upstream connections although the endpoint is unchanged";
}

// ---------------------------------------------------------------- 11. listeners follow the file

TEST(ControlListeners, AddedListenerServesAndARemovedOneDrains) {
    FakeUpstream stable("stable"), canary("canary");
    stable.set_handler([&](UpstreamConn& conn, const UpstreamRequest& r) {
        if (r.target == "/slow" && !conn.sleep_for(1500ms)) return After::close;
        conn.send(make_response(200, "stable " + r.method + " " + r.target));
        return After::keep_alive;
    });
    ControlConfig c(stable.address(), canary.address());
    c.split = {{"stable", 100}, {"canary", 0}};
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());
    RawClient pub(weir.port());
    ASSERT_EQ(pool_of(pub), "stable");

    // Add a listener.
    c.extra_listeners = {"extra"};
    write_file_atomic(weir.config_path(), c.yaml());
    auto [status, body] = admin.reload();
    ASSERT_EQ(status, 200) << body_text(body) << weir.log();
    ASSERT_TRUE(weir.wait_log("listener extra listening on 127.0.0.1:")) << weir.log();
    auto extra = logged_listener_port(weir.log(), "extra");
    ASSERT_TRUE(extra.has_value()) << weir.log();
    ASSERT_NE(*extra, 0);
    ASSERT_NE(*extra, weir.port());
    EXPECT_EQ(count_occurrences(weir.log(), "listener public listening on"), 1u)
        << "the unchanged listener was bound again\n" << weir.log();
    // The old listener and its keep-alive connection are untouched.
    EXPECT_EQ(pool_of(pub), "stable");
    EXPECT_EQ(sample_pools(*extra, 10)["stable"], 10);

    RawClient busy(*extra, 15s), idle(*extra);
    ASSERT_EQ(pool_of(busy), "stable");
    ASSERT_EQ(pool_of(idle), "stable");
    const auto before = stable.request_count();
    ASSERT_TRUE(busy.send(get_request("/slow")));
    ASSERT_TRUE(stable.wait_requests(before + 1));

    // Remove it while a request on it is in flight.
    c.extra_listeners.clear();
    write_file_atomic(weir.config_path(), c.yaml());
    auto [status2, body2] = admin.reload();
    ASSERT_EQ(status2, 200) << body_text(body2) << weir.log();
    EXPECT_TRUE(wait_for([&] { return connection_refused(*extra); }, 3s))
        << "the removed listener still accepts connections";
    EXPECT_TRUE(idle.wait_closed(3s)) << "an idle connection on the removed listener was left open";
    Response r = busy.read_response();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.body, "stable GET /slow");
    EXPECT_TRUE(r.connection_close() || busy.wait_closed(3s))
        << "the connection on the removed listener stayed open after its in-flight exchange";
    EXPECT_TRUE(busy.wait_closed(3s));
    // The remaining listener keeps serving, on the same connection.
    EXPECT_EQ(pool_of(pub), "stable");
    EXPECT_EQ(sample_pools(weir.port(), 10)["stable"], 10);
    EXPECT_TRUE(weir.running()) << weir.log();
}

TEST(ControlListeners, MovingAListenerToABusyPortFailsAndKeepsTheOldOne) {
    FakeUpstream stable("stable"), canary("canary");
    ControlConfig c(stable.address(), canary.address());
    c.split = {{"stable", 100}, {"canary", 0}};
    const std::string yaml = c.yaml();
    WeirProcess weir(yaml);
    AdminClient admin(weir.admin_port());
    RawClient pub(weir.port());
    ASSERT_EQ(pool_of(pub), "stable");
    const auto before = admin.route();
    const std::string listener = "{name: public, address: \"127.0.0.1:0\"}";

    // The new address is taken: the reload fails and the listener keeps serving where it was.
    BlackholeEndpoint busy;
    write_file_atomic(weir.config_path(), replace_once(yaml, listener, "{name: public, address: \"" + busy.address() + "\"}"));
    auto [status, body] = admin.reload();
    EXPECT_EQ(status, 400) << body_text(body);
    EXPECT_EQ(admin.route().version, before.version);
    EXPECT_FALSE(connection_refused(weir.port()))
        << "a failed reload (new address in use) closed the listener it was meant to keep\n" << weir.log();
    EXPECT_EQ(sample_pools(weir.port(), 10)["stable"], 10);
    EXPECT_EQ(pool_of(pub), "stable") << "a failed reload closed a keep-alive connection";

    // Moved to a free port: the new port serves, the old one is closed.
    const std::uint16_t free_port = closed_port();
    const std::string moved = "127.0.0.1:" + std::to_string(free_port);
    write_file_atomic(weir.config_path(), replace_once(yaml, listener, "{name: public, address: \"" + moved + "\"}"));
    auto [status2, body2] = admin.reload();
    ASSERT_EQ(status2, 200) << body_text(body2) << weir.log();
    EXPECT_TRUE(weir.wait_log("listener public listening on " + moved)) << weir.log();
    EXPECT_EQ(sample_pools(free_port, 10)["stable"], 10);
    EXPECT_TRUE(wait_for([&] { return connection_refused(weir.port()); }, 3s)) << "the old address still accepts";
}

}  // namespace
}  // namespace weir_it::control
