// The admin API: runtime splits take effect at once and survive
// reloads and restarts until the file changes the route, If-Match races have
// one winner, rejected calls change nothing, blue/green switches under load,
// and the bearer token guards every call but the probes.
#include "control_support.hpp"

#include <signal.h>

#include <atomic>

namespace weir_it::control {
namespace {

namespace json = boost::json;

const SplitMap kAllStable = {{"stable", 100}, {"canary", 0}};
const SplitMap kAllCanary = {{"stable", 0}, {"canary", 100}};

// routes.<route>.split of a state file, nullopt if absent; `ok` false if the file is not valid.
std::optional<SplitMap> state_split(const std::string& path, const std::string& route, bool& ok) {
    json::value v = parse_json(read_file(path));
    ok = v.is_object() && v.as_object().contains("format");
    if (!ok) return std::nullopt;
    const json::value* routes = v.as_object().if_contains("routes");
    if (!routes || !routes->is_object()) return std::nullopt;
    const json::value* r = routes->as_object().if_contains(route);
    if (!r) return std::nullopt;
    return split_from(*r, "split");
}

// ---------------------------------------------------------------- 5. API splits: now, across reload and restart

TEST(ControlAdmin, ApiSplitAppliesAtOnceSurvivesReloadAndRestartAndYieldsToTheFile) {
    FakeUpstream stable("stable"), canary("canary");
    TempDir state_dir;
    ControlConfig c = stateful_config(state_dir, stable.address(), canary.address(), {{"stable", 100}, {"canary", 0}});
    const std::string state = c.state_file;
    auto weir = std::make_unique<WeirProcess>(c.yaml());
    auto admin = std::make_unique<AdminClient>(weir->admin_port());

    // Keep-alive connections opened before any edit, and some background load.
    RawClient k1(weir->port()), k2(weir->port());
    ASSERT_EQ(pool_of(k1), "stable");
    ASSERT_EQ(pool_of(k2), "stable");
    LoadGen load(weir->port(), 2);
    ASSERT_TRUE(load.wait_progress(20));

    for (int i = 0; i < 20; ++i) {
        const SplitMap& s = i % 2 == 0 ? kAllCanary : kAllStable;
        const std::string expected = i % 2 == 0 ? "canary" : "stable";
        Response r = admin->put("/routes/web/split", split_body(s));
        ASSERT_EQ(r.status, 200) << r.describe();
        json::value v = parse_json(r.body);
        EXPECT_EQ(split_from(v, "split"), s) << r.body;
        EXPECT_EQ(split_from(v, "file_split"), kAllStable) << r.body;
        EXPECT_TRUE(v.is_object() && v.as_object().contains("override") && v.at("override") == json::value(true)) << r.body;
        EXPECT_FALSE(r.headers.get("etag").empty()) << r.describe();
        // Persisted before the answer.
        bool ok = false;
        EXPECT_EQ(state_split(state, "web", ok), s) << read_file(state);
        EXPECT_TRUE(ok) << read_file(state);
        // The very next request, also on connections opened before the edit.
        EXPECT_EQ(pool_of(k1), expected) << "edit " << i << ": first request after the 200 on keep-alive connection 1";
        EXPECT_EQ(pool_of(k2), expected) << "edit " << i << ": first request after the 200 on keep-alive connection 2";
    }
    Response last = admin->put("/routes/web/split", split_body(kAllCanary));
    ASSERT_EQ(last.status, 200) << last.describe();
    EXPECT_TRUE(weir->wait_log("PUT /routes/web/split -> 200")) << "no audit line for the edit\n" << weir->log();
    load.stop();
    auto s = load.stats();
    EXPECT_EQ(s.errors + s.non2xx + s.reconnects, 0u) << describe(s);
    EXPECT_GT(s.by_pool["canary"], 0u) << describe(s);

    // A reload whose file leaves the route alone keeps the edit.
    c.drain_timeout = "6s";
    write_file_atomic(weir->config_path(), c.yaml());
    auto [status, body] = admin->reload();
    ASSERT_EQ(status, 200) << json::serialize(body);
    auto r = admin->route();
    EXPECT_EQ(r.split, kAllCanary) << r.raw;
    EXPECT_EQ(r.file_split, kAllStable) << r.raw;
    EXPECT_TRUE(r.override_) << r.raw;
    EXPECT_EQ(sample_pools(weir->port(), 20)["canary"], 20);
    bool ok = false;
    EXPECT_EQ(state_split(state, "web", ok), kAllCanary) << read_file(state);

    // A restart with the same state file restores it.
    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir.reset();
    weir = std::make_unique<WeirProcess>(c.yaml());
    admin = std::make_unique<AdminClient>(weir->admin_port());
    r = admin->route();
    EXPECT_EQ(r.split, kAllCanary) << "the runtime split did not survive the restart: " << r.raw << "\n" << weir->log();
    EXPECT_TRUE(r.override_) << r.raw;
    EXPECT_EQ(sample_pools(weir->port(), 20)["canary"], 20);

    // A reload whose file changes the route's split drops the edit: the file is the newer intent.
    c.split = {{"stable", 100}};
    write_file_atomic(weir->config_path(), c.yaml());
    auto [status2, body2] = admin->reload();
    ASSERT_EQ(status2, 200) << json::serialize(body2);
    r = admin->route();
    EXPECT_EQ(r.split, (SplitMap{{"stable", 100}})) << r.raw;
    EXPECT_FALSE(r.override_) << r.raw;
    EXPECT_EQ(sample_pools(weir->port(), 20, "stable")["stable"], 20);
    EXPECT_FALSE(state_split(state, "web", ok).has_value()) << "the dropped edit is still in the state file:\n"
                                                             << read_file(state);
    EXPECT_TRUE(ok) << read_file(state);
    // ... and stays dropped across a restart.
    weir->signal(SIGTERM);
    ASSERT_EQ(weir->wait_exit(10s), std::optional<int>(0)) << weir->log();
    weir.reset();
    weir = std::make_unique<WeirProcess>(c.yaml());
    admin = std::make_unique<AdminClient>(weir->admin_port());
    EXPECT_EQ(sample_pools(weir->port(), 20)["stable"], 20);
    EXPECT_FALSE(admin->route().override_);
}

TEST(ControlAdmin, ConfigShowsTheEditAndDeleteGoesBackToTheFile) {
    FakeUpstream stable("stable"), canary("canary");
    TempDir state_dir;
    ControlConfig c = stateful_config(state_dir, stable.address(), canary.address(), {{"stable", 100}, {"canary", 0}});
    const std::string state = c.state_file;
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());
    RawClient conn(weir.port());
    ASSERT_EQ(admin.put("/routes/web/split", split_body(kAllCanary)).status, 200);
    EXPECT_TRUE(settle_on(conn, "canary"));
    // GET /config is the effective config: the file with the runtime edit, and its version.
    {
        auto route = admin.route();
        Response cfg = admin.get("/config");
        ASSERT_EQ(cfg.status, 200) << cfg.describe();
        EXPECT_EQ(cfg.headers.get("etag"), route.etag) << cfg.describe();
        json::value v = parse_json(cfg.body);
        ASSERT_TRUE(v.is_object()) << cfg.body;
        EXPECT_EQ(json_number(v.at("version")).value_or(-1), static_cast<double>(route.version)) << cfg.body;
        std::optional<SplitMap> split;
        if (const json::value* routes = v.as_object().if_contains("routes"); routes && routes->is_array())
            for (const auto& r : routes->as_array())
                if (r.is_object() && r.as_object().contains("name") && r.at("name") == json::value("web"))
                    split = split_from(r, "split");
        EXPECT_EQ(split, kAllCanary) << cfg.body;
    }
    Response d = admin.del("/routes/web/split");
    ASSERT_EQ(d.status, 200) << d.describe();
    EXPECT_EQ(split_from(parse_json(d.body), "split"), kAllStable) << d.body;
    auto r = admin.route();
    EXPECT_EQ(r.split, kAllStable) << r.raw;
    EXPECT_FALSE(r.override_) << r.raw;
    EXPECT_TRUE(settle_on(conn, "stable"));
    bool ok = false;
    EXPECT_FALSE(state_split(state, "web", ok).has_value()) << read_file(state);
    EXPECT_TRUE(ok) << read_file(state);
    EXPECT_TRUE(weir.wait_log("DELETE /routes/web/split -> 200")) << weir.log();
}

// ---------------------------------------------------------------- 6. If-Match races

TEST(ControlAdmin, IfMatchRaceHasExactlyOneWinner) {
    FakeUpstream stable("stable"), canary("canary");
    ControlConfig c(stable.address(), canary.address());
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());

