// The memory one request/response exchange needs: read buffers for both
// sides, parsed heads, decoders and the outgoing staging area. A connection
// holds one only while a request is under way; idle keep-alive connections
// give it back, so an idle connection costs little more than its socket, and
// busy ones reuse warm buffers instead of allocating per request.
#pragma once

#include "http/chunked.hpp"
#include "http/message.hpp"
#include "proxy/flat_buffer.hpp"

#include <memory>
#include <string>
#include <vector>

namespace weir::proxy {

struct Exchange {
    static constexpr std::size_t initial_buffer = 16 * 1024;

    FlatBuffer client_in{initial_buffer};
    FlatBuffer upstream_in{initial_buffer};
    http::RequestHead request;
    http::ResponseHead response;
    http::ChunkedDecoder decoder;
    std::string stage;  // bytes to send next (a head, re-encoded chunks, a local reply)

    Exchange() {
        request.headers.reserve(32);
        response.headers.reserve(32);
        stage.reserve(4096);
    }
};

// Per-worker free list of exchanges.
class ExchangeCache {
public:
    std::unique_ptr<Exchange> take() {
        if (free_.empty()) return std::make_unique<Exchange>();
        auto e = std::move(free_.back());
        free_.pop_back();
        return e;
    }
    void give_back(std::unique_ptr<Exchange> e) {
        // Buffers grown for a large head go back to normal size; the cache
        // stays bounded so a burst does not pin memory forever.
        if (free_.size() >= max_cached || e->client_in.capacity() > Exchange::initial_buffer ||
            e->upstream_in.capacity() > Exchange::initial_buffer || e->stage.capacity() > 64 * 1024)
            return;
        e->client_in.clear();
        e->upstream_in.clear();
        e->stage.clear();
        e->decoder.reset();
        free_.push_back(std::move(e));
    }

private:
    static constexpr std::size_t max_cached = 256;
    std::vector<std::unique_ptr<Exchange>> free_;
};

}  // namespace weir::proxy
