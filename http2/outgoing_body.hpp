// The body a stream sends (a response downstream, a request upstream) while
// flow control holds it back: the bytes the owner submitted and nghttp2 has
// not taken yet, the end flag, optional trailers, and the back-pressure state
// the owner hears of through on_send_buffer. Both codecs buffer their
// outgoing bodies the same way; this is that buffer and its nghttp2 data
// provider's read step. Private to http2/*.cpp (it includes nghttp2.h).
#pragma once

#include "http/message.hpp"

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weir::http2 {

struct OutgoingBody {
    // Unsent bytes are data[at, end): taken from the front without moving the
    // rest each time (compacted once `at` passes the buffer limit).
    std::string data;
    std::size_t at = 0;
    bool end = false;
    bool deferred = false;  // the data provider said "nothing yet": resume when more arrives
    bool full = false;      // on_send_buffer(full) was reported, drained not yet
    bool has_provider = false;  // a data provider was submitted: the body goes through here
    std::string trailer_storage;
    std::vector<std::pair<std::string_view, std::string_view>> trailers;  // into trailer_storage
    bool has_trailers = false;

    std::size_t unsent() const { return data.size() - at; }
    // Whether submit_body / submit_trailers may add to it.
    bool open() const { return has_provider && !end; }

    // Appends the owner's bytes (open() must hold) and wakes a deferred
    // provider. True when the buffer has just become full at `limit` bytes:
    // the caller reports on_send_buffer(stream_id, true).
    bool append(nghttp2_session* session, std::int32_t stream_id, std::string_view bytes, bool end_stream,
                std::size_t limit);
    // Ends the body with trailer fields (open() must hold), copied here so
    // they outlive the call until the data provider submits them.
    void end_with_trailers(nghttp2_session* session, std::int32_t stream_id,
                           const std::vector<http::Header>& fields);
    // The data provider's read callback, for a buffer of `limit` bytes: fills
    // `buf`, ends the stream (or submits the trailers) once everything is
    // taken, defers when nothing is there yet. `drained` is set when the
    // buffer has gone below half of `limit` after being full: the caller
    // reports on_send_buffer(stream_id, false).
    ssize_t read(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                 std::uint32_t* data_flags, std::size_t limit, bool& drained);

private:
    void resume(nghttp2_session* session, std::int32_t stream_id);
};

}  // namespace weir::http2
