// The parts of creating an nghttp2 session that both codecs share (private to
// http2/*.cpp, since it includes nghttp2.h). What differs (client or server
// session, extra callbacks and options, the SETTINGS sent) stays with each.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace weir::http2 {

// A callback set with the callbacks both codecs handle, taken from the static
// members of the same names in `Callbacks`; the caller adds its own and
// deletes the set once the session is made.
template <class Callbacks>
nghttp2_session_callbacks* new_session_callbacks() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Callbacks::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Callbacks::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Callbacks::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Callbacks::on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Callbacks::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &Callbacks::on_frame_send);
    return cb;
}

// Options both codecs set; the caller adds its own and deletes them once the
// session is made.
inline nghttp2_option* new_session_options(std::size_t max_outbound_acks, std::size_t max_encoder_table_bytes) {
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    // Received bodies are handed back by the owner (consumed_body), so the
    // peer cannot send faster than the other side of the proxy takes them.
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, max_outbound_acks);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, max_encoder_table_bytes);
    // nghttp2 keeps closed streams for the RFC 7540 priority tree, as many
    // as the concurrent-stream limit it knows; the server codec enforces its
    // limit itself (nghttp2 is told none), so they piled up for the
    // connection's life: about 200 bytes per stream ever served. Priorities
    // are deprecated (RFC 9113 §5.3.2) and neither side uses them.
    nghttp2_option_set_no_closed_streams(opt, 1);
    return opt;
}

// Raises the connection's receive window so that it never binds before the
// streams' windows do.
inline void widen_connection_window(nghttp2_session* session, std::uint32_t max_concurrent_streams,
                                    std::uint32_t initial_window_bytes) {
    const std::uint64_t connection_window = std::min<std::uint64_t>(
        std::uint64_t{max_concurrent_streams} * initial_window_bytes, NGHTTP2_MAX_WINDOW_SIZE);
    if (connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
        nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0,
                                              static_cast<std::int32_t>(connection_window));
}

}  // namespace weir::http2
