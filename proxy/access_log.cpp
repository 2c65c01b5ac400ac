#include "proxy/access_log.hpp"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

namespace weir::proxy {

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u >= 0x7f) {
            // Heads are validated, but obs-text bytes may remain; \u00XX keeps the line valid JSON.
            out += "\\u00";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

void TimeStamper::append(std::string& out) {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const std::int64_t ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
    const std::int64_t sec = ms / 1000;
    if (sec != second_) {
        std::time_t t = static_cast<std::time_t>(sec);
        std::tm tm{};
        gmtime_r(&t, &tm);
        std::strftime(prefix_, sizeof prefix_, "%Y-%m-%dT%H:%M:%S", &tm);
        second_ = sec;
    }
    const int frac = static_cast<int>(ms % 1000);
    out.push_back('"');
    out += prefix_;
    out.push_back('.');
    out.push_back(static_cast<char>('0' + frac / 100));
    out.push_back(static_cast<char>('0' + frac / 10 % 10));
    out.push_back(static_cast<char>('0' + frac % 10));
    out += "Z\"";
}

void begin_access_line(std::string& out, TimeStamper& clock, std::string_view client, const http::RequestHead* req) {
    out += "{\"time\":";
    clock.append(out);
    out += ",\"client\":";
    append_json_string(out, client);
    if (!req) return;
    out += ",\"method\":";
    append_json_string(out, req->method);
    out += ",\"host\":";
    append_json_string(out, req->host);
    out += ",\"path\":";
    append_json_string(out, req->target);
}

void end_access_line(std::string& out, std::string_view prefix, int status, std::string_view route,
                     std::string_view pool, std::string_view endpoint, double duration_ms, const TunnelBytes* tunnel) {
    out += prefix;
    out += ",\"status\":";
    out += std::to_string(status);
    out += ",\"route\":";
    append_json_string(out, route);
    out += ",\"pool\":";
    append_json_string(out, pool);
    if (!endpoint.empty()) {
        out += ",\"endpoint\":";
        append_json_string(out, endpoint);
    }
    if (tunnel) {
        out += fmt::format(",\"bytes_from_client\":{},\"bytes_from_upstream\":{},\"tunnel_end\":", tunnel->from_client,
                           tunnel->from_upstream);
        append_json_string(out, tunnel->end);
    }
    out += fmt::format(",\"duration_ms\":{:.3f}}}\n", duration_ms);
}

}  // namespace weir::proxy
