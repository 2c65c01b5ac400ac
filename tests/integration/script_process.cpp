#include "script_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

extern char** environ;

#ifndef WEIR_SOURCE_DIR
#error "WEIR_SOURCE_DIR must be defined by the build"
#endif

namespace weir_it {

namespace {

// Debian's python3, which has python3-grpcio, python3-h2 and
// python3-websockets (a python3 earlier on PATH, e.g. a pyenv one, may not).
const char* kPython = "/usr/bin/python3";

// The port a line announces: "port N", or N alone on the line; 0 if none.
std::uint16_t port_in(const std::string& line) {
    if (line.rfind("port ", 0) == 0) return static_cast<std::uint16_t>(std::atoi(line.c_str() + 5));
    if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos)
        return static_cast<std::uint16_t>(std::atoi(line.c_str()));
    return 0;
}

}  // namespace

ScriptProcess::ScriptProcess(const std::string& script, std::vector<std::string> args, ScriptOptions options)
    : options_(options) {
    int in_pipe[2];
    int out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) return;
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        ::close(in_pipe[0]);
        ::close(in_pipe[1]);
        return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    if (options_.capture_stderr) posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 2);
    std::string python = kPython;
    std::string path = std::string(WEIR_SOURCE_DIR "/tests/support/") + script;
    std::vector<char*> argv = {python.data(), path.data()};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, kPython, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (rc != 0) {
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        return;
    }
    pid_ = pid;
    stdin_fd_ = in_pipe[1];
    stdout_fd_ = out_pipe[0];
    reader_ = std::thread([this] { read_output(); });
    std::unique_lock lk(mu_);
    // Generous: importing grpc on a loaded 2-core machine takes seconds.
    cv_.wait_for(lk, 60s, [&] { return port_ != 0 || ended_; });
}

void ScriptProcess::read_output() {
    std::size_t parsed = 0;  // out_ up to here is whole lines already looked at
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        std::lock_guard lk(mu_);
        if (n <= 0) {
            ended_ = true;
            cv_.notify_all();
            return;
        }
        out_.append(buf, static_cast<std::size_t>(n));
        for (std::size_t nl; port_ == 0 && !ended_ && (nl = out_.find('\n', parsed)) != std::string::npos;
             parsed = nl + 1) {
            const std::string line = out_.substr(parsed, nl - parsed);
            port_ = port_in(line);
            ended_ = line == "EOF";  // a client's last line: its results are all in
        }
        cv_.notify_all();
    }
}

void ScriptProcess::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
}

ScriptProcess::~ScriptProcess() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);  // how a script that watches its stdin is told to go
    if (pid_ > 0) {
        if (options_.stop_by_sigterm) ::kill(pid_, SIGTERM);
        const bool gone = wait_for(
            [&] {
                int status = 0;
                return ::waitpid(pid_, &status, WNOHANG) == pid_;
            },
            options_.grace, 20ms);
        if (!gone) kill();
    }
    if (reader_.joinable()) reader_.join();
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::string ScriptProcess::output() const {
    std::lock_guard lk(mu_);
    return out_;
}

std::vector<std::string> ScriptProcess::lines() const {
    std::vector<std::string> out;
    std::istringstream in(output());
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

int ScriptProcess::count_locked(const std::string& prefix) const {
    int n = 0;
    std::istringstream in(out_);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(prefix, 0) == 0) ++n;
    return n;
}

int ScriptProcess::lines_starting(const std::string& prefix) const {
    std::lock_guard lk(mu_);
    return count_locked(prefix);
}

bool ScriptProcess::wait_lines(const std::string& prefix, int n, Millis timeout) const {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return count_locked(prefix) >= n; });
}

}  // namespace weir_it
