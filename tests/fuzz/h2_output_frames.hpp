// What both HTTP/2 fuzz targets check of the bytes a codec writes (after the
// client magic, on the client side): whole frames, the first a SETTINGS
// frame, no type beyond CONTINUATION, no payload over the default 16384-byte
// SETTINGS_MAX_FRAME_SIZE (neither codec raises it).
#pragma once

#include "fuzz_check.hpp"
#include "http2/frame_scanner.hpp"

#include <cstdint>
#include <string_view>

namespace weir::fuzz {

class H2OutputFrames {
public:
    void feed(std::string_view bytes) {
        using namespace weir::http2;
        scanner_.feed(bytes, [&](const FrameHeader& h) {
            if (first_frame_) FUZZ_CHECK(h.type == static_cast<std::uint8_t>(FrameType::settings));
            first_frame_ = false;
            FUZZ_CHECK(h.type <= static_cast<std::uint8_t>(FrameType::continuation));
            FUZZ_CHECK(h.length <= 16384);
        });
    }
    // Checks that the output so far ends at a frame boundary.
    void check_boundary() const { FUZZ_CHECK(scanner_.at_boundary()); }

private:
    weir::http2::FrameScanner scanner_;
    bool first_frame_ = true;
};

}  // namespace weir::fuzz