    for (int round = 0; round < 10; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        auto before = admin.route();
        ASSERT_EQ(before.status, 200);
        ASSERT_EQ(before.etag, "\"" + std::to_string(before.version) + "\"");
        const std::string if_match = "If-Match: " + before.etag + "\r\n";
        const SplitMap bodies[2] = {{{"stable", 70.0 + round}, {"canary", 30.0 - round}},
                                    {{"stable", 30.0 - round}, {"canary", 70.0 + round}}};
        Response answers[2];
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        std::thread t[2];
        for (int i = 0; i < 2; ++i) {
            t[i] = std::thread([&, i] {
                ++ready;
                while (!go) std::this_thread::yield();
                answers[i] = admin.put("/routes/web/split", split_body(bodies[i]), if_match);
            });
        }
        wait_for([&] { return ready == 2; }, 5s, 1ms);
        go = true;
        for (auto& th : t) th.join();

        const int ok = (answers[0].status == 200) + (answers[1].status == 200);
        const int stale = (answers[0].status == 412) + (answers[1].status == 412);
        ASSERT_EQ(ok, 1) << answers[0].describe() << "\n" << answers[1].describe();
        ASSERT_EQ(stale, 1) << answers[0].describe() << "\n" << answers[1].describe();
        const int winner = answers[0].status == 200 ? 0 : 1;
        const Response& lost = answers[1 - winner];
        json::value e = parse_json(lost.body);
        EXPECT_TRUE(e.is_object() && e.as_object().contains("error")) << lost.body;

        auto now = admin.route();
        EXPECT_EQ(now.split, bodies[winner]) << now.raw;
        EXPECT_EQ(now.version, before.version + 1) << now.raw;
        EXPECT_EQ(answers[winner].headers.get("etag"), now.etag);
    }

