// Why an HTTP/2 connection (either side) has to close. Each but no_stream is
// a connection error: the codec has already queued the GOAWAY that says so,
// and the owner writes what is pending and closes.
#pragma once

#include <system_error>

namespace weir::http2 {

enum class Error {
    bad_preface = 1,    // the peer did not start with the HTTP/2 connection preface (a server: with SETTINGS)
    protocol,           // a connection error nghttp2 found (PROTOCOL_ERROR, FRAME_SIZE_ERROR, ...)
    enhance_your_calm,  // one of the abuse bounds of Limits was crossed
    internal,           // nghttp2 failed (out of memory)
    no_stream,          // client side: no new stream now (GOAWAY, concurrency limit, ids exhausted); not fatal
};

const std::error_category& error_category();
inline std::error_code make_error_code(Error e) { return {static_cast<int>(e), error_category()}; }

}  // namespace weir::http2

template <>
struct std::is_error_code_enum<weir::http2::Error> : std::true_type {};
