#include "http/chunked.hpp"

#include "http/chars.hpp"

#include <algorithm>

namespace weir::http {

void ChunkedDecoder::reset() {
    state_ = State::size;
    remaining_ = 0;
    size_digits_ = 0;
    extension_bytes_ = 0;
    trailer_bytes_ = 0;
}

ChunkedDecoder::Step ChunkedDecoder::feed(std::string_view in) {
    Step st;
    auto fail = [&](std::string_view why) {
        st.error = true;
        st.reason = why;
        return st;
    };
    std::size_t i = 0;
    while (i < in.size()) {
        char c = in[i];
        switch (state_) {
            case State::size: {
                int h = hex_value(c);
                if (h >= 0) {
                    // 15 hex digits is ~1 PB: more is an overflow attempt.
                    if (++size_digits_ > 15) return fail("chunk size too large");
                    remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(h);
                    ++i;
                    break;
                }
                if (size_digits_ == 0) return fail("malformed chunk size");
                if (c == ';') {
                    state_ = State::extension;
                } else if (c == ' ' || c == '\t') {
                    state_ = State::size_ws;
                } else if (c == '\r') {
                    state_ = State::size_lf;
                } else {
                    return fail("malformed chunk size");
                }
                ++i;
                break;
            }
            case State::size_ws:  // BWS before a chunk extension, bounded like the extension
                if (c == ';') state_ = State::extension;
                else if (c != ' ' && c != '\t') return fail("malformed chunk size");
                else if (++extension_bytes_ > max_extension_bytes) return fail("chunk extension too long");
                ++i;
                break;
            case State::extension:
                if (c == '\r') {
                    state_ = State::size_lf;
                } else if (!is_field_vchar(c)) {
                    return fail("invalid character in chunk extension");
                } else if (++extension_bytes_ > max_extension_bytes) {
                    return fail("chunk extension too long");
                }
                ++i;
                break;
            case State::size_lf:
                if (c != '\n') return fail("malformed chunk size line ending");
                ++i;
                extension_bytes_ = 0;
                size_digits_ = 0;
                if (remaining_ == 0) {
                    state_ = State::trailer_start;
                } else {
                    state_ = State::data;
                }
                break;
            case State::data: {
                std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
                st.data = in.substr(i, n);
                remaining_ -= n;
                i += n;
                if (remaining_ == 0) state_ = State::data_cr;
                st.consumed = i;
                return st;
            }
            case State::data_cr:
                if (c != '\r') return fail("missing CRLF after chunk data");
                state_ = State::data_lf;
                ++i;
                break;
            case State::data_lf:
                if (c != '\n') return fail("missing CRLF after chunk data");
                state_ = State::size;
                ++i;
                break;
            case State::trailer_start:
                // Every byte of the trailer section counts, line ends included,
                // so many short lines cannot slip past the limit.
                if (++trailer_bytes_ > max_trailer_bytes_) return fail("trailer section too large");
                if (c == '\r') {
                    state_ = State::final_lf;
                } else if (c == ' ' || c == '\t' || !is_tchar(c)) {
                    return fail("malformed trailer field");
                } else {
                    state_ = State::trailer_name;
                }
                ++i;
                break;
            case State::trailer_name:
                // A field line is name ":" value (RFC 9112 §5): the name is a
                // token right up to the colon, with no space before it.
                if (++trailer_bytes_ > max_trailer_bytes_) return fail("trailer section too large");
                if (c == ':') {
                    state_ = State::trailer_value;
                } else if (!is_tchar(c)) {
                    return fail(c == '\r' ? "trailer field without a colon" : "malformed trailer field name");
                }
                ++i;
                break;
            case State::trailer_value:
                if (c == '\r') {
                    if (++trailer_bytes_ > max_trailer_bytes_) return fail("trailer section too large");
                    state_ = State::trailer_lf;
                } else if (!is_field_vchar(c)) {
                    return fail("invalid character in trailer field");
                } else if (++trailer_bytes_ > max_trailer_bytes_) {
                    return fail("trailer section too large");
                }
                ++i;
                break;
            case State::trailer_lf:
                if (c != '\n') return fail("malformed trailer line ending");
                if (++trailer_bytes_ > max_trailer_bytes_) return fail("trailer section too large");
                state_ = State::trailer_start;
                ++i;
                break;
            case State::final_lf:
                if (c != '\n') return fail("malformed end of chunked body");
                state_ = State::done;
                ++i;
                st.consumed = i;
                st.done = true;
                return st;
            case State::done:
                st.consumed = i;
                st.done = true;
                return st;
        }
    }
    st.consumed = i;
    st.done = state_ == State::done;
    return st;
}

std::size_t format_chunk_size(char* buf, std::uint64_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = digits[size & 0xf];
        size >>= 4;
    } while (size != 0);
    std::size_t len = 0;
    while (n > 0) buf[len++] = tmp[--n];
    buf[len++] = '\r';
    buf[len++] = '\n';
    return len;
}

void append_chunk(std::string& out, std::string_view data) {
    if (data.empty()) return;
    char line[20];
    out.append(line, format_chunk_size(line, data.size()));
    out.append(data);
    out.append("\r\n", 2);
}

void append_last_chunk(std::string& out) { out.append("0\r\n\r\n", 5); }

}  // namespace weir::http
