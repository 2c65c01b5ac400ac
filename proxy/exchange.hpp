// The memory one request/response exchange needs: read buffers for both
// sides, parsed heads, decoders, the outgoing staging area, and the state of
// the exchange (route, attempts, how far each message got). A connection
// holds one only while a request is under way; idle keep-alive connections
// give it back, so an idle connection costs little more than its socket, and
// busy ones reuse warm buffers instead of allocating per request.
#pragma once

#include "http/chunked.hpp"
#include "http/message.hpp"
#include "http/parser.hpp"
#include "proxy/flat_buffer.hpp"
#include "proxy/socket.hpp"
#include "routing/snapshot.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace weir::proxy {

enum class Direction : std::uint8_t { request, response };

// Where a body transfer stands: which way it goes, how it is framed, and how
// much of it is claimed, staged or still to come.
struct BodyPump {
    Direction dir = Direction::request;
    Socket* src = nullptr;
    Socket* dst = nullptr;
    FlatBuffer* in = nullptr;
    http::BodyKind framing = http::BodyKind::none;
    std::uint64_t remaining = 0;   // content-length bytes not yet claimed
    std::uint64_t body_bytes = 0;  // decoded request body bytes, for max_body_bytes
    bool encode_chunked = false;
    bool source_done = false;
    std::size_t stage_off = 0;     // bytes of the stage already written
    std::size_t view_len = 0;      // bytes at the front of *in to write as they are
};

// Everything one request changes as it goes, and nothing the connection keeps
// across requests: a new request starts from `ExchangeState{}` by assignment,
// so no flag can leak from one request into the next. (An HTTP/2 connection
// will hold one of these per stream.) The defaults describe "no request under
// way": nothing to record, nothing counted.
struct ExchangeState {
    routing::SnapshotPtr snapshot;  // the configuration the request is served with, held to its end
    const routing::Route* route = nullptr;
    const routing::Pool* pool = nullptr;
    const routing::Endpoint* endpoint = nullptr;
    bool panic = false;              // every pool of the route is down: failing endpoints allowed
    int attempts = 0;                // endpoints tried for this request, all pools (replays included)
    int pool_attempts = 0;           // endpoints tried in `pool`
    int last_failure_status = 503;   // what running out of endpoints answers
    std::size_t pending_head = 0;    // request head bytes still at the front of client_in
    http::HeadScan response_scan;    // the response head arriving, searched so far
    std::size_t response_head_len = 0;
    bool request_sent = false;       // head and body went out in full
    bool continue_sent = false;      // "100 Continue" already written to the client
    bool response_started = false;   // the response head was accepted and is being sent
    bool client_bytes_sent = false;  // response bytes reached the client socket
    std::chrono::steady_clock::time_point request_started{};
    bool request_counted = false;    // request_started belongs to the current request
    bool recorded = true;            // the current request is already in the statistics
    bool counted = false;            // this attempt is counted in the endpoint's in-flight load
    std::uint32_t counted_key = 0;
    bool repeatable = false;         // may be sent again after bytes went out (idempotent or keyed)
    bool replaying = false;          // sending the replay copy after a stale pooled connection
    BodyPump pump;
};

struct Exchange : ExchangeState {
    // Read buffers start small: most heads fit in 4 KiB, and a burst of
    // thousands of simultaneous requests then needs a quarter of the memory.
    // A head that does not fit grows its buffer (up to the configured limit);
    // a body being streamed grows it to `body_buffer`, so long transfers move
    // 16 KiB per read.
    static constexpr std::size_t initial_buffer = 4 * 1024;
    static constexpr std::size_t body_buffer = 16 * 1024;

