#include "health_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace weir_it::health {

namespace json = boost::json;

// ---------------------------------------------------------------- backend

Backend::Backend(std::string name, std::string health_path)
    : name_(std::move(name)), health_path_(std::move(health_path)) {
    start();
}

Backend::~Backend() { stop(); }

void Backend::start() {
    if (running_) return;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("Backend: socket failed");
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    // The same port again after a stop: retry briefly in case the kernel still holds it.
    bool bound = wait_for([&] { return ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0; }, 3s, 20ms);
    if (!bound || ::listen(fd, 512) != 0) {
        ::close(fd);
        throw std::runtime_error("Backend " + name_ + ": cannot listen on port " + std::to_string(port_) + ": " +
                                 std::strerror(errno));
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen_fd_ = fd;
    stopping_ = false;
    running_ = true;
    acceptor_ = std::thread([this, fd] { accept_loop(fd); });
}

void Backend::stop() {
    if (!running_) return;
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
        for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_fd_);
    listen_fd_ = -1;
    std::vector<std::thread> threads;
    {
        std::lock_guard lk(mu_);
        threads.swap(threads_);
    }
    for (auto& t : threads)
        if (t.joinable()) t.join();
    running_ = false;
}

std::size_t Backend::open_connections() const {
    std::lock_guard lk(mu_);
    return fds_.size();
}

void Backend::accept_loop(int listen_fd) {
    while (!stopping_) {
        pollfd p{listen_fd, POLLIN, 0};
        int r = ::poll(&p, 1, 20);
        if (r <= 0) continue;
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
            return;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::lock_guard lk(mu_);
        if (stopping_) {
            ::close(fd);
            return;
        }
        ++accepted_;
        fds_.insert(fd);
        threads_.emplace_back([this, fd] { serve(fd); });
    }
}

