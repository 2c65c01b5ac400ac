// cluster/etcd_json: what goes to etcd's JSON gateway and what comes back:
// base64 keys and values (any bytes, empty), int64 fields as strings or
// numbers or absent, etcd's errors in both shapes, and a watch stream split
// at every possible point.
#include "cluster/etcd_error.hpp"
#include "cluster/etcd_http.hpp"
#include "cluster/etcd_json.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace weir::cluster {
namespace {

namespace json = boost::json;

json::object parse(const std::string& s) { return json::parse(s).as_object(); }

TEST(EtcdJson, Base64RoundTripsEveryByteAndLength) {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t n = 0; n <= all.size(); n += (n < 8 ? 1 : 37)) {
        const std::string in = all.substr(0, n);
        std::string out = "junk";
        ASSERT_TRUE(base64_decode(base64_encode(in), out)) << n;
        EXPECT_EQ(out, in) << n;
    }
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode(""), "");
    std::string out;
    EXPECT_TRUE(base64_decode("Zm8", out));  // padding optional
    EXPECT_EQ(out, "fo");
    EXPECT_FALSE(base64_decode("Zm9v!", out));
    EXPECT_FALSE(base64_decode("Z", out));
}

TEST(EtcdJson, PrefixEnd) {
    EXPECT_EQ(prefix_end("abc"), "abd");
    EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
    EXPECT_EQ(prefix_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
    EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

TEST(EtcdJson, RangeRequestEncodesKeyAndOptionalEnd) {
    auto o = parse(encode_range("a", ""));
    EXPECT_EQ(o.at("key").as_string(), "YQ==");
    EXPECT_FALSE(o.contains("range_end"));
    o = parse(encode_range("a", "b"));
    EXPECT_EQ(o.at("range_end").as_string(), "Yg==");
}

TEST(EtcdJson, TxnRequestHasCompareTargetsAndBranches) {
    Txn t;
    t.compare.push_back({"k", "", Compare::Target::mod, Compare::Op::equal, 42, ""});
    t.compare.push_back({"p", "q", Compare::Target::create, Compare::Op::greater, 0, ""});
    t.compare.push_back({"v", "", Compare::Target::value, Compare::Op::not_equal, 0, std::string("\0x", 2)});
    t.compare.push_back({"w", "", Compare::Target::version, Compare::Op::less, 3, ""});
    t.success.push_back({TxnOp::Kind::put, "k", "", "val", 77});
    t.success.push_back({TxnOp::Kind::range, "a", "b", "", 0});
    t.failure.push_back({TxnOp::Kind::delete_range, "x", "y", "", 0});
    auto o = parse(encode_txn(t));
    const auto& c = o.at("compare").as_array();
    ASSERT_EQ(c.size(), 4u);
    EXPECT_EQ(c[0].at("target").as_string(), "MOD");
    EXPECT_EQ(c[0].at("result").as_string(), "EQUAL");
    EXPECT_EQ(c[0].at("mod_revision").as_string(), "42");
    EXPECT_EQ(c[1].at("target").as_string(), "CREATE");
    EXPECT_EQ(c[1].at("result").as_string(), "GREATER");
    EXPECT_EQ(c[1].at("range_end").as_string(), "cQ==");
    EXPECT_EQ(c[1].at("create_revision").as_string(), "0");
    EXPECT_EQ(c[2].at("target").as_string(), "VALUE");
    EXPECT_EQ(c[2].at("result").as_string(), "NOT_EQUAL");
    EXPECT_EQ(c[2].at("value").as_string(), "AHg=");
    EXPECT_EQ(c[3].at("version").as_string(), "3");
    EXPECT_EQ(c[3].at("result").as_string(), "LESS");
    const auto& s = o.at("success").as_array();
    EXPECT_EQ(s[0].at("request_put").at("value").as_string(), "dmFs");
    EXPECT_EQ(s[0].at("request_put").at("lease").as_string(), "77");
    EXPECT_EQ(s[1].at("request_range").at("range_end").as_string(), "Yg==");
    EXPECT_TRUE(o.at("failure").as_array()[0].as_object().contains("request_delete_range"));
}

TEST(EtcdJson, RangeAnswerWithStringsNumbersAndAbsentFields) {
    RangeResult r;
    ASSERT_FALSE(decode_range(R"({"header":{"revision":"12"},"kvs":[
        {"key":"Zm9v","create_revision":"2","mod_revision":5,"version":"1","value":"AP8=","lease":"99"},
        {"key":"YmFy"}],"count":"2"})",
                              r));
    EXPECT_EQ(r.revision, 12);
    ASSERT_EQ(r.kvs.size(), 2u);
    EXPECT_EQ(r.kvs[0].key, "foo");
    EXPECT_EQ(r.kvs[0].value, std::string("\0\xff", 2));
    EXPECT_EQ(r.kvs[0].create_revision, 2);
    EXPECT_EQ(r.kvs[0].mod_revision, 5);
    EXPECT_EQ(r.kvs[0].lease, 99);
    EXPECT_EQ(r.kvs[1].value, "");  // an empty value is left out
    EXPECT_EQ(r.kvs[1].version, 0);

    ASSERT_FALSE(decode_range(R"({"header":{"revision":"3"}})", r));
    EXPECT_TRUE(r.kvs.empty());
    EXPECT_EQ(r.revision, 3);
}

