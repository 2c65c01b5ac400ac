#include "grpc_health_support.hpp"

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

namespace weir_it::grpc_health {

namespace {

// Debian's python3, which has python3-grpcio and python3-h2 (a python3
// earlier on PATH, e.g. a pyenv one, may not).
const char* kPython = "/usr/bin/python3";

}  // namespace

ScriptBackend::ScriptBackend(const std::string& script, std::vector<std::string> args) {
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
    cv_.wait_for(lk, 60s, [&] { return port_ != 0 || out_.find("\nEOF") != std::string::npos; });
}

void ScriptBackend::read_output() {
    std::string partial;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        std::lock_guard lk(mu_);
        if (n <= 0) {
            out_ += "\nEOF";
            cv_.notify_all();
            return;
        }
        out_.append(buf, static_cast<std::size_t>(n));
        partial.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = partial.find('\n')) != std::string::npos) {
            const std::string line = partial.substr(0, nl);
            partial.erase(0, nl + 1);
            if (port_ == 0 && line.rfind("port ", 0) == 0)
                port_ = static_cast<std::uint16_t>(std::atoi(line.c_str() + 5));
        }
        cv_.notify_all();
    }
}

ScriptBackend::~ScriptBackend() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);  // the script exits when its stdin closes
    if (pid_ > 0) {
        const bool gone = wait_for(
            [&] {
                int status = 0;
                return ::waitpid(pid_, &status, WNOHANG) == pid_;
            },
            10s, 20ms);
        if (!gone) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    if (reader_.joinable()) reader_.join();
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

int ScriptBackend::lines_starting(const std::string& prefix) const {
    std::lock_guard lk(mu_);
    int n = 0;
    std::istringstream in(out_);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(prefix, 0) == 0) ++n;
    return n;
}

std::string ScriptBackend::output() const {
    std::lock_guard lk(mu_);
    return out_;
}

GrpcHealthBackend::GrpcHealthBackend(const std::string& status_file, const std::string& cert, const std::string& key)
    : ScriptBackend("grpc_health_backend.py",
                    cert.empty() ? std::vector<std::string>{status_file} : std::vector<std::string>{status_file, cert, key}) {}

H2cHttpBackend::H2cHttpBackend(const std::string& status_file)
    : ScriptBackend("h2c_http_backend.py", {status_file}) {}

GrpcHealthCalls::GrpcHealthCalls(const std::string& address, const std::string& service, int count)
    : ScriptBackend("grpc_health_client.py", {address, service, std::to_string(count)}) {}

}  // namespace weir_it::grpc_health
