#include "weir_process.hpp"

#include <sys/resource.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#ifndef WEIR_BINARY
#error "WEIR_BINARY must be defined by the build"
#endif

namespace weir_it {

// ---------------------------------------------------------------- config

std::string number_text(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}


std::string ConfigSpec::yaml() const {
    std::ostringstream y;
    y << "workers: " << workers << "\n";
    y << "drain_timeout: " << drain_timeout << "\n";
    y << "listeners: [{name: public, address: \"127.0.0.1:0\"";
    if (!listener_tls.empty()) y << ", tls: " << listener_tls;
    y << "}]\n";
    y << "admin: {address: \"127.0.0.1:0\"}\n";
    y << "limits: {max_header_bytes: " << max_header_bytes << ", max_body_bytes: " << max_body_bytes
      << ", header_timeout: " << header_timeout << ", idle_timeout: " << idle_timeout;
    if (max_connections > 0) y << ", max_connections: " << max_connections;
    y << "}\n";
    y << "pools:\n";
    for (const auto& p : pools) {
        y << "  - name: " << p.name << "\n";
        y << "    endpoints:\n";
        for (const auto& e : p.endpoints)
            y << "      - {address: \"" << e.address << "\", weight: " << number_text(e.weight) << "}\n";
        y << "    upstream: {connect_timeout: " << p.connect_timeout << ", response_timeout: " << p.response_timeout
          << ", max_idle_per_endpoint: " << p.max_idle_per_endpoint << "}\n";
    }
    y << "routes:\n";
    for (const auto& r : routes) {
        y << "  - name: " << r.name << "\n";
        y << "    match: {host: \"" << r.host << "\", path_prefix: " << r.path_prefix << "}\n";
        y << "    split: {";
        for (std::size_t i = 0; i < r.split.size(); ++i)
            y << (i ? ", " : "") << r.split[i].first << ": " << number_text(r.split[i].second);
        y << "}\n";
        if (r.upgrade) {
            y << "    upgrade: [";
            for (std::size_t i = 0; i < r.upgrade->size(); ++i) y << (i ? ", " : "") << (*r.upgrade)[i];
            y << "]\n";
        }
        if (!r.tunnel_idle_timeout.empty()) y << "    tunnel_idle_timeout: " << r.tunnel_idle_timeout << "\n";
        if (!r.max_tunnel_age.empty()) y << "    max_tunnel_age: " << r.max_tunnel_age << "\n";
    }
    return y.str();
}

ConfigSpec ConfigSpec::single(std::vector<std::string> addresses) {
    ConfigSpec c;
    PoolSpec p;
    p.name = "stable";
    for (auto& a : addresses) p.endpoints.push_back({a, 1});
    c.pools.push_back(p);
    RouteSpec r;
    r.split = {{"stable", 1}};
    c.routes.push_back(r);
    return c;
}

// ---------------------------------------------------------------- files

std::string make_temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "weir-it-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + path);
}

void write_file_atomic(const std::string& path, const std::string& text) {
    std::string tmp = path + ".it-tmp";
    write_file(tmp, text);
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("rename to " + path + " failed");
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
}

namespace {

// The test's environment, plus (for a process given a descriptor limit) the
// UBSan suppression its sanitized build needs once descriptors run out.
std::vector<std::string> child_environment(const SpawnOptions& options) {
    std::vector<std::string> env;
    std::string ubsan = "UBSAN_OPTIONS=";
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry = *e;
        if (options.nofile && entry.rfind(ubsan, 0) == 0) {
            ubsan = entry + ":";
            continue;
        }
        env.push_back(std::move(entry));
    }
    if (options.nofile)
        env.push_back(ubsan + "suppressions=" WEIR_SOURCE_DIR "/tests/integration/fd_exhaustion.ubsan.supp");
    return env;
}

// fork + exec with stdout/stderr sent to files. Only async-signal-safe calls
// happen in the child: the test process has threads.
pid_t spawn(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path,
            const SpawnOptions& options = {}) {
    std::vector<char*> argv;
    std::string bin = WEIR_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = child_environment(options);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0 || err < 0) throw std::runtime_error("cannot open output files");
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out, 1);
        ::dup2(err, 2);
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        // Signals the test process ignores would stay ignored across exec.
        ::signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        if (options.nofile) {
            rlimit rl{static_cast<rlim_t>(options.nofile->first), static_cast<rlim_t>(options.nofile->second)};
            if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(126);
        }
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(out);
    ::close(err);
    if (pid < 0) throw std::runtime_error("fork failed");
    return pid;
}

std::optional<int> decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return std::nullopt;
}

}  // namespace

