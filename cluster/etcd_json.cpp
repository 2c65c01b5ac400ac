#include "cluster/etcd_json.hpp"

#include "cluster/etcd_error.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <charconv>

namespace weir::cluster {
namespace json = boost::json;

namespace {

constexpr char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::error_code malformed(std::string_view why) {
    return make_etcd_error(EtcdCode::bad_response, std::string("malformed answer from etcd: ") + std::string(why));
}

// Thrown by the field readers below and turned into bad_response once, at
// the top of each decoder: a wrong type anywhere makes the answer unusable.
struct Malformed {
    std::string why;
};

std::int64_t to_int64(const json::value& v, std::string_view name) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
    if (v.is_string()) {
        const auto& s = v.get_string();
        std::int64_t n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec == std::errc() && p == s.data() + s.size()) return n;
    }
    throw Malformed{std::string(name) + " is not an integer"};
}

std::int64_t int_field(const json::object& o, std::string_view name) {
    auto* v = o.if_contains(name);
    return v && !v->is_null() ? to_int64(*v, name) : 0;
}

bool bool_field(const json::object& o, std::string_view name) {
    auto* v = o.if_contains(name);
    if (!v || v->is_null()) return false;
    if (!v->is_bool()) throw Malformed{std::string(name) + " is not a boolean"};
    return v->get_bool();
}

std::string bytes_field(const json::object& o, std::string_view name) {
    auto* v = o.if_contains(name);
    if (!v || v->is_null()) return {};
    std::string out;
    if (!v->is_string() || !base64_decode(v->get_string(), out)) throw Malformed{std::string(name) + " is not base64"};
    return out;
}

const json::object& object_of(const json::value& v, std::string_view what) {
    if (!v.is_object()) throw Malformed{std::string(what) + " is not an object"};
    return v.get_object();
}

const json::object* object_field(const json::object& o, std::string_view name) {
    auto* v = o.if_contains(name);
    if (!v || v->is_null()) return nullptr;
    return &object_of(*v, name);
}

const json::array* array_field(const json::object& o, std::string_view name) {
    auto* v = o.if_contains(name);
    if (!v || v->is_null()) return nullptr;
    if (!v->is_array()) throw Malformed{std::string(name) + " is not a list"};
    return &v->get_array();
}

std::int64_t header_revision(const json::object& o) {
    const auto* h = object_field(o, "header");
    return h ? int_field(*h, "revision") : 0;
}

KeyValue decode_kv(const json::object& o) {
    KeyValue kv;
    kv.key = bytes_field(o, "key");
    kv.value = bytes_field(o, "value");
    kv.create_revision = int_field(o, "create_revision");
    kv.mod_revision = int_field(o, "mod_revision");
    kv.version = int_field(o, "version");
    kv.lease = int_field(o, "lease");
    return kv;
}

RangeResult decode_range_object(const json::object& o, std::int64_t fallback_revision) {
    RangeResult r;
    r.revision = header_revision(o);
    if (r.revision == 0) r.revision = fallback_revision;
    if (const auto* kvs = array_field(o, "kvs"))
        for (const auto& kv : *kvs) r.kvs.push_back(decode_kv(object_of(kv, "kv")));
    return r;
}

json::object parse_object(std::string_view body) {
    std::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) throw Malformed{"not JSON"};
    return object_of(v, "answer");
}

template <class F>
std::error_code decoding(F&& f) {
    try {
        f();
        return {};
    } catch (const Malformed& m) {
        return malformed(m.why);
    }
}

const char* target_name(Compare::Target t) {
    switch (t) {
    case Compare::Target::version: return "VERSION";
    case Compare::Target::create: return "CREATE";
    case Compare::Target::mod: return "MOD";
    case Compare::Target::value: return "VALUE";
    }
    return "MOD";
}

const char* op_name(Compare::Op op) {
    switch (op) {
    case Compare::Op::equal: return "EQUAL";
    case Compare::Op::greater: return "GREATER";
    case Compare::Op::less: return "LESS";
    case Compare::Op::not_equal: return "NOT_EQUAL";
    }
    return "EQUAL";
}

json::object key_range(std::string_view key, std::string_view range_end) {
    json::object o;
    o["key"] = base64_encode(key);
    if (!range_end.empty()) o["range_end"] = base64_encode(range_end);
    return o;
}

