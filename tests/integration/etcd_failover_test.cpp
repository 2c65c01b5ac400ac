// EtcdClient against etcd clusters of the test's own, where members are
// frozen, killed, restarted, compacted or put behind authentication: calls
// stay bounded by request_timeout, endpoints read down, calls and new
// watches move to a live member, a compacted start revision is reported,
// and a token etcd forgot is replaced.
#include "etcd_test_support.hpp"
#include "wire.hpp"

namespace weir_it {
namespace {

std::string describe(const std::vector<EndpointState>& eps) {
    std::string out;
    for (const auto& e : eps) out += e.url + (e.up ? " up" : " down: " + e.last_error) + "; ";
    return out;
}

EtcdClusterOptions single() {
    EtcdClusterOptions o;
    o.members = 1;
    return o;
}

TEST(EtcdClient, WatchOfACompactedRevisionReportsIt) {
    EtcdCluster cluster(single());
    EtcdDriver d(cluster.client_urls());
    const std::string p = "/compacted/";
    const std::int64_t first = d.put(p + "a", "1");
    d.put(p + "a", "2");
    const std::int64_t last = d.put(p + "a", "3");
    cluster.compact(last);

    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = d.watch(p, prefix_end(p), first, log);
    ASSERT_TRUE(run_until(d.io, [&] { return log->ended; }, 10s));
    EXPECT_FALSE(log->end_error) << log->end_error.message();
    EXPECT_EQ(log->compact_revision, last);
    EXPECT_TRUE(log->events.empty());

    // From the compaction revision on, it works.
    auto log2 = std::make_shared<EtcdDriver::WatchLog>();
    auto w2 = d.watch(p, prefix_end(p), last, log2);
    ASSERT_TRUE(run_until(d.io, [&] { return !log2->events.empty() || log2->ended; }, 10s));
    EXPECT_FALSE(log2->ended);
    EXPECT_EQ(log2->events.at(0).kv.value, "3");

    // Reads of the current state are unaffected.
    RangeResult r;
    EXPECT_FALSE(d.range(p + "a", "", r));
}

TEST(EtcdClient, FrozenMemberFailsCallsWithinRequestTimeout) {
    EtcdCluster cluster(single());
    EtcdOptions o;
    o.endpoints = cluster.client_urls();
    o.request_timeout = 1000ms;
    o.watch_idle_timeout = 4000ms;  // progress notifications come every second
    EtcdDriver d(o);
    const std::string p = "/frozen/";
    d.put(p + "a", "1");
    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = d.watch(p, prefix_end(p), 0, log);
    ASSERT_TRUE(run_until(d.io, [&] { return w->established() || log->ended; }, 10s));
    ASSERT_FALSE(log->ended);
    // Quiet but alive: progress notifications keep it open past the idle limit.
    run_until(d.io, [&] { return log->ended; }, 5s);
    ASSERT_FALSE(log->ended) << log->end_error.message();

    cluster.freeze(0);
    for (int i = 0; i < 3; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        RangeResult r;
        const auto ec = d.range(p + "a", "", r);
        const auto took = std::chrono::steady_clock::now() - t0;
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        // Bounded by request_timeout (generous slack for a loaded machine).
        EXPECT_LT(took, 3000ms) << "call " << i;
    }
    auto eps = d.client().endpoints();
    ASSERT_EQ(eps.size(), 1u);
    EXPECT_FALSE(eps[0].up);
    EXPECT_FALSE(eps[0].last_error.empty());
    // The watch on it ended with an error (the failing calls marked its endpoint down).
    ASSERT_TRUE(run_until(d.io, [&] { return log->ended; }, 10s));
    EXPECT_TRUE(log->end_error);
    EXPECT_EQ(log->compact_revision, 0);

    // A watch on the frozen member alone: ends by watch_idle_timeout at the latest.
    run_until(d.io, [] { return false; }, 1100ms);  // down_retry passes
    auto log2 = std::make_shared<EtcdDriver::WatchLog>();
    auto w2 = d.watch(p, prefix_end(p), 0, log2);
    ASSERT_TRUE(run_until(d.io, [&] { return log2->ended; }, 10s));
    EXPECT_EQ(log2->end_error, std::errc::timed_out) << log2->end_error.message();

    // Thawed, it comes back.
    cluster.thaw(0);
    EXPECT_TRUE(run_until(
        d.io,
        [&] {
            RangeResult r;
            return !d.range(p + "a", "", r) && r.kvs.size() == 1;
        },
        15s));
    EXPECT_TRUE(d.client().endpoints()[0].up);
}

TEST(EtcdClient, AWatchNoticesItsFrozenMemberOnItsOwn) {
    // No unary calls, no idle limit: the watch's own probes find the frozen
    // member, and the next watch starts on another one.
    EtcdCluster cluster;
    EtcdOptions o;
    o.endpoints = cluster.client_urls();
    o.request_timeout = 1000ms;
    o.watch_probe_interval = 1000ms;
    EtcdDriver d(o);
    const std::string p = "/probe/";
    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = d.watch(p, prefix_end(p), 0, log);
    ASSERT_TRUE(run_until(d.io, [&] { return w->established() || log->ended; }, 10s));
    ASSERT_FALSE(log->ended) << log->end_error.message();
    const std::string frozen = w->endpoint();
    int frozen_index = -1;
    for (int i = 0; i < cluster.size(); ++i)
        if (cluster.client_url(i) == frozen) frozen_index = i;
    ASSERT_GE(frozen_index, 0);
    cluster.freeze(frozen_index);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(run_until(d.io, [&] { return log->ended; }, 15s));
    EXPECT_EQ(log->end_error, std::errc::timed_out) << log->end_error.message();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 6000ms);  // interval + request_timeout, with slack
    EXPECT_FALSE(d.client().endpoints()[frozen_index].up);