std::optional<std::uint16_t> logged_port(const std::string& log, const std::string& marker, bool last) {
    auto at = last ? log.rfind(marker) : log.find(marker);
    if (at == std::string::npos) return std::nullopt;
    auto eol = log.find('\n', at);
    if (eol == std::string::npos) return std::nullopt;  // line not complete yet
    std::string line = log.substr(at, eol - at);
    auto colon = line.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    return static_cast<std::uint16_t>(std::atoi(line.c_str() + colon + 1));
}

// ---------------------------------------------------------------- WeirProcess

WeirProcess::WeirProcess(const std::string& yaml, std::vector<std::string> extra_args, SpawnOptions options) {
    dir_ = make_temp_dir();
    config_path_ = dir_ + "/weir.yaml";
    log_path_ = dir_ + "/weir.log";
    write_file(config_path_, yaml);
    std::vector<std::string> args = {"run", "-c", config_path_};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = spawn(args, dir_ + "/weir.out", log_path_, options);

    // Ready when every listener line and the admin line have been logged.
    std::vector<std::string> listener_names;
    {
        // Names as written by ConfigSpec and most hand-written configs: "name: X" under listeners.
        std::istringstream in(yaml);
        std::string l;
        bool in_listeners = false;
        while (std::getline(in, l)) {
            if (l.rfind("listeners", 0) == 0) in_listeners = true;
            else if (!l.empty() && l[0] != ' ' && l[0] != '-') in_listeners = l.rfind("listeners", 0) == 0;
            if (!in_listeners) continue;
            std::size_t at = 0;
            while ((at = l.find("name:", at)) != std::string::npos) {
                at += 5;
                while (at < l.size() && (l[at] == ' ' || l[at] == '"')) ++at;
                std::size_t end = l.find_first_of(",}\" ", at);
                listener_names.push_back(l.substr(at, end == std::string::npos ? std::string::npos : end - at));
            }
        }
    }
    if (listener_names.empty()) listener_names.push_back("public");
    bool ready = wait_for(
        [&] {
            if (!running()) return true;
            std::string log = read_file(log_path_);
            for (const auto& n : listener_names) {
                auto p = logged_port(log, "listener " + n + " listening on ");
                if (!p) return false;
                ports_[n] = *p;
            }
            auto a = logged_port(log, "admin listening on ");
            if (!a) return false;
            admin_port_ = *a;
            return true;
        },
        10s, 10ms);
    if (!ready || exit_code_) {
        std::string why = exit_code_ ? "weir exited with " + std::to_string(*exit_code_) : "weir did not become ready";
        std::string log = read_file(log_path_);
        if (!exit_code_) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
            exit_code_ = decode_status(st);
        }
        throw std::runtime_error(why + "; log:\n" + log);
    }
}

WeirProcess::~WeirProcess() {
    if (!exit_code_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int st;
        ::waitpid(pid_, &st, 0);
    }
    std::error_code ec;
    if (!::getenv("WEIR_IT_KEEP")) std::filesystem::remove_all(dir_, ec);
}

std::uint16_t WeirProcess::port(const std::string& listener) const {
    auto it = ports_.find(listener);
    return it == ports_.end() ? 0 : it->second;
}

void WeirProcess::signal(int sig) {
    if (!exit_code_) ::kill(pid_, sig);
}

bool WeirProcess::running() {
    if (exit_code_) return false;
    int st;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        exit_code_ = decode_status(st);
        return false;
    }
    return true;
}

std::optional<int> WeirProcess::wait_exit(Millis timeout) {
    wait_for([&] { return !running(); }, timeout, 5ms);
    return exit_code_;
}

std::string WeirProcess::log() const { return read_file(log_path_); }

long WeirProcess::rss_kib() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    }
    return -1;
}

bool WeirProcess::wait_log(const std::string& needle, Millis timeout) const {
    return wait_for([&] { return log().find(needle) != std::string::npos; }, timeout, 10ms);
}

// ---------------------------------------------------------------- run_weir

CommandResult run_weir(const std::vector<std::string>& args, Millis timeout) {
    std::string dir = make_temp_dir();
    CommandResult r;
    pid_t pid = spawn(args, dir + "/out", dir + "/err");
    std::optional<int> code;
    wait_for(
        [&] {
            int st;
            if (::waitpid(pid, &st, WNOHANG) == pid) code = decode_status(st);
            return code.has_value();
        },
        timeout, 5ms);
    if (!code) {
        ::kill(pid, SIGKILL);
        int st;
        ::waitpid(pid, &st, 0);
    }
    r.exit_code = code.value_or(-1);
    r.out = read_file(dir + "/out");
    r.err = read_file(dir + "/err");
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return r;
}

}  // namespace weir_it
