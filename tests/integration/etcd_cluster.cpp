#include "etcd_cluster.hpp"

#include "cluster/etcd_json.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace weir_it {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using weir::cluster::base64_encode;

const char* kEtcd = "/usr/bin/etcd";

// Ports the OS picked as free, held open until all are picked so none
// repeats.
std::vector<std::uint16_t> free_ports(int n) {
    std::vector<int> fds;
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < n; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("etcd fixture: cannot pick a free port");
        fds.push_back(fd);
        ports.push_back(ntohs(a.sin_port));
    }
    for (int fd : fds) ::close(fd);
    return ports;
}

std::string dechunk(const std::string& body) {
    std::string out;
    std::size_t pos = 0;
    for (;;) {
        const auto eol = body.find("\r\n", pos);
        if (eol == std::string::npos) return out;
        const std::size_t n = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
        if (n == 0) return out;
        out.append(body, eol + 2, n);
        pos = eol + 2 + n + 2;
    }
}

std::int64_t int_of(const json::value& v) {
    if (v.is_string()) return std::atoll(v.get_string().c_str());
    if (v.is_int64()) return v.get_int64();
    return 0;
}

std::int64_t header_revision(const std::string& answer) {
    std::error_code ec;
    auto v = json::parse(answer, ec);
    if (ec || !v.is_object()) return 0;
    const auto* h = v.get_object().if_contains("header");
    if (!h || !h->is_object()) return 0;
    const auto* r = h->get_object().if_contains("revision");
    return r ? int_of(*r) : 0;
}

}  // namespace

int etcd_http_post(std::uint16_t port, const std::string& path, const std::string& body, std::string& answer,
                   const std::string& token, std::chrono::milliseconds timeout) {
    answer.clear();
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    timeval tv{};
    tv.tv_sec = static_cast<long>(timeout.count() / 1000);
    tv.tv_usec = static_cast<long>(timeout.count() % 1000 * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return 0;
    }
    std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n";
    if (!token.empty()) req += "Authorization: " + token + "\r\n";
    req += "\r\n" + body;
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        ::close(fd);
        return 0;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string raw;
    char buf[8192];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            raw.append(buf, static_cast<std::size_t>(n));
            if (std::chrono::steady_clock::now() > deadline) break;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    ::close(fd);
    const auto head_end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return 0;
    const int status = std::atoi(raw.c_str() + 9);
    const std::string head = raw.substr(0, head_end);
    answer = raw.substr(head_end + 4);
    if (head.find("Transfer-Encoding: chunked") != std::string::npos) answer = dechunk(answer);
    return status;
}

EtcdCluster::EtcdCluster(EtcdClusterOptions options) : options_(options) {
    // A port picked as free may be taken by someone else before etcd binds
    // it (tests run in parallel): a member that exits at once is retried on
    // fresh ports, twice at most.
    for (int attempt = 0;; ++attempt) {
        try {
            start_all();
            return;
        } catch (const std::runtime_error& e) {
            const bool exited = std::string(e.what()).find(" exited ") != std::string::npos;
            shutdown();  // nothing may outlive a failed start
            if (!exited || attempt == 2) throw;
        }
    }
}

