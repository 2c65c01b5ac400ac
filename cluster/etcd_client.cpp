#include "cluster/etcd_client.hpp"

#include "cluster/etcd_core.hpp"
#include "cluster/etcd_json.hpp"
#include "cluster/etcd_unary.hpp"
#include "cluster/etcd_watch_stream.hpp"

namespace weir::cluster {

EtcdClient::EtcdClient(boost::asio::io_context& io, EtcdOptions options)
    : core_(std::make_shared<ClientCore>(io, std::move(options))) {}

EtcdClient::~EtcdClient() { core_->close(); }

void EtcdClient::call(std::string target, std::string body, std::function<void(std::error_code, std::string)> done) {
    start_unary_call(core_, std::move(target), std::move(body), std::move(done));
}

void EtcdClient::range(std::string key, std::string range_end,
                       std::function<void(std::error_code, RangeResult)> done) {
    call("/v3/kv/range", encode_range(key, range_end), [done = std::move(done)](std::error_code ec, std::string body) {
        RangeResult r;
        if (!ec) ec = decode_range(body, r);
        done(ec, std::move(r));
    });
}

void EtcdClient::txn(Txn txn, std::function<void(std::error_code, TxnResult)> done) {
    call("/v3/kv/txn", encode_txn(txn), [done = std::move(done)](std::error_code ec, std::string body) {
        TxnResult r;
        if (!ec) ec = decode_txn(body, r);
        done(ec, std::move(r));
    });
}

void EtcdClient::lease_grant(std::int64_t ttl_seconds,
                             std::function<void(std::error_code, std::int64_t, std::int64_t)> done) {
    call("/v3/lease/grant", encode_lease_grant(ttl_seconds),
         [done = std::move(done)](std::error_code ec, std::string body) {
             std::int64_t id = 0, ttl = 0;
             if (!ec) ec = decode_lease_grant(body, id, ttl);
             done(ec, id, ttl);
         });
}

void EtcdClient::lease_keepalive(std::int64_t id, std::function<void(std::error_code, std::int64_t)> done) {
    call("/v3/lease/keepalive", encode_lease_id(id), [done = std::move(done)](std::error_code ec, std::string body) {
        std::int64_t ttl = 0;
        if (!ec) ec = decode_lease_keepalive(body, ttl);
        // etcd answers an unknown lease with TTL 0 here; should it say "not
        // found" instead, that means the same.
        if (ec && etcd_code(ec) == static_cast<int>(EtcdCode::not_found)) ec = {}, ttl = 0;
        done(ec, ec ? 0 : ttl);
    });
}

void EtcdClient::lease_revoke(std::int64_t id, std::function<void(std::error_code)> done) {
    // etcd 3.4 serves both /v3/lease/revoke and /v3/kv/lease/revoke; the
    // first is the one later versions keep.
    call("/v3/lease/revoke", encode_lease_id(id),
         [done = std::move(done)](std::error_code ec, std::string) { done(ec); });
}

void EtcdClient::compact(std::int64_t revision, std::function<void(std::error_code)> done) {
    call("/v3/kv/compaction", encode_compaction(revision),
         [done = std::move(done)](std::error_code ec, std::string) { done(ec); });
}

std::unique_ptr<EtcdWatch> EtcdClient::watch(
    std::string key, std::string range_end, std::int64_t start_revision,
    std::function<void(std::vector<WatchEvent>, std::int64_t revision)> on_events,
    std::function<void(std::error_code, std::int64_t compact_revision)> on_end) {
    auto stream = std::make_shared<WatchStream>(core_, std::move(key), std::move(range_end), start_revision,
                                                std::move(on_events), std::move(on_end));
    stream->start();
    return std::make_unique<EtcdWatch>(std::move(stream));
}

std::vector<EndpointState> EtcdClient::endpoints() const { return core_->states(); }

}  // namespace weir::cluster
