// Strict RFC 9112 parsing of message heads. Weir enforces framing itself
// instead of trusting a permissive parser: anything that two HTTP
// implementations could read differently (request smuggling) is refused.
#pragma once

#include "http/message.hpp"

#include <cstddef>
#include <string_view>

namespace weir::http {

enum class ParseStatus { complete, incomplete, error };

// Headers per message, beyond which the head is refused with 431.
inline constexpr std::size_t max_header_count = 128;

// How far a head still incomplete was searched for its end. Passed back with
// the same buffer grown by the next read, it makes the search resume there:
// a head that arrives in many small pieces is scanned once in all, not once
// per piece. Reset it (or pass a fresh one) for each new head.
struct HeadScan {
    std::size_t checked = 0;  // bytes of the buffer searched without finding the end
};

// The method's id (Method::other for any not listed), case-sensitive as methods are.
Method method_of(std::string_view method);
// A Content-Length value: 1*DIGIT only, no sign, no hex, no list, no whitespace inside.
bool parse_content_length(std::string_view value, std::uint64_t& out);

// Parses one request head from the start of `buf`. On `complete`, `head_len`
// is the number of bytes the head took (body bytes may follow). On
// `incomplete`, more bytes are needed; a buffer already over `max_head_bytes`
// yields `error` with 431 instead.
ParseStatus parse_request_head(std::string_view buf, std::size_t max_head_bytes, RequestHead& out,
                               std::size_t& head_len, ParseError& err, HeadScan* scan = nullptr);

// Parses one response head. `request_method` decides whether a body follows
// (none for HEAD). Any framing it cannot trust is an error (the proxy answers
// 502); a head over `max_head_bytes` or `max_fields` is one too, marked
// `over_limit`.
ParseStatus parse_response_head(std::string_view buf, std::size_t max_head_bytes, Method request_method,
                                ResponseHead& out, std::size_t& head_len, ParseError& err,
                                std::size_t max_fields = max_header_count, HeadScan* scan = nullptr);

}  // namespace weir::http
