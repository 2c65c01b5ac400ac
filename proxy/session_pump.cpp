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
    BodyPump& p = ex_->pump;
    p.dir = dir;
    p.stage_off = 0;
    p.view_len = 0;
    p.source_done = false;
    ex_->client_bytes_sent = false;
    if (dir == Direction::request) {
        p.src = &client_;
        p.dst = &upstream_->socket;
        p.in = &ex_->client_in;
        p.framing = ex_->request.body;
        p.remaining = ex_->request.content_length;
        // Chunked stays chunked upstream (re-encoded after validation).
        p.encode_chunked = p.framing == http::BodyKind::chunked;
    } else {
        p.src = &upstream_->socket;
        p.dst = &client_;
        p.in = &ex_->upstream_in;
        p.framing = ex_->response.body;
        p.remaining = ex_->response.content_length;
    }
    if (staged_whole) {
        // The stage already holds the whole message (a replay); the body's
        // bytes in the client buffer were consumed the first time.
        p.framing = http::BodyKind::none;
        p.encode_chunked = false;
    }
    if (p.framing == http::BodyKind::chunked) ex_->decoder.reset();
    if (p.framing == http::BodyKind::none || (p.framing == http::BodyKind::content_length && p.remaining == 0))
        p.source_done = true;
    pump();
}

// Claims buffered input for output: content-length bytes are written straight
// from the input buffer; chunked bodies are decoded and re-encoded into the
// stage. Returns false on malformed framing (already handled).
bool Session::fill() {
    BodyPump& p = ex_->pump;
    FlatBuffer& in = *p.in;
    switch (p.framing) {
        case http::BodyKind::none:
            p.source_done = true;
            return true;
        case http::BodyKind::content_length: {
            std::uint64_t n = std::min<std::uint64_t>(p.remaining, in.size());
            p.view_len = static_cast<std::size_t>(n);
            p.remaining -= n;
            if (p.remaining == 0) p.source_done = true;
            return true;
        }
        case http::BodyKind::until_close:
            if (p.encode_chunked) {
                http::append_chunk(ex_->stage, in.data());
                in.consume(in.size());
            } else {
                p.view_len = in.size();
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
                    if (p.encode_chunked) http::append_chunk(ex_->stage, step.data);
                    else ex_->stage.append(step.data);
                    p.body_bytes += step.data.size();
                }
                in.consume(step.consumed);
                if (step.done) {
                    if (p.encode_chunked) http::append_last_chunk(ex_->stage);
                    p.source_done = true;
                    break;
                }
                if (ex_->stage.size() >= stage_flush) break;  // write before decoding more
            }
            if (p.dir == Direction::request) {
                std::uint64_t max = ex_->snapshot->limits.max_body_bytes;
                if (max > 0 && p.body_bytes > max) {
                    pump_failed(true, BodyFailure::too_large, 0, "request body too large");
                    return false;
                }
            }
            return true;
    }
    return true;
}