    // A stale tag on its own is refused too, for every conditional call.
    auto now = admin.route();
    const std::string stale = "If-Match: \"" + std::to_string(now.version - 1) + "\"\r\n";
    EXPECT_EQ(admin.put("/routes/web/split", split_body(kAllCanary), stale).status, 412);
    EXPECT_EQ(admin.del("/routes/web/split", stale).status, 412);
    EXPECT_EQ(admin.call("POST", "/routes/web/switch", R"({"pool": "canary"})", stale).status, 412);
    auto after = admin.route();
    EXPECT_EQ(after.split, now.split) << after.raw;
    EXPECT_EQ(after.version, now.version) << after.raw;
    // The current tag works.
    EXPECT_EQ(admin.put("/routes/web/split", split_body(kAllCanary), "If-Match: " + now.etag + "\r\n").status, 200);
    EXPECT_EQ(admin.route().split, kAllCanary);
}

// ---------------------------------------------------------------- 7. rejected calls change nothing

TEST(ControlAdmin, RejectedCallsChangeNothing) {
    FakeUpstream stable("stable"), canary("canary");
    TempDir secrets;
    const std::string token = "s3cr3t-t0ken-0123456789abcdef";
    write_file(secrets.path + "/admin.token", token + "\n");
    ControlConfig c(stable.address(), canary.address());
    c.split = {{"stable", 90}, {"canary", 10}};
    c.state_file = "weir.state.json";  // relative: next to the config file
    c.token_file = secrets.path + "/admin.token";
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port(), token);
    const std::string state = weir.dir() + "/weir.state.json";

    const SplitMap edited = {{"stable", 60}, {"canary", 40}};
    ASSERT_EQ(admin.put("/routes/web/split", split_body(edited)).status, 200);
    ASSERT_TRUE(file_exists(state)) << "state_file is not relative to the config file's folder";
    const std::string state_bytes = read_file(state);
    const auto before = admin.route();
    ASSERT_EQ(before.split, edited) << before.raw;
    const std::string metrics_before = admin.metrics();

    struct Call {
        std::string method, path, body, extra;
        bool auth;
        int status;
    };
    const std::string valid = R"({"stable": 10, "canary": 90})";
    const std::string sw = R"({"pool": "canary"})";
    const std::vector<Call> calls = {
        // 401: no token, a wrong one, a near one, another scheme.
        {"PUT", "/routes/web/split", valid, "", false, 401},
        {"PUT", "/routes/web/split", valid, "Authorization: Bearer wrong-token-0123456789abc\r\n", false, 401},
        {"PUT", "/routes/web/split", valid, "Authorization: Bearer " + token + "x\r\n", false, 401},
        {"PUT", "/routes/web/split", valid, "Authorization: Bearer " + token.substr(0, token.size() - 1) + "\r\n", false, 401},
        {"PUT", "/routes/web/split", valid, "Authorization: Basic " + token + "\r\n", false, 401},
        {"PUT", "/routes/web/split", valid, "Authorization: " + token + "\r\n", false, 401},
        {"PUT", "/routes/web/split", valid, "Authorization: Bearer\r\n", false, 401},
        {"POST", "/routes/web/switch", sw, "", false, 401},
        {"DELETE", "/routes/web/split", "", "", false, 401},
        {"POST", "/reload", "", "", false, 401},
        {"GET", "/routes/web", "", "", false, 401},
        {"GET", "/config", "", "", false, 401},
        // 405
        {"GET", "/routes/web/split", "", "", true, 405},
        {"POST", "/routes/web/split", valid, "", true, 405},
        {"PATCH", "/routes/web/split", valid, "", true, 405},
        {"PUT", "/routes/web", valid, "", true, 405},
        {"GET", "/routes/web/switch", "", "", true, 405},
        {"PUT", "/routes/web/switch", sw, "", true, 405},
        {"GET", "/reload", "", "", true, 405},
        {"PUT", "/reload", "", "", true, 405},
        {"POST", "/config", "{}", "", true, 405},
        {"DELETE", "/routes", "", "", true, 405},
        {"POST", "/healthz", "", "", true, 405},
        // 400
        {"PUT", "/routes/web/split", "not json", "", true, 400},
        {"PUT", "/routes/web/split", R"({"stable": 80, "canary": 20)", "", true, 400},
        {"PUT", "/routes/web/split", "[80, 20]", "", true, 400},
        {"PUT", "/routes/web/split", R"("stable")", "", true, 400},
        {"PUT", "/routes/web/split", "", "", true, 400},
        {"PUT", "/routes/web/split", "{}", "", true, 400},
        {"PUT", "/routes/web/split", R"({"stable": 80, "blue": 20})", "", true, 400},
        {"PUT", "/routes/web/split", R"({"stable": -1, "canary": 20})", "", true, 400},
        {"PUT", "/routes/web/split", R"({"stable": 0, "canary": 0})", "", true, 400},
        {"PUT", "/routes/web/split", R"({"stable": "80", "canary": 20})", "", true, 400},
        {"PUT", "/routes/web/split", R"({"stable": null, "canary": 20})", "", true, 400},
        {"PUT", "/routes/web/split", R"({"stable": true, "canary": 20})", "", true, 400},
        {"PUT", "/routes/web/split", R"({"stable": 1e999, "canary": 1})", "", true, 400},
        {"POST", "/routes/web/switch", R"({"pool": "blue"})", "", true, 400},
        {"POST", "/routes/web/switch", R"({"pool": 5})", "", true, 400},
        {"POST", "/routes/web/switch", R"({"pool": "canary", "extra": 1})", "", true, 400},
        {"POST", "/routes/web/switch", "{}", "", true, 400},
        {"POST", "/routes/web/switch", "canary", "", true, 400},
        // 412
        {"PUT", "/routes/web/split", valid, "If-Match: \"999999\"\r\n", true, 412},
        {"DELETE", "/routes/web/split", "", "If-Match: \"999999\"\r\n", true, 412},
        {"POST", "/routes/web/switch", sw, "If-Match: \"999999\"\r\n", true, 412},
        // 404
        {"PUT", "/routes/nope/split", valid, "", true, 404},
        {"DELETE", "/routes/nope/split", "", "", true, 404},
        {"POST", "/routes/nope/switch", sw, "", true, 404},
        {"GET", "/routes/nope", "", "", true, 404},
        {"GET", "/nope", "", "", true, 404},
        {"POST", "/routes/web/nope", sw, "", true, 404},
        {"PUT", "/routes/web/split/more", valid, "", true, 404},
    };
    std::size_t mutations = 0;
    for (const auto& call : calls) {
        SCOPED_TRACE(call.method + " " + call.path + " " + call.body + " " + call.extra);
        Response r = admin.call(call.method, call.path, call.body, call.extra, call.auth);
        ASSERT_TRUE(r.complete) << r.describe();
        EXPECT_EQ(r.status, call.status) << r.describe();
        json::value e = parse_json(r.body);
        EXPECT_TRUE(e.is_object() && e.as_object().contains("error") && e.at("error").is_string())
            << "not a JSON error: " << r.body;
        if (call.status == 401) EXPECT_EQ(r.headers.get("www-authenticate"), "Bearer") << r.describe();
        if (call.status == 405) EXPECT_FALSE(r.headers.get("allow").empty()) << r.describe();
        if (call.method != "GET") {
            ++mutations;
            const std::string line = " " + call.method + " " + call.path + " -> " + std::to_string(call.status);
            EXPECT_TRUE(weir.wait_log(line, 2s)) << "no audit line with '" << line << "'";
        }
        auto now = admin.route();
        EXPECT_EQ(now.split, before.split) << now.raw;
        EXPECT_EQ(now.version, before.version) << now.raw;
        EXPECT_EQ(read_file(state), state_bytes) << "the state file changed";
    }
    // Every rejected mutation is a WARN line naming the peer.
    EXPECT_GE(count_occurrences(weir.log(), "WARN admin: 127.0.0.1:"), mutations) << weir.log();

    // A body over 1 MiB: 400, as every refused admin call (the head announces it; nothing more is sent).
    {
        RawClient raw(weir.admin_port());
        Response r = raw.request("PUT /routes/web/split HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer " + token +
                                 "\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n");
        EXPECT_EQ(r.status, 400) << r.describe();
        json::value e = parse_json(r.body);
        EXPECT_TRUE(e.is_object() && e.as_object().contains("error")) << r.body;
        EXPECT_TRUE(weir.wait_log("PUT /routes/web/split -> 400: body larger than 1 MiB", 2s))
            << "the refused 1 MiB+ PUT is not in the audit log";
    }
    // ... also when the body is actually sent.
    {
        std::string big = R"({"stable": 1, "canary": 1, "pad": ")" + std::string(1100000, 'x') + "\"}";
        RawClient raw(weir.admin_port());
        Response r = raw.request("PUT /routes/web/split HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer " + token +
                                 "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(big.size()) +
                                 "\r\n\r\n" + big);
        EXPECT_EQ(r.status, 400) << r.describe();
    }
    auto now = admin.route();
    EXPECT_EQ(now.split, before.split) << now.raw;
    EXPECT_EQ(now.version, before.version) << now.raw;
    EXPECT_EQ(read_file(state), state_bytes);
    const std::string metrics_after = admin.metrics();
    EXPECT_EQ(metric_value(metrics_after, "weir_config_version"), metric_value(metrics_before, "weir_config_version"));
    EXPECT_EQ(metric_value(metrics_after, "weir_config_reloads_total", {{"result", "success"}}),
              metric_value(metrics_before, "weir_config_reloads_total", {{"result", "success"}}));
    auto counts = sample_pools(weir.port(), 200);
    EXPECT_GE(counts["stable"], 100) << "stable " << counts["stable"] << " canary " << counts["canary"];
    EXPECT_LE(counts["stable"], 140) << "stable " << counts["stable"] << " canary " << counts["canary"];

    // The same calls do change things when they are valid (the checks above can fail).
    Response ok = admin.put("/routes/web/split", valid);
    EXPECT_EQ(ok.status, 200) << ok.describe();
    EXPECT_NE(read_file(state), state_bytes);
    EXPECT_EQ(admin.route().version, before.version + 1);
}