void Backend::serve(int fd) {
    Stream s(fd);
    bool reset = false;
    for (;;) {
        std::string head;
        if (s.read_head(head) != IoResult::ok) break;
        std::string line;
        Headers headers;
        if (!parse_head(head, line, headers)) break;
        std::string method, target, version;
        split_start_line(line, method, target, version);
        if (headers.has("content-length")) {
            const auto n = std::strtoull(headers.get("content-length").c_str(), nullptr, 10);
            if (s.read_exact(n, [](const char*, std::size_t) {}) != IoResult::ok) break;
        }
        const bool close = headers.has_token("connection", "close");
        if (target == health_path_ || target.rfind(health_path_ + "?", 0) == 0) {
            ++health_checks_;
            const int st = health_status_;
            if (st >= 200 && st < 400) ++health_passed_;
            std::string body = name_ + " health " + std::to_string(st);
            if (!s.write_all(make_response(st, body))) break;
            if (close) break;
            continue;
        }
        ++requests_;
        if (reset_requests_) {
            reset = true;
            break;
        }
        ++in_flight_;
        if (auto at = target.find("slow="); at != std::string::npos) {
            const int ms = std::atoi(target.c_str() + at + 5);
            ++slow_in_flight_;
            ++slow_received_;
            {
                std::unique_lock lk(mu_);
                cv_.wait_for(lk, Millis(ms), [&] { return stopping_.load(); });
            }
            --slow_in_flight_;
        }
        const bool gone = stopping_;
        bool written = false;
        if (!gone) written = s.write_all(make_response(status_, name_ + " " + method + " " + target));
        --in_flight_;
        if (!written || close) break;
    }
    std::lock_guard lk(mu_);
    if (reset) {
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    ::close(fd);
    fds_.erase(fd);
}

// ---------------------------------------------------------------- config

std::string check_spec(const std::string& interval, const std::string& timeout, int healthy_threshold,
                       int unhealthy_threshold, const std::string& path) {
    return "{path: " + path + ", interval: " + interval + ", timeout: " + timeout +
           ", healthy_threshold: " + std::to_string(healthy_threshold) +
           ", unhealthy_threshold: " + std::to_string(unhealthy_threshold) + "}";
}

std::string HealthConfig::yaml() const {
    std::ostringstream y;
    y << "workers: " << workers << "\n";
    y << "drain_timeout: " << drain_timeout << "\n";
    if (!state_file.empty()) y << "state_file: \"" << state_file << "\"\n";
    y << "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n";
    y << "admin: {address: \"127.0.0.1:0\"}\n";
    y << "limits: {header_timeout: 5s, idle_timeout: " << idle_timeout << "}\n";
    y << "pools:\n";
    for (const auto& p : pools) {
        y << "  - name: " << p.name << "\n";
        y << "    endpoints:\n";
        for (const auto& e : p.endpoints) y << "      - {address: \"" << e << "\", weight: 1}\n";
        y << "    upstream: {connect_timeout: " << p.connect_timeout << ", response_timeout: " << p.response_timeout
          << ", max_idle_per_endpoint: 32}\n";
        if (!p.health_check.empty()) y << "    health_check: " << p.health_check << "\n";
        if (!p.outlier.empty()) y << "    outlier: " << p.outlier << "\n";
    }
    y << "routes:\n";
    y << "  - name: web\n";
    y << "    match: {host: \"*\", path_prefix: /}\n";
    y << "    split: {";
    if (split.empty()) {
        for (std::size_t i = 0; i < pools.size(); ++i) y << (i ? ", " : "") << pools[i].name << ": 1";
    } else {
        for (std::size_t i = 0; i < split.size(); ++i) y << (i ? ", " : "") << split[i].first << ": " << split[i].second;
    }
    y << "}\n";
    y << "    on_pool_unhealthy: " << on_pool_unhealthy << "\n";
    return y.str();
}

// ---------------------------------------------------------------- admin API

Response admin_call(std::uint16_t admin_port, const std::string& method, const std::string& path,
                    const std::string& body) {
    return admin_request(admin_port, method, path, body);
}

namespace {
std::optional<double> number(const json::value* v) { return v ? json_number(*v) : std::nullopt; }
bool boolean(const json::object& o, const char* key, bool& out) {
    const json::value* v = o.if_contains(key);
    if (!v || !v->is_bool()) return false;
    out = v->as_bool();
    return true;
}
}  // namespace

const EndpointView* PoolView::find(const std::string& address) const {
    for (const auto& e : endpoints)
        if (e.address == address) return &e;
    return nullptr;
}

std::optional<PoolView> pool_view(const json::value& v) {
    if (!v.is_object()) return std::nullopt;
    const json::object& o = v.as_object();
    PoolView p;
    if (const json::value* n = o.if_contains("name"); n && n->is_string()) p.name = std::string(n->as_string());
    if (!boolean(o, "available", p.available)) return std::nullopt;
    const json::value* eps = o.if_contains("endpoints");
    if (!eps || !eps->is_array()) return std::nullopt;
    for (const json::value& ev : eps->as_array()) {
        if (!ev.is_object()) return std::nullopt;
        const json::object& e = ev.as_object();
        EndpointView x;
        const json::value* a = e.if_contains("address");
        if (!a || !a->is_string()) return std::nullopt;
        x.address = std::string(a->as_string());
        x.weight = number(e.if_contains("weight")).value_or(-1);
        if (!boolean(e, "healthy", x.healthy) || !boolean(e, "ejected", x.ejected) ||
            !boolean(e, "draining", x.draining) || !boolean(e, "eligible", x.eligible))
            return std::nullopt;
        auto in_flight = number(e.if_contains("in_flight"));
        auto requests = number(e.if_contains("requests"));
        if (!in_flight || !requests) return std::nullopt;
        x.in_flight = static_cast<std::uint64_t>(*in_flight);
        x.requests = static_cast<std::uint64_t>(*requests);
        if (const json::value* lc = e.if_contains("last_check"); lc && lc->is_string())
            x.last_check = std::string(lc->as_string());
        if (auto ms = number(e.if_contains("ejected_for_ms"))) x.ejected_for_ms = static_cast<std::int64_t>(*ms);
        p.endpoints.push_back(std::move(x));
    }
    return p;
}

std::optional<PoolView> get_pool(std::uint16_t admin_port, const std::string& pool) {
    Response r = admin_call(admin_port, "GET", "/pools/" + pool);
    if (!r.complete || r.status != 200) return std::nullopt;
    auto p = pool_view(parse_json(r.body));
    if (p) p->raw = r.body;
    return p;
}

std::optional<EndpointView> get_endpoint(std::uint16_t admin_port, const std::string& pool, const std::string& address) {
    auto p = get_pool(admin_port, pool);
    if (!p) return std::nullopt;
    const EndpointView* e = p->find(address);
    if (!e) return std::nullopt;
    return *e;
}

std::string percent_encode(const std::string& s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '.' || c == '-' || c == '_') {
            out.push_back(static_cast<char>(c));
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

bool wait_endpoint(std::uint16_t admin_port, const std::string& pool, const std::string& address,
                   const std::function<bool(const EndpointView&)>& pred, Millis timeout) {
    return wait_for(
        [&] {
            auto e = get_endpoint(admin_port, pool, address);
            return e && pred(*e);
        },
        timeout, 5ms);
}

std::string metrics_text(std::uint16_t admin_port) { return admin_call(admin_port, "GET", "/metrics").body; }

// ---------------------------------------------------------------- load

Load::Load(std::uint16_t port, int threads, TargetFn target_of) : port_(port), target_of_(std::move(target_of)) {
    if (!target_of_) {
        target_of_ = [](int t, std::uint64_t i) { return "/load?t=" + std::to_string(t) + "&i=" + std::to_string(i); };
    }
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(i); });
}

