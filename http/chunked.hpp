// Streaming decoder for the chunked transfer coding (RFC 9112 §7.1). Weir
// decodes and re-encodes chunked bodies rather than relaying the framing bytes,
// so chunk extensions and trailers never reach the other side unchecked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace weir::http {

class ChunkedDecoder {
public:
    // Longest chunk extension accepted on one size line; longer ones are an
    // attack on buffer space, not a real use.
    static constexpr std::size_t max_extension_bytes = 4096;

    struct Step {
        std::size_t consumed = 0;  // input bytes used by this step
        std::string_view data;     // payload found (points into the input); may be empty
        bool done = false;         // the last chunk and the trailer section are complete
        bool error = false;
        std::string_view reason;   // when error
    };

    explicit ChunkedDecoder(std::size_t max_trailer_bytes = 65536) : max_trailer_bytes_(max_trailer_bytes) {}

    void reset();
    bool done() const { return state_ == State::done; }

    // Consumes input until it has a data span, finishes, runs out of input,
    // or finds malformed framing. Call again with the unconsumed rest.
    Step feed(std::string_view in);

private:
    enum class State {
        size, size_ws, extension, size_lf, data, data_cr, data_lf, trailer_start, trailer_name, trailer_value, trailer_lf,
        final_lf, done
    };
    State state_ = State::size;
    std::uint64_t remaining_ = 0;
    int size_digits_ = 0;
    std::size_t extension_bytes_ = 0;
    std::size_t trailer_bytes_ = 0;
    std::size_t max_trailer_bytes_;
};

// Appends the chunked encoding of `data` (one chunk) to `out`; nothing for empty data.
void append_chunk(std::string& out, std::string_view data);
// Appends the last chunk with an empty trailer section.
void append_last_chunk(std::string& out);
// Writes the chunk-size line for `size` into `buf` (at least 20 bytes); returns its length.
std::size_t format_chunk_size(char* buf, std::uint64_t size);

}  // namespace weir::http
