// GET /metrics on the admin address after known traffic (docs/metrics.md):
// the body passes `promtool check metrics`, every family is there with its
// type and labels, request counts are exact per route/pool/code, the latency
// histogram is cumulative, ends with +Inf = _count and uses the same `le`
// set for every pool, 5xx answers are counted as upstream errors of their
// endpoint, and the gauges (route weights, config version, connections)
// agree with what the test did.
#include "metrics_support.hpp"

#include "control_support.hpp"

#include "telemetry/traffic.hpp"

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace weir_it::metrics {
namespace {

constexpr const char* promtool = "/usr/bin/promtool";

// The fake upstreams answer 503 "<name> fail" to targets containing "/fail"
// and 200 "<name> ok" otherwise, on keep-alive connections.
void answer_by_target(FakeUpstream& up) {
    const std::string name = up.name();
    up.set_handler([name](UpstreamConn& c, const UpstreamRequest& r) {
        bool fail = r.target.find("/fail") != std::string::npos;
        c.send(make_response(fail ? 503 : 200, name + (fail ? " fail" : " ok"), "Content-Type: text/plain\r\n"));
        return After::keep_alive;
    });
}

// A keep-alive client that reopens its connection when the proxy closes it.
class Client {
public:
    explicit Client(std::uint16_t port) : port_(port) { open(); }
    Response get(const std::string& target) {
        if (!c_ || !c_->connected()) open();
        Response r = c_->request(get_request(target));
        if (!r.complete || r.connection_close()) c_.reset();
        return r;
    }

private:
    void open() { c_ = std::make_unique<RawClient>(port_); }
    std::uint16_t port_;
    std::unique_ptr<RawClient> c_;
};

std::string first_word(const std::string& s) { return s.substr(0, s.find(' ')); }

using Key = std::tuple<std::string, std::string, int>;  // route, pool, code

std::string scrape(std::uint16_t admin) {
    Response r = http_get(admin, "/metrics");
    if (r.status != 200) return "";
    return r.body;
}

TEST(MetricsExposition, PromtoolCleanFamiliesTypedAndCountsExact) {
    FakeUpstream stable("stable"), canary("canary");
    answer_by_target(stable);
    answer_by_target(canary);

    ConfigSpec cfg;
    cfg.idle_timeout = "30s";
    cfg.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    cfg.routes = {{"web", "*", "/app", {{"stable", 90}, {"canary", 10}}},
                  {"pinned", "*", "/pinned", {{"canary", 1}}}};
    WeirProcess weir(cfg.yaml());
    const std::uint16_t port = weir.port();
    const std::uint16_t admin = weir.admin_port();
    ASSERT_NE(admin, 0);

    // ------------------------------------------------------------ traffic
    std::map<Key, int> expected;
    int not_found = 0, total = 0;
    std::map<std::string, int> fails_by_pool;
    auto record = [&](const std::string& route, const Response& r, int want_status) {
        ASSERT_TRUE(r.complete) << r.describe();
        ASSERT_EQ(r.status, want_status) << r.describe();
        ++total;
        if (want_status == 404) {
            ++not_found;
            return;
        }
        std::string pool = first_word(r.body);
        ASSERT_TRUE(pool == "stable" || pool == "canary") << r.describe();
        ++expected[{route, pool, r.status}];
        if (r.status >= 500) ++fails_by_pool[pool];
    };

    // Connections held open (each has served one request) while scraping.
    constexpr int held = 6;
    std::vector<std::unique_ptr<RawClient>> open_conns;
    for (int i = 0; i < held; ++i) {
        open_conns.push_back(std::make_unique<RawClient>(port));
        ASSERT_TRUE(open_conns.back()->connected());
        Response r = open_conns.back()->request(get_request("/app/held"));
        record("web", r, 200);
        ASSERT_FALSE(r.connection_close());
    }
    {
        std::vector<Client> clients;
        for (int i = 0; i < 3; ++i) clients.emplace_back(port);
        int k = 0;
        auto next = [&]() -> Client& { return clients[static_cast<std::size_t>(k++ % 3)]; };
        for (int i = 0; i < 150; ++i) {
            record("web", next().get("/app/ok/" + std::to_string(i)), 200);
            // Failures spread between successes: never many in a row.
            if (i % 10 == 5) record("web", next().get("/app/fail/" + std::to_string(i)), 503);
            if (i % 25 == 0) record("pinned", next().get("/pinned/ok"), 200);
            if (i % 40 == 20) record("pinned", next().get("/pinned/fail"), 503);
            if (i % 30 == 10) record("none", next().get("/nothing/here"), 404);
        }
    }
    if (HasFatalFailure()) return;
    ASSERT_GT(fails_by_pool["stable"], 0) << "no 5xx from stable: the 90/10 split sent every /fail to canary?";
    ASSERT_GT(fails_by_pool["canary"], 0);
    ASSERT_EQ(not_found, 5);

    // The counters are merged from the workers at scrape time; errors reach
    // the control plane asynchronously. Wait until everything is in.
    std::string body;
    Exposition m;
    int failures = fails_by_pool["stable"] + fails_by_pool["canary"];
    bool settled = wait_for(
        [&] {
            body = scrape(admin);
            m = parse_exposition(body);
            return m.sum("weir_requests_total") >= total &&
                   m.sum("weir_upstream_errors_total", {{"kind", "5xx"}}) >= failures;
        },
        10s, 50ms);
    ASSERT_FALSE(body.empty()) << "GET /metrics failed";
    EXPECT_TRUE(settled) << "requests counted " << m.sum("weir_requests_total") << " of " << total
                         << "; 5xx counted " << m.sum("weir_upstream_errors_total", {{"kind", "5xx"}}) << " of "
                         << failures << "\n"
                         << body;
    EXPECT_TRUE(m.errors.empty()) << ::testing::PrintToString(m.errors);

    // ------------------------------------------------------------ promtool
    {
        RunResult p = run_command({promtool, "check", "metrics"}, body);
        EXPECT_EQ(p.exit_code, 0) << "promtool check metrics failed:\n" << p.out << p.err << "\n--- body ---\n" << body;
        EXPECT_EQ(p.out + p.err, "") << "promtool reported problems:\n" << p.out << p.err;
    }

    // ------------------------------------------------------------ families: type, help, labels
    using Names = std::set<std::string>;
    struct Family {
        const char* name;
        const char* type;
        Names labels;
        bool must_have_samples;
    };
    const std::vector<Family> families = {
        {"weir_requests_total", "counter", {"route", "pool", "code"}, true},
        {"weir_request_duration_seconds", "histogram", {"route", "pool"}, true},
        {"weir_upstream_errors_total", "counter", {"pool", "endpoint", "kind"}, true},
        {"weir_endpoint_healthy", "gauge", {"pool", "endpoint"}, true},
        {"weir_endpoint_draining", "gauge", {"pool", "endpoint"}, true},
        {"weir_route_weight", "gauge", {"route", "pool"}, true},
        {"weir_downstream_connections", "gauge", {}, true},
        {"weir_upstream_connections", "gauge", {"pool"}, true},
        {"weir_config_reloads_total", "counter", {"result"}, true},
        {"weir_config_version", "gauge", {}, true},
        // No rollout has run: no series yet (MetricsExposition.RolloutFamilies starts one).
        {"weir_rollout_step", "gauge", {"route"}, false},
        {"weir_rollout_decisions_total", "counter", {"route", "decision"}, false},
    };
    for (const auto& f : families) {
        SCOPED_TRACE(f.name);
        auto t = m.types.find(f.name);
        if (t == m.types.end()) {
            // prometheus-cpp writes no lines for a family without series.
            if (f.must_have_samples) ADD_FAILURE() << "no # TYPE line for " << f.name;
            continue;
        }
        EXPECT_EQ(t->second, f.type);
        EXPECT_FALSE(m.helps[f.name].empty()) << "no # HELP text for " << f.name;
        if (std::string(f.type) == "histogram") {
            Names bucket = f.labels;
            bucket.insert("le");
            EXPECT_EQ(m.label_sets(std::string(f.name) + "_bucket"), std::set<Names>{bucket});
            EXPECT_EQ(m.label_sets(std::string(f.name) + "_sum"), std::set<Names>{f.labels});
            EXPECT_EQ(m.label_sets(std::string(f.name) + "_count"), std::set<Names>{f.labels});
            EXPECT_TRUE(m.find(f.name).empty()) << "bare samples named like the histogram";
        } else {
            auto sets = m.label_sets(f.name);
            if (f.must_have_samples) EXPECT_FALSE(sets.empty()) << "no samples";
            for (const auto& s : sets) EXPECT_EQ(s, f.labels) << "label names of a " << f.name << " series";
        }
    }
    // Every sample belongs to a declared family.
    for (const auto& s : m.samples) {
        std::string fam = s.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            std::string sx = suffix;
            if (!m.types.count(fam) && fam.size() > sx.size() && fam.compare(fam.size() - sx.size(), sx.size(), sx) == 0)
                fam = fam.substr(0, fam.size() - sx.size());
        }
        EXPECT_TRUE(m.types.count(fam)) << "sample without a TYPE: line " << s.line << " " << s.name;
    }

    // ------------------------------------------------------------ weir_requests_total: exact
    for (const auto& [key, n] : expected) {
        const auto& [route, pool, code] = key;
        EXPECT_EQ(m.value("weir_requests_total", {{"route", route}, {"pool", pool}, {"code", std::to_string(code)}}),
                  std::optional<double>(n))
            << route << "/" << pool << "/" << code;
    }
    for (const auto& s : m.find("weir_requests_total")) {
        if (s.labels.at("code") == "404") continue;
        Key k{s.labels.at("route"), s.labels.at("pool"), std::stoi(s.labels.at("code"))};
        EXPECT_TRUE(expected.count(k)) << "unexpected series " << describe(s.labels) << " = " << s.value;
    }
    // The unknown-route requests: counted once each, under no configured route or pool.
    EXPECT_EQ(m.sum("weir_requests_total", {{"code", "404"}}), not_found);
    for (const auto& s : m.find("weir_requests_total", {{"code", "404"}})) {
        EXPECT_TRUE(s.labels.at("route") != "web" && s.labels.at("route") != "pinned") << describe(s.labels);
        EXPECT_TRUE(s.labels.at("pool") != "stable" && s.labels.at("pool") != "canary") << describe(s.labels);
    }
    EXPECT_EQ(m.sum("weir_requests_total"), total);

    // ------------------------------------------------------------ weir_request_duration_seconds
    {
        std::map<Labels, std::vector<Sample>> series;  // (route, pool) -> buckets in order
        for (const auto& s : m.find("weir_request_duration_seconds_bucket")) {
            Labels rp = s.labels;
            rp.erase("le");
            series[rp].push_back(s);
        }
        EXPECT_FALSE(series.empty());
        std::vector<std::string> reference_le;
        const auto& bounds = weir::telemetry::duration_bounds();
        for (const auto& [rp, buckets] : series) {
            SCOPED_TRACE(describe(rp));
            ASSERT_FALSE(buckets.empty());
            std::vector<std::string> les;
            double prev_le = -1, prev_count = 0;
            for (const auto& b : buckets) {
                const std::string& le = b.labels.at("le");
                les.push_back(le);
                double lev = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
                EXPECT_GT(lev, prev_le) << "le not increasing at line " << b.line;
                EXPECT_GE(b.value, prev_count) << "buckets not cumulative at le=" << le;
                prev_le = lev;
                prev_count = b.value;
            }
            EXPECT_EQ(les.back(), "+Inf") << "the last bucket is not le=\"+Inf\"";
            auto count = m.value("weir_request_duration_seconds_count", rp);
            auto sum = m.value("weir_request_duration_seconds_sum", rp);
            ASSERT_TRUE(count.has_value()) << "no _count";
            ASSERT_TRUE(sum.has_value()) << "no _sum";
            EXPECT_EQ(buckets.back().value, *count) << "+Inf bucket != _count";
            EXPECT_GT(*sum, 0);
            EXPECT_LT(*sum, *count * 2.0) << "mean duration over 2 s on loopback";
            // _count = the requests counted for that route and pool.
            EXPECT_EQ(*count, m.sum("weir_requests_total", rp));
            if (reference_le.empty()) reference_le = les;
            EXPECT_EQ(les, reference_le) << "different `le` set from the first series";
            // The `le` values are the documented bounds.
            ASSERT_EQ(les.size(), bounds.size() + 1);
            for (std::size_t i = 0; i < bounds.size(); ++i) {
                double v = std::strtod(les[i].c_str(), nullptr);
                EXPECT_NEAR(v, bounds[i], bounds[i] * 1e-9) << "le #" << i;
            }
        }
        // Each pool that served traffic has a histogram.
        for (const char* pool : {"stable", "canary"})
            EXPECT_FALSE(m.find("weir_request_duration_seconds_count", {{"route", "web"}, {"pool", pool}}).empty())
                << pool;
    }

    // ------------------------------------------------------------ weir_upstream_errors_total
    EXPECT_EQ(m.value("weir_upstream_errors_total",
                      {{"pool", "stable"}, {"endpoint", stable.address()}, {"kind", "5xx"}}),
              std::optional<double>(fails_by_pool["stable"]));
    EXPECT_EQ(m.value("weir_upstream_errors_total",
                      {{"pool", "canary"}, {"endpoint", canary.address()}, {"kind", "5xx"}}),
              std::optional<double>(fails_by_pool["canary"]));
    EXPECT_EQ(m.sum("weir_upstream_errors_total"), failures) << "errors of other kinds, or counted twice";

    // ------------------------------------------------------------ gauges
    auto near = [](std::optional<double> v, double want) { return v && std::abs(*v - want) < 1e-9; };
    EXPECT_TRUE(near(m.value("weir_route_weight", {{"route", "web"}, {"pool", "stable"}}), 0.9));
    EXPECT_TRUE(near(m.value("weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), 0.1));
    EXPECT_TRUE(near(m.value("weir_route_weight", {{"route", "pinned"}, {"pool", "canary"}}), 1.0));
    for (const auto& s : m.find("weir_route_weight", {{"route", "pinned"}}))
        if (s.labels.at("pool") != "canary") EXPECT_EQ(s.value, 0) << describe(s.labels);

    auto version = m.value("weir_config_version");
    ASSERT_TRUE(version.has_value());
    EXPECT_GE(*version, 1);
    EXPECT_EQ(std::floor(*version), *version);
    EXPECT_TRUE(m.value("weir_config_reloads_total", {{"result", "success"}}).has_value());
    EXPECT_TRUE(m.value("weir_config_reloads_total", {{"result", "failure"}}).has_value());
    EXPECT_EQ(m.value("weir_config_reloads_total", {{"result", "failure"}}), std::optional<double>(0));

    auto downstream = m.value("weir_downstream_connections");
    ASSERT_TRUE(downstream.has_value());
    EXPECT_GE(*downstream, held) << "connections held open by the test: " << held;
    EXPECT_LT(*downstream, 1000);

    for (const auto* up : {&stable, &canary}) {
        Labels l{{"pool", up->name()}, {"endpoint", up->address()}};
        EXPECT_EQ(m.value("weir_endpoint_healthy", l), std::optional<double>(1)) << describe(l);
        EXPECT_EQ(m.value("weir_endpoint_draining", l), std::optional<double>(0)) << describe(l);
        auto conns = m.value("weir_upstream_connections", {{"pool", up->name()}});
        ASSERT_TRUE(conns.has_value()) << up->name();
        EXPECT_GE(*conns, 0);
        EXPECT_LE(*conns, static_cast<double>(up->connection_count())) << "more than the upstream ever accepted";
    }

    // The held connections really were open the whole time.
    for (auto& c : open_conns) {
        Response r = c->request(get_request("/app/held"));
        EXPECT_EQ(r.status, 200) << r.describe();
    }
}

// A scrape right after start-up, before any traffic: already valid for promtool,
// with the static families present and no request series invented.
TEST(MetricsExposition, BeforeAnyTrafficPromtoolClean) {
    FakeUpstream stable("stable");
    ConfigSpec cfg = ConfigSpec::single(stable.address());
    WeirProcess weir(cfg.yaml());
    Response r = http_get(weir.admin_port(), "/metrics");
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_NE(r.headers.get("content-type").find("text/plain"), std::string::npos) << r.headers.dump();
    Exposition m = parse_exposition(r.body);
    EXPECT_TRUE(m.errors.empty()) << ::testing::PrintToString(m.errors);
    RunResult p = run_command({promtool, "check", "metrics"}, r.body);
    EXPECT_EQ(p.exit_code, 0) << p.out << p.err << "\n--- body ---\n" << r.body;
    EXPECT_EQ(p.out + p.err, "");
    EXPECT_EQ(m.sum("weir_requests_total"), 0);
    EXPECT_TRUE(m.types.count("weir_requests_total")) << r.body;
    EXPECT_TRUE(m.types.count("weir_request_duration_seconds")) << r.body;
    EXPECT_EQ(m.value("weir_route_weight", {{"route", "web"}, {"pool", "stable"}}), std::optional<double>(1));
    EXPECT_TRUE(m.value("weir_config_version").has_value());
}

Response admin_post(std::uint16_t admin, const std::string& path) { return admin_request(admin, "POST", path); }

// The rollout families (no series until a route has a rollout): typed, with
// their labels, following start and rollback; promtool-clean throughout.
TEST(MetricsExposition, RolloutFamiliesFollowStartAndRollback) {
    FakeUpstream stable("stable"), canary("canary");
    ConfigSpec cfg;
    cfg.idle_timeout = "30s";
    cfg.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    cfg.routes = {{"web", "*", "/", {{"stable", 100}, {"canary", 0}}}};
    // The route is the last thing ConfigSpec writes.
    std::string yaml = cfg.yaml() +
                       "    rollout:\n"
                       "      canary: canary\n"
                       "      baseline: stable\n"
                       "      steps: [1, 5, 50, 100]\n"
                       "      step_min_duration: 30s\n"
                       "      step_max_duration: 10m\n"
                       "      min_samples: 500\n"
                       "      max_latency_ratio: 1.10\n"
                       "      max_error_rate_increase: 0.001\n"
                       "      on_inconclusive: hold\n";
    WeirProcess weir(yaml);
    const std::uint16_t admin = weir.admin_port();
    ASSERT_NE(admin, 0) << weir.log();

    auto check = [&](const char* when) {
        SCOPED_TRACE(when);
        std::string body = scrape(admin);
        Exposition m = parse_exposition(body);
        EXPECT_TRUE(m.errors.empty()) << ::testing::PrintToString(m.errors);
        RunResult p = run_command({promtool, "check", "metrics"}, body);
        EXPECT_EQ(p.exit_code, 0) << p.out << p.err << "\n--- body ---\n" << body;
        EXPECT_EQ(p.out + p.err, "");
        EXPECT_EQ(m.types["weir_rollout_step"], "gauge") << body;
        for (const auto& s : m.label_sets("weir_rollout_step")) EXPECT_EQ(s, (std::set<std::string>{"route"}));
        if (m.types.count("weir_rollout_decisions_total")) {
            EXPECT_EQ(m.types["weir_rollout_decisions_total"], "counter");
            for (const auto& s : m.label_sets("weir_rollout_decisions_total"))
                EXPECT_EQ(s, (std::set<std::string>{"route", "decision"}));
        }
        return m;
    };

    Exposition idle = check("idle");
    EXPECT_EQ(idle.value("weir_rollout_step", {{"route", "web"}}), std::optional<double>(-1))
        << "a configured rollout that has not started";

    Response r = admin_post(admin, "/routes/web/rollout/start");
    ASSERT_EQ(r.status, 200) << r.describe() << r.body;
    Exposition started;
    EXPECT_TRUE(wait_for(
        [&] {
            started = parse_exposition(scrape(admin));
            return started.value("weir_rollout_step", {{"route", "web"}}) == std::optional<double>(0);
        },
        5s, 50ms))
        << "weir_rollout_step after start: "
        << started.value("weir_rollout_step", {{"route", "web"}}).value_or(-99);
    started = check("started");
    EXPECT_EQ(started.value("weir_rollout_decisions_total", {{"route", "web"}, {"decision", "start"}}),
              std::optional<double>(1));
    auto w = started.value("weir_route_weight", {{"route", "web"}, {"pool", "canary"}});
    ASSERT_TRUE(w.has_value());
    EXPECT_NEAR(*w, 0.01, 1e-9) << "the first step is 1%";

    r = admin_post(admin, "/routes/web/rollout/rollback");
    ASSERT_EQ(r.status, 200) << r.describe() << r.body;
    Exposition rolled;
    EXPECT_TRUE(wait_for(
        [&] {
            rolled = parse_exposition(scrape(admin));
            return rolled.value("weir_rollout_step", {{"route", "web"}}) == std::optional<double>(-1);
        },
        5s, 50ms));
    rolled = check("rolled back");
    EXPECT_EQ(rolled.value("weir_rollout_decisions_total", {{"route", "web"}, {"decision", "rollback"}}),
              std::optional<double>(1));
    EXPECT_EQ(rolled.value("weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), std::optional<double>(0));
}

// Counters are never reset by a reload (a reset would make rate() lie); the
// reload is counted, the version moves on and the weights follow the file.
// A failed reload is counted as a failure and changes nothing else.
TEST(MetricsExposition, ReloadCountedAndCountersSurvive) {
    FakeUpstream stable("stable"), canary("canary");
    ConfigSpec cfg;
    cfg.idle_timeout = "30s";
    cfg.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    cfg.routes = {{"web", "*", "/", {{"stable", 90}, {"canary", 10}}}};
    WeirProcess weir(cfg.yaml());
    const std::uint16_t admin = weir.admin_port();

    std::map<std::string, int> by_pool;
    auto send = [&](int n) {
        RawClient c(weir.port());
        for (int i = 0; i < n; ++i) {
            Response r = c.request(get_request("/r/" + std::to_string(i)));
            ASSERT_EQ(r.status, 200) << r.describe();
            ++by_pool[first_word(r.body)];
        }
    };
    auto settled_scrape = [&](int total) {
        Exposition m;
        EXPECT_TRUE(wait_for(
            [&] {
                m = parse_exposition(scrape(admin));
                return m.sum("weir_requests_total") >= total;
            },
            5s, 50ms))
            << "counted " << m.sum("weir_requests_total") << " of " << total;
        return m;
    };
    // Only POST /reload reloads from here on (the file watch no longer sees
    // edits), so the reload counts are exact.
    TempDir real;
    const std::string config_path = control::detach_config(weir, real.path, cfg.yaml());
    send(60);
    if (HasFatalFailure()) return;
    Exposition before = settled_scrape(60);
    auto v0 = before.value("weir_config_version");
    auto ok0 = before.value("weir_config_reloads_total", {{"result", "success"}});
    ASSERT_TRUE(v0 && ok0);

    // A reload that changes the split.
    cfg.routes[0].split = {{"stable", 50}, {"canary", 50}};
    write_file(config_path, cfg.yaml());
    Response r = admin_post(admin, "/reload");
    ASSERT_EQ(r.status, 200) << r.describe() << r.body;
    Exposition after;
    EXPECT_TRUE(wait_for(
        [&] {
            after = parse_exposition(scrape(admin));
            return after.value("weir_config_reloads_total", {{"result", "success"}}) >= *ok0 + 1;
        },
        5s, 50ms));
    EXPECT_EQ(after.value("weir_config_reloads_total", {{"result", "success"}}), std::optional<double>(*ok0 + 1));
    EXPECT_GT(after.value("weir_config_version").value_or(0), *v0);
    EXPECT_EQ(after.value("weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), std::optional<double>(0.5));
    EXPECT_EQ(after.value("weir_route_weight", {{"route", "web"}, {"pool", "stable"}}), std::optional<double>(0.5));
    // No traffic in between: every request series and histogram is unchanged.
    for (const char* name : {"weir_requests_total", "weir_request_duration_seconds_count",
                             "weir_request_duration_seconds_bucket"}) {
        for (const auto& s : before.find(name)) {
            EXPECT_EQ(after.value(name, s.labels), std::optional<double>(s.value))
                << name << describe(s.labels) << " changed across a reload";
        }
    }

    // A reload that fails (invalid file): counted as a failure; the rest stays.
    write_file(config_path, "this is: [not valid\n");
    r = admin_post(admin, "/reload");
    EXPECT_GE(r.status, 400) << r.describe() << r.body;
    Exposition failed;
    EXPECT_TRUE(wait_for(
        [&] {
            failed = parse_exposition(scrape(admin));
            return failed.value("weir_config_reloads_total", {{"result", "failure"}}) == std::optional<double>(1);
        },
        5s, 50ms))
        << "failures: " << failed.value("weir_config_reloads_total", {{"result", "failure"}}).value_or(-1);
    EXPECT_EQ(failed.value("weir_config_reloads_total", {{"result", "success"}}),
              after.value("weir_config_reloads_total", {{"result", "success"}}));
    EXPECT_EQ(failed.value("weir_config_version"), after.value("weir_config_version"));
    EXPECT_EQ(failed.value("weir_route_weight", {{"route", "web"}, {"pool", "canary"}}), std::optional<double>(0.5));

    // Counting continues from where it was.
    send(20);
    if (HasFatalFailure()) return;
    Exposition later = settled_scrape(80);
    for (const char* pool : {"stable", "canary"}) {
        EXPECT_EQ(later.value("weir_requests_total", {{"route", "web"}, {"pool", pool}, {"code", "200"}}).value_or(0),
                  by_pool[pool])
            << pool;
    }
    EXPECT_EQ(later.sum("weir_requests_total"), 80);
}

// Connect failures are upstream errors of kind "connect" for their endpoint,
// and the answers Weir gives instead are counted under the pool.
TEST(MetricsExposition, ConnectFailuresCountedByKind) {
    const std::string dead = "127.0.0.1:" + std::to_string(closed_port());
    ConfigSpec cfg = ConfigSpec::single(dead);
    WeirProcess weir(cfg.yaml());
    std::map<int, int> statuses;
    for (int i = 0; i < 4; ++i) {
        Response r = fetch(weir.port(), "/x");
        ASSERT_TRUE(r.complete) << r.describe();
        ASSERT_GE(r.status, 500) << r.describe();
        ++statuses[r.status];
    }
    Exposition m;
    EXPECT_TRUE(wait_for(
        [&] {
            m = parse_exposition(scrape(weir.admin_port()));
            return m.sum("weir_upstream_errors_total") >= 4 && m.sum("weir_requests_total") >= 4;
        },
        5s, 50ms));
    EXPECT_EQ(m.value("weir_upstream_errors_total", {{"pool", "stable"}, {"endpoint", dead}, {"kind", "connect"}}),
              std::optional<double>(4))
        << ::testing::PrintToString(m.label_sets("weir_upstream_errors_total"));
    EXPECT_EQ(m.sum("weir_upstream_errors_total"), 4);
    for (const auto& [code, n] : statuses) {
        EXPECT_EQ(m.value("weir_requests_total", {{"route", "web"}, {"pool", "stable"}, {"code", std::to_string(code)}}),
                  std::optional<double>(n))
            << code;
    }
}

// The reader used above must itself reject what promtool rejects, or the
// checks built on it prove nothing.
TEST(MetricsExposition, ReaderAndPromtoolRejectBrokenText) {
    Exposition ok = parse_exposition(
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"z\"} 3\n"
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n");
    EXPECT_TRUE(ok.errors.empty()) << ::testing::PrintToString(ok.errors);
    EXPECT_EQ(ok.value("a_total", {{"x", "1"}, {"y", "q\"z"}}), std::optional<double>(3));
    EXPECT_EQ(ok.value("h_bucket", {{"le", "+Inf"}}), std::optional<double>(2));

    for (const char* bad : {"a_total{x=\"1\" 3\n", "a_total{x=1} 3\n", "a_total 3x\n", "1a 3\n", "a_total{x=\"1\"}3\n"}) {
        EXPECT_FALSE(parse_exposition(bad).errors.empty()) << bad;
    }
    // promtool exits non-zero on malformed text and prints lint problems.
    RunResult broken = run_command({promtool, "check", "metrics"}, "# TYPE a counter\na{x=\"1\" 3\n");
    EXPECT_NE(broken.exit_code, 0) << broken.out << broken.err;
    RunResult lint = run_command({promtool, "check", "metrics"}, "# TYPE a counter\na 3\n");
    EXPECT_NE(lint.out + lint.err, "") << "promtool did not flag a counter without _total nor HELP";
}

}  // namespace
}  // namespace weir_it::metrics