// ---------------------------------------------------------------- 8. blue/green

TEST(ControlAdmin, BlueGreenSwitchUnderLoad) {
    FakeUpstream stable("stable"), canary("canary");
    ControlConfig c(stable.address(), canary.address());
    c.split = {{"stable", 100}, {"canary", 0}};
    WeirProcess weir(c.yaml());
    AdminClient admin(weir.admin_port());
    LoadGen load(weir.port(), 4);
    ASSERT_TRUE(load.wait_progress(50));

    for (const std::string pool : {"canary", "stable", "canary", "stable"}) {
        SCOPED_TRACE("switch to " + pool);
        const std::string other = pool == "canary" ? "stable" : "canary";
        Response r = admin.post("/routes/web/switch", R"({"pool": ")" + pool + R"("})");
        ASSERT_EQ(r.status, 200) << r.describe();
        const SplitMap expected = {{pool, 100}, {other, 0}};
        EXPECT_EQ(split_from(parse_json(r.body), "split"), expected) << r.body;
        auto route = admin.route();
        EXPECT_EQ(route.split, expected) << route.raw;
        EXPECT_TRUE(route.override_) << route.raw;
        auto counts = sample_pools(weir.port(), 200, pool);
        EXPECT_EQ(counts[pool], 200) << pool << " " << counts[pool] << ", " << other << " " << counts[other]
                                     << ", errors " << counts["error"];
        const std::string m = admin.metrics();
        EXPECT_EQ(metric_value(m, "weir_route_weight", {{"route", "web"}, {"pool", pool}}), 1.0) << m;
        EXPECT_EQ(metric_value(m, "weir_route_weight", {{"route", "web"}, {"pool", other}}), 0.0) << m;
        ASSERT_TRUE(load.wait_progress(50));
    }
    EXPECT_TRUE(weir.wait_log("POST /routes/web/switch -> 200")) << weir.log();
    load.stop();
    auto s = load.stats();
    EXPECT_EQ(s.non2xx, 0u) << describe(s);
    EXPECT_EQ(s.errors, 0u) << describe(s);
    EXPECT_EQ(s.reconnects, 0u) << describe(s);
    EXPECT_GT(s.by_pool["canary"], 0u) << describe(s);
    EXPECT_GT(s.by_pool["stable"], 0u) << describe(s);
}

