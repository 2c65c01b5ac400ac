// The CONTINUATION flood bound (CVE-2024-27316 and kin) both codecs check on
// frame headers before nghttp2 sees the bytes: nghttp2 1.52 buffers a header
// block of any length spread over CONTINUATION frames. A block may have at
// most `max_continuations` of them and at most `max_bytes` wire bytes (a
// field costs its name, value and 32 bytes decoded, more than any sane
// encoding of it on the wire, so the header list limit bounds both).
#pragma once

#include "http2/frame_scanner.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace weir::http2 {

class HeaderBlockBound {
public:
    // Sees the next frame header; returns which bound it crosses (static
    // text), empty if none.
    std::string_view on_frame(const FrameHeader& h, std::uint32_t max_continuations, std::size_t max_bytes) {
        switch (static_cast<FrameType>(h.type)) {
            case FrameType::headers:
            case FrameType::push_promise:
                in_block_ = (h.flags & flag_end_headers) == 0;
                continuations_ = 0;
                bytes_ = h.length;
                return {};
            case FrameType::continuation: {
                if (!in_block_) return {};  // nghttp2 rejects it
                ++continuations_;
                bytes_ += h.length;
                if ((h.flags & flag_end_headers) != 0) in_block_ = false;
                if (continuations_ > max_continuations) return "CONTINUATION flood: too many frames";
                if (bytes_ > max_bytes) return "CONTINUATION flood: header block too large";
                return {};
            }
            default:
                return {};
        }
    }

private:
    std::uint32_t continuations_ = 0;
    std::size_t bytes_ = 0;
    bool in_block_ = false;
};

}  // namespace weir::http2
