// A request as an HTTP/2 stream delivers it: the four request pseudo-header
// fields and the regular fields, already checked by the codec (RFC 9113
// §8.2-8.3). The views stay valid until the stream closes.
#pragma once

#include "http/message.hpp"

#include <string_view>
#include <vector>

namespace weir::http2 {

struct RequestHeaders {
    std::string_view method;
    std::string_view scheme;     // empty for CONNECT
    std::string_view authority;  // may be empty (then a Host field may be among `headers`)
    std::string_view path;       // empty for CONNECT
    std::vector<http::Header> headers;  // regular fields, names in lower case, in arrival order
    bool end_stream = false;            // the HEADERS frame ended the stream: no body follows
};

}  // namespace weir::http2
