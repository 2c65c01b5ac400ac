// A Python script from tests/support/ run as a child process of the test: a
// backend or client that prints its port on stdout ("port N", or the number
// alone on its line) once it serves. Its output is read as it comes, so tests
// count the lines it logs (calls answered, connections seen, ...) and wait
// for them.
#pragma once

#include "wire.hpp"

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace weir_it {

struct ScriptOptions {
    // Its stderr joins the captured output (for scripts that log there);
    // otherwise it goes to the test's stderr, where a traceback shows up.
    bool capture_stderr = false;
    // Asked to stop by SIGTERM (scripts that handle it); otherwise by closing
    // its stdin, which the script watches.
    bool stop_by_sigterm = false;
    // How long it has to exit once asked, before SIGKILL.
    Millis grace = std::chrono::seconds(10);
};

class ScriptProcess {
public:
    // Runs Debian's python3 on tests/support/`script` with `args` and waits
    // for its port line, or for its output to end (it exited, or it is a
    // client that prints no port and ends with an "EOF" line).
    ScriptProcess(const std::string& script, std::vector<std::string> args, ScriptOptions options = {});
    ~ScriptProcess();
    ScriptProcess(const ScriptProcess&) = delete;
    ScriptProcess& operator=(const ScriptProcess&) = delete;

    bool started() const { return port_ != 0; }
    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    pid_t pid() const { return pid_; }
    // SIGKILL, then reaped: its sockets close as the kernel tears them down.
    void kill();

    std::string output() const;
    // Its output's lines (the last one possibly still being written).
    std::vector<std::string> lines() const;
    // Lines of its output that start with `prefix`.
    int lines_starting(const std::string& prefix) const;
    // True once `n` lines start with `prefix`, false if `timeout` passes first.
    bool wait_lines(const std::string& prefix, int n, Millis timeout) const;

private:
    void read_output();
    int count_locked(const std::string& prefix) const;

    ScriptOptions options_;
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    std::uint16_t port_ = 0;
    bool ended_ = false;  // its output ended, or said "EOF"
    std::thread reader_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::string out_;
};

}  // namespace weir_it
