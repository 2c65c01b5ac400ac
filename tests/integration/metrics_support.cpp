#include "metrics_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

namespace weir_it::metrics {

// ---------------------------------------------------------------- exposition

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
bool label_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool label_char(char c) { return label_start(c) || (c >= '0' && c <= '9'); }

std::optional<double> parse_value(const std::string& s) {
    if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
    if (s == "-Inf") return -std::numeric_limits<double>::infinity();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || errno == ERANGE) return std::nullopt;
    // strtod also takes "inf", "nan", hex floats: the format does not.
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return std::nullopt;
    }
    return v;
}

// Parses one sample line; returns an error text or "".
std::string parse_sample(const std::string& line, Sample& s) {
    std::size_t i = 0;
    if (i >= line.size() || !name_start(line[i])) return "bad metric name";
    while (i < line.size() && name_char(line[i])) ++i;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
        ++i;
        for (;;) {
            if (i < line.size() && line[i] == '}') {
                ++i;
                break;
            }
            std::size_t b = i;
            if (i >= line.size() || !label_start(line[i])) return "bad label name";
            while (i < line.size() && label_char(line[i])) ++i;
            std::string lname = line.substr(b, i - b);
            if (i >= line.size() || line[i] != '=') return "expected '=' after label " + lname;
            ++i;
            if (i >= line.size() || line[i] != '"') return "expected '\"' for label " + lname;
            ++i;
            std::string lvalue;
            bool closed = false;
            while (i < line.size()) {
                char c = line[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\') {
                    if (i >= line.size()) return "dangling escape";
                    char e = line[i++];
                    if (e == 'n') lvalue += '\n';
                    else if (e == '\\' || e == '"') lvalue += e;
                    else return std::string("bad escape \\") + e;
                } else {
                    lvalue += c;
                }
            }
            if (!closed) return "unterminated label value";
            if (!s.labels.emplace(lname, lvalue).second) return "duplicate label " + lname;
            if (i < line.size() && line[i] == ',') ++i;
            else if (i < line.size() && line[i] == '}') continue;
            else return "expected ',' or '}'";
        }
    }
    if (i >= line.size() || line[i] != ' ') return "expected a space before the value";
    while (i < line.size() && line[i] == ' ') ++i;
    auto sp = line.find(' ', i);
    s.raw_value = line.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
    auto v = parse_value(s.raw_value);
    if (!v) return "bad value '" + s.raw_value + "'";
    s.value = *v;
    if (sp != std::string::npos) {
        std::string ts = line.substr(sp + 1);
        if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) return "bad timestamp";
    }
    return "";
}

}  // namespace

Exposition parse_exposition(const std::string& text) {
    Exposition e;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    auto error = [&](const std::string& what) {
        e.errors.push_back("line " + std::to_string(n) + ": " + what + ": " + line);
    };
    while (std::getline(in, line)) {
        ++n;
        if (line.empty()) continue;
        if (line[0] == '#') {
            std::istringstream l(line.substr(1));
            std::string kw, name;
            l >> kw >> name;
            if (kw == "TYPE") {
                std::string type;
                l >> type;
                static const std::set<std::string> known = {"counter", "gauge", "histogram", "summary", "untyped"};
                if (!known.count(type)) error("unknown type");
                if (!e.types.emplace(name, type).second) error("second TYPE line");
            } else if (kw == "HELP") {
                auto at = line.find(name);
                std::string help = at + name.size() < line.size() ? line.substr(at + name.size() + 1) : "";
                if (!e.helps.emplace(name, help).second) error("second HELP line");
            }
            continue;
        }
        Sample s;
        s.line = n;
        auto err = parse_sample(line, s);
        if (!err.empty()) {
            error(err);
            continue;
        }
        e.samples.push_back(std::move(s));
    }
    return e;
}

std::vector<Sample> Exposition::find(const std::string& name, const Labels& subset) const {
    std::vector<Sample> out;
    for (const auto& s : samples) {
        if (s.name != name) continue;
        bool ok = true;
        for (const auto& [k, v] : subset) {
            auto it = s.labels.find(k);
            if (it == s.labels.end() || it->second != v) ok = false;
        }
        if (ok) out.push_back(s);
    }
    return out;
}

