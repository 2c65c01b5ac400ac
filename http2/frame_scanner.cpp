#include "http2/frame_scanner.hpp"

namespace weir::http2 {

FrameHeader decode_frame_header(const unsigned char* p) {
    FrameHeader h;
    h.length = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
    h.type = p[3];
    h.flags = p[4];
    h.stream_id = ((std::uint32_t{p[5]} << 24) | (std::uint32_t{p[6]} << 16) | (std::uint32_t{p[7]} << 8) | p[8]) &
                  0x7fffffffu;
    return h;
}

}  // namespace weir::http2
