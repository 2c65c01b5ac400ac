// Walks the HTTP/2 frame headers (RFC 9113 §4.1) of a byte stream that
// arrives in pieces. nghttp2 parses the frames itself; this sees only their
// nine-byte headers, so the codec can bound what nghttp2 1.52 does not (a
// header block spread over endless CONTINUATION frames, control-frame floods
// counted against simulated time) before the bytes reach it, and the fuzz
// target can check that what the codec writes is a sequence of whole frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace weir::http2 {

enum class FrameType : std::uint8_t {
    data = 0x0,
    headers = 0x1,
    priority = 0x2,
    rst_stream = 0x3,
    settings = 0x4,
    push_promise = 0x5,
    ping = 0x6,
    goaway = 0x7,
    window_update = 0x8,
    continuation = 0x9,
};

inline constexpr std::uint8_t flag_end_stream = 0x1;
inline constexpr std::uint8_t flag_ack = 0x1;
inline constexpr std::uint8_t flag_end_headers = 0x4;
inline constexpr std::size_t frame_header_bytes = 9;

struct FrameHeader {
    std::uint32_t length = 0;  // payload bytes (24 bits)
    std::uint8_t type = 0;     // a FrameType, or an extension type
    std::uint8_t flags = 0;
    std::uint32_t stream_id = 0;  // reserved bit cleared
};

// Decodes the nine bytes at `p`.
FrameHeader decode_frame_header(const unsigned char* p);

class FrameScanner {
public:
    // Feeds the next bytes; `on_header(const FrameHeader&)` is called once per
    // frame header as soon as its nine bytes are complete (before its payload).
    template <class F>
    void feed(std::string_view bytes, F&& on_header) {
        std::size_t i = 0;
        while (i < bytes.size()) {
            if (payload_left_ > 0) {
                const std::size_t n = payload_left_ < bytes.size() - i ? payload_left_ : bytes.size() - i;
                payload_left_ -= n;
                i += n;
                continue;
            }
            head_[head_len_++] = static_cast<unsigned char>(bytes[i++]);
            if (head_len_ < frame_header_bytes) continue;
            head_len_ = 0;
            const FrameHeader h = decode_frame_header(head_);
            payload_left_ = h.length;
            ++frames_;
            on_header(h);
        }
    }

    // True when the bytes fed so far end exactly at a frame boundary.
    bool at_boundary() const { return head_len_ == 0 && payload_left_ == 0; }
    std::uint64_t frames() const { return frames_; }

private:
    unsigned char head_[frame_header_bytes] = {};
    std::size_t head_len_ = 0;
    std::size_t payload_left_ = 0;
    std::uint64_t frames_ = 0;
};

}  // namespace weir::http2
