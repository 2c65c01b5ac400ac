// Field helpers both codecs use with nghttp2 (private to http2/*.cpp, since it
// includes nghttp2.h): header fields received are copied into one string per
// list and addressed by offset (a Span), because views into a string that
// still grows would dangle; fields sent are handed over as nghttp2_nv.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace weir::http2 {

struct Span {
    std::uint32_t at = 0;
    std::uint32_t len = 0;
};

// Appends n bytes at p to `storage`; returns where they are.
inline Span keep(std::string& storage, const std::uint8_t* p, std::size_t n) {
    Span s{static_cast<std::uint32_t>(storage.size()), static_cast<std::uint32_t>(n)};
    storage.append(reinterpret_cast<const char*>(p), n);
    return s;
}

inline std::string_view view(const std::string& storage, Span s) {
    return std::string_view(storage).substr(s.at, s.len);
}

inline nghttp2_nv make_nv(std::string_view name, std::string_view value) {
    // nghttp2 copies the fields it is given (no NO_COPY flags), so views will do.
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
            NGHTTP2_NV_FLAG_NONE};
}

}  // namespace weir::http2
