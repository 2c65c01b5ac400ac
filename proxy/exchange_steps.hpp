// The steps of an exchange that do not depend on the client's protocol:
// choosing the route, pool and endpoint, opening the upstream connection,
// giving it back, and counting the request. An HTTP/1.1 connection (Session)
// and an HTTP/2 stream (H2Stream) both go through them, so a request is
// routed, retried and counted the same way whichever protocol brought it.
#pragma once

#include "http/claims.hpp"
#include "http/message.hpp"
#include "proxy/exchange.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"
#include "routing/matcher.hpp"
#include "tls/handshake_stats.hpp"

#include <string_view>

namespace weir::proxy {

// Why a request was not given a pool: the status of the local reply, and its text.
struct Refusal {
    int status = 0;  // 0: routed
    std::string_view why;
    explicit operator bool() const { return status != 0; }
};

// Finds the route and pool of the request in `ex.request` (match, forwarding
// loop check, split or sticky choice); sets ex.route, ex.pool, ex.panic,
// ex.sticky_key and ex.set_cookie (the value of a Set-Cookie field to send
// with the response, for a newly assigned sticky id). Logs refusals.
Refusal route_request(Worker& worker, Exchange& ex, const routing::RequestView& view, std::string_view client_ip);

// The next endpoint to try within the retry budgets, moving the request to
// another pool of its route (a failover, counted) when its pool has none
// left; recorded in ex.endpoint, ex.attempts and the tried lists. nullptr
// when no endpoint is left (logged; ex.last_failure_status says what to answer).
const routing::Endpoint* next_endpoint(Worker& worker, Exchange& ex);

// The budgets above: attempts for one request in one pool before it moves on,
// and in all pools together.
inline constexpr int pool_attempt_limit = 5;
inline constexpr int attempt_limit = 2 * pool_attempt_limit;
// A repeat on the same endpoint leaves room in the pool's budget for the
// pick that follows it if the repeat fails too.
inline constexpr int repeat_limit = pool_attempt_limit - 1;

// Starts a connection to ex.endpoint owned by `owner`, watched by the loop.
// Returns 0 (connected), EINPROGRESS (wait for writable) or the errno of the
// failure, in which case `conn` is empty again.
int open_upstream(Worker& worker, const Exchange& ex, UpstreamOwner& owner, UpstreamPtr& conn);
int open_upstream(Worker& worker, const routing::Endpoint& endpoint, UpstreamOwner& owner, UpstreamPtr& conn);

// A connect to ex.endpoint failed (`error`; ETIMEDOUT past
// upstream.connect_timeout): logged, charged to the endpoint, the connection
// closed. Nothing was sent: the caller tries another endpoint.
void upstream_connect_failed(Worker& worker, Exchange& ex, UpstreamPtr& conn, int error);

// TLS to the endpoint, for pools with upstream.tls. Attaches a new TLS
// connection to `conn` (which keeps its context: the session callback and
// the pool's reuse check refer to it, whatever a reload brings); false when
// OpenSSL is out of memory (logged).
bool attach_upstream_tls(Worker& worker, const Exchange& ex, UpstreamConnection& conn);
// Advances the handshake: 1 done (counted), 0 waits for the next event, -1
// failed: counted, logged, charged (kind "tls"), the connection closed, and
// 502 made what running out of endpoints answers (an endpoint answered, but
// not as one Weir may trust). The caller tries another endpoint, over TLS
// too, never this one in clear.
int advance_upstream_tls(Worker& worker, Exchange& ex, UpstreamPtr& conn);
// The handshake did not finish within upstream.connect_timeout: a failure as above.
void upstream_tls_timed_out(Worker& worker, Exchange& ex, UpstreamPtr& conn);
// The same for a connection no one exchange owns (a shared HTTP/2 one):
// `h2` offers "h2" by ALPN and fails the handshake unless the endpoint
// chooses it.
bool attach_upstream_tls(Worker& worker, const routing::Pool& pool, const routing::Endpoint& endpoint,
                         UpstreamConnection& conn, bool h2);
int advance_upstream_tls(Worker& worker, const routing::Pool& pool, const routing::Endpoint& endpoint,
                         UpstreamPtr& conn, bool h2);
void upstream_tls_timed_out(Worker& worker, const routing::Pool& pool, const routing::Endpoint& endpoint,
                            UpstreamPtr& conn);

// Gives the exchange's upstream connection back to the pool (reusable) or
// closes it, and ends the endpoint's in-flight count for the exchange. How
// many idle connections are kept: Worker::idle_keep.
void release_upstream(Worker& worker, Exchange* ex, UpstreamPtr& conn, bool reusable);

// Whether a request may reach an upstream a second time once bytes of it went
// out: the upstream may have acted on the first copy before failing. Only
// methods whose repetition is harmless (RFC 9110 §9.2.2), or requests whose
// client vouches for it with an idempotency key, qualify.
bool repeatable(const http::RequestHead& req);

// The access log line's request part, taken when the head arrives (behind a
// trusted proxy the client is the one it forwarded for).
void start_access_line(Worker& worker, Exchange& ex, const http::RequestHead* req, const http::ClaimPolicy& claims,
                       std::string_view client_ip);
// Counts the request once, in its (route, pool) statistics slot, and writes
// its access log line (`client_ip` names the client of a request whose head
// never parsed).
void record_exchange(Worker& worker, Exchange& ex, int status, bool error, std::string_view client_ip,
                     bool log_line = true);

}  // namespace weir::proxy
