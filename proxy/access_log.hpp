// Access log lines (JSON, one per request), built on the worker that served
// the request into that worker's buffer and written in batches: no lock and
// no system call per request.
#pragma once

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

}  // namespace weir::proxy
