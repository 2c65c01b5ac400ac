// Session, part two: body bytes streamed in either direction. Content-Length
// bodies go from the input buffer to the other socket as they are; chunked
// ones are decoded (and re-encoded) through the stage. The session.hpp
// comment describes the whole state machine.
#include "proxy/session.hpp"

#include "common/log.hpp"
#include "http/serialize.hpp"

#include <cerrno>
#include <cstring>

namespace weir::proxy {
namespace {

// Work done in one go before yielding to other connections of the worker.
constexpr int pump_spins = 32;
// Stage size beyond which decoded chunks are written before decoding more.
constexpr std::size_t stage_flush = 64 * 1024;

}  // namespace

void Session::start_pump(Direction dir, bool staged_whole) {
    dir_ = dir;
    stage_off_ = 0;
    view_len_ = 0;
    source_done_ = false;
    client_bytes_sent_ = false;
    if (dir == Direction::request) {
        src_ = &client_;
        dst_ = &upstream_->socket;
        in_ = &ex_->client_in;
        framing_ = ex_->request.body;
        remaining_ = ex_->request.content_length;
        // Chunked stays chunked upstream (re-encoded after validation).
        encode_chunked_ = framing_ == http::BodyKind::chunked;
    } else {
        src_ = &upstream_->socket;
        dst_ = &client_;
        in_ = &ex_->upstream_in;
        framing_ = ex_->response.body;
        remaining_ = ex_->response.content_length;
    }
    if (staged_whole) {
        // The stage already holds the whole message (a replay); the body's
        // bytes in the client buffer were consumed the first time.
        framing_ = http::BodyKind::none;
        encode_chunked_ = false;
    }
    if (framing_ == http::BodyKind::chunked) ex_->decoder.reset();
    if (framing_ == http::BodyKind::none || (framing_ == http::BodyKind::content_length && remaining_ == 0))
        source_done_ = true;
    pump();
}

// Claims buffered input for output: content-length bytes are written straight
// from the input buffer; chunked bodies are decoded and re-encoded into the
// stage. Returns false on malformed framing (already handled).
bool Session::fill() {
    FlatBuffer& in = *in_;
    switch (framing_) {
        case http::BodyKind::none:
            source_done_ = true;
            return true;
        case http::BodyKind::content_length: {
            std::uint64_t n = std::min<std::uint64_t>(remaining_, in.size());
            view_len_ = static_cast<std::size_t>(n);
            remaining_ -= n;
            if (remaining_ == 0) source_done_ = true;
            return true;
        }
        case http::BodyKind::until_close:
            if (encode_chunked_) {
                http::append_chunk(ex_->stage, in.data());
                in.consume(in.size());
            } else {
                view_len_ = in.size();
            }
            return true;
        case http::BodyKind::chunked:
            while (!in.empty()) {
                auto step = ex_->decoder.feed(in.data());
                if (step.error) {
                    pump_failed(true, BodyFailure::malformed, 0, step.reason);
                    return false;
                }
                if (!step.data.empty()) {
                    if (encode_chunked_) http::append_chunk(ex_->stage, step.data);
                    else ex_->stage.append(step.data);
                    body_bytes_ += step.data.size();
                }
                in.consume(step.consumed);
                if (step.done) {
                    if (encode_chunked_) http::append_last_chunk(ex_->stage);
                    source_done_ = true;
                    break;
                }
                if (ex_->stage.size() >= stage_flush) break;  // write before decoding more
            }
            if (dir_ == Direction::request) {
                std::uint64_t max = snapshot_->limits.max_body_bytes;
                if (max > 0 && body_bytes_ > max) {
                    pump_failed(true, BodyFailure::too_large, 0, "request body too large");
                    return false;
                }
            }
            return true;
    }
    return true;
}

void Session::pump() {
    FlatBuffer& in = *in_;
    std::string& stage = ex_->stage;
    for (int spin = 0; spin < pump_spins; ++spin) {
        // Claim buffered body bytes first, so a head and the body bytes that
        // came with it leave in one write.
        if (!source_done_ && view_len_ == 0 && !in.empty() && stage.size() - stage_off_ < stage_flush) {
            if (!fill()) return;
        }
        if (stage_off_ < stage.size() || view_len_ > 0) {
            iovec iov[2] = {{stage.data() + stage_off_, stage.size() - stage_off_},
                            {const_cast<char*>(in.data().data()), view_len_}};
            IoResult r = dst_->write(iov, 2);
            if (r.blocked()) {
                wait_ = Wait::pump_write;
                set_deadline(dir_ == Direction::request ? pool_->upstream.response_timeout
                                                        : snapshot_->limits.idle_timeout);
                return;
            }
            if (r.error) {
                pump_failed(false, BodyFailure::io, r.error, "write failed");
                return;
            }
            std::size_t n = r.bytes;
            if (n > 0 && dir_ == Direction::response) client_bytes_sent_ = true;
            std::size_t from_stage = std::min(n, stage.size() - stage_off_);
            stage_off_ += from_stage;
            n -= from_stage;
            if (n > 0) {
                in.consume(n);
                view_len_ -= n;
            }
            if (stage_off_ == stage.size()) {
                stage.clear();
                stage_off_ = 0;
            }
            if (!dst_->writable()) {
                wait_ = Wait::pump_write;
                set_deadline(dir_ == Direction::request ? pool_->upstream.response_timeout
                                                        : snapshot_->limits.idle_timeout);
                return;
            }
            continue;
        }
        if (source_done_) {
            pump_done();
            return;
        }
        if (!in.empty()) continue;  // fill() above claims it
        if (!src_->readable()) {
            wait_ = Wait::pump_read;
            set_deadline(dir_ == Direction::request ? snapshot_->limits.idle_timeout
                                                    : pool_->upstream.response_timeout);
            return;
        }
        char* at = in.prepare();
        const std::size_t room = in.writable();
        IoResult r = src_->read(at, room);
        if (r.blocked()) continue;
        if (r.eof && framing_ == http::BodyKind::until_close) {
            source_done_ = true;
            if (encode_chunked_) http::append_last_chunk(stage);
            continue;
        }
        if (r.eof || r.error) {
            pump_failed(true, r.eof ? BodyFailure::cut_short : BodyFailure::io, r.error,
                        r.eof ? "closed before the end of the body" : "read failed");
            return;
        }
        in.commit(r.bytes);
        // A full read means more is coming: long bodies move in body-sized reads.
        if (r.bytes == room && in.capacity() < Exchange::body_buffer) in.grow(Exchange::body_buffer);
    }
    // Long transfer: let the worker's other connections run, then go on.
    wait_ = Wait::none;
    clear_deadline();
    worker_.loop().post([this] {
        if (wait_ == Wait::none) pump();
    });
}

void Session::pump_done() {
    clear_deadline();
    wait_ = Wait::none;
    if (dir_ == Direction::request) {
        request_sent_ = true;
        read_response();
    } else {
        finish_exchange();
    }
}

void Session::pump_failed(bool source_side, BodyFailure kind, int error, std::string_view what) {
    clear_deadline();
    wait_ = Wait::none;
    const bool client_side = (dir_ == Direction::request) == source_side;
    if (dir_ == Direction::request) {
        if (client_side) {
            // The client sent a bad or short body, or went away: the upstream
            // saw a partial request and cannot be reused.
            client_note("client {}: request body: {}{}{}", client_ip_, what, error ? ": " : "",
                      error ? std::strerror(error) : "");
            release_upstream(false);
            if (error == ETIMEDOUT) reply(408, "request body not received in time", true);
            else if (kind == BodyFailure::too_large) reply(413, what, true);
            else if (kind == BodyFailure::malformed) reply(400, what, true);
            else close();
        } else {
            // The upstream stopped reading: it may have answered early (e.g.
            // 413). Read what it said; the connection is not reusable.
            close_after_ = true;
            if (error == ETIMEDOUT) {
                worker_.upstream_failed(*pool_, *endpoint_, UpstreamError::timeout);
                release_upstream(false);
                reply(504, "upstream did not accept the request in time", true);
                return;
            }
            read_response();
        }
        return;
    }
    if (!client_side && !client_bytes_sent_) {
        // Nothing reached the client yet (the framing broke within what came
        // with the head): it can still get a clean 502.
        upstream_note("pool {} endpoint {}: response body: {}{}{}", pool_->name, endpoint_->name, what,
                  error ? ": " : "", error ? std::strerror(error) : "");
        worker_.upstream_failed(*pool_, *endpoint_,
                                error == ETIMEDOUT ? UpstreamError::timeout : UpstreamError::invalid_response);
        release_upstream(false);
        ex_->upstream_in.clear();
        reply(error == ETIMEDOUT ? 504 : 502, "invalid response from upstream", true);
        return;
    }
    // Response direction: the head is already out, so no error reply is
    // possible; closing tells the client the response is incomplete.
    if (!recorded_) record(ex_->response.status, !client_side || ex_->response.status >= 500);
    if (client_side) {
        // Clients leaving mid-response are routine (a closed tab, a load
        // generator stopping); not a failure of the proxy or the upstream.
        log::debug("proxy", "client {}: response body: {}{}{}", client_ip_, what, error ? ": " : "",
                   error ? std::strerror(error) : "");
    } else {
        upstream_note("pool {} endpoint {}: response body: {}{}{}", pool_->name, endpoint_->name, what,
                  error ? ": " : "", error ? std::strerror(error) : "");
        worker_.upstream_failed(*pool_, *endpoint_,
                                error == ETIMEDOUT ? UpstreamError::timeout
                                : error == 0       ? UpstreamError::invalid_response
                                                   : UpstreamError::reset);
    }
    release_upstream(false);
    close();
}

}  // namespace weir::proxy