Load::~Load() { stop(); }

void Load::stop() {
    stop_ = true;
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

std::vector<Exchange> Load::exchanges() const {
    std::lock_guard lk(mu_);
    return log_;
}

std::size_t Load::count() const {
    std::lock_guard lk(mu_);
    return log_.size();
}

bool Load::wait_progress(std::size_t n, Millis timeout) const {
    const std::size_t start = count();
    return wait_for([&] { return count() >= start + n; }, timeout);
}

void Load::run(int index) {
    auto c = std::make_unique<RawClient>(port_, 10s);
    std::uint64_t i = 0;
    while (!stop_) {
        Exchange x;
        x.thread = index;
        const std::string target = target_of_(index, i++);
        x.sent = Clock::now();
        Response r = c->request(get_request(target));
        x.done = Clock::now();
        x.complete = r.complete;
        x.status = r.status;
        x.backend = r.body.substr(0, r.body.find(' '));
        if (!x.ok()) {
            std::string d = r.describe();
            for (char& ch : d)
                if (ch == '\r' || ch == '\n') ch = ' ';
            x.what = "thread " + std::to_string(index) + " " + target + ": " + d.substr(0, 240);
        }
        const bool reopen = !r.complete || r.connection_close();
        {
            std::lock_guard lk(mu_);
            log_.push_back(std::move(x));
        }
        if (reopen) c = std::make_unique<RawClient>(port_, 10s);
        // Pacing, not synchronisation: leave CPU to the proxy and its health checks on a small machine.
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
}

std::string Tally::summary() const {
    std::string s = std::to_string(total) + " requests, " + std::to_string(failed) + " failed; by backend:";
    for (const auto& [b, n] : by_backend) s += " " + (b.empty() ? std::string("(none)") : b) + "=" + std::to_string(n);
    s += "; by status:";
    for (const auto& [st, n] : by_status) s += " " + std::to_string(st) + "=" + std::to_string(n);
    return s;
}

std::string Tally::text() const {
    std::string s = summary();
    for (const auto& f : samples) s += "\n  " + f;
    return s;
}

Tally tally(const std::vector<Exchange>& xs, Clock::time_point from, Clock::time_point to) {
    Tally t;
    for (const auto& x : xs) {
        if (x.sent < from || x.sent >= to) continue;
        ++t.total;
        ++t.by_status[x.complete ? x.status : -1];
        if (x.ok()) {
            ++t.by_backend[x.backend];
        } else {
            ++t.failed;
            if (t.samples.size() < 4) t.samples.push_back(x.what);
        }
    }
    return t;
}

long long ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration_cast<Millis>(b - a).count();
}

}  // namespace weir_it::health
