// A client connection that speaks HTTP/2 (RFC 9113): ALPN "h2" after a TLS
// handshake, or the connection preface on a plain listener that accepts h2c.
// The session that accepted the connection hands it over here; the codec
// (http2::ServerConnection) turns bytes into streams, and each stream is an
// exchange of its own (H2Stream) with its own route, pool, endpoint and
// upstream connection.
//
// Control flow: everything starts from the client socket's events, a
// stream's upstream events, or a timer, and ends in service(), which reads
// what the client sent, feeds the codec, starts the streams it opened, writes
// what the codec has to say, and closes the connection when it is done.
// Streams never write to the client or close anything themselves: they queue
// frames with the codec, and the codec reports a stream's end through
// on_stream_closed, during service(), when no stream method is running.
#pragma once

#include "http2/server_connection.hpp"
#include "proxy/timer_wheel.hpp"

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weir::proxy {

class H2Stream;
class Session;
class Worker;

class H2Connection final : public http2::Events, public Timer {
public:
    H2Connection(Session& session, const http2::Limits& limits);
    ~H2Connection() override;
    H2Connection(const H2Connection&) = delete;
    H2Connection& operator=(const H2Connection&) = delete;

    // Starts serving, with the bytes already read from the client (the
    // preface an HTTP/1.1 read found; empty after ALPN).
    void start(std::string_view first_bytes);
    // The client socket's readiness changed.
    void on_client_events();
    // Writes what the streams queued since the last pass (Worker::queue_flush).
    void flush() { service(); }
    // Graceful shutdown: GOAWAY, streams already opened finish, then the close.
    void drain();
    // The connection ends now (process exit, or the session closes): every
    // stream's exchange ends with it. Only from outside stream and codec calls.
    void abort();

    // For streams.
    Session& session() { return session_; }
    Worker& worker();
    http2::ServerConnection& codec() { return codec_; }
    // A stream's upstream event or timer: the stream's step; what it queued
    // with the codec goes out at the end of the loop's batch.
    void stream_event(H2Stream& stream, bool timer);
    // A stream wants another step once the current service() pass is over
    // (its response body has room again).
    void wake(H2Stream& stream);
    // A stream's exchange is over: its answer is with the codec.
    void stream_done();

    std::size_t streams() const { return streams_.size(); }

private:
    // http2::Events
    void on_request(std::int32_t stream_id, const http2::RequestHeaders& request) override;
    void on_body(std::int32_t stream_id, std::string_view bytes) override;
    void on_request_trailers(std::int32_t stream_id, const std::vector<http::Header>& trailers) override;
    void on_end_of_request(std::int32_t stream_id) override;
    void on_stream_closed(std::int32_t stream_id, std::uint32_t error_code) override;
    void on_send_buffer(std::int32_t stream_id, bool full) override;

    void on_timer() override;
    void service();
    // Feeds bytes from the client to the codec; false when the connection ends.
    bool take_input(std::string_view bytes);
    // Writes what the codec has pending; false when the socket failed.
    bool write_output();
    void arm_deadline();
    // Idle: the codec's idle memory, and the heap blocks of the stream lists.
    void release_idle_memory();
    void close();
    H2Stream* find(std::int32_t id);

    Session& session_;
    http2::ServerConnection codec_;
    std::unordered_map<std::int32_t, std::unique_ptr<H2Stream>> streams_;
    // Streams opened by the input being processed: started only once the
    // whole read has been through the codec, so a stream the client resets
    // in the same read (rapid reset) never reaches an upstream.
    std::vector<std::int32_t> opened_;
    std::vector<std::int32_t> woken_;  // streams to step again after this pass
    std::size_t exchanges_ = 0;        // streams whose exchange is still under way
    bool in_service_ = false;
    bool closed_ = false;
    bool served_ = false;              // a request has arrived (idle limit: idle_timeout, not header_timeout)
    std::uint64_t trimmed_ms_ = 0;     // when idle memory was last given back
    std::uint64_t deadline_ms_ = 0;    // the idle or write deadline the timer stands for
};

}  // namespace weir::proxy
