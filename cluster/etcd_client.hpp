// A client for etcd v3 through its JSON gateway (HTTP/1.1 + JSON, no gRPC):
// the KV calls the fleet needs, leases, and watches. Callbacks run on the
// given io_context (single-threaded); several calls may be in flight at once.
//
// Errors: connection errors and timeouts are asio / std codes (a timeout is
// std::errc::timed_out); what etcd itself refuses is an etcd_category() code
// whose message is etcd's text (etcd_error.hpp).
//
// Endpoints: every call starts with the last endpoint that worked. One that
// fails (connect refused, timeout, broken connection) is marked down and
// tried again only after down_retry, behind the ones up. A call moves on to
// the next endpoint only when its connection could not be made, so etcd
// cannot have seen it: a txn whose connection broke after it was sent is not
// repeated (it may have been applied); its error comes back.
//
// Each call opens a connection of its own and closes it after the answer:
// simple, and every call's time stays bounded by request_timeout (connect,
// authentication and answer included), even against a frozen etcd that
// accepts connections and never answers.
//
// Auth: with a username, a token is fetched (POST /v3/auth/authenticate)
// before the first call and sent as Authorization; when etcd refuses it
// (expired, or from before a restart) the call authenticates again once and
// is sent again (a refused request was not applied).
#pragma once

#include "cluster/etcd_error.hpp"
#include "cluster/etcd_types.hpp"
#include "cluster/etcd_watch.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace weir::cluster {

class ClientCore;

class EtcdClient {
public:
    EtcdClient(boost::asio::io_context& io, EtcdOptions options);
    ~EtcdClient();  // cancels everything outstanding; no callback runs after it
    EtcdClient(const EtcdClient&) = delete;
    EtcdClient& operator=(const EtcdClient&) = delete;

    void range(std::string key, std::string range_end, std::function<void(std::error_code, RangeResult)> done);
    void txn(Txn txn, std::function<void(std::error_code, TxnResult)> done);
    void lease_grant(std::int64_t ttl_seconds,
                     std::function<void(std::error_code, std::int64_t id, std::int64_t ttl)> done);
    // ttl 0 in the answer: the lease does not exist any more (expired)
    void lease_keepalive(std::int64_t id, std::function<void(std::error_code, std::int64_t ttl)> done);
    void lease_revoke(std::int64_t id, std::function<void(std::error_code)> done);

    // Streams changes of [key, range_end) from start_revision (0 = from now).
    // on_events: each batch of events with the revision of its header (never
    // empty: progress notifications only keep the watch alive). That is the
    // store's revision when etcd sent it; catching up over more than 1000
    // revisions, etcd sends the events in parts with the same header
    // revision, so to resume after on_end use the last event's
    // mod_revision + 1, not revision + 1. on_end: the
    // watch ended: an error (connection lost, endpoint down or marked down by a
    // failing call, watch_idle_timeout, etcd's refusal), or {} with
    // compact_revision > 0 when start_revision was compacted (the caller must
    // re-read and re-watch). Never both on_end and later on_events; never
    // either after EtcdWatch::cancel() or the watch's or client's destruction.
    //
    // The watch uses the endpoint a unary call would try first
    // (EtcdWatch::endpoint()); it moves on only while connecting. A frozen,
    // dead or isolated endpoint ends it with an error, noticed by whichever
    // comes first: its connection closing (member killed or stopped), a
    // unary call there failing (it marks the endpoint down), the watch's own
    // probe (watch_probe_interval, default 2 s: a keys-only read of the
    // watched key on the watch's endpoint, bounded by request_timeout), or
    // watch_idle_timeout when etcd sends progress notifications.
    std::unique_ptr<EtcdWatch> watch(std::string key, std::string range_end, std::int64_t start_revision,
                                     std::function<void(std::vector<WatchEvent>, std::int64_t revision)> on_events,
                                     std::function<void(std::error_code, std::int64_t compact_revision)> on_end);

    std::vector<EndpointState> endpoints() const;

    // Compacts the history up to `revision` (physically). For tests and
    // maintenance; the fleet does not need it.
    void compact(std::int64_t revision, std::function<void(std::error_code)> done);

private:
    // A unary call: POST `body` to `target`; `done` gets the body of a 200
    // answer that carries no etcd error.
    void call(std::string target, std::string body, std::function<void(std::error_code, std::string)> done);

    std::shared_ptr<ClientCore> core_;
};

}  // namespace weir::cluster