void Session::pump() {
    BodyPump& p = ex_->pump;
    FlatBuffer& in = *p.in;
    std::string& stage = ex_->stage;
    for (int spin = 0; spin < pump_spins; ++spin) {
        // Claim buffered body bytes first, so a head and the body bytes that
        // came with it leave in one write.
        if (!p.source_done && p.view_len == 0 && !in.empty() && stage.size() - p.stage_off < stage_flush) {
            if (!fill()) return;
        }
        if (p.stage_off < stage.size() || p.view_len > 0) {
            iovec iov[2] = {{stage.data() + p.stage_off, stage.size() - p.stage_off},
                            {const_cast<char*>(in.data().data()), p.view_len}};
            IoResult r = p.dst->write(iov, 2);
            if (r.blocked()) {
                wait_ = Wait::pump_write;
                set_deadline(p.dir == Direction::request ? ex_->pool->upstream.response_timeout
                                                        : ex_->snapshot->limits.idle_timeout);
                return;
            }
            if (r.error) {
                pump_failed(false, BodyFailure::io, r.error, "write failed");
                return;
            }
            std::size_t n = r.bytes;
            if (n > 0 && p.dir == Direction::response) ex_->client_bytes_sent = true;
            std::size_t from_stage = std::min(n, stage.size() - p.stage_off);
            p.stage_off += from_stage;
            n -= from_stage;
            if (n > 0) {
                in.consume(n);
                p.view_len -= n;
            }
            if (p.stage_off == stage.size()) {
                stage.clear();
                p.stage_off = 0;
            }
            if (!p.dst->writable()) {
                wait_ = Wait::pump_write;
                set_deadline(p.dir == Direction::request ? ex_->pool->upstream.response_timeout
                                                        : ex_->snapshot->limits.idle_timeout);
                return;
            }
            continue;
        }
        if (p.source_done) {
            pump_done();
            return;
        }
        if (!in.empty()) continue;  // fill() above claims it
        if (!p.src->readable()) {
            wait_ = Wait::pump_read;
            set_deadline(p.dir == Direction::request ? ex_->snapshot->limits.idle_timeout
                                                    : ex_->pool->upstream.response_timeout);
            return;
        }
        char* at = in.prepare();
        const std::size_t room = in.writable();
        IoResult r = p.src->read(at, room);
        if (r.blocked()) continue;
        if (r.eof && p.framing == http::BodyKind::until_close) {
            p.source_done = true;
            if (p.encode_chunked) http::append_last_chunk(stage);
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
    BodyPump& p = ex_->pump;
    clear_deadline();
    wait_ = Wait::none;
    if (p.dir == Direction::request) {
        ex_->request_sent = true;
        read_response();
    } else {
        finish_exchange();
    }
}

void Session::pump_failed(bool source_side, BodyFailure kind, int error, std::string_view what) {
    BodyPump& p = ex_->pump;
    clear_deadline();
    wait_ = Wait::none;
    const bool client_side = (p.dir == Direction::request) == source_side;
    if (p.dir == Direction::request) {
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
                worker_.upstream_failed(*ex_->pool, *ex_->endpoint, UpstreamError::timeout);
                release_upstream(false);
                reply(504, "upstream did not accept the request in time", true);
                return;
            }
            read_response();
        }
        return;
    }
    if (!client_side && !ex_->client_bytes_sent) {
        // Nothing reached the client yet (the framing broke within what came
        // with the head): it can still get a clean 502.
        upstream_note("pool {} endpoint {}: response body: {}{}{}", ex_->pool->name, ex_->endpoint->name, what,
                  error ? ": " : "", error ? std::strerror(error) : "");
        worker_.upstream_failed(*ex_->pool, *ex_->endpoint,
                                error == ETIMEDOUT ? UpstreamError::timeout : UpstreamError::invalid_response);
        release_upstream(false);
        ex_->upstream_in.clear();
        reply(error == ETIMEDOUT ? 504 : 502, "invalid response from upstream", true);
        return;
    }
    // Response direction: the head is already out, so no error reply is
    // possible; closing tells the client the response is incomplete.
    if (!ex_->recorded) record(ex_->response.status, !client_side || ex_->response.status >= 500);
    if (client_side) {
        // Clients leaving mid-response are routine (a closed tab, a load
        // generator stopping); not a failure of the proxy or the upstream.
        log::debug("proxy", "client {}: response body: {}{}{}", client_ip_, what, error ? ": " : "",
                   error ? std::strerror(error) : "");
    } else {
        upstream_note("pool {} endpoint {}: response body: {}{}{}", ex_->pool->name, ex_->endpoint->name, what,
                  error ? ": " : "", error ? std::strerror(error) : "");
        worker_.upstream_failed(*ex_->pool, *ex_->endpoint,
                                error == ETIMEDOUT ? UpstreamError::timeout
                                : error == 0       ? UpstreamError::invalid_response
                                                   : UpstreamError::reset);
    }
    release_upstream(false);
    close();
}

}  // namespace weir::proxy
