// The data etcd's v3 API deals in, as the client hands it over: keys and
// values are arbitrary bytes, revisions and lease ids int64.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weir::cluster {

struct EtcdOptions {
    std::vector<std::string> endpoints;  // "http://127.0.0.1:2379" (http only for now)
    std::string username;                // empty: no auth
    std::string password;                // read from a file by the caller
    std::chrono::milliseconds request_timeout{2000};  // per unary call, connect included
    // An endpoint marked down is tried again (before the ones still down)
    // once this long has passed, so a recovered member comes back.
    std::chrono::milliseconds down_retry{1000};
    // A watch that receives nothing at all for this long ends with
    // std::errc::timed_out. 0: off. Only meaningful when etcd sends progress
    // notifications more often (--experimental-watch-progress-notify-interval,
    // 10 min by default); without it a watch still ends when its endpoint is
    // marked down by a failing unary call (see EtcdClient::watch).
    std::chrono::milliseconds watch_idle_timeout{0};
    // How often an established watch checks its own endpoint with a small
    // linearizable read of its key (bounded by request_timeout). A connection
    // error or timeout, or etcd's "no leader" (a member cut off from the
    // quorum, whose watches see nothing), ends the watch with that error.
    // So a frozen, dead or isolated member is noticed within about
    // interval + request_timeout whatever etcd's settings and whatever the
    // caller does. 0: off.
    std::chrono::milliseconds watch_probe_interval{2000};
};

struct KeyValue {
    std::string key, value;
    std::int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct RangeResult {
    std::int64_t revision = 0;
    std::vector<KeyValue> kvs;
};

// Compare of a txn (etcd's Compare): target field vs number (or value).
struct Compare {
    enum class Target { version, create, mod, value };
    enum class Op { equal, greater, less, not_equal };
    std::string key;
    std::string range_end;  // optional: compare over [key, range_end)
    Target target = Target::mod;
    Op op = Op::equal;
    std::int64_t number = 0;
    std::string value;
};

struct TxnOp {  // one request of a txn branch
    enum class Kind { put, delete_range, range };
    Kind kind = Kind::put;
    std::string key, range_end, value;
    std::int64_t lease = 0;
};

struct Txn {
    std::vector<Compare> compare;
    std::vector<TxnOp> success, failure;
};

struct TxnResult {
    bool succeeded = false;
    std::int64_t revision = 0;
    std::vector<RangeResult> ranges;  // results of the range ops of the branch taken, in order
};

struct WatchEvent {
    enum class Type { put, del } type = Type::put;
    KeyValue kv;
};

struct EndpointState {
    std::string url;
    bool up = false;
    std::string last_error;
};

// The end of every key range "all keys with this prefix" (etcd's prefix range_end).
std::string prefix_end(std::string_view prefix);

}  // namespace weir::cluster
