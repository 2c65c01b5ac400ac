// One HTTP/2 stream as an exchange with an HTTP/1.1 upstream: routed on its
// own (exchange_steps.hpp, as an HTTP/1.1 request is), its head translated
// (http2/translate.hpp) and sent with the forwarding fields, its DATA frames
// sent on as the body (chunked when no length was declared), and the
// response's head and body handed back to the codec, flow-controlled: when
// the client does not read, the stream stops reading its upstream.
#pragma once

#include "http2/request_headers.hpp"
#include "proxy/exchange.hpp"
#include "proxy/timer_wheel.hpp"
#include "proxy/upstream_pool.hpp"
#include "tls/handshake_stats.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace weir::proxy {

class H2Connection;

class H2Stream final : public UpstreamOwner, public Timer {
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
    enum class State : std::uint8_t {
        opened,          // head received, not started
        connect,         // upstream connect under way
        handshake,       // TLS with the upstream
        exchange,        // request going out, response head awaited
        response_body,   // response body coming in
        done,
    };

    void pick_endpoint();
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
};

}  // namespace weir::proxy
