#include "admin/router.hpp"

#include "admin/guard.hpp"
#include "common/log.hpp"

#include <boost/json.hpp>

#include <cctype>

namespace weir::admin {
namespace {

namespace json = boost::json;

// "%5B%3A%3A1%5D" -> "[::1]": endpoint addresses travel in paths.
std::string percent_decode(std::string_view s) {
    auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::vector<std::string> segments(std::string_view path, bool decode) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (j > i) parts.push_back(decode ? percent_decode(path.substr(i, j - i)) : std::string(path.substr(i, j - i)));
        i = j + 1;
    }
    return parts;
}

// Matches decoded path segments against a pattern; fills the placeholders.
bool matches(const std::string& pattern, const std::vector<std::string>& parts, std::vector<std::string>& params) {
    const auto want = segments(pattern, false);
    if (want.size() != parts.size()) return false;
    params.clear();
    for (std::size_t i = 0; i < want.size(); ++i) {
        if (want[i].size() > 1 && want[i].front() == '{' && want[i].back() == '}') params.push_back(parts[i]);
        else if (want[i] != parts[i]) return false;
    }
    return true;
}

AdminResponse method_not_allowed(std::string allow) {
    AdminResponse r = json_error(405, "method not allowed; use " + allow);
    r.headers["allow"] = std::move(allow);
    return r;
}

// A call kept for a handler that answers later.
struct HeldCall {
    AdminRequest request;
    AdminCall call;
    HeldCall(const AdminRequest& r, std::vector<std::string> params) : request(r), call{request, std::move(params)} {}
};

// Writes the audit line of a change (or of a refused call), then answers.
void audited(const AdminRequest& r, bool refused, AdminResponse resp, const AdminServer::Reply& reply) {
    if ((r.method != "GET" && r.method != "HEAD") || refused) {
        // The audit trail: who asked for which change, and what came of it.
        if (resp.status < 300) {
            log::info("admin", "{} {} {} -> {}", r.peer, r.method, r.path, resp.status);
        } else {
            std::string error;
            boost::system::error_code ec;
            auto v = json::parse(resp.body, ec);
            if (!ec && v.is_object() && v.as_object().contains("error")) error = json::value_to<std::string>(v.at("error"));
            log::warn("admin", "{} {} {} -> {}: {}", r.peer, r.method, r.path, resp.status, error);
        }
    }
    reply(std::move(resp));
}

}  // namespace

bool secret_equals(std::string_view presented, std::string_view expected) {
    unsigned char diff = presented.size() != expected.size() ? 1 : 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
        diff |= static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
    }
    return diff == 0;
}

std::string etag(std::uint64_t version) { return "\"" + std::to_string(version) + "\""; }

bool if_match_ok(const AdminRequest& r, std::uint64_t version) {
    auto it = r.headers.find("if-match");
    if (it == r.headers.end()) return true;
    std::string_view v = it->second;
    const std::string current = std::to_string(version);
    while (!v.empty()) {
        std::size_t comma = v.find(',');
        std::string_view tag = v.substr(0, comma);
        while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
        while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
        if (tag == "*") return true;
        if (tag.starts_with("W/")) tag.remove_prefix(2);
        if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
        if (tag == current) return true;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    return false;
}

AdminRouter::AdminRouter(std::function<std::string()> token, std::function<std::uint64_t()> version)
    : token_(std::move(token)), version_(std::move(version)) {}

void AdminRouter::add(AdminRoute route) { routes_.push_back(std::move(route)); }

bool AdminRouter::authorized(const AdminRequest& r, const std::string& token) const {
    if (token.empty()) return true;
    auto it = r.headers.find("authorization");
    if (it == r.headers.end()) return false;
    std::string_view v = it->second;
    constexpr std::string_view scheme = "Bearer ";
    if (v.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(v[i])) != std::tolower(static_cast<unsigned char>(scheme[i])))
            return false;
    }
    return secret_equals(v.substr(scheme.size()), token);
}

std::optional<std::uint64_t> pinned_version(const AdminRequest& r, std::uint64_t current) {
    auto it = r.headers.find("if-match");
    if (it == r.headers.end() || it->second.find('*') != std::string::npos) return std::nullopt;
    return current;
}

std::optional<AdminResponse> AdminRouter::dispatch(const AdminRequest& r, bool& refused,
                                                   const AdminServer::Reply& reply) const {
    const auto parts = segments(r.path, true);
    std::vector<std::string> params;
    const AdminRoute* chosen = nullptr;
    std::string allow;
    bool open = false;
    for (const AdminRoute& route : routes_) {
        if (!matches(route.pattern, parts, params)) continue;
        open = open || route.open;
        if (route.method == r.method) {
            chosen = &route;
            break;
        }
        if (allow.find(route.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + route.method;
    }
    if (!open) {
        // Refused before any resource sees it, whatever the path.
        const std::string token = token_();
        if (auto no = browser_guard(r, !token.empty())) {
            refused = true;
            return json_error(no->status, no->reason);
        }
        if (!authorized(r, token)) {
            refused = true;
            AdminResponse resp = json_error(401, "missing or wrong bearer token");
            resp.headers["www-authenticate"] = "Bearer";
            return resp;
        }
    }
    if (!chosen) {
        if (!allow.empty()) return method_not_allowed(allow);
        return json_error(404, "no such admin resource: " + r.path);
    }
    if (chosen->conditional) {
        const std::uint64_t version = version_();
        if (!if_match_ok(r, version)) return json_error(412, "If-Match does not match config version " + etag(version));
    }
    if (!chosen->deferred) return chosen->handler(AdminCall{r, std::move(params)});
    // The request outlives this call: the handler answers later.
    auto held = std::make_shared<HeldCall>(r, std::move(params));
    chosen->deferred(held->call, [held, reply](AdminResponse resp) {
        audited(held->request, false, std::move(resp), reply);
    });
    return std::nullopt;
}

void AdminRouter::handle(const AdminRequest& r, AdminServer::Reply reply) const {
    bool refused = false;
    std::optional<AdminResponse> now = dispatch(r, refused, reply);
    if (now) audited(r, refused, std::move(*now), reply);
}

}  // namespace weir::admin
