// Helpers for the metrics integration tests (docs/metrics.md): a strict
// reader of the Prometheus text exposition format, a runner for external
// commands with stdin/stdout (promtool), a child process that is stopped with
// SIGTERM (a real Prometheus server), free loopback ports, plain HTTP GETs
// and URL encoding.
#pragma once

#include "harness.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace weir_it::metrics {

using Labels = std::map<std::string, std::string>;

struct Sample {
    std::string name;  // as written, e.g. weir_request_duration_seconds_bucket
    Labels labels;
    double value = 0;
    std::string raw_value;  // the value text as written
    int line = 0;
};

// A parsed text exposition (format 0.0.4). Anything the reader does not
// understand is recorded in `errors` (with its line number), never skipped.
struct Exposition {
    std::map<std::string, std::string> types;  // family -> counter|gauge|histogram|summary|untyped
    std::map<std::string, std::string> helps;
    std::vector<Sample> samples;
    std::vector<std::string> errors;

    // Samples named `name` whose labels include every pair of `subset`.
    std::vector<Sample> find(const std::string& name, const Labels& subset = {}) const;
    // The value of the one sample `name` with exactly `labels`; nullopt if none.
    std::optional<double> value(const std::string& name, const Labels& labels = {}) const;
    // Sum of the samples `name` whose labels include `subset` (0 if none).
    double sum(const std::string& name, const Labels& subset = {}) const;
    // The distinct label-name sets used by the samples named `name`.
    std::set<std::set<std::string>> label_sets(const std::string& name) const;
};

Exposition parse_exposition(const std::string& text);

std::string describe(const Labels& labels);

// ---------------------------------------------------------------- processes

struct RunResult {
    int exit_code = -1;  // -1: did not finish in time (killed); 128+N: killed by signal N
    std::string out;
    std::string err;
};

// Runs `argv` (argv[0] is a path) with `input` on stdin, capturing stdout and stderr.
RunResult run_command(const std::vector<std::string>& argv, const std::string& input, Millis timeout = 20s);

// A long-running child (e.g. prometheus) with stdout and stderr sent to `log_path`.
// Stopped with SIGTERM (SIGKILL after a grace period) on stop() or destruction.
class ChildProcess {
public:
    ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    // SIGTERM, then waits up to `grace`; SIGKILL if still running. Returns
    // the exit code (128+N if killed by signal N), nullopt if it had to be killed.
    std::optional<int> stop(Millis grace = 10s);
    std::string log() const;

private:
    std::optional<int> reap(Millis timeout);
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::string log_path_;
};

// A port on 127.0.0.1 that was free a moment ago (bound to 0, then closed).
inline std::uint16_t free_port() { return closed_port(); }

// ---------------------------------------------------------------- HTTP

// GET `target` on 127.0.0.1:port with Connection: close.
Response http_get(std::uint16_t port, const std::string& target, Millis timeout = 10s);
// Percent-encodes everything but unreserved characters (RFC 3986).
std::string url_encode(const std::string& s);

// Exact quantile (nearest rank, q in (0,1]) of `values` (copied and sorted).
double exact_quantile(std::vector<double> values, double q);

}  // namespace weir_it::metrics
