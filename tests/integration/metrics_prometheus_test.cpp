// A real Prometheus server (Debian `prometheus`) on loopback scrapes Weir's
// admin /metrics every second while traffic flows to two pools whose fake
// upstreams answer after ~5 ms (stable) and ~40 ms (canary), with jitter.
// histogram_quantile(0.99, ...) per pool must come back for both pools, the
// canary's within 25% of the p99 the test measured, and the stable's sane.
#include "metrics_support.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace weir_it::metrics {
namespace {

constexpr const char* prometheus_bin = "/usr/bin/prometheus";

// Deterministic generator written here (std distributions differ between libraries).
class SplitMix {
public:
    explicit SplitMix(std::uint64_t seed) : s_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

private:
    std::uint64_t s_;
};

// An upstream that answers 200 after base + U(0, jitter) ms, recording what it generated.
struct SlowUpstream {
    std::mutex mu;
    SplitMix rng;
    double base_ms, jitter_ms;
    std::vector<double> generated_ms;
    FakeUpstream up;  // last: its handler threads use the members above

    SlowUpstream(const std::string& name, std::uint64_t seed, double base, double jitter)
        : rng(seed), base_ms(base), jitter_ms(jitter), up(name) {
        up.set_handler([this](UpstreamConn& c, const UpstreamRequest&) {
            double ms;
            {
                std::lock_guard lk(mu);
                ms = base_ms + jitter_ms * rng.uniform();
                generated_ms.push_back(ms);
            }
            if (!c.sleep_for(std::chrono::duration_cast<Millis>(std::chrono::duration<double, std::milli>(ms))))
                return After::close;
            c.send(make_response(200, up.name() + " ok", "Content-Type: text/plain\r\n"));
            return After::keep_alive;
        });
    }
};

struct Observation {
    Clock::time_point done;
    double ms;
    std::string pool;
};

std::string prometheus_yml(std::uint16_t admin_port) {
    return "global:\n"
           "  scrape_interval: 1s\n"
           "  scrape_timeout: 1s\n"
           "  evaluation_interval: 1s\n"
           "scrape_configs:\n"
           "  - job_name: weir\n"
           "    scrape_interval: 1s\n"
           "    scrape_timeout: 1s\n"
           "    metrics_path: /metrics\n"
           "    static_configs:\n"
           "      - targets: ['127.0.0.1:" +
           std::to_string(admin_port) + "']\n";
}

struct QueryResult {
    bool ok = false;
    std::string raw;
    std::map<std::string, double> by_pool;
};

QueryResult query(std::uint16_t port, const std::string& promql) {
    QueryResult q;
    Response r = http_get(port, "/api/v1/query?query=" + url_encode(promql), 5s);
    q.raw = r.describe() + "\n" + r.body;
    if (r.status != 200) return q;
    auto v = parse_json(r.body);
    if (!v.is_object()) return q;
    const auto& o = v.as_object();
    if (!o.contains("status") || !o.at("status").is_string() || o.at("status").as_string() != "success") return q;
    const auto* data = o.at("data").if_object();
    if (!data || !data->contains("result") || !data->at("result").is_array()) return q;
    for (const auto& item : data->at("result").as_array()) {
        const auto* obj = item.if_object();
        if (!obj) continue;
        std::string pool;
        if (const auto* metric = obj->at("metric").if_object(); metric && metric->contains("pool"))
            pool = std::string(metric->at("pool").as_string());
        const auto& val = obj->at("value").as_array();
        q.by_pool[pool] = std::strtod(std::string(val.at(1).as_string()).c_str(), nullptr);
    }
    q.ok = true;
    return q;
}

TEST(MetricsPrometheus, HistogramQuantilePerPoolFromRealScrapes) {
    const auto test_start = Clock::now();
    SlowUpstream stable("stable", 0x5eed0001, 4.0, 2.0);    // 4..6 ms
    SlowUpstream canary("canary", 0x5eed0002, 32.0, 16.0);  // 32..48 ms

    ConfigSpec cfg;
    cfg.idle_timeout = "30s";
    cfg.pools = {{"stable", {{stable.up.address()}}}, {"canary", {{canary.up.address()}}}};
    cfg.routes = {{"web", "*", "/", {{"stable", 50}, {"canary", 50}}}};
    WeirProcess weir(cfg.yaml());
    const std::uint16_t admin = weir.admin_port();
    ASSERT_NE(admin, 0);
    ASSERT_EQ(http_get(admin, "/metrics").status, 200);

    // ------------------------------------------------------------ prometheus
    TempDir dir;
    write_file(dir.path + "/prometheus.yml", prometheus_yml(admin));
    std::unique_ptr<ChildProcess> prom;
    std::uint16_t prom_port = 0;
    std::string failed_logs;
    for (int attempt = 0; attempt < 3 && !prom; ++attempt) {
        prom_port = free_port();
        std::string data = dir.path + "/data" + std::to_string(attempt);
        auto p = std::make_unique<ChildProcess>(
            std::vector<std::string>{prometheus_bin, "--config.file=" + dir.path + "/prometheus.yml",
                                     "--storage.tsdb.path=" + data,
                                     "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
            dir.path + "/prometheus" + std::to_string(attempt) + ".log");
        bool ready = wait_for(
            [&] { return !p->running() || http_get(prom_port, "/-/ready", 1s).status == 200; }, 20s, 100ms);
        if (ready && p->running()) {
            prom = std::move(p);
        } else {
            p->stop(5s);
            failed_logs += "--- attempt " + std::to_string(attempt) + " ---\n" + p->log();
        }
    }
    ASSERT_TRUE(prom) << "prometheus did not become ready:\n" << failed_logs;

    // ------------------------------------------------------------ traffic
    constexpr int threads = 6;
    std::atomic<bool> stop{false};
    std::atomic<int> errors{0};
    std::mutex obs_mu;
    std::vector<Observation> observations;
    std::vector<std::thread> workers;
    const std::uint16_t port = weir.port();
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            std::unique_ptr<RawClient> c;
            std::vector<Observation> mine;
            int i = 0;
            while (!stop.load()) {
                if (!c) c = std::make_unique<RawClient>(port, 5s);
                auto start = Clock::now();
                Response r = c->request(get_request("/t" + std::to_string(t) + "/" + std::to_string(i++)));
                auto end = Clock::now();
                if (!r.complete || r.status != 200) {
                    ++errors;
                    c.reset();
                    continue;
                }
                if (r.connection_close()) c.reset();
                mine.push_back({end, std::chrono::duration<double, std::milli>(end - start).count(),
                                r.body.substr(0, r.body.find(' '))});
            }
            std::lock_guard lk(obs_mu);
            observations.insert(observations.end(), mine.begin(), mine.end());
        });
    }
    auto stop_traffic = [&] {
        stop = true;
        for (auto& w : workers)
            if (w.joinable()) w.join();
    };

    // Traffic for 12 s: the 10 s rate() window then sees only steady traffic.
    std::this_thread::sleep_for(12s);
    const std::string promql =
        "histogram_quantile(0.99, sum by (le, pool) (rate(weir_request_duration_seconds_bucket[10s])))";
    QueryResult q;
    Clock::time_point query_time;
    bool answered = wait_for(
        [&] {
            query_time = Clock::now();
            q = query(prom_port, promql);
            return q.ok && q.by_pool.count("stable") && q.by_pool.count("canary") &&
                   std::isfinite(q.by_pool["stable"]) && std::isfinite(q.by_pool["canary"]);
        },
        15s, 500ms);
    stop_traffic();
    QueryResult up = query(prom_port, "up{job=\"weir\"}");

    auto exit_code = prom->stop(10s);
    EXPECT_EQ(exit_code, std::optional<int>(0)) << "prometheus did not stop cleanly on SIGTERM:\n" << prom->log();

    EXPECT_EQ(errors.load(), 0) << "failed requests during the traffic";
    ASSERT_TRUE(answered) << "no p99 for both pools: " << q.raw << "\nup: " << up.raw << "\nprometheus log:\n"
                          << prom->log();

    // ------------------------------------------------------------ compare
    // The true p99 of what the clients saw in the query's window (Weir sees
    // each request for a little less time than its client).
    std::vector<double> canary_window, stable_window;
    std::size_t canary_all = 0;
    for (const auto& o : observations) {
        if (o.pool == "canary") ++canary_all;
        if (o.done > query_time || o.done < query_time - 10s) continue;
        (o.pool == "canary" ? canary_window : stable_window).push_back(o.ms);
    }
    std::vector<double> generated_canary;
    {
        std::lock_guard lk(canary.mu);
        generated_canary = canary.generated_ms;
    }
    ASSERT_GE(canary_window.size(), 200u) << "too little canary traffic for a p99";
    ASSERT_GE(stable_window.size(), 200u);
    const double true_canary_p99 = exact_quantile(canary_window, 0.99);
    const double true_stable_p99 = exact_quantile(stable_window, 0.99);
    const double gen_canary_p99 = exact_quantile(generated_canary, 0.99);
    const double prom_canary_ms = q.by_pool["canary"] * 1000;
    const double prom_stable_ms = q.by_pool["stable"] * 1000;
    std::string summary = "prometheus p99: canary " + std::to_string(prom_canary_ms) + " ms, stable " +
                          std::to_string(prom_stable_ms) + " ms; measured p99 in the window: canary " +
                          std::to_string(true_canary_p99) + " ms (" + std::to_string(canary_window.size()) +
                          " requests), stable " + std::to_string(true_stable_p99) + " ms (" +
                          std::to_string(stable_window.size()) + "); generated canary p99 " +
                          std::to_string(gen_canary_p99) + " ms";
    std::cout << "[ metrics  ] " << summary << std::endl;

    // Compared with what clients measured in the same window, not with fixed
    // numbers: on a loaded 2-core machine queueing moves every latency, but
    // the proxy's own p99 can neither fall below what the upstream took nor
    // rise (much) above what its clients saw.
    EXPECT_NEAR(prom_canary_ms, true_canary_p99, 0.25 * true_canary_p99) << summary;
    EXPECT_GT(prom_canary_ms, 0.8 * gen_canary_p99) << summary;
    EXPECT_GT(prom_canary_ms, prom_stable_ms) << summary;
    EXPECT_GT(prom_stable_ms, 0.5) << summary;
    EXPECT_LT(prom_stable_ms, 1.25 * true_stable_p99 + 1.0) << summary;
    EXPECT_GT(canary_all, 0u);

    EXPECT_LT(Clock::now() - test_start, 60s) << "the test must stay under 60 s";
}

}  // namespace
}  // namespace weir_it::metrics
