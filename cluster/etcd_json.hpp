// etcd v3's JSON gateway on the wire: request bodies out, answers in.
// Keys and values travel base64-encoded; int64 fields come as JSON strings
// (numbers are accepted too) and are left out when zero, as are false
// booleans and empty lists. Decoding is lenient about what is absent and
// strict about what is malformed.
#pragma once

#include "cluster/etcd_types.hpp"

#include <boost/json/stream_parser.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace weir::cluster {

std::string base64_encode(std::string_view bytes);
// False if `text` is not base64 (padding optional).
bool base64_decode(std::string_view text, std::string& out);

// Request bodies.
std::string encode_range(std::string_view key, std::string_view range_end);
// A linearizable read of at most one key, keys only: the cheapest call that
// needs a live member with a leader.
std::string encode_probe(std::string_view key);
std::string encode_txn(const Txn& txn);
std::string encode_lease_grant(std::int64_t ttl_seconds);
std::string encode_lease_id(std::int64_t id);  // keepalive, revoke
std::string encode_authenticate(std::string_view name, std::string_view password);
std::string encode_watch_create(std::string_view key, std::string_view range_end, std::int64_t start_revision);
std::string encode_compaction(std::int64_t revision);

// etcd's error in an answer: {"error":"text","code":N,...} from a unary call,
// {"error":{"grpc_code":N,"message":...}} inside a stream; an HTTP status
// other than 200 without either is an error too. No error: {}.
std::error_code decode_error(int http_status, std::string_view body);

// Answers (their error already looked for with decode_error).
std::error_code decode_range(std::string_view body, RangeResult& out);
std::error_code decode_txn(std::string_view body, TxnResult& out);
std::error_code decode_lease_grant(std::string_view body, std::int64_t& id, std::int64_t& ttl);
// The keepalive answer is a stream of {"result":...} (one here); no TTL: the
// lease is gone (ttl 0).
std::error_code decode_lease_keepalive(std::string_view body, std::int64_t& ttl);
std::error_code decode_authenticate(std::string_view body, std::string& token);

// Splits a byte stream of concatenated JSON values (whitespace between them
// optional) into values, whatever the chunks it arrives in.
class JsonStream {
public:
    std::error_code feed(std::string_view bytes, std::vector<boost::json::value>& out);
    // Drops a partly received value (a new stream starts).
    void reset() { parser_.reset(); }

private:
    boost::json::stream_parser parser_;
};

// One message of a watch stream.
struct WatchMessage {
    std::error_code error;  // the stream carried etcd's error instead of a result
    bool created = false;
    bool canceled = false;
    std::int64_t revision = 0;
    std::int64_t compact_revision = 0;
    std::string cancel_reason;
    std::vector<WatchEvent> events;
};
WatchMessage decode_watch_message(const boost::json::value& message);

}  // namespace weir::cluster