// ---------------------------------------------------------------- auth

TEST(ControlAuth, TokenGuardsEverythingButTheProbes) {
    FakeUpstream stable("stable"), canary("canary");
    TempDir secrets;
    const std::string token = "Abc.123-xyz_456~tok";
    write_file(secrets.path + "/admin.token", "  " + token + "\n");
    ControlConfig c(stable.address(), canary.address());
    c.token_file = secrets.path + "/admin.token";
    WeirProcess weir(c.yaml());
    AdminClient anon(weir.admin_port());
    AdminClient authed(weir.admin_port(), token);

    for (const std::string path : {"/healthz", "/ready", "/metrics"}) {
        Response r = anon.get(path);
        EXPECT_EQ(r.status, 200) << path << ": " << r.describe();
    }
    for (const std::string path : {"/config", "/routes", "/routes/web"}) {
        Response r = anon.get(path);
        EXPECT_EQ(r.status, 401) << path << ": " << r.describe();
        EXPECT_EQ(r.headers.get("www-authenticate"), "Bearer") << r.describe();
        Response ok = authed.get(path);
        EXPECT_EQ(ok.status, 200) << path << ": " << ok.describe();
    }
    // The scheme is case-insensitive (RFC 9110); the token is not.
    EXPECT_EQ(anon.call("GET", "/routes", "", "Authorization: bearer " + token + "\r\n").status, 200);
    std::string upper = token;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ(anon.call("GET", "/routes", "", "Authorization: Bearer " + upper + "\r\n").status, 401);
    Response put = authed.put("/routes/web/split", split_body(kAllCanary));
    EXPECT_EQ(put.status, 200) << put.describe();
    EXPECT_EQ(authed.route().split, kAllCanary);
    EXPECT_EQ(authed.post("/reload").status, 200);
    // The effective config names the token file but never shows the token.
    Response cfg = authed.get("/config");
    EXPECT_EQ(cfg.status, 200);
    EXPECT_EQ(cfg.body.find(token), std::string::npos) << cfg.body;
}