TEST(EtcdJson, MalformedAnswersAreBadResponses) {
    RangeResult r;
    for (const char* body : {"not json", "[]", R"({"kvs":[{"key":"!!"}]})", R"({"header":{"revision":"x"}})",
                             R"({"kvs":{}})"}) {
        auto ec = decode_range(body, r);
        EXPECT_EQ(etcd_code(ec), static_cast<int>(EtcdCode::bad_response)) << body;
    }
}

TEST(EtcdJson, TxnAnswerKeepsRangesOfTheBranchInOrder) {
    TxnResult t;
    ASSERT_FALSE(decode_txn(R"({"header":{"revision":"9"},"succeeded":true,"responses":[
        {"response_range":{"header":{"revision":"8"},"kvs":[{"key":"YQ==","value":"MQ=="}],"count":"1"}},
        {"response_put":{"header":{"revision":"9"}}},
        {"response_range":{"header":{}}}]})",
                            t));
    EXPECT_TRUE(t.succeeded);
    EXPECT_EQ(t.revision, 9);
    ASSERT_EQ(t.ranges.size(), 2u);
    EXPECT_EQ(t.ranges[0].kvs.at(0).value, "1");
    EXPECT_EQ(t.ranges[0].revision, 8);
    EXPECT_TRUE(t.ranges[1].kvs.empty());
    EXPECT_EQ(t.ranges[1].revision, 9);  // absent: the txn's

    ASSERT_FALSE(decode_txn(R"({"header":{"revision":"4"}})", t));
    EXPECT_FALSE(t.succeeded);  // false is left out
    EXPECT_TRUE(t.ranges.empty());
}

TEST(EtcdJson, LeaseAnswers) {
    std::int64_t id = 0, ttl = 0;
    ASSERT_FALSE(decode_lease_grant(R"({"header":{},"ID":"7587869498012113157","TTL":"5"})", id, ttl));
    EXPECT_EQ(id, 7587869498012113157LL);
    EXPECT_EQ(ttl, 5);
    EXPECT_TRUE(decode_lease_grant(R"({"header":{}})", id, ttl));

    ASSERT_FALSE(decode_lease_keepalive("{\"result\":{\"header\":{},\"ID\":\"1\",\"TTL\":\"4\"}}\n", ttl));
    EXPECT_EQ(ttl, 4);
    ASSERT_FALSE(decode_lease_keepalive(R"({"result":{"header":{},"ID":"1"}})", ttl));
    EXPECT_EQ(ttl, 0);  // no TTL: gone
    auto ec = decode_lease_keepalive(R"({"error":{"grpc_code":5,"message":"etcdserver: requested lease not found"}})",
                                     ttl);
    EXPECT_EQ(etcd_code(ec), static_cast<int>(EtcdCode::not_found));
    EXPECT_EQ(ec.message(), "etcdserver: requested lease not found");

    std::string token;
    ASSERT_FALSE(decode_authenticate(R"({"header":{},"token":"abc.12"})", token));
    EXPECT_EQ(token, "abc.12");
}

TEST(EtcdJson, ErrorsCarryEtcdsCodeAndText) {
    auto ec = decode_error(404, R"({"error":"etcdserver: requested lease not found",)"
                                R"("message":"etcdserver: requested lease not found","code":5})");
    EXPECT_EQ(ec.category(), etcd_category());
    EXPECT_EQ(etcd_code(ec), 5);
    EXPECT_EQ(ec.message(), "etcdserver: requested lease not found");
    // The same text twice is the same code: errors compare equal.
    EXPECT_EQ(ec, decode_error(404, R"({"error":"etcdserver: requested lease not found","code":5})"));

    EXPECT_TRUE(is_invalid_token(decode_error(401, R"({"error":"etcdserver: invalid auth token","code":16})")));
    EXPECT_FALSE(is_invalid_token(ec));
    EXPECT_FALSE(decode_error(200, R"({"header":{}})"));
    EXPECT_EQ(etcd_code(decode_error(502, "Bad Gateway")), static_cast<int>(EtcdCode::bad_response));
    EXPECT_EQ(etcd_code(std::make_error_code(std::errc::timed_out)), 0);
}

const std::string watch_stream =
    "{\"result\":{\"header\":{\"revision\":\"3\"},\"created\":true}}\n"
    "{\"result\":{\"header\":{\"revision\":\"5\"},\"events\":["
    "{\"kv\":{\"key\":\"YQ==\",\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":\"1\",\"value\":\"MQ==\"}},"
    "{\"type\":\"DELETE\",\"kv\":{\"key\":\"Yg==\",\"mod_revision\":\"5\"}}]}}\n"
    "{\"result\":{\"header\":{\"revision\":\"5\"}}}"  // a progress notification, no newline before the next
    "{\"result\":{\"header\":{},\"canceled\":true,\"compact_revision\":\"3\"}}\n";

