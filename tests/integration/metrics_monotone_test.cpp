// weir_requests_total never decreases from one scrape to the next, under load
// and when a worker answers a scrape late.
#include "control_support.hpp"
#include "health_support.hpp"
#include "rollout_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace weir_it {
namespace {

using Series = std::map<std::string, double>;  // "{labels}" -> value

// Every weir_requests_total sample of a Prometheus text.
Series requests_series(const std::string& text) {
    Series out;
    std::istringstream in(text);
    std::string line;
    const std::string name = "weir_requests_total{";
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) != 0) continue;
        auto close = line.find('}');
        if (close == std::string::npos) continue;
        out[line.substr(name.size() - 1, close - name.size() + 2)] = std::atof(line.c_str() + close + 1);
    }
    return out;
}

// Checks that no series decreased (or vanished) from one scrape to the next.
void expect_monotone(const std::vector<Series>& scrapes) {
    for (std::size_t i = 1; i < scrapes.size(); ++i) {
        for (const auto& [labels, before] : scrapes[i - 1]) {
            auto it = scrapes[i].find(labels);
            if (it == scrapes[i].end()) {
                ADD_FAILURE() << "scrape " << i << ": weir_requests_total" << labels << " vanished (was " << before << ")";
                continue;
            }
            EXPECT_GE(it->second, before) << "scrape " << i << ": weir_requests_total" << labels << " went from "
                                          << before << " to " << it->second;
        }
    }
}

TEST(MetricsMonotone, RequestsTotalNeverDecreasesAcrossScrapesUnderLoad) {
    SingleProxy p;
    control::LoadGen load(p.port(), 4, "/load");
    ASSERT_TRUE(load.wait_progress(200)) << control::describe(load.stats());
    std::vector<Series> scrapes;
    for (int i = 0; i < 20; ++i) {
        Response r = admin_request(p.weir->admin_port(), "GET", "/metrics");
        ASSERT_EQ(r.status, 200) << r.describe();
        scrapes.push_back(requests_series(r.body));
        ASSERT_FALSE(scrapes.back().empty()) << r.body;
        load.wait_progress(20, 2s);
    }
    load.stop();
    expect_monotone(scrapes);
    auto sum = [](const Series& s) {
        double t = 0;
        for (const auto& [_, v] : s) t += v;
        return t;
    };
    EXPECT_GT(sum(scrapes.back()), sum(scrapes.front())) << "traffic was counted";
}

// weir with its stderr on a pipe this test reads, so that reading can be
// paused: a worker that then logs blocks in write() and misses the scrape's
// gather deadline (1 s), as a busy worker would.
class PipedWeir {
public:
    explicit PipedWeir(const std::string& yaml) {
        config_path_ = dir_.path + "/weir.yaml";
        write_file(config_path_, yaml);
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        read_fd_ = fds[0];
        ::fcntl(fds[1], F_SETPIPE_SZ, 4096);  // small: quick to fill (best effort)
        std::string bin = WEIR_BINARY, run = "run", c = "-c", path = config_path_;
        char* argv[] = {bin.data(), run.data(), c.data(), path.data(), nullptr};
        pid_ = ::fork();
        if (pid_ == 0) {
            int devnull = ::open("/dev/null", O_RDWR);
            if (devnull >= 0) {
                ::dup2(devnull, 0);
                ::dup2(devnull, 1);
            }
            ::dup2(fds[1], 2);
            ::signal(SIGPIPE, SIG_DFL);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execv(argv[0], argv);
            ::_exit(127);
        }
        ::close(fds[1]);
        if (pid_ < 0) throw std::runtime_error("fork failed");
        reader_ = std::thread([this] { read_loop(); });
        const bool ready = wait_for(
            [&] {
                std::string l = log();
                auto p = logged_port(l, "listener public listening on ");
                auto a = logged_port(l, "admin listening on ");
                if (p && a) {
                    port_ = *p;
                    admin_port_ = *a;
                }
                return (p && a) || eof_;
            },
            10s, 10ms);
        if (!ready || port_ == 0) throw std::runtime_error("weir did not become ready; log:\n" + log());
    }
    ~PipedWeir() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
        }
        {
            std::lock_guard lk(mu_);
            stop_ = true;
            paused_ = false;
        }
        cv_.notify_all();
        if (reader_.joinable()) reader_.join();
        ::close(read_fd_);
    }
    PipedWeir(const PipedWeir&) = delete;
    PipedWeir& operator=(const PipedWeir&) = delete;

    std::uint16_t port() const { return port_; }
    std::uint16_t admin_port() const { return admin_port_; }
    std::string log() const {
        std::lock_guard lk(mu_);
        return log_;
    }
    void pause_reading() {
        std::lock_guard lk(mu_);
        paused_ = true;
    }
    void resume_reading() {
        {
            std::lock_guard lk(mu_);
            paused_ = false;
        }
        cv_.notify_all();
    }
    // Bytes written to the pipe and not read yet.
    int unread() const {
        int n = 0;
        ::ioctl(read_fd_, FIONREAD, &n);
        return n;
    }

private:
    void read_loop() {
        char buf[4096];
        for (;;) {
            {
                std::unique_lock lk(mu_);
                cv_.wait(lk, [&] { return stop_ || !paused_; });
                if (stop_) return;
            }
            pollfd pfd{read_fd_, POLLIN, 0};
            if (::poll(&pfd, 1, 20) <= 0) continue;
            std::unique_lock lk(mu_);
            if (paused_ || stop_) continue;  // paused between poll and read: leave it in the pipe
            ssize_t n = ::read(read_fd_, buf, sizeof buf);
            if (n > 0) {
                log_.append(buf, static_cast<std::size_t>(n));
            } else if (n == 0) {
                eof_ = true;
                return;
            }
        }
    }

    TempDir dir_;
    std::string config_path_;
    pid_t pid_ = -1;
    int read_fd_ = -1;
    std::uint16_t port_ = 0, admin_port_ = 0;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::string log_;
    bool paused_ = false;
    bool stop_ = false;
    std::atomic<bool> eof_{false};
    std::thread reader_;
};