    FlatBuffer client_in{initial_buffer};
    FlatBuffer upstream_in{initial_buffer};
    http::RequestHead request;
    http::ResponseHead response;
    http::ChunkedDecoder decoder;
    std::string stage;  // bytes to send next (a head, re-encoded chunks, a local reply)
    // Per-request state that allocates. Kept here rather than in the session:
    // a small allocation a connection kept after a burst would pin a page of
    // the burst's freed buffers around it.
    std::vector<std::size_t> tried_endpoints;  // indexes in the current pool tried for this request
    std::vector<std::size_t> tried_pools;      // pools this request failed over from
    std::string sticky_key;                    // the request's sticky key, for a failover choice
    std::string set_cookie;                    // a sticky id assigned to this request: the Set-Cookie value
    std::string log_prefix;                    // the access log line's request part, taken with the head
    std::string replay;                        // the whole request, when small enough to send twice
    std::string upgrade_offer;                 // protocols offered upstream (http/upgrade.hpp); empty: none

    Exchange() {
        request.headers.reserve(16);
        response.headers.reserve(16);
        stage.reserve(1024);
    }

    // A request head of `head_len` bytes has arrived at the front of
    // client_in: its exchange starts afresh (buffers and their capacity kept).
    void begin_request(routing::SnapshotPtr snap, std::size_t head_len) {
        state() = ExchangeState{};
        snapshot = std::move(snap);
        pending_head = head_len;
        clear_request_lists();
    }

    // Ready for another connection's request; capacity is kept.
    void clear() {
        state() = ExchangeState{};
        client_in.clear();
        upstream_in.clear();
        stage.clear();
        decoder.reset();
        log_prefix.clear();
        clear_request_lists();
    }

    ExchangeState& state() { return *this; }

private:
    void clear_request_lists() {
        tried_endpoints.clear();
        tried_pools.clear();
        sticky_key.clear();
        set_cookie.clear();
        replay.clear();
        upgrade_offer.clear();
    }
};

// Per-worker free list of exchanges. It is bounded, and it shrinks by itself:
// every housekeeping period the exchanges that stayed in the list the whole
// period (its low-water mark) were not needed and are freed. So steady load
// reuses warm exchanges, and what a burst took goes back within two periods.
class ExchangeCache {
public:
    std::unique_ptr<Exchange> take() {
        if (++in_use_ > peak_) peak_ = in_use_;
        if (free_.empty()) {
            low_ = 0;
            return std::make_unique<Exchange>();
        }
        auto e = std::move(free_.back());
        free_.pop_back();
        if (free_.size() < low_) low_ = free_.size();
        return e;
    }
    void give_back(std::unique_ptr<Exchange> e) {
        if (in_use_ > 0) --in_use_;
        // Buffers grown past the body size (a large head) are not kept.
        if (free_.size() >= max_cached || e->client_in.capacity() > Exchange::body_buffer ||
            e->upstream_in.capacity() > Exchange::body_buffer || e->stage.capacity() > 64 * 1024 ||
            e->replay.capacity() > 64 * 1024) {
            ++released_;
            return;
        }
        e->clear();
        free_.push_back(std::move(e));
    }

    // Once per housekeeping period: frees the exchanges no request needed
    // since the last call (the least recently used first). True when enough
    // memory was freed since the last `true`, and the load has dropped to a
    // quarter of its peak since then, to be worth handing back to the system
    // (malloc_trim): freed memory stays in the allocator otherwise, and a
    // busy worker would only fault it back in.
    bool housekeeping() {
        const std::size_t unused = std::min(low_, free_.size());
        free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(unused));
        released_ += unused;
        low_ = free_.size();
        if (released_ < release_threshold || in_use_ > peak_ / 4) return false;
        released_ = 0;
        peak_ = in_use_;
        return true;
    }

    std::size_t cached() const { return free_.size(); }
    std::size_t in_use() const { return in_use_; }

    static constexpr std::size_t max_cached = 256;
    // About 1 MiB of exchanges at their initial size.
    static constexpr std::size_t release_threshold = 64;

private:
    std::vector<std::unique_ptr<Exchange>> free_;
    std::size_t low_ = 0;       // fewest exchanges in free_ since the last housekeeping
    std::size_t in_use_ = 0;    // exchanges taken and not given back
    std::size_t peak_ = 0;      // most in use at once since the last trim
    std::size_t released_ = 0;  // exchanges freed since the last trim
};

}  // namespace weir::proxy
