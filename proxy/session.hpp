// One downstream connection and the exchanges it carries, in order:
// read head -> route -> upstream -> stream request -> read response head ->
// stream response -> next request (keep-alive, pipelining) or close.
//
// I/O is readiness based: the session waits for a socket to become readable
// or writable, then reads or writes without blocking as far as it can. That
// costs one system call per transfer instead of a failed speculative read plus
// a retry, and lets an idle connection wait without holding any buffer.
#pragma once

#include "http/message.hpp"
#include "http/serialize.hpp"
#include "proxy/exchange.hpp"
#include "proxy/net.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"
#include "routing/snapshot.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace weir::proxy {

class Session : public std::enable_shared_from_this<Session>, public SessionHook {
public:
    Session(Worker& worker, Socket socket);
    ~Session();

    void start();
    // Worker tick: fires the current deadline if it has passed.
    void on_tick(std::uint64_t now_ms);
    // Graceful shutdown: close now if idle, else after the current exchange.
    void drain();

private:
    enum class Phase : std::uint8_t {
        idle,            // keep-alive, waiting for the first byte of a request
        read_head,       // request head partly received
        connect,         // opening an upstream connection
        send_request,    // head and body to upstream
        read_response,   // waiting for the response head
        send_response,   // head and body to the client
        local_reply,     // writing a reply of our own
        linger,          // after an error reply: discarding input until the client closes
        closed,
    };
    enum class Direction : std::uint8_t { request, response };

    // Request side
    void wait_request();
    void on_client_readable(const error_code& ec);
    void read_head();
    void handle_request();
    void pick_endpoint();
    void connect_upstream();
    void on_connected(const error_code& ec);
    void send_request();

    // Response side
    void read_response();
    void on_upstream_readable(const error_code& ec);
    void send_response();

    // Body streaming in either direction (see pump()).
    void start_pump(Direction dir);
    void pump();
    void on_pump_io(const error_code& ec);
    bool fill();
    void pump_done();
    void pump_failed(bool source_side, const error_code& ec, std::string_view what);

    void finish_exchange();
    void upstream_failed(std::string_view what, const error_code& ec);
    void reply(int status, std::string_view body, bool close);
    void on_reply_written(const error_code& ec, bool close);
    void linger();
    void close();
    void drop_request_head();
    void release_upstream(bool reusable);
    void set_deadline(std::chrono::milliseconds d);
    void clear_deadline() { deadline_ms_ = 0; }
    bool take_timeout();

    Worker& worker_;
    Socket client_;
    std::string client_ip_;
    Phase phase_ = Phase::idle;
    std::unique_ptr<Exchange> ex_;
    routing::SnapshotPtr snapshot_;  // held for the whole exchange
    const routing::Route* route_ = nullptr;
    const routing::Pool* pool_ = nullptr;
    const routing::Endpoint* endpoint_ = nullptr;
    UpstreamPtr upstream_;

    std::uint64_t deadline_ms_ = 0;
    std::uint64_t head_started_ms_ = 0;
    bool timed_out_ = false;
    bool close_after_ = false;       // reply with Connection: close and end the connection
    bool draining_ = false;
    std::uint32_t tried_mask_ = 0;   // endpoints of the pool tried for this request (first 32)
    int attempts_ = 0;
    int last_failure_status_ = 503;    // what running out of endpoints answers
    std::size_t pending_head_ = 0;      // request head bytes still at the front of client_in
    std::size_t response_head_len_ = 0;
    bool request_sent_ = false;      // head and body went out in full
    bool request_body_started_ = false;
    bool continue_sent_ = false;     // "100 Continue" already written to the client
    bool response_started_ = false;  // bytes of the response went to the client

    // Pump state
    Direction dir_ = Direction::request;
    Socket* src_ = nullptr;
    Socket* dst_ = nullptr;
    FlatBuffer* in_ = nullptr;
    http::BodyKind framing_ = http::BodyKind::none;
    std::uint64_t remaining_ = 0;   // content-length bytes not yet claimed
    std::uint64_t body_bytes_ = 0;  // decoded request body bytes, for max_body_bytes
    bool encode_chunked_ = false;
    bool source_done_ = false;
    std::size_t stage_off_ = 0;
    std::size_t view_len_ = 0;  // bytes at the front of *in_ to write as they are
};

}  // namespace weir::proxy
