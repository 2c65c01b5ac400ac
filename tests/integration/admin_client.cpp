#include "admin_client.hpp"

#include <cstdlib>
#include <sstream>

namespace weir_it {

namespace json = boost::json;

Response admin_request(std::uint16_t admin_port, const std::string& method, const std::string& path,
                       const std::string& body, const std::string& extra, const std::string& token) {
    // The admin refuses a Host that is not a loopback name when it has no token.
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(admin_port) +
                      "\r\nConnection: close\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    req += extra;
    if (!body.empty() || method == "PUT" || method == "POST" || method == "DELETE" || method == "PATCH") {
        if (!body.empty()) req += "Content-Type: application/json\r\n";
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    RawClient c(admin_port, 15s);
    if (!c.connected()) {
        Response r;
        r.error = "cannot connect to the admin port: errno " + std::to_string(c.connect_errno());
        return r;
    }
    return c.request(req);
}

json::value parse_json(const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return nullptr;
    return v;
}

std::optional<double> json_number(const json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.as_int64());
    if (v.is_uint64()) return static_cast<double>(v.as_uint64());
    if (v.is_double()) return v.as_double();
    return std::nullopt;
}

std::optional<double> metric_value(const std::string& text, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        if (line.compare(0, name.size(), name) != 0) continue;
        std::size_t at = name.size();
        std::map<std::string, std::string> got;
        if (at < line.size() && line[at] == '{') {
            auto close = line.find('}', at);
            if (close == std::string::npos) continue;
            std::string body = line.substr(at + 1, close - at - 1);
            // name="value" pairs; values in these tests hold no quotes or commas.
            std::size_t i = 0;
            while (i < body.size()) {
                auto eq = body.find('=', i);
                if (eq == std::string::npos) break;
                auto q1 = body.find('"', eq);
                auto q2 = body.find('"', q1 + 1);
                if (q1 == std::string::npos || q2 == std::string::npos) break;
                got[body.substr(i, eq - i)] = body.substr(q1 + 1, q2 - q1 - 1);
                i = q2 + 1;
                if (i < body.size() && body[i] == ',') ++i;
            }
            at = close + 1;
        }
        if (at >= line.size() || line[at] != ' ') continue;
        if (got != labels) continue;
        return std::strtod(line.c_str() + at + 1, nullptr);
    }
    return std::nullopt;
}

}  // namespace weir_it
