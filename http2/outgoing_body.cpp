#include "http2/outgoing_body.hpp"

#include "http2/nghttp2_fields.hpp"

#include <algorithm>
#include <cstring>

namespace weir::http2 {

void OutgoingBody::resume(nghttp2_session* session, std::int32_t stream_id) {
    if (!deferred) return;
    deferred = false;
    nghttp2_session_resume_data(session, stream_id);
}

bool OutgoingBody::append(nghttp2_session* session, std::int32_t stream_id, std::string_view bytes, bool end_stream,
                          std::size_t limit) {
    data.append(bytes);
    end = end_stream;
    resume(session, stream_id);
    if (full || unsent() < limit) return false;
    full = true;
    return true;
}

void OutgoingBody::end_with_trailers(nghttp2_session* session, std::int32_t stream_id,
                                     const std::vector<http::Header>& fields) {
    std::size_t size = 0;
    for (const auto& h : fields) size += h.name.size() + h.value.size();
    trailer_storage.reserve(size);  // once: the views below stay valid
    for (const auto& h : fields) {
        const std::size_t pos = trailer_storage.size();
        trailer_storage.append(h.name).append(h.value);
        const std::string_view all(trailer_storage);
        trailers.emplace_back(all.substr(pos, h.name.size()), all.substr(pos + h.name.size(), h.value.size()));
    }
    has_trailers = true;
    end = true;
    resume(session, stream_id);
}

ssize_t OutgoingBody::read(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, std::size_t limit, bool& drained) {
    drained = false;
    const std::size_t n = std::min(length, unsent());
    if (n > 0) std::memcpy(buf, data.data() + at, n);
    at += n;
    if (unsent() == 0) {
        data.clear();
        at = 0;
    } else if (at > limit) {
        data.erase(0, at);
        at = 0;
    }
    if (unsent() == 0) {
        if (end) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            if (has_trailers) {
                *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                std::vector<nghttp2_nv> nv;
                for (const auto& [name, value] : trailers) nv.push_back(make_nv(name, value));
                if (nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size()) != 0)
                    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            }
        } else if (n == 0) {
            deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    if (full && unsent() <= limit / 2) {
        full = false;
        drained = true;
    }
    return static_cast<ssize_t>(n);
}

}  // namespace weir::http2