void check_stream(const std::vector<WatchMessage>& m) {
    ASSERT_EQ(m.size(), 4u);
    EXPECT_TRUE(m[0].created);
    EXPECT_EQ(m[0].revision, 3);
    ASSERT_EQ(m[1].events.size(), 2u);
    EXPECT_EQ(m[1].revision, 5);
    EXPECT_EQ(m[1].events[0].type, WatchEvent::Type::put);
    EXPECT_EQ(m[1].events[0].kv.key, "a");
    EXPECT_EQ(m[1].events[0].kv.value, "1");
    EXPECT_EQ(m[1].events[1].type, WatchEvent::Type::del);
    EXPECT_EQ(m[1].events[1].kv.key, "b");
    EXPECT_EQ(m[1].events[1].kv.mod_revision, 5);
    EXPECT_TRUE(m[2].events.empty());
    EXPECT_FALSE(m[2].created);
    EXPECT_TRUE(m[3].canceled);
    EXPECT_EQ(m[3].compact_revision, 3);
    for (const auto& x : m) EXPECT_FALSE(x.error);
}

TEST(EtcdJson, WatchStreamWholeAndSplitAtEveryPoint) {
    {
        JsonStream s;
        std::vector<json::value> values;
        ASSERT_FALSE(s.feed(watch_stream, values));
        std::vector<WatchMessage> m;
        for (const auto& v : values) m.push_back(decode_watch_message(v));
        check_stream(m);
    }
    for (std::size_t a = 0; a <= watch_stream.size(); ++a) {
        for (std::size_t b = a; b <= watch_stream.size(); b += 7) {
            JsonStream s;
            std::vector<json::value> values;
            ASSERT_FALSE(s.feed(std::string_view(watch_stream).substr(0, a), values));
            ASSERT_FALSE(s.feed(std::string_view(watch_stream).substr(a, b - a), values));
            ASSERT_FALSE(s.feed(std::string_view(watch_stream).substr(b), values));
            std::vector<WatchMessage> m;
            for (const auto& v : values) m.push_back(decode_watch_message(v));
            check_stream(m);
            if (testing::Test::HasFailure()) FAIL() << "split at " << a << ", " << b;
        }
    }
    // Byte by byte.
    JsonStream s;
    std::vector<json::value> values;
    for (char c : watch_stream) ASSERT_FALSE(s.feed(std::string_view(&c, 1), values));
    EXPECT_EQ(values.size(), 4u);
}

TEST(EtcdJson, WatchStreamErrorsAndGarbage) {
    JsonStream s;
    std::vector<json::value> values;
    ASSERT_FALSE(s.feed(R"({"error":{"grpc_code":16,"http_code":401,"message":"etcdserver: invalid auth token"}})",
                        values));
    ASSERT_EQ(values.size(), 1u);
    auto m = decode_watch_message(values[0]);
    EXPECT_TRUE(is_invalid_token(m.error));
    EXPECT_EQ(etcd_code(m.error), static_cast<int>(EtcdCode::unauthenticated));

    JsonStream bad;
    EXPECT_TRUE(bad.feed("{\"result\":}", values));
    m = decode_watch_message(json::parse(R"({"result":{"events":[{"kv":{"key":"%%"}}]}})"));
    EXPECT_EQ(etcd_code(m.error), static_cast<int>(EtcdCode::bad_response));
}

TEST(EtcdJson, WatchCreateRequest) {
    auto o = parse(encode_watch_create("k", "l", 17));
    const auto& c = o.at("create_request").as_object();
    EXPECT_EQ(c.at("key").as_string(), "aw==");
    EXPECT_EQ(c.at("range_end").as_string(), "bA==");
    EXPECT_EQ(c.at("start_revision").as_string(), "17");
    EXPECT_TRUE(c.at("progress_notify").as_bool());
    EXPECT_FALSE(parse(encode_watch_create("k", "", 0)).at("create_request").as_object().contains("start_revision"));
}

TEST(EtcdJson, EndpointUrls) {
    EndpointAddress a;
    ASSERT_TRUE(parse_endpoint_url("http://127.0.0.1:2379", a));
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.port, "2379");
    ASSERT_TRUE(parse_endpoint_url("http://etcd-1/", a));
    EXPECT_EQ(a.host, "etcd-1");
    EXPECT_EQ(a.port, "2379");
    ASSERT_TRUE(parse_endpoint_url("http://[::1]:23", a));
    EXPECT_EQ(a.host, "::1");
    EXPECT_FALSE(parse_endpoint_url("https://127.0.0.1:2379", a));
    EXPECT_FALSE(parse_endpoint_url("http://h:x", a));
}

}  // namespace
}  // namespace weir::cluster