json::array encode_ops(const std::vector<TxnOp>& ops) {
    json::array out;
    for (const auto& op : ops) {
        json::object req = key_range(op.key, op.range_end);
        json::object wrap;
        switch (op.kind) {
        case TxnOp::Kind::put:
            req.erase("range_end");
            req["value"] = base64_encode(op.value);
            if (op.lease != 0) req["lease"] = std::to_string(op.lease);
            wrap["request_put"] = std::move(req);
            break;
        case TxnOp::Kind::delete_range: wrap["request_delete_range"] = std::move(req); break;
        case TxnOp::Kind::range: wrap["request_range"] = std::move(req); break;
        }
        out.push_back(std::move(wrap));
    }
    return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const unsigned n = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 |
                           static_cast<unsigned char>(bytes[i + 2]);
        out += b64_chars[n >> 18 & 63];
        out += b64_chars[n >> 12 & 63];
        out += b64_chars[n >> 6 & 63];
        out += b64_chars[n & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
        if (rest == 2) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        out += b64_chars[n >> 18 & 63];
        out += b64_chars[n >> 12 & 63];
        out += rest == 2 ? b64_chars[n >> 6 & 63] : '=';
        out += '=';
    }
    return out;
}

bool base64_decode(std::string_view text, std::string& out) {
    static const std::array<signed char, 256> table = [] {
        std::array<signed char, 256> t{};
        t.fill(-1);
        for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(b64_chars[i])] = static_cast<signed char>(i);
        // The URL-safe alphabet too: harmless, and some encoders use it.
        t['-'] = 62;
        t['_'] = 63;
        return t;
    }();
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return false;
    out.clear();
    out.reserve(text.size() * 3 / 4);
    unsigned acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = table[static_cast<unsigned char>(c)];
        if (v < 0) return false;
        acc = acc << 6 | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>(acc >> bits & 0xff);
        }
    }
    return true;
}

std::string encode_range(std::string_view key, std::string_view range_end) {
    return json::serialize(key_range(key, range_end));
}

std::string encode_probe(std::string_view key) {
    json::object o = key_range(key, "");
    o["limit"] = "1";
    o["keys_only"] = true;
    return json::serialize(o);
}

std::string encode_txn(const Txn& txn) {
    json::object o;
    json::array compares;
    for (const auto& c : txn.compare) {
        json::object j = key_range(c.key, c.range_end);
        j["target"] = target_name(c.target);
        j["result"] = op_name(c.op);
        switch (c.target) {
        case Compare::Target::version: j["version"] = std::to_string(c.number); break;
        case Compare::Target::create: j["create_revision"] = std::to_string(c.number); break;
        case Compare::Target::mod: j["mod_revision"] = std::to_string(c.number); break;
        case Compare::Target::value: j["value"] = base64_encode(c.value); break;
        }
        compares.push_back(std::move(j));
    }
    o["compare"] = std::move(compares);
    o["success"] = encode_ops(txn.success);
    o["failure"] = encode_ops(txn.failure);
    return json::serialize(o);
}

std::string encode_lease_grant(std::int64_t ttl_seconds) {
    return json::serialize(json::object{{"TTL", std::to_string(ttl_seconds)}});
}

std::string encode_lease_id(std::int64_t id) { return json::serialize(json::object{{"ID", std::to_string(id)}}); }

std::string encode_authenticate(std::string_view name, std::string_view password) {
    return json::serialize(json::object{{"name", name}, {"password", password}});
}

std::string encode_watch_create(std::string_view key, std::string_view range_end, std::int64_t start_revision) {
    json::object req = key_range(key, range_end);
    if (start_revision > 0) req["start_revision"] = std::to_string(start_revision);
    // Progress notifications keep a quiet watch visibly alive (see
    // EtcdOptions::watch_idle_timeout).
    req["progress_notify"] = true;
    return json::serialize(json::object{{"create_request", std::move(req)}});
}

std::string encode_compaction(std::int64_t revision) {
    return json::serialize(json::object{{"revision", std::to_string(revision)}, {"physical", true}});
}

namespace {

// etcd's error inside an already parsed answer or stream message; {} if none.
std::error_code error_in(const json::object& o) {
    const auto* e = o.if_contains("error");
    if (!e || e->is_null()) return {};
    if (e->is_string()) {
        std::string text(e->get_string());
        if (const auto* m = o.if_contains("message"); m && m->is_string() && !m->get_string().empty())
            text = std::string(m->get_string());
        auto code = static_cast<EtcdCode>(int_field(o, "code"));
        return make_etcd_error(static_cast<int>(code) == 0 ? EtcdCode::unknown : code, text);
    }
    if (e->is_object()) {  // a stream's error message
        const auto& eo = e->get_object();
        std::string text;
        if (const auto* m = eo.if_contains("message"); m && m->is_string()) text = std::string(m->get_string());
        auto code = static_cast<EtcdCode>(int_field(eo, "grpc_code"));
        return make_etcd_error(static_cast<int>(code) == 0 ? EtcdCode::unknown : code, text);
    }
    return make_etcd_error(EtcdCode::unknown, "etcd error");
}

}  // namespace

