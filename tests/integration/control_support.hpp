// Helpers for the control-plane integration tests (hot reload, the
// admin API, auth, the state file), on top of the shared harness: a config
// writer with the control keys (state_file, admin token, extra listeners),
// an admin API client, JSON and Prometheus-text readers, a keep-alive load
// generator that counts errors and reconnects, and file helpers.
#pragma once

#include "harness.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace weir_it::control {

using SplitMap = std::map<std::string, double>;

// ---------------------------------------------------------------- config

// Two pools, "stable" and "canary", behind one catch-all route "web"; one
// line per setting so that tests can mutate single lines.
struct ControlConfig {
    int workers = 2;
    std::string drain_timeout = "5s";
    std::string stable;  // endpoint addresses
    std::string canary;
    std::vector<std::pair<std::string, double>> split = {{"stable", 90}, {"canary", 10}};
    std::string state_file;                    // "" = none
    std::string token_file;                    // "" = none
    std::string admin_address = "127.0.0.1:0";
    std::vector<std::string> extra_listeners;  // more listeners on 127.0.0.1:0
    std::string response_timeout = "10s";
    std::string idle_timeout = "30s";

    ControlConfig(std::string stable_address, std::string canary_address)
        : stable(std::move(stable_address)), canary(std::move(canary_address)) {}
    std::string yaml() const;
};

// "<dir>/weir.state.json"
std::string state_path(const TempDir& dir);
// The control config for pools at `stable` and `canary` with `split`, its
// state file in `dir` (state_path).
ControlConfig stateful_config(const TempDir& dir, std::string stable, std::string canary,
                              std::vector<std::pair<std::string, double>> split = {{"stable", 90}, {"canary", 10}});

// 1-based number of the first line containing `needle` (0 if none).
int line_of(const std::string& text, const std::string& needle);
// `text` with the first occurrence of `from` replaced by `to` (throws if absent).
std::string replace_once(std::string text, const std::string& from, const std::string& to);

// ---------------------------------------------------------------- files

bool file_exists(const std::string& path);
// Names (not paths) of the entries of `dir` that start with `prefix`.
std::vector<std::string> list_dir(const std::string& dir, const std::string& prefix = "");
std::size_t count_occurrences(const std::string& text, const std::string& needle);

// ---------------------------------------------------------------- JSON and metrics

// parse_json, json_number and metric_value come from admin_client.hpp.
using weir_it::json_number;
using weir_it::metric_value;
using weir_it::parse_json;

// The object `v[key]` read as pool -> weight; nullopt if absent or not numbers.
std::optional<SplitMap> split_from(const boost::json::value& v, const char* key);
std::string to_text(const SplitMap& split);
SplitMap split_map(const std::vector<std::pair<std::string, double>>& split);
// {"stable": 80, "canary": 20}
std::string split_body(const SplitMap& split);

// ---------------------------------------------------------------- admin client

class AdminClient {
public:
    explicit AdminClient(std::uint16_t port, std::string token = "") : port_(port), token_(std::move(token)) {}

    // One call on a fresh connection (Connection: close). `extra` is raw
    // header lines ending in CRLF. A body (or a PUT/POST/DELETE) gets a
    // Content-Length; the token is sent when `auth` and a token is set.
    Response call(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& extra = "", bool auth = true) const;
    Response get(const std::string& path) const { return call("GET", path); }
    Response put(const std::string& path, const std::string& body, const std::string& extra = "") const {
        return call("PUT", path, body, extra);
    }
    Response post(const std::string& path, const std::string& body = "") const { return call("POST", path, body); }
    Response del(const std::string& path, const std::string& extra = "") const {
        return call("DELETE", path, "", extra);
    }

    struct Route {
        int status = 0;
        std::string raw;
        SplitMap split;
        SplitMap file_split;
        bool override_ = false;
        std::uint64_t version = 0;
        std::string etag;
    };
    // GET /routes/{name}, parsed (status != 200 or unparsable: fields empty).
    Route route(const std::string& name = "web") const;
    // GET /metrics body.
    std::string metrics() const;
    // POST /reload: status and parsed body.
    std::pair<int, boost::json::value> reload() const;

    std::uint16_t port() const { return port_; }

private:
    std::uint16_t port_;
    std::string token_;
};

// ---------------------------------------------------------------- traffic

// Sends `n` GETs on one fresh keep-alive connection; counts answers by the
// fake upstream's name (the first word of the body); "error" counts failures.
// With `settle`, first waits up to 1 s (the contract: "within one second on every
// worker") for a request answered by that pool; the strict "very next
// request" promise is tested on its own (ControlAdmin.ApiSplit...).
std::map<std::string, int> sample_pools(std::uint16_t port, int n, const std::string& settle = "",
                                        const std::string& target = "/sample");
// Waits up to `timeout` for a request on `c` answered by `pool`.
bool settle_on(RawClient& c, const std::string& pool, Millis timeout = 1s);
// The pool (first word of the body) answering one request on `c`, or "error: ...".
std::string pool_of(RawClient& c, const std::string& target = "/");

// Several threads, each on its own keep-alive connection, sending GETs back
// to back. Any failed exchange is an error; any time a connection has to be
// re-opened (the proxy closed it or said Connection: close) is a reconnect.
class LoadGen {
public:
    LoadGen(std::uint16_t port, int threads, std::string target = "/load");
    ~LoadGen();
    LoadGen(const LoadGen&) = delete;
    LoadGen& operator=(const LoadGen&) = delete;

    struct Stats {
        std::uint64_t requests = 0;  // exchanges attempted
        std::uint64_t ok = 0;        // 2xx, complete
        std::uint64_t non2xx = 0;
        std::uint64_t errors = 0;      // incomplete / failed exchanges
        std::uint64_t reconnects = 0;  // connections re-opened after the proxy closed one
        std::map<std::string, std::uint64_t> by_pool;
        std::vector<std::string> samples;  // the first few failures, described
    };
    Stats stats() const;
    // Waits until at least `n` more requests completed than when called.
    bool wait_progress(std::uint64_t n, Millis timeout = 10s) const;
    void stop();

private:
    void run(int index);
    void record_failure(const std::string& what);

    std::uint16_t port_;
    std::string target_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    Stats stats_;
    std::vector<std::thread> threads_;
};

// "requests N, ok N, non-2xx N, errors N, reconnects N; by pool: ..." and the failure samples.
std::string describe(const LoadGen::Stats& s);

// ---------------------------------------------------------------- the weir process

// The port in the last "listener NAME listening on 127.0.0.1:PORT" line of the log.
std::optional<std::uint16_t> logged_listener_port(const std::string& log, const std::string& name);

// Replaces weir's config file by a symlink to `real_dir`/weir.yaml (absolute
// target, same content). The file watch sees the swap once (a reload of the
// same content, waited for here); afterwards rewriting the target is invisible
// to the watch, so only SIGHUP and POST /reload reload, and reload counts are
// exact. Returns the target path.
std::string detach_config(WeirProcess& weir, const std::string& real_dir, const std::string& yaml);

}  // namespace weir_it::control
