// One HTTP/2 stream as an exchange with an HTTP/1.1 upstream: routed on its
// own (exchange_steps.hpp, as an HTTP/1.1 request is), its head translated
// (http2/translate.hpp) and sent with the forwarding fields, its DATA frames
// sent on as the body (chunked when no length was declared), and the
// response's head and body handed back to the codec, flow-controlled: when
// the client does not read, the stream stops reading its upstream.
//
// A stream routed to a `protocol: h2` pool goes on as a stream of a shared
// HTTP/2 connection to the endpoint instead (H2Upstream, see
// h2_stream_upstream.cpp): fields, body and trailers pass as they are, and a
// gRPC call's deadline (grpc-timeout) and outcome (grpc-status) are kept.
#pragma once

#include "http2/request_headers.hpp"
#include "proxy/exchange.hpp"
#include "proxy/h2_upstream.hpp"
#include "proxy/timer_wheel.hpp"
#include "proxy/upstream_pool.hpp"
#include "tls/handshake_stats.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weir::proxy {

class H2Connection;

class H2Stream final : public UpstreamOwner, public Timer, private H2UpstreamUser {
public:
    H2Stream(H2Connection& conn, std::int32_t id);
    ~H2Stream() override;
    H2Stream(const H2Stream&) = delete;
    H2Stream& operator=(const H2Stream&) = delete;

    std::int32_t id() const { return id_; }
    // The request head (valid until the stream closes): kept until start().
    void open(const http2::RequestHeaders& request);
    // Routes the request and sends it upstream (after the read that opened
    // the stream has been through the codec).
    void start();
    void on_body(std::string_view bytes);
    // Request trailers: passed on to an HTTP/2 upstream, dropped for HTTP/1.1.
    void on_request_trailers(const std::vector<http::Header>& trailers);
    void on_end_of_request();
    // Resumes whatever the stream waits for (a socket, room to send).
    void step();
    void on_timeout();
    // The response body buffer is full: stop reading the upstream.
    void pause() { paused_ = true; }
    // It has room again: the stream steps once the current pass is over.
    void unpause();
    // The codec ended the stream; whatever is under way ends with it.
    void closed(std::uint32_t error_code);
    // The exchange is over (answered, refused or failed): the stream only
    // waits for the codec to finish sending.
    bool finished() const { return state_ == State::done; }

    void on_upstream_events(std::uint32_t events) override;
    void on_timer() override;

private:
    // H2UpstreamUser (h2_stream_upstream.cpp)
    void on_h2_ready() override;
    void on_h2_unavailable() override;
    void on_h2_response(int status, const std::vector<http::Header>& headers, bool end_stream) override;
    void on_h2_body(std::string_view bytes) override;
    void on_h2_trailers(const std::vector<http::Header>& trailers) override;
    void on_h2_end() override;
    void on_h2_closed(std::uint32_t code) override;
    void on_h2_send_buffer(bool full) override;

    enum class State : std::uint8_t {
        opened,          // head received, not started
        connect,         // upstream connect under way
        handshake,       // TLS with the upstream
        exchange,        // request going out, response head awaited
        response_body,   // response body coming in
        done,
    };

    void pick_endpoint();
    // HTTP/2 upstream (h2_stream_upstream.cpp).
    void use_h2_upstream();
    void open_h2_stream();
    void send_h2_body(std::string_view bytes, bool end);
    void end_h2_request();
    // The deadline of the wait for the response: the client's while it still sends.
    void h2_wait_deadline();
    // The caller's grpc-timeout passed: the call ends with DEADLINE_EXCEEDED.
    void grpc_deadline_passed();
    // The response is complete: judged (HTTP status, grpc-status) and counted.
    void h2_response_complete();
    // Lets go of the upstream stream (reset unless complete) or of the wait for its connection.
    void release_h2();
    // After an upstream event: what the stream queued with the client's codec goes out.
    void h2_output();
    void connect_upstream();
    void connect_failed(int error);
    void start_upstream();
    void continue_handshake();
    void send_request();
    // Writes the staged request bytes; true when all of them went out.
    bool write_request();
    void exchange_step();
    void read_response();
    void start_response(std::size_t head_len);
    void read_body();
    // Hands the decoded body bytes in upstream_in to the codec; true at the
    // end of the body, `failed` when its framing is broken (stream reset).
    bool pass_body(bool& failed);
    void finish_response(bool reusable);
    void upstream_failed(std::string_view what, int error);
    // The exchange failed after the response began: the client learns it by
    // RST_STREAM, the only way HTTP/2 says "this body is incomplete".
    void abort_response(std::string_view what);
    // A local answer (404, 502, 503, ...) in place of the upstream's.
    void reply(int status, std::string_view text);
    // The same for a gRPC caller: a trailers-only response with the grpc-status for `status`.
    void grpc_reply(int status, std::string_view text);
    // The exchange is over: counted, its upstream connection pooled or
    // closed, its memory given back.
    void finish(int status, bool error, bool reusable);
    void set_deadline(std::chrono::milliseconds d);
    void stage_body(std::string_view bytes);
    // The end of the request body (the last chunk), once the client ended it.
    void stage_end();

    H2Connection& conn_;
    std::int32_t id_;
    State state_ = State::opened;
    std::unique_ptr<Exchange> ex_;
    UpstreamPtr upstream_;
    http2::RequestHeaders request_;  // views into the codec's stream, until start()
    std::string cookie_;             // the joined cookie field (views in ex_->request point here)
    std::size_t body_staged_ = 0;    // request body bytes in ex_->stage, handed back to the codec once written
    std::uint64_t body_bytes_ = 0;   // request body bytes received, for max_body_bytes
    std::size_t stage_off_ = 0;      // bytes of ex_->stage written
    std::string body_held_;          // request body that came before the upstream connection
    bool request_ended_ = false;     // END_STREAM from the client
    bool end_staged_ = false;        // the request's end is in the stage (or already sent)
    bool paused_ = false;            // the codec's send buffer is full
    int status_ = 0;                 // the response status given to the client

    // With an HTTP/2 upstream.
    H2Upstream* h2up_ = nullptr;     // the connection waited for or used (cleared when it lets go)
    std::int32_t up_id_ = 0;         // the upstream stream, while open
    std::size_t held_window_ = 0;    // request bytes sent on whose window the client gets back once the upstream drains
    std::size_t unconsumed_ = 0;     // response bytes passed on but not yet handed back (client not reading)
    std::uint64_t up_body_sent_ = 0; // request body bytes given to the upstream stream
    std::size_t replayed_ = 0;       // bytes at the front of body_held_ sent once already (a refused stream's)
    std::uint64_t call_deadline_ms_ = 0;  // grpc-timeout, on the loop clock; 0: none
    std::vector<std::pair<std::string, std::string>> held_trailers_;  // request trailers before the stream opened
    bool up_full_ = false;           // the upstream stream's send buffer is full
    bool grpc_ = false;              // the request is a gRPC call
    bool grpc_response_ = false;     // the response is a gRPC one: its grpc-status decides
    bool trailers_sent_ = false;     // the response ended with trailers
    int grpc_status_ = -1;           // the call's grpc-status, once known
};

}  // namespace weir::proxy