    auto log2 = std::make_shared<EtcdDriver::WatchLog>();
    auto w2 = d.watch(p, prefix_end(p), 0, log2);
    ASSERT_TRUE(run_until(d.io, [&] { return w2->established() || log2->ended; }, 10s));
    ASSERT_FALSE(log2->ended) << log2->end_error.message();
    EXPECT_NE(w2->endpoint(), frozen);
    const std::int64_t rev = cluster.put(p + "a", "1");
    ASSERT_TRUE(run_until(d.io, [&] { return !log2->events.empty() || log2->ended; }, 10s));
    EXPECT_EQ(log2->events.at(0).kv.mod_revision, rev);
    cluster.thaw(frozen_index);
}

TEST(EtcdClient, FrozenClusterBoundsEveryKindOfCall) {
    EtcdCluster cluster;
    EtcdDriver d(cluster.client_urls(), 800ms);
    d.put("/all-frozen/a", "1");
    cluster.freeze_all();
    const auto t0 = std::chrono::steady_clock::now();
    int done = 0;
    std::vector<std::error_code> errors;
    d.client().range("/all-frozen/a", "", [&](std::error_code ec, RangeResult) { ++done, errors.push_back(ec); });
    d.client().txn(Txn{}, [&](std::error_code ec, TxnResult) { ++done, errors.push_back(ec); });
    d.client().lease_grant(5, [&](std::error_code ec, std::int64_t, std::int64_t) { ++done, errors.push_back(ec); });
    d.client().lease_keepalive(1, [&](std::error_code ec, std::int64_t) { ++done, errors.push_back(ec); });
    d.client().lease_revoke(1, [&](std::error_code ec) { ++done, errors.push_back(ec); });
    ASSERT_TRUE(run_until(d.io, [&] { return done == 5; }, 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3000ms);
    for (const auto& ec : errors) EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
    cluster.thaw_all();
}

TEST(EtcdClient, CallsAndWatchesMoveToALiveMemberWhenOneIsKilled) {
    EtcdCluster cluster;
    EtcdDriver d(cluster.client_urls(), 2000ms);
    const std::string p = "/failover/";
    d.put(p + "a", "1");
    // The first call went to the first endpoint, which is now preferred.
    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = d.watch(p, prefix_end(p), 0, log);
    ASSERT_TRUE(run_until(d.io, [&] { return w->established() || log->ended; }, 10s));
    ASSERT_EQ(w->endpoint(), cluster.client_url(0));

    cluster.stop_member(0);
    // The watch notices at once (its connection closes).
    ASSERT_TRUE(run_until(d.io, [&] { return log->ended; }, 10s));
    EXPECT_TRUE(log->end_error);

    // Calls move on (a refused connect cannot have reached etcd); while the
    // remaining two elect a leader a call may fail, but not for long.
    std::int64_t rev = 0;
    ASSERT_TRUE(run_until(
        d.io,
        [&] {
            Txn t;
            t.success.push_back({TxnOp::Kind::put, p + "b", "", "2", 0});
            TxnResult r;
            if (d.txn(t, r)) return false;
            rev = r.revision;
            return true;
        },
        20s));
    auto eps = d.client().endpoints();
    EXPECT_FALSE(eps[0].up);
    EXPECT_FALSE(eps[0].last_error.empty());

    // A new watch starts on a live member and sees changes.
    auto log2 = std::make_shared<EtcdDriver::WatchLog>();
    auto w2 = d.watch(p, prefix_end(p), rev, log2);
    ASSERT_TRUE(run_until(d.io, [&] { return !log2->events.empty() || log2->ended; }, 10s));
    ASSERT_FALSE(log2->ended) << log2->end_error.message();
    EXPECT_NE(w2->endpoint(), cluster.client_url(0));
    EXPECT_EQ(log2->events[0].kv.value, "2");

    // The member comes back on its data and is used again once the others go.
    cluster.start_member(0);
    cluster.stop_member(1);
    cluster.stop_member(2);
    cluster.start_member(1);  // quorum: members 0 and 1
    EXPECT_TRUE(run_until(
        d.io,
        [&] {
            RangeResult r;
            return !d.range(p + "b", "", r) && r.kvs.size() == 1 && r.kvs[0].value == "2";
        },
        20s));
}

TEST(EtcdClient, AFailedSendIsNotRepeatedElsewhere) {
    // A txn whose connection was accepted but never answered (frozen member)
    // ends with the timeout instead of going to the next member: it may have
    // been applied.
    EtcdCluster cluster;
    EtcdDriver d(cluster.client_urls(), 1000ms);
    d.put("/once/a", "1");  // member 0 preferred
    cluster.freeze(0);
    Txn t;
    t.success.push_back({TxnOp::Kind::put, "/once/a", "", "2", 0});
    TxnResult r;
    EXPECT_EQ(d.txn(t, r), std::errc::timed_out);
    // The next call starts elsewhere (member 0 is down now), once the other
    // two have a leader again.
    std::string last;
    EXPECT_TRUE(run_until(
        d.io,
        [&] {
            RangeResult rr;
            const auto ec = d.range("/once/a", "", rr);
            last = ec ? ec.message() : rr.kvs.empty() ? "no key" : rr.kvs[0].value;
            return !ec && rr.kvs.size() == 1 && rr.kvs[0].value == "1";
        },
        20s))
        << "last answer: " << last << "; endpoints: " << describe(d.client().endpoints());
    cluster.thaw(0);
}

TEST(EtcdClient, AuthenticatesWithUsernameAndPassword) {
    EtcdCluster cluster(single());
    cluster.enable_auth("weir", "s3cret");

    EtcdOptions wrong;
    wrong.endpoints = cluster.client_urls();
    wrong.username = "weir";
    wrong.password = "nope";
    EtcdDriver bad(wrong);
    RangeResult r;
    auto ec = bad.range("/auth/a", "", r);
    EXPECT_EQ(ec.category(), etcd_category()) << ec.message();
    EXPECT_NE(ec.message().find("authentication failed"), std::string::npos) << ec.message();

    EtcdOptions none;
    none.endpoints = cluster.client_urls();
    EtcdDriver anonymous(none);
    ec = anonymous.range("/auth/a", "", r);
    EXPECT_EQ(ec.category(), etcd_category()) << ec.message();

    EtcdOptions right = wrong;
    right.password = "s3cret";
    EtcdDriver good(right);
    good.put("/auth/a", "1");
    ASSERT_FALSE(good.range("/auth/a", "", r));
    EXPECT_EQ(r.kvs.at(0).value, "1");
    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = good.watch("/auth/", prefix_end("/auth/"), 1, log);
    ASSERT_TRUE(run_until(good.io, [&] { return !log->events.empty() || log->ended; }, 10s));
    ASSERT_FALSE(log->ended) << log->end_error.message();

    // A restarted etcd forgot its simple tokens: the client authenticates
    // again, for a watch (first) as for a unary call.
    w.reset();
    cluster.stop_member(0);
    cluster.start_member(0);
    auto log2 = std::make_shared<EtcdDriver::WatchLog>();
    auto w2 = good.watch("/auth/", prefix_end("/auth/"), 1, log2);
    ASSERT_TRUE(run_until(good.io, [&] { return !log2->events.empty() || log2->ended; }, 10s));
    EXPECT_FALSE(log2->ended) << log2->end_error.message();
    cluster.stop_member(0);
    cluster.start_member(0);
    EXPECT_TRUE(run_until(
        good.io, [&] { return !good.range("/auth/a", "", r) && r.kvs.size() == 1; }, 15s));
}

TEST(EtcdClient, UnreachableEndpointsFailFast) {
    EtcdDriver d({"http://127.0.0.1:" + std::to_string(closed_port()), "http://127.0.0.1:1"}, 2000ms);
    const auto t0 = std::chrono::steady_clock::now();
    RangeResult r;
    const auto ec = d.range("/x", "", r);
    EXPECT_TRUE(ec);
    EXPECT_NE(ec.category(), etcd_category());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
    for (const auto& e : d.client().endpoints()) EXPECT_FALSE(e.up);
    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = d.watch("/x", "", 0, log);
    ASSERT_TRUE(run_until(d.io, [&] { return log->ended; }, 5s));
    EXPECT_TRUE(log->end_error);
}

}  // namespace
}  // namespace weir_it
