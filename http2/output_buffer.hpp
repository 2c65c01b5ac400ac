// The bytes a codec has serialised and its owner not yet written. Both codecs
// copy nghttp2's output here, up to their output_buffer_bytes, so the owner
// writes in its own time; the string starts over once all of it is written,
// so it does not grow with the connection's lifetime.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace weir::http2 {

struct OutputBuffer {
    std::string bytes;
    std::size_t sent = 0;  // bytes[0, sent) are written

    std::size_t unsent() const { return bytes.size() - sent; }
    std::string_view pending() const { return std::string_view(bytes).substr(sent); }
    void reset_if_written() {
        if (sent != bytes.size()) return;
        bytes.clear();
        sent = 0;
    }
    void consumed(std::size_t n) {
        sent = std::min(bytes.size(), sent + n);
        reset_if_written();
    }
};

}  // namespace weir::http2
