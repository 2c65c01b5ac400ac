// EtcdClient against a real etcd cluster (shared_etcd(): one per test
// process, or $WEIR_TEST_ETCD), each test under a key prefix of its own:
// ranges, txns with compares (a key, a prefix range), any bytes, leases
// and their expiry, watches in order, and destroying a busy client.
#include "etcd_test_support.hpp"

#include <map>

namespace weir_it {
namespace {

Compare cmp(std::string key, Compare::Target target, Compare::Op op, std::int64_t n, std::string range_end = {}) {
    Compare c;
    c.key = std::move(key);
    c.range_end = std::move(range_end);
    c.target = target;
    c.op = op;
    c.number = n;
    return c;
}

TxnOp put_op(std::string key, std::string value) { return {TxnOp::Kind::put, std::move(key), "", std::move(value), 0}; }
TxnOp range_op(std::string key, std::string end = {}) { return {TxnOp::Kind::range, std::move(key), std::move(end), "", 0}; }

TEST(EtcdClient, TxnPutsOnlyWhenModRevisionMatches) {
    EtcdDriver d(shared_etcd());
    const std::string k = unique_etcd_prefix("txn") + "leader";

    // Create only if absent (create_revision == 0).
    Txn create;
    create.compare.push_back(cmp(k, Compare::Target::create, Compare::Op::equal, 0));
    create.success.push_back(put_op(k, "a"));
    create.failure.push_back(range_op(k));
    TxnResult r;
    ASSERT_FALSE(d.txn(create, r));
    ASSERT_TRUE(r.succeeded);
    const std::int64_t created_at = r.revision;
    EXPECT_GT(created_at, 0);

    RangeResult got = d.get(k);
    ASSERT_EQ(got.kvs.size(), 1u);
    EXPECT_EQ(got.kvs[0].value, "a");
    EXPECT_EQ(got.kvs[0].mod_revision, created_at);
    EXPECT_EQ(got.kvs[0].create_revision, created_at);
    EXPECT_EQ(got.kvs[0].version, 1);
    EXPECT_GE(got.revision, created_at);

    // The same create again fails and runs the failure branch's range.
    ASSERT_FALSE(d.txn(create, r));
    EXPECT_FALSE(r.succeeded);
    ASSERT_EQ(r.ranges.size(), 1u);
    ASSERT_EQ(r.ranges[0].kvs.size(), 1u);
    EXPECT_EQ(r.ranges[0].kvs[0].value, "a");

    // Compare-and-swap on mod_revision: the current one wins...
    Txn cas;
    cas.compare.push_back(cmp(k, Compare::Target::mod, Compare::Op::equal, created_at));
    cas.success.push_back(put_op(k, "b"));
    cas.success.push_back(range_op(k));
    cas.failure.push_back(range_op(k));
    ASSERT_FALSE(d.txn(cas, r));
    ASSERT_TRUE(r.succeeded);
    ASSERT_EQ(r.ranges.size(), 1u);  // only the range ops, in order
    EXPECT_EQ(r.ranges[0].kvs.at(0).value, "b");
    EXPECT_EQ(r.ranges[0].kvs.at(0).mod_revision, r.revision);
    // ...a stale one loses and sees what is there now.
    ASSERT_FALSE(d.txn(cas, r));
    EXPECT_FALSE(r.succeeded);
    ASSERT_EQ(r.ranges.size(), 1u);
    EXPECT_EQ(r.ranges[0].kvs.at(0).value, "b");
    EXPECT_EQ(r.ranges[0].kvs.at(0).version, 2);
}

TEST(EtcdClient, CompareOverAPrefixRange) {
    EtcdDriver d(shared_etcd());
    const std::string p = unique_etcd_prefix("prefix");
    d.put(p + "a", "1");
    const std::int64_t rev = d.put(p + "b", "2");

    // Every key of the prefix was created at or before rev.
    Txn t;
    t.compare.push_back(cmp(p, Compare::Target::create, Compare::Op::less, rev + 1, prefix_end(p)));
    t.success.push_back(range_op(p, prefix_end(p)));
    TxnResult r;
    ASSERT_FALSE(d.txn(t, r));
    EXPECT_TRUE(r.succeeded);
    ASSERT_EQ(r.ranges.size(), 1u);
    EXPECT_EQ(r.ranges[0].kvs.size(), 2u);

    // A key created later breaks it for the whole range.
    d.put(p + "c", "3");
    ASSERT_FALSE(d.txn(t, r));
    EXPECT_FALSE(r.succeeded);

    // A key outside the prefix is not compared.
    d.put(p.substr(0, p.size() - 1) + "0", "outside");
    Txn v;
    v.compare.push_back(cmp(p, Compare::Target::version, Compare::Op::equal, 1, prefix_end(p)));
    ASSERT_FALSE(d.txn(v, r));
    EXPECT_TRUE(r.succeeded);
    d.del(p.substr(0, p.size() - 1) + "0");
}

TEST(EtcdClient, KeysAndValuesAreAnyBytes) {
    EtcdDriver d(shared_etcd());
    const std::string p = unique_etcd_prefix("bytes");
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    const std::string binary_key = p + std::string("\0\xff\x01key\n\"", 8);
    d.put(binary_key, all);
    d.put(p + "empty", "");

    RangeResult r = d.get(p, prefix_end(p));
    ASSERT_EQ(r.kvs.size(), 2u);
    std::map<std::string, std::string> got;
    for (const auto& kv : r.kvs) got[kv.key] = kv.value;
    ASSERT_TRUE(got.count(binary_key));
    EXPECT_EQ(got[binary_key], all);
    ASSERT_TRUE(got.count(p + "empty"));
    EXPECT_EQ(got[p + "empty"], "");

    // A compare on a value with every byte.
    Txn t;
    Compare c;
    c.key = binary_key;
    c.target = Compare::Target::value;
    c.op = Compare::Op::equal;
    c.value = all;
    t.compare.push_back(c);
    TxnResult tr;
    ASSERT_FALSE(d.txn(t, tr));
    EXPECT_TRUE(tr.succeeded);

    // Absent key: no kvs, a revision all the same.
    r = d.get(p + "absent");
    EXPECT_TRUE(r.kvs.empty());
    EXPECT_GT(r.revision, 0);
}

TEST(EtcdClient, LeaseKeepaliveRevokeAndExpiry) {
    EtcdDriver d(shared_etcd());
    std::int64_t id = 0, ttl = 0;
    ASSERT_FALSE(d.lease_grant(30, id, ttl));
    EXPECT_NE(id, 0);
    EXPECT_EQ(ttl, 30);
    std::int64_t left = 0;
    ASSERT_FALSE(d.keepalive(id, left));
    EXPECT_GT(left, 0);
    ASSERT_FALSE(d.revoke(id));
    ASSERT_FALSE(d.keepalive(id, left));
    EXPECT_EQ(left, 0);  // gone: ttl 0, no error
    const auto ec = d.revoke(id);
    EXPECT_EQ(etcd_code(ec), static_cast<int>(EtcdCode::not_found)) << ec.message();
    EXPECT_NE(ec.message().find("lease not found"), std::string::npos) << ec.message();

    // A short lease kept alive survives past its TTL; left alone, it expires
    // (seen through a key attached to it: a keepalive would renew it).
    const std::string k = unique_etcd_prefix("lease") + "k";
    std::int64_t short_id = 0;
    ASSERT_FALSE(d.lease_grant(2, short_id, ttl));
    d.put(k, "v", short_id);
    const auto until = std::chrono::steady_clock::now() + 3500ms;
    while (std::chrono::steady_clock::now() < until) {
        ASSERT_FALSE(d.keepalive(short_id, left));
        ASSERT_GT(left, 0);
        run_until(d.io, [] { return false; }, 500ms);
    }
    EXPECT_EQ(d.get(k).kvs.size(), 1u);
    EXPECT_TRUE(run_until(d.io, [&] { return d.get(k).kvs.empty(); }, 20s)) << "the lease did not expire";
    ASSERT_FALSE(d.keepalive(short_id, left));
    EXPECT_EQ(left, 0);
}

TEST(EtcdClient, LeasedKeyExpiresAndAWatchSeesTheDelete) {
    EtcdDriver d(shared_etcd());
    const std::string p = unique_etcd_prefix("leased");
    std::int64_t id = 0, ttl = 0;
    ASSERT_FALSE(d.lease_grant(2, id, ttl));
    const std::int64_t rev = d.put(p + "member", "here", id);
    RangeResult r = d.get(p + "member");
    ASSERT_EQ(r.kvs.size(), 1u);
    EXPECT_EQ(r.kvs[0].lease, id);

    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = d.watch(p, prefix_end(p), rev + 1, log);
    ASSERT_TRUE(run_until(
        d.io, [&] { return log->ended || !log->events.empty(); }, 20s))
        << "no delete seen";
    ASSERT_FALSE(log->ended) << log->end_error.message();
    ASSERT_EQ(log->events.size(), 1u);
    EXPECT_EQ(log->events[0].type, WatchEvent::Type::del);
    EXPECT_EQ(log->events[0].kv.key, p + "member");
    EXPECT_GT(log->events[0].kv.mod_revision, rev);
    EXPECT_TRUE(d.get(p + "member").kvs.empty());
}

TEST(EtcdClient, WatchFromARevisionSeesLaterChangesInOrder) {
    EtcdDriver d(shared_etcd());
    const std::string p = unique_etcd_prefix("watch");
    d.put(p + "x", "0");
    const std::int64_t r1 = d.put(p + "x", "1");
    const std::int64_t r2 = d.put(p + "y", "2");

    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = d.watch(p, prefix_end(p), r1, log);
    ASSERT_TRUE(run_until(d.io, [&] { return log->events.size() >= 2 || log->ended; }, 10s));
    ASSERT_FALSE(log->ended) << log->end_error.message();
    EXPECT_TRUE(w->established());
    EXPECT_FALSE(w->endpoint().empty());
    EXPECT_EQ(log->events[0].kv.mod_revision, r1);
    EXPECT_EQ(log->events[0].kv.value, "1");
    EXPECT_EQ(log->events[1].kv.mod_revision, r2);

    // Later changes, several at once and one by one, arrive in order.
    std::vector<std::int64_t> revs;
    for (int i = 0; i < 20; ++i) revs.push_back(d.put(p + "k" + std::to_string(i % 3), std::to_string(i)));
    revs.push_back(d.del(p + "k0"));
    ASSERT_TRUE(run_until(d.io, [&] { return log->events.size() >= 2 + revs.size() || log->ended; }, 10s));
    ASSERT_EQ(log->events.size(), 2 + revs.size());
    for (std::size_t i = 0; i < revs.size(); ++i) EXPECT_EQ(log->events[2 + i].kv.mod_revision, revs[i]) << i;
    EXPECT_EQ(log->events.back().type, WatchEvent::Type::del);
    EXPECT_EQ(log->events.back().kv.key, p + "k0");
    for (std::size_t i = 1; i < log->batch_revisions.size(); ++i)
        EXPECT_LE(log->batch_revisions[i - 1], log->batch_revisions[i]);
    EXPECT_EQ(log->batch_revisions.back(), revs.back());

    // A cancelled watch is silent.
    w->cancel();
    const std::size_t seen = log->events.size();
    d.put(p + "x", "after");
    run_until(d.io, [] { return false; }, 300ms);
    EXPECT_EQ(log->events.size(), seen);
    EXPECT_FALSE(log->ended);
}

TEST(EtcdClient, WatchFromNowSeesOnlyNewChanges) {
    EtcdDriver d(shared_etcd());
    const std::string p = unique_etcd_prefix("watchnow");
    d.put(p + "old", "x");
    auto log = std::make_shared<EtcdDriver::WatchLog>();
    auto w = d.watch(p, prefix_end(p), 0, log);
    ASSERT_TRUE(run_until(d.io, [&] { return w->established() || log->ended; }, 10s));
    const std::int64_t rev = d.put(p + "new", "y");
    ASSERT_TRUE(run_until(d.io, [&] { return !log->events.empty() || log->ended; }, 10s));
    ASSERT_EQ(log->events.size(), 1u);
    EXPECT_EQ(log->events[0].kv.key, p + "new");
    EXPECT_EQ(log->events[0].kv.mod_revision, rev);
}

TEST(EtcdClient, DestroyingTheClientWithCallsInFlightRunsNoCallback) {
    EtcdDriver d(shared_etcd());
    const std::string p = unique_etcd_prefix("destroy");
    bool destroyed = false;
    int late = 0;  // callbacks after the client was destroyed
    auto count = [&] { late += destroyed ? 1 : 0; };
    auto w = d.client().watch(
        p, prefix_end(p), 0, [&](std::vector<WatchEvent>, std::int64_t) { count(); },
        [&](std::error_code, std::int64_t) { count(); });
    for (int i = 0; i < 10; ++i) {
        d.client().range(p, prefix_end(p), [&](std::error_code, RangeResult) { count(); });
        Txn t;
        t.success.push_back(put_op(p + std::to_string(i), "v"));
        d.client().txn(t, [&](std::error_code, TxnResult) { count(); });
        d.client().lease_grant(5, [&](std::error_code, std::int64_t, std::int64_t) { count(); });
    }
    // Some progress first, so calls are at every stage (connecting, sent, answered).
    d.io.restart();
    d.io.poll();
    d.reset_client();
    destroyed = true;
    run_until(d.io, [] { return false; }, 1s);
    EXPECT_EQ(late, 0);
    w->cancel();  // after the client: harmless
    w.reset();

    // A callback that destroys the client: the other calls stay silent.
    int after = 0;
    bool first = true;
    for (int i = 0; i < 5; ++i)
        d.client().range(p, prefix_end(p), [&](std::error_code, RangeResult) {
            if (first) {
                first = false;
                d.reset_client();
            } else {
                ++after;
            }
        });
    run_until(d.io, [] { return false; }, 1s);
    EXPECT_FALSE(first);
    EXPECT_EQ(after, 0);
}

TEST(EtcdClient, ConcurrentCallsAllAnswer) {
    EtcdDriver d(shared_etcd());
    const std::string p = unique_etcd_prefix("concurrent");
    int answered = 0, failed = 0;
    for (int i = 0; i < 40; ++i) {
        Txn t;
        t.success.push_back(put_op(p + std::to_string(i), std::to_string(i)));
        d.client().txn(t, [&](std::error_code ec, TxnResult) { ec ? ++failed : ++answered; });
        d.client().range(p, prefix_end(p), [&](std::error_code ec, RangeResult) { ec ? ++failed : ++answered; });
    }
    ASSERT_TRUE(run_until(d.io, [&] { return answered + failed == 80; }, 20s));
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(d.get(p, prefix_end(p)).kvs.size(), 40u);
    for (const auto& e : d.client().endpoints()) EXPECT_TRUE(e.up) << e.url << ": " << e.last_error;
}

}  // namespace
}  // namespace weir_it
