#include "admin/bodies.hpp"

#include "routing/settings.hpp"

#include <boost/json.hpp>

namespace weir::admin {
namespace {

namespace json = boost::json;

template <class T>
ParsedBody<T> refuse(std::string why) {
    ParsedBody<T> p;
    p.error = std::move(why);
    return p;
}

std::optional<double> as_number(const json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.as_int64());
    if (v.is_uint64()) return static_cast<double>(v.as_uint64());
    if (v.is_double()) return v.as_double();
    return std::nullopt;
}

// A JSON object body, or why not.
std::optional<std::string> parse_object(std::string_view body, json::object& out) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return "body is not valid JSON: " + ec.message();
    if (!v.is_object()) return std::string("body must be a JSON object");
    out = std::move(v.as_object());
    return std::nullopt;
}

}  // namespace

ParsedBody<WeightList> parse_split_body(std::string_view body) {
    json::object o;
    if (auto bad = parse_object(body, o)) return refuse<WeightList>(std::move(*bad));
    WeightList split;
    for (const auto& [pool, v] : o) {
        auto w = as_number(v);
        if (!w) return refuse<WeightList>("weight of '" + std::string(pool) + "' must be a number");
        split.emplace_back(std::string(pool), *w);
    }
    return {std::move(split), {}};
}

ParsedBody<std::string> parse_switch_body(std::string_view body) {
    json::object o;
    if (auto bad = parse_object(body, o)) return refuse<std::string>(std::move(*bad));
    auto it = o.find("pool");
    if (it == o.end() || !it->value().is_string() || o.size() != 1)
        return refuse<std::string>("body must be {\"pool\": \"<name>\"}");
    return {std::string(it->value().as_string()), {}};
}

ParsedBody<WeightList> parse_endpoints_body(std::string_view body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return refuse<WeightList>("body is not valid JSON: " + ec.message());
    const json::array* list = v.if_array();
    if (!list && v.is_object() && v.as_object().contains("endpoints")) list = v.as_object().at("endpoints").if_array();
    if (!list) return refuse<WeightList>("body must be [{\"address\": \"host:port\", \"weight\": 1}, ...]");
    WeightList endpoints;
    for (const auto& item : *list) {
        const json::object* o = item.if_object();
        if (!o || !o->contains("address") || !o->at("address").is_string())
            return refuse<WeightList>("every endpoint needs an \"address\" string");
        double w = routing::default_endpoint_weight;  // as in the file
        if (o->contains("weight")) {
            auto n = as_number(o->at("weight"));
            if (!n) return refuse<WeightList>("weight must be a number");
            w = *n;
        }
        endpoints.emplace_back(std::string(o->at("address").as_string()), w);
    }
    return {std::move(endpoints), {}};
}

}  // namespace weir::admin