void EtcdCluster::start_all() {
    members_.clear();
    initial_cluster_.clear();
    std::string tmpl = (std::filesystem::temp_directory_path() / "weir-etcd-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::logic_error("etcd fixture: mkdtemp failed");
    dir_ = tmpl;
    const auto ports = free_ports(2 * options_.members);
    for (int i = 0; i < options_.members; ++i) {
        Member m;
        m.name = "m" + std::to_string(i);
        m.client_port = ports[2 * i];
        m.peer_port = ports[2 * i + 1];
        if (!initial_cluster_.empty()) initial_cluster_ += ",";
        initial_cluster_ += m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
        members_.push_back(m);
    }
    std::vector<int> all;
    for (int i = 0; i < size(); ++i) {
        spawn(i, false);
        all.push_back(i);
    }
    wait_answers(all, "start");
}

EtcdCluster::~EtcdCluster() { shutdown(); }

void EtcdCluster::shutdown() {
    for (auto& m : members_) {
        if (m.pid <= 0) continue;
        ::kill(m.pid, SIGCONT);  // a frozen member cannot act on SIGTERM
        ::kill(m.pid, SIGTERM);
    }
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (auto& m : members_) {
        if (m.pid <= 0) continue;
        int status = 0;
        while (::waitpid(m.pid, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(m.pid, SIGKILL);
                ::waitpid(m.pid, &status, 0);
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        m.pid = -1;
    }
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        dir_.clear();
    }
}

std::vector<std::string> EtcdCluster::client_urls() const {
    std::vector<std::string> out;
    for (int i = 0; i < size(); ++i) out.push_back(client_url(i));
    return out;
}

std::string EtcdCluster::client_url(int i) const {
    return "http://127.0.0.1:" + std::to_string(members_[i].client_port);
}

void EtcdCluster::spawn(int i, bool existing) {
    Member& m = members_[i];
    const std::string client = "http://127.0.0.1:" + std::to_string(m.client_port);
    const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    const std::string interval = std::to_string(options_.progress_notify_interval.count()) + "ms";
    std::vector<std::string> args = {kEtcd,
                                     "--name", m.name,
                                     "--data-dir", dir_ + "/" + m.name + ".etcd",
                                     "--listen-client-urls", client,
                                     "--advertise-client-urls", client,
                                     "--listen-peer-urls", peer,
                                     "--initial-advertise-peer-urls", peer,
                                     "--initial-cluster", initial_cluster_,
                                     "--initial-cluster-state", existing ? "existing" : "new",
                                     "--initial-cluster-token", "weir-test-" + std::to_string(::getpid()),
                                     "--heartbeat-interval", "50",
                                     "--election-timeout", "500",
                                     "--logger", "zap",
                                     "--log-outputs", "stderr",
                                     "--log-level", "error",
                                     "--experimental-watch-progress-notify-interval", interval};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = dir_ + "/" + m.name + ".log";
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Only async-signal-safe calls until exec.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        ::execv(kEtcd, argv.data());
        ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    if (pid < 0) throw std::runtime_error("etcd fixture: fork failed");
    m.pid = pid;
    m.frozen = false;
}

std::string EtcdCluster::token_for(int i) {
    if (auth_user_.empty()) return {};
    std::string answer;
    const json::object req{{"name", auth_user_}, {"password", auth_password_}};
    if (etcd_http_post(members_[i].client_port, "/v3/auth/authenticate", json::serialize(req), answer) != 200)
        return {};
    std::error_code ec;
    auto v = json::parse(answer, ec);
    if (ec || !v.is_object() || !v.get_object().contains("token")) return {};
    return std::string(v.get_object().at("token").as_string());
}

bool EtcdCluster::answers(int i) {
    const Member& m = members_[i];
    if (m.pid <= 0 || m.frozen) return false;
    std::string answer;
    const int status = etcd_http_post(m.client_port, "/v3/kv/range", R"({"key":"AA=="})", answer, token_for(i), 1s);
    return status == 200 && answer.find("\"header\"") != std::string::npos;
}

void EtcdCluster::wait_answers(const std::vector<int>& which, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    for (int i : which) {
        while (!answers(i)) {
            int status = 0;
            if (members_[i].pid > 0 && ::waitpid(members_[i].pid, &status, WNOHANG) == members_[i].pid) {
                members_[i].pid = -1;
                throw std::runtime_error("etcd fixture: member " + members_[i].name + " exited during " + what +
                                         "; its log ends:\n" + log_tail(i));
            }
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("etcd fixture: member " + members_[i].name + " did not answer within " +
                                         std::to_string(options_.start_timeout.count()) + " ms of " + what +
                                         "; its log ends:\n" + log_tail(i));
            std::this_thread::sleep_for(50ms);
        }
    }
}

std::string EtcdCluster::log_tail(int i) const {
    std::ifstream in(dir_ + "/" + members_[i].name + ".log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
}

void EtcdCluster::stop_member(int i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    int status = 0;
    ::waitpid(m.pid, &status, 0);
    m.pid = -1;
    m.frozen = false;
}

void EtcdCluster::start_member(int i) {
    if (members_[i].pid > 0) return;
    spawn(i, true);
    wait_answers({i}, "restart");
}

namespace {

// True once every thread of `pid` is stopped ('T' in /proc/PID/task/*/stat).
// SIGSTOP takes effect only when one of the target's threads picks it up: on
// a loaded machine a thread already running may still serve a request sent
// just after kill() returned, which a test taking "frozen" literally would
// misread.
bool all_threads_stopped(pid_t pid) {
    std::error_code ec;
    const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
    bool any = false;
    for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
        std::ifstream in(t.path() / "stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto close = stat.rfind(')');
        if (close == std::string::npos || close + 2 >= stat.size()) continue;
        if (stat[close + 2] != 'T' && stat[close + 2] != 't') return false;
        any = true;
    }
    return any && !ec;
}

}  // namespace

void EtcdCluster::freeze(int i) {
    if (members_[i].pid <= 0) return;
    ::kill(members_[i].pid, SIGSTOP);
    members_[i].frozen = true;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!all_threads_stopped(members_[i].pid)) {
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("etcd fixture: member " + members_[i].name + " did not stop within 5 s of SIGSTOP");
        std::this_thread::sleep_for(1ms);
    }
}

void EtcdCluster::thaw(int i) {
    if (members_[i].pid <= 0) return;
    ::kill(members_[i].pid, SIGCONT);
    members_[i].frozen = false;
}

void EtcdCluster::freeze_all() {
    for (int i = 0; i < size(); ++i) freeze(i);
}

void EtcdCluster::thaw_all() {
    for (int i = 0; i < size(); ++i) thaw(i);
}

std::string EtcdCluster::post_any(const std::string& path, const std::string& body) {
    std::string last;
    for (int attempt = 0; attempt < 50; ++attempt) {
        for (int i = 0; i < size(); ++i) {
            if (members_[i].pid <= 0 || members_[i].frozen) continue;
            std::string answer;
            const int status = etcd_http_post(members_[i].client_port, path, body, answer, token_for(i));
            if (status == 200) return answer;
            last = std::to_string(status) + " " + answer;
        }
        std::this_thread::sleep_for(100ms);  // e.g. an election in progress
    }
    throw std::runtime_error("etcd fixture: POST " + path + " failed on every member: " + last);
}

std::int64_t EtcdCluster::revision() { return header_revision(post_any("/v3/kv/range", R"({"key":"AA=="})")); }

std::int64_t EtcdCluster::put(const std::string& key, const std::string& value) {
    const json::object req{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
    return header_revision(post_any("/v3/kv/put", json::serialize(req)));
}

void EtcdCluster::compact(std::int64_t revision) {
    const json::object req{{"revision", std::to_string(revision)}, {"physical", true}};
    post_any("/v3/kv/compaction", json::serialize(req));
}

void EtcdCluster::enable_auth(const std::string& user, const std::string& password) {
    post_any("/v3/auth/role/add", R"({"name":"root"})");
    std::vector<std::string> users = {"root"};
    if (user != "root") users.push_back(user);
    for (const auto& u : users) {
        post_any("/v3/auth/user/add", json::serialize(json::object{{"name", u}, {"password", password}}));
        post_any("/v3/auth/user/grant", json::serialize(json::object{{"user", u}, {"role", "root"}}));
    }
    post_any("/v3/auth/enable", "{}");
    auth_user_ = "root";
    auth_password_ = password;
}

std::vector<std::string> shared_etcd() {
    if (const char* env = std::getenv("WEIR_TEST_ETCD"); env && *env) {
        std::vector<std::string> out;
        std::stringstream ss(env);
        for (std::string url; std::getline(ss, url, ',');)
            if (!url.empty()) out.push_back(url);
        return out;
    }
    static std::mutex mu;
    static std::unique_ptr<EtcdCluster> cluster;
    std::lock_guard lk(mu);
    if (!cluster) cluster = std::make_unique<EtcdCluster>();
    return cluster->client_urls();
}

std::string unique_etcd_prefix(const std::string& name) {
    static std::atomic<int> n{0};
    return "/weir-test/" + name + "/" + std::to_string(::getpid()) + "-" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007) + "-" +
           std::to_string(n++) + "/";
}

}  // namespace weir_it