// One of the two workers is stuck for a few seconds (here: blocked writing a
// log line to a full stderr pipe) while /metrics is scraped 20 times. The
// scrape cannot wait for it (gather deadline 1 s), but what it already
// counted must not drop out of the sums: weir_requests_total never decreases.
TEST(MetricsMonotone, RequestsTotalNeverDecreasesWhenAWorkerAnswersLate) {
    FakeUpstream up("origin");
    std::ostringstream y;
    y << "workers: 2\n"
      << "drain_timeout: 2s\n"
      << "listeners: [{name: public, address: \"127.0.0.1:0\"}]\n"
      << "admin: {address: \"127.0.0.1:0\"}\n"
      << "limits: {header_timeout: 5s, idle_timeout: 30s}\n"
      << "pools:\n"
      << "  - name: stable\n"
      << "    endpoints: [{address: \"" << up.address() << "\"}]\n"
      << "    upstream: {connect_timeout: 1s, response_timeout: 5s}\n"
      << "routes:\n"
      << "  - name: web\n"  // the background traffic
      << "    match: {host: \"*\", path_prefix: /good}\n"
      << "    split: {stable: 1}\n"
      << "  - name: mine\n"  // only the connection whose worker gets stuck
      << "    match: {host: \"*\", path_prefix: /mine}\n"
      << "    split: {stable: 1}\n";  // anything else: 404 "no route", logged
    PipedWeir weir(y.str());

    // Background traffic on a few keep-alive connections (requests that log nothing).
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> served{0};
    std::vector<std::thread> traffic;
    for (int t = 0; t < 3; ++t) {
        traffic.emplace_back([&] {
            auto c = std::make_unique<RawClient>(weir.port(), 3s);
            auto next = Clock::now();
            while (!stop) {
                next += 10ms;  // paced: ~100 requests/s per thread
                wait_for([&] { return stop || Clock::now() >= next; }, 1s, 2ms);
                Response r = c->request(get_request("/good/load"));
                if (r.status == 200 && r.complete && !r.connection_close()) {
                    ++served;
                } else {
                    c = std::make_unique<RawClient>(weir.port(), 3s);
                }
            }
        });
    }
    struct StopTraffic {
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~StopTraffic() {
            stop = true;
            for (auto& t : threads) t.join();
        }
    } stopper{stop, traffic};

    // The connection whose worker will get stuck: it has served requests first.
    RawClient stuck(weir.port(), 2s);
    // It alone uses route "mine", so only that worker counts weir_requests_total{route="mine"}.
    for (int i = 0; i < 50; ++i) ASSERT_EQ(stuck.request(get_request("/mine")).status, 200);
    ASSERT_TRUE(wait_for([&] { return served.load() >= 100; }, 10s)) << weir.log();

    std::vector<Series> scrapes;
    std::vector<long long> took;
    auto scrape = [&] {
        const auto start = Clock::now();
        Response r = admin_request(weir.admin_port(), "GET", "/metrics");
        took.push_back(ms_since(start));
        ASSERT_EQ(r.status, 200) << r.describe();
        scrapes.push_back(requests_series(r.body));
        ASSERT_FALSE(scrapes.back().empty()) << r.body;
    };
    for (int i = 0; i < 4; ++i) {
        ASSERT_NO_FATAL_FAILURE(scrape());
        wait_for([&] { return false; }, 50ms);
    }

    // Stop reading weir's stderr and make the stuck connection's worker log
    // (404 "no route" lines) until it blocks: its requests stop being answered.
    weir.pause_reading();
    bool blocked = false;
    for (int i = 0; i < 20000 && !blocked; ++i) {
        if (!stuck.send(get_request("/nope"))) break;
        Response r = stuck.read_response();
        if (r.status == 0) blocked = true;  // no answer within 2 s
        else ASSERT_EQ(r.status, 404) << r.describe();
    }
    ASSERT_TRUE(blocked) << "could not stall a worker (pipe holds " << weir.unread() << " unread bytes)";

    for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(scrape());  // the stuck worker answers none of these
    const std::size_t stuck_from = 4, stuck_to = 7;

    weir.resume_reading();
    while (scrapes.size() < 20) {
        ASSERT_NO_FATAL_FAILURE(scrape());
        wait_for([&] { return false; }, 50ms);
    }
    long long slowest = 0;
    for (std::size_t i = stuck_from; i < stuck_to; ++i) slowest = std::max(slowest, took[i]);
    EXPECT_GE(slowest, 900) << "no scrape waited for a late worker: the scenario did not happen";

    std::string times;
    for (auto t : took) times += std::to_string(t) + " ";
    SCOPED_TRACE("scrape durations (ms): " + times);
    const std::string mine = "{code=\"200\",pool=\"stable\",route=\"mine\"}";
    for (std::size_t i = 0; i < scrapes.size(); ++i) {
        auto it = scrapes[i].find(mine);
        EXPECT_TRUE(it != scrapes[i].end() && it->second == 50)
            << "scrape " << i << ": weir_requests_total" << mine << " = "
            << (it == scrapes[i].end() ? "absent" : std::to_string(it->second)) << ", expected 50";
    }
    expect_monotone(scrapes);
}

}  // namespace
}  // namespace weir_it