TEST(ControlAuth, ConfigRulesForTheAdminAddressAndToken) {
    TempDir t;
    const std::string cfg = t.path + "/weir.yaml";
    ControlConfig c("127.0.0.1:9", "127.0.0.1:9");
    auto check = [&](const ControlConfig& config) {
        write_file(cfg, config.yaml());
        return run_weir({"check", "-c", cfg});
    };
    // Off loopback without a token: an error with its place.
    ControlConfig open = c;
    open.admin_address = "0.0.0.0:9901";
    auto r = check(open);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE((r.out + r.err).find(cfg + ":" + std::to_string(line_of(open.yaml(), "admin:")) + ":"), std::string::npos)
        << r.out << r.err;
    // A relative token_file is read next to the config file (not the working directory).
    write_file(t.path + "/admin.token", "0123456789abcdefXYZ\n");
    ControlConfig guarded = open;
    guarded.token_file = "admin.token";
    r = check(guarded);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    // Too short, or with a space inside: errors.
    write_file(t.path + "/admin.token", "short-token\n");
    r = check(guarded);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    write_file(t.path + "/admin.token", "0123456789 abcdefXYZ\n");
    r = check(guarded);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    // Missing.
    guarded.token_file = "missing.token";
    r = check(guarded);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
}

}  // namespace
}  // namespace weir_it::control
