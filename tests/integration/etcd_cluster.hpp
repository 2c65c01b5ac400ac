// Real etcd clusters for tests (Debian's etcd-server 3.4): N members on
// 127.0.0.1 with free ports in a fresh temp dir, each a child process that
// dies with the test process (PR_SET_PDEATHSIG) and is stopped by the
// destructor (SIGTERM, then SIGKILL), the dir removed. Fast raft settings
// (heartbeat 50 ms, election 500 ms) and progress notifications every
// second (so a watch with watch_idle_timeout of a few seconds notices a
// frozen member).
//
// The constructor waits until every member answers a linearizable range,
// and throws std::runtime_error (with the members' log tails) if that takes
// more than start_timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace weir_it {

struct EtcdClusterOptions {
    int members = 3;
    std::chrono::milliseconds start_timeout{20000};
    // etcd's --experimental-watch-progress-notify-interval.
    std::chrono::milliseconds progress_notify_interval{1000};
};

class EtcdCluster {
public:
    explicit EtcdCluster(EtcdClusterOptions options = {});
    ~EtcdCluster();
    EtcdCluster(const EtcdCluster&) = delete;
    EtcdCluster& operator=(const EtcdCluster&) = delete;

    int size() const { return static_cast<int>(members_.size()); }
    // "http://127.0.0.1:PORT", one per member, in member order.
    std::vector<std::string> client_urls() const;
    std::string client_url(int i) const;
    pid_t pid(int i) const { return members_[i].pid; }
    const std::string& dir() const { return dir_; }

    // SIGKILL, reaped: its port refuses connections from now on.
    void stop_member(int i);
    // Starts a stopped member again on its data dir and ports, and waits
    // until it answers (throws like the constructor).
    void start_member(int i);
    // SIGSTOP / SIGCONT: a frozen member's kernel still accepts connections,
    // the member answers nothing. freeze() returns once every thread of the
    // member has stopped.
    void freeze(int i);
    void thaw(int i);
    void freeze_all();
    void thaw_all();

    // The current revision (a range on a live member).
    std::int64_t revision();
    // Writes a key (a plain put on a live member); returns the new revision.
    std::int64_t put(const std::string& key, const std::string& value);
    // Compacts history up to `revision` (physically, so it is done on return).
    void compact(std::int64_t revision);
    // Creates root (and `user`, if not root) with `password`, both with the
    // root role, and turns authentication on. Destructive: for a cluster of
    // the test's own. The fixture's own calls authenticate from then on.
    void enable_auth(const std::string& user, const std::string& password);

    // The last lines of member i's log (for failure messages).
    std::string log_tail(int i) const;

private:
    struct Member {
        std::string name;
        std::uint16_t client_port = 0;
        std::uint16_t peer_port = 0;
        pid_t pid = -1;
        bool frozen = false;
    };

    void start_all();
    void spawn(int i, bool existing);
    // Stops every member (SIGTERM, SIGKILL after 5 s) and removes the dir.
    void shutdown();
    bool answers(int i);
    void wait_answers(const std::vector<int>& which, const std::string& what);
    // POST to a live member (the first that answers); throws if none does.
    std::string post_any(const std::string& path, const std::string& body);
    std::string token_for(int i);

    EtcdClusterOptions options_;
    std::string dir_;
    std::string initial_cluster_;
    std::vector<Member> members_;
    std::string auth_user_, auth_password_;
};

// Client URLs of the cluster shared by the non-destructive tests of this
// process: $WEIR_TEST_ETCD (comma-separated URLs of a cluster started
// outside, e.g. by scripts/etcd-cluster.sh) if set, else one EtcdCluster
// started on first use and stopped at exit. Each test uses a key prefix of
// its own (unique_etcd_prefix).
std::vector<std::string> shared_etcd();
// "/weir-test/<name>/<pid>-<n>/": a prefix no other test (or run) uses.
std::string unique_etcd_prefix(const std::string& name);

// One blocking HTTP/1.1 POST to 127.0.0.1:port (Connection: close), for the
// fixture's own set-up calls. Returns the HTTP status (0: no answer within
// `timeout`) and the de-chunked body.
int etcd_http_post(std::uint16_t port, const std::string& path, const std::string& body, std::string& answer,
                   const std::string& token = {}, std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace weir_it