std::optional<double> Exposition::value(const std::string& name, const Labels& labels) const {
    for (const auto& s : samples) {
        if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
}

double Exposition::sum(const std::string& name, const Labels& subset) const {
    double t = 0;
    for (const auto& s : find(name, subset)) t += s.value;
    return t;
}

std::set<std::set<std::string>> Exposition::label_sets(const std::string& name) const {
    std::set<std::set<std::string>> out;
    for (const auto& s : samples) {
        if (s.name != name) continue;
        std::set<std::string> names;
        for (const auto& [k, v] : s.labels) names.insert(k);
        out.insert(names);
    }
    return out;
}

std::string describe(const Labels& labels) {
    std::string out = "{";
    for (const auto& [k, v] : labels) out += (out.size() > 1 ? "," : "") + k + "=\"" + v + "\"";
    return out + "}";
}

// ---------------------------------------------------------------- processes

namespace {

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

std::vector<char*> make_argv(std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return argv;
}

}  // namespace

RunResult run_command(const std::vector<std::string>& args_in, const std::string& input, Millis timeout) {
    RunResult r;
    std::vector<std::string> args = args_in;
    std::vector<char*> argv = make_argv(args);
    int in_pipe[2], out_pipe[2], err_pipe[2];
    // stdin is a socket pair so that writing after the child went away is
    // EPIPE (MSG_NOSIGNAL), not a SIGPIPE that kills the test process.
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pipe) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(err_pipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        // Only async-signal-safe calls: the test process has threads.
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    int in_fd = in_pipe[1], out_fd = out_pipe[0], err_fd = err_pipe[0];
    std::size_t written = 0;
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    auto deadline = Clock::now() + timeout;
    bool timed_out = false;
    while (out_fd >= 0 || err_fd >= 0) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p[3];
        int n = 0;
        int idx_in = -1, idx_out = -1, idx_err = -1;
        if (in_fd >= 0) p[idx_in = n++] = {in_fd, POLLOUT, 0};
        if (out_fd >= 0) p[idx_out = n++] = {out_fd, POLLIN, 0};
        if (err_fd >= 0) p[idx_err = n++] = {err_fd, POLLIN, 0};
        int pr = ::poll(p, static_cast<nfds_t>(n), static_cast<int>(std::min<long>(left, 100)));
        if (pr < 0 && errno != EINTR) break;
        if (pr <= 0) continue;
        if (idx_in >= 0 && p[idx_in].revents) {
            ssize_t w = ::send(in_fd, input.data() + written, input.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) written += static_cast<std::size_t>(w);
            if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // EPIPE: reader gone
            if (written >= input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
        char buf[8192];
        for (auto [idx, fd, sink] : {std::tuple{idx_out, &out_fd, &r.out}, std::tuple{idx_err, &err_fd, &r.err}}) {
            if (idx < 0 || !p[idx].revents) continue;
            ssize_t got = ::read(*fd, buf, sizeof buf);
            if (got > 0) sink->append(buf, static_cast<std::size_t>(got));
            else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                ::close(*fd);
                *fd = -1;
            }
        }
    }
    for (int fd : {in_fd, out_fd, err_fd})
        if (fd >= 0) ::close(fd);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = timed_out ? -1 : decode_status(status);
    return r;
}

ChildProcess::ChildProcess(const std::vector<std::string>& args_in, const std::string& log_path) : log_path_(log_path) {
    std::vector<std::string> args = args_in;
    std::vector<char*> argv = make_argv(args);
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0) throw std::runtime_error("cannot open " + log_path);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(log);
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !exit_code_) stop(5s);
}

std::optional<int> ChildProcess::reap(Millis timeout) {
    if (exit_code_) return exit_code_;
    auto deadline = Clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_code_ = decode_status(status);
            return exit_code_;
        }
        if (r < 0 && errno != EINTR) return std::nullopt;
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(10ms);
    }
}

bool ChildProcess::running() { return !reap(0ms); }

std::optional<int> ChildProcess::stop(Millis grace) {
    if (exit_code_) return exit_code_;
    ::kill(pid_, SIGTERM);
    if (auto c = reap(grace)) return c;
    ::kill(pid_, SIGKILL);
    reap(5s);
    return std::nullopt;
}

std::string ChildProcess::log() const { return read_file(log_path_); }

// ---------------------------------------------------------------- HTTP

Response http_get(std::uint16_t port, const std::string& target, Millis timeout) {
    RawClient c(port, timeout);
    if (!c.connected()) {
        Response r;
        r.error = "connect failed";
        return r;
    }
    return c.request("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                     "\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}

std::string url_encode(const std::string& s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

double exact_quantile(std::vector<double> values, double q) {
    if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(values.begin(), values.end());
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    if (rank == 0) rank = 1;
    return values[std::min(rank, values.size()) - 1];
}

}  // namespace weir_it::metrics
