// Access log lines (JSON, one per request), built on the worker that served
// the request into that worker's buffer and written in batches: no lock and
// no system call per request.
#pragma once

#include "http/message.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace weir::proxy {

// Appends `s` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s);

// Appends the wall-clock time as "2026-11-27T22:35:01.123Z" (quotes
// included). The date part is formatted once per second per worker.
class TimeStamper {
public:
    void append(std::string& out);

private:
    std::int64_t second_ = -1;
    char prefix_[24] = {};  // "YYYY-MM-DDTHH:MM:SS"
};

// The request part of a line, taken when the head arrives (its bytes may be
// gone when the request ends): {"time", "client" and, when the head parsed,
// "method", "host", "path" — without the closing brace.
void begin_access_line(std::string& out, TimeStamper& clock, std::string_view client, const http::RequestHead* req);

// What a tunnel carried, after its 101: payload bytes each way.
struct TunnelBytes {
    std::uint64_t from_client = 0;
    std::uint64_t from_upstream = 0;
    std::string_view end;  // why it ended ("closed by both sides", "tunnel_idle_timeout", ...)
};

// Appends `prefix` (from begin_access_line) and the outcome, closing the line:
// "status", "route", "pool", "endpoint" (left out when empty), for a tunnel
// "bytes_from_client", "bytes_from_upstream" and "tunnel_end", and "duration_ms" (for a
// tunnel, from its request to its end).
void end_access_line(std::string& out, std::string_view prefix, int status, std::string_view route,
                     std::string_view pool, std::string_view endpoint, double duration_ms,
                     const TunnelBytes* tunnel = nullptr);

}  // namespace weir::proxy
