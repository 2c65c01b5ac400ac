// The real `weir` binary as a child process: config written to a fresh temp
// dir, stderr captured to a file, ports read from its "listening" log lines.
// Killed (SIGKILL) on destruction if still running.
#pragma once

#include "wire.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace weir_it {

// ---------------------------------------------------------------- config

struct EndpointSpec {
    std::string address;
    double weight = 1;
};

struct PoolSpec {
    std::string name;
    std::vector<EndpointSpec> endpoints;
    std::string connect_timeout = "1s";
    std::string response_timeout = "2s";
    int max_idle_per_endpoint = 16;
};

struct RouteSpec {
    std::string name = "web";
    std::string host = "*";
    std::string path_prefix = "/";
    std::vector<std::pair<std::string, double>> split;
    // Tunnel keys, written only when set: the protocol tokens the route lets
    // through an Upgrade (`upgrade: [websocket]`; an empty list is `[]`), and
    // the tunnel timeouts as YAML durations ("1s", "10m").
    std::optional<std::vector<std::string>> upgrade;
    std::string tunnel_idle_timeout;
    std::string max_tunnel_age;
};

// `v` as operator<< writes it (90, 12.5): numbers in the generated YAML.
std::string number_text(double v);

struct ConfigSpec {
    int workers = 2;
    std::string drain_timeout = "5s";
    std::uint64_t max_header_bytes = 8192;
    std::uint64_t max_body_bytes = 0;
    std::string header_timeout = "2s";
    std::string idle_timeout = "5s";
    std::uint64_t max_connections = 0;  // 0: not written (the default applies)
    std::string listener_tls;           // the listener's `tls` value in YAML; empty: plain TCP
    std::vector<PoolSpec> pools;
    std::vector<RouteSpec> routes;

    std::string yaml() const;
    // One pool "stable" with these endpoints behind one catch-all route.
    static ConfigSpec single(std::vector<std::string> addresses);
    static ConfigSpec single(const std::string& address) { return single(std::vector<std::string>{address}); }
};

// ---------------------------------------------------------------- process

std::string make_temp_dir();
// A temp dir removed with its contents at scope exit.
struct TempDir {
    std::string path = make_temp_dir();
    TempDir() = default;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();
};
void write_file(const std::string& path, const std::string& text);
// Writes `path` atomically (a temp file in the same directory, then rename):
// Weir's file watch never sees it half-written.
void write_file_atomic(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);
// The file's lines, without their newlines (none if it cannot be read).
std::vector<std::string> lines_of(const std::string& path);

// How the child is started, beyond its arguments.
struct SpawnOptions {
    // RLIMIT_NOFILE {soft, hard} set in the child before exec.
    std::optional<std::pair<std::uint64_t, std::uint64_t>> nofile;
};

class WeirProcess {
public:
    explicit WeirProcess(const std::string& yaml, std::vector<std::string> extra_args = {}, SpawnOptions options = {});
    ~WeirProcess();
    WeirProcess(const WeirProcess&) = delete;
    WeirProcess& operator=(const WeirProcess&) = delete;

    pid_t pid() const { return pid_; }
    std::uint16_t port(const std::string& listener = "public") const;
    std::uint16_t admin_port() const { return admin_port_; }
    const std::string& config_path() const { return config_path_; }
    const std::string& dir() const { return dir_; }

    void signal(int sig);
    bool running();
    // Exit code once the process ends within `timeout` (128+N if killed by signal N).
    std::optional<int> wait_exit(Millis timeout);
    std::string log() const;
    // Resident set size from /proc/PID/status, in KiB (-1 if unavailable).
    long rss_kib() const;
    // Waits until a line containing `needle` appears in the log.
    bool wait_log(const std::string& needle, Millis timeout = 5s) const;

private:
    std::string dir_;
    std::string config_path_;
    std::string log_path_;
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::map<std::string, std::uint16_t> ports_;
    std::uint16_t admin_port_ = 0;
};

// The port at the end of the (first, or with `last` the last) complete log
// line containing `marker`, e.g. "listener public listening on 127.0.0.1:PORT".
std::optional<std::uint16_t> logged_port(const std::string& log, const std::string& marker, bool last = false);

// ---------------------------------------------------------------- one-shot commands

struct CommandResult {
    int exit_code = -1;  // -1: did not finish in time (killed)
    std::string out;
    std::string err;
};

// Runs the weir binary with `args`, capturing stdout and stderr.
CommandResult run_weir(const std::vector<std::string>& args, Millis timeout = 10s);

}  // namespace weir_it