std::error_code decode_error(int http_status, std::string_view body) {
    std::error_code found;
    std::error_code ec = decoding([&] {
        std::error_code perr;
        json::value v = json::parse(body, perr);
        if (!perr && v.is_object()) found = error_in(v.get_object());
    });
    if (ec) return ec;
    if (found) return found;
    if (http_status != 200)
        return make_etcd_error(EtcdCode::bad_response, "etcd answered HTTP " + std::to_string(http_status));
    return {};
}

std::error_code decode_range(std::string_view body, RangeResult& out) {
    return decoding([&] { out = decode_range_object(parse_object(body), 0); });
}

std::error_code decode_txn(std::string_view body, TxnResult& out) {
    return decoding([&] {
        const json::object o = parse_object(body);
        TxnResult r;
        r.succeeded = bool_field(o, "succeeded");
        r.revision = header_revision(o);
        if (const auto* responses = array_field(o, "responses")) {
            for (const auto& resp : *responses) {
                const auto& ro = object_of(resp, "response");
                if (const auto* range = object_field(ro, "response_range"))
                    r.ranges.push_back(decode_range_object(*range, r.revision));
            }
        }
        out = std::move(r);
    });
}

std::error_code decode_lease_grant(std::string_view body, std::int64_t& id, std::int64_t& ttl) {
    return decoding([&] {
        const json::object o = parse_object(body);
        if (auto* e = o.if_contains("error"); e && e->is_string() && !e->get_string().empty())
            throw Malformed{std::string(e->get_string())};
        id = int_field(o, "ID");
        ttl = int_field(o, "TTL");
        if (id == 0) throw Malformed{"no lease ID"};
    });
}

std::error_code decode_lease_keepalive(std::string_view body, std::int64_t& ttl) {
    JsonStream stream;
    std::vector<json::value> values;
    if (auto ec = stream.feed(body, values)) return ec;
    std::error_code found;
    bool seen = false;
    auto ec = decoding([&] {
        for (const auto& v : values) {
            const auto& o = object_of(v, "message");
            if ((found = error_in(o))) return;
            if (const auto* result = object_field(o, "result")) {
                ttl = int_field(*result, "TTL");
                seen = true;
            }
        }
    });
    if (ec) return ec;
    if (found) return found;
    if (!seen) return malformed("no keepalive result");
    return {};
}

std::error_code decode_authenticate(std::string_view body, std::string& token) {
    return decoding([&] {
        const json::object o = parse_object(body);
        const auto* t = o.if_contains("token");
        if (!t || !t->is_string() || t->get_string().empty()) throw Malformed{"no token"};
        token = std::string(t->get_string());
    });
}

std::error_code JsonStream::feed(std::string_view bytes, std::vector<json::value>& out) {
    while (!bytes.empty()) {
        std::error_code ec;
        const std::size_t used = parser_.write_some(bytes.data(), bytes.size(), ec);
        if (ec) {
            parser_.reset();
            return malformed("broken JSON stream");
        }
        bytes.remove_prefix(used);
        if (parser_.done()) {
            out.push_back(parser_.release());
            parser_.reset();
        }
    }
    return {};
}

WatchMessage decode_watch_message(const json::value& message) {
    WatchMessage m;
    auto ec = decoding([&] {
        const auto& o = object_of(message, "message");
        if ((m.error = error_in(o))) return;
        const auto* r = object_field(o, "result");
        if (!r) throw Malformed{"watch message without result"};
        m.created = bool_field(*r, "created");
        m.canceled = bool_field(*r, "canceled");
        m.revision = header_revision(*r);
        m.compact_revision = int_field(*r, "compact_revision");
        if (const auto* reason = r->if_contains("cancel_reason"); reason && reason->is_string())
            m.cancel_reason = std::string(reason->get_string());
        if (const auto* events = array_field(*r, "events")) {
            for (const auto& e : *events) {
                const auto& eo = object_of(e, "event");
                WatchEvent ev;
                // PUT is 0, so absent; DELETE may come as its name or its number.
                if (const auto* t = eo.if_contains("type"))
                    if ((t->is_string() && t->get_string() == "DELETE") || (t->is_int64() && t->get_int64() == 1))
                        ev.type = WatchEvent::Type::del;
                if (const auto* kv = object_field(eo, "kv")) ev.kv = decode_kv(*kv);
                m.events.push_back(std::move(ev));
            }
        }
    });
    if (ec) m.error = ec;
    return m;
}

}  // namespace weir::cluster
