// Helpers for the downstream HTTP/2 tests: the listener's `http2` key in a
// generated config, the frame-level Python client (tests/support/h2_client.py,
// python3-h2's hpack and hyperframe) run in the foreground or while the test
// does something else, curl and h2load run and their reports read, and a
// well-behaved bystander that keeps fetching over h2c while another client
// misbehaves.
#pragma once

#include "harness.hpp"
#include "metrics_support.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace weir_it::h2 {

namespace json = boost::json;

// `yaml` (as ConfigSpec writes it) with `http2: on` on its first listener.
std::string with_http2(const std::string& yaml, bool on = true);
// A ConfigSpec's YAML with `http2: on` on its listener.
inline std::string with_http2(const ConfigSpec& c, bool on = true) { return with_http2(c.yaml(), on); }

// ---------------------------------------------------------------- the Python client

// What tests/support/h2_client.py reported (its JSON object; see the script's doc).
struct H2Report {
    int exit_code = -1;
    std::string out;  // stdout as written
    std::string err;  // stderr (a traceback, if any)
    json::value v;    // the parsed object (null if stdout was not JSON)

    bool ok() const { return exit_code == 0 && v.is_object() && !v.as_object().contains("error"); }
    std::string describe() const;

    bool handshake() const;
    bool closed() const;
    std::optional<double> closed_t() const;
    // Every GOAWAY received, in order.
    std::vector<json::object> goaways() const;
    // The first GOAWAY's error code, nullopt if none came.
    std::optional<std::uint32_t> first_goaway_code() const;
    // The server's first SETTINGS value `name` (e.g. "MAX_CONCURRENT_STREAMS").
    std::optional<std::uint64_t> setting(const std::string& name) const;
    // Stream `id`'s report (null if the script saw nothing of it).
    json::value stream(std::int64_t id) const;
    std::optional<std::int64_t> number(const std::string& field) const;
};

// The value of a stream report's field as a number (nullopt if null or absent).
std::optional<std::int64_t> stream_number(const json::value& stream, const char* field);
// A stream's response header fields [[name, value]...] by lower-case name, every value.
std::vector<std::string> stream_header(const json::value& stream, const std::string& name);
std::string stream_body(const json::value& stream);

// Runs `h2_client.py mode --port port args...` with /usr/bin/python3.
H2Report run_h2_client(const std::string& mode, std::uint16_t port, const std::vector<std::string>& args = {},
                       Millis timeout = 60s);
// The same, on a thread: the test waits for the upstream to see the request,
// signals Weir, scrapes, ... and then takes the report with .get().
std::future<H2Report> start_h2_client(const std::string& mode, std::uint16_t port,
                                      const std::vector<std::string>& args = {}, Millis timeout = 60s);

// ---------------------------------------------------------------- curl and h2load

struct CurlResult {
    int exit_code = -1;
    int status = 0;
    std::string http_version;  // curl's %{http_version}: "1.1", "2"
    std::string body;          // stdout without the -w trailer (unless -o was given)
    std::string err;
    std::string describe() const;
};

// curl -sS `args` URL, writing "\n<status> <version>" at the end of stdout.
CurlResult curl(const std::vector<std::string>& args, const std::string& url, Millis timeout = 30s);
// GET http://127.0.0.1:port`target` with --http2-prior-knowledge.
CurlResult curl_h2c(std::uint16_t port, const std::string& target = "/", std::vector<std::string> extra = {});

struct H2loadResult {
    int exit_code = -1;
    std::string out;
    std::string protocol;  // "Application protocol: h2c"
    long total = -1, succeeded = -1, failed = -1, errored = -1, timeout = -1;
    long status_2xx = -1, status_3xx = -1, status_4xx = -1, status_5xx = -1;
    std::string describe() const;
};

H2loadResult h2load(const std::vector<std::string>& args, Millis timeout = 180s);

// ---------------------------------------------------------------- the bystander

// A well-behaved client fetching `target` with curl --http2-prior-knowledge
// (a fresh h2c connection each time) in a loop, on its own thread, until
// stop(). Every answer should be a 200 over HTTP/2.
class Bystander {
public:
    Bystander(std::uint16_t port, std::string target = "/bystander");
    ~Bystander();
    Bystander(const Bystander&) = delete;
    Bystander& operator=(const Bystander&) = delete;
    // Waits until at least `n` fetches finished (5 s each).
    bool wait_fetches(int n, Millis timeout = 30s) const;
    void stop();
    int ok() const { return ok_.load(); }
    int failed() const { return failed_.load(); }
    std::string first_failure() const;

private:
    std::uint16_t port_;
    std::string target_;
    std::atomic<bool> stop_{false};
    std::atomic<int> ok_{0};
    std::atomic<int> failed_{0};
    mutable std::mutex mu_;
    std::string first_failure_;
    std::thread thread_;
};

// ---------------------------------------------------------------- counting

// Waits until `count()` has not changed for `quiet` (bounded by `timeout`),
// and returns its value then: requests already on their way are counted.
std::size_t settled_count(const std::function<std::size_t()>& count, Millis quiet = 500ms, Millis timeout = 10s);

}  // namespace weir_it::h2
