#include "proxy/exchange_steps.hpp"

#include "common/log.hpp"
#include "http/serialize.hpp"
#include "proxy/access_log.hpp"
#include "routing/decision.hpp"
#include "routing/forwarded_client.hpp"
#include "tls/client_context.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace weir::proxy {
namespace {

// Per-request log lines go through the worker's rate limiters (see Session).
template <class... Args>
void client_note(Worker& w, fmt::format_string<Args...> f, Args&&... args) {
    log::limited(w.client_log(), EventLoop::clock_ms(), log::Level::info, "proxy", f, std::forward<Args>(args)...);
}
template <class... Args>
void upstream_note(Worker& w, fmt::format_string<Args...> f, Args&&... args) {
    log::limited(w.upstream_log(), EventLoop::clock_ms(), log::Level::warn, "proxy", f, std::forward<Args>(args)...);
}

// Moves the request to another pool of its route after every endpoint of its
// pool failed where a retry is safe. False when there is none.
bool fail_over(Worker& worker, Exchange& ex) {
    if (ex.attempts == 0 || ex.attempts >= attempt_limit) return false;
    const auto from = static_cast<std::size_t>(ex.pool - ex.snapshot->pools.data());
    ex.tried_pools.push_back(from);
    const std::size_t to =
        routing::choose_failover_pool(*ex.snapshot, *ex.route, ex.sticky_key, worker.random(), ex.tried_pools);
    if (to == routing::PoolDecision::none) return false;
    // The pool given up on still answers for this request in its statistics:
    // an error for the canary judge, as the endpoint failures are for ejection.
    worker.record_failed_attempt(ex.route->pool_stat[from]);
    worker.stats().failovers.fetch_add(1, std::memory_order_relaxed);
    log::debug("proxy", "route {}: pool {} failed before sending, trying pool {}", ex.route->name, ex.pool->name,
               ex.snapshot->pools[to].name);
    ex.pool = &ex.snapshot->pools[to];
    ex.panic = false;
    ex.tried_endpoints.clear();
    ex.pool_attempts = 0;
    return true;
}

}  // namespace

Refusal route_request(Worker& worker, Exchange& ex, const routing::RequestView& view, std::string_view client_ip) {
    const http::RequestHead& req = ex.request;
    ex.route = ex.snapshot->match(req.host, req.path, view);
    if (!ex.route) {
        client_note(worker, "client {}: no route for host '{}' path '{}' (404)", client_ip, req.host, req.path);
        return {404, "no route"};
    }
    // Weir reached through itself (a route whose pool leads back to one of
    // its listeners): stop before every pass holds another connection.
    const auto& limits = ex.snapshot->limits;
    if (req.has_via && http::via_count(req.headers, http::via_pseudonym) > static_cast<int>(limits.max_via_hops)) {
        log::warn("proxy", "client {}: route {}: forwarding loop, Via names {} more than {} times (508)", client_ip,
                  ex.route->name, http::via_pseudonym, limits.max_via_hops);
        return {508, "forwarding loop detected"};
    }
    std::string new_id;
    routing::PoolDecision d = routing::choose_pool(*ex.snapshot, *ex.route, view, worker.random(), new_id);
    if (d.pool == routing::PoolDecision::none) {
        upstream_note(worker, "route {}: 503: {}", ex.route->name, d.why);
        return {503, d.why};
    }
    ex.pool = &ex.snapshot->pools[d.pool];
    ex.panic = d.panic;
    if (ex.route->sticky && d.by == routing::PoolDecision::By::sticky) {
        // Kept for a failover choice: the head may be gone by then.
        auto key = view.get(ex.route->sticky->source, ex.route->sticky->name);
        ex.sticky_key = d.assign_cookie ? new_id : std::string(key ? *key : std::string_view());
    }
    ex.set_cookie.clear();
    if (d.assign_cookie) {
        const routing::StickySpec& s = *ex.route->sticky;
        ex.set_cookie = fmt::format("{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}", s.name, new_id,
                                    s.max_age.count());
    }
    return {};
}

const routing::Endpoint* next_endpoint(Worker& worker, Exchange& ex) {
    for (;;) {
        const std::size_t i = ex.pool_attempts >= pool_attempt_limit || ex.attempts >= attempt_limit
                                  ? routing::WeightedChoice::npos
                                  : routing::choose_endpoint(*ex.pool, ex.panic, worker.random(), ex.tried_endpoints);
        if (i != routing::WeightedChoice::npos) {
            ex.tried_endpoints.push_back(i);
            ++ex.attempts;
            ++ex.pool_attempts;
            ex.endpoint = &ex.pool->endpoints[i];
            return ex.endpoint;
        }
        ex.endpoint = nullptr;
        // Every pick is made only when another attempt is safe (nothing was
        // sent, or nothing came back for a request that may be repeated), so
        // another pool can still serve the request: a dead pool costs the
        // client nothing.
        if (!fail_over(worker, ex)) break;
    }
    upstream_note(worker, "route {} pool {}: no endpoint left to try ({})", ex.route->name, ex.pool->name,
                  ex.last_failure_status);
    return nullptr;
}

int open_upstream(Worker& worker, const Exchange& ex, UpstreamOwner& owner, UpstreamPtr& conn) {
    return open_upstream(worker, *ex.endpoint, owner, conn);
}

int open_upstream(Worker& worker, const routing::Endpoint& endpoint, UpstreamOwner& owner, UpstreamPtr& conn) {
    conn = std::make_unique<UpstreamConnection>();
    conn->endpoint_key = endpoint.key;
    conn->owner = &owner;
    worker.stats().upstream_connects.fetch_add(1, std::memory_order_relaxed);
    const auto& addr = endpoint.address;
    int err = Socket::connect(conn->socket, addr.data(), static_cast<unsigned>(addr.size()));
    if (err == 0 || err == EINPROGRESS) {
        if (int add_err = worker.loop().add(conn->socket.fd(), conn.get()); add_err != 0) {
            err = add_err;
        } else {
            conn->registered = true;
            return err;
        }
    }
    worker.upstreams().discard(std::move(conn));
    conn.reset();
    return err;
}

void upstream_connect_failed(Worker& worker, Exchange& ex, UpstreamPtr& conn, int error) {
    if (error == ETIMEDOUT) {
        upstream_note(worker, "pool {} endpoint {}: connect timeout after {} ms", ex.pool->name, ex.endpoint->name,
                      ex.pool->upstream.connect_timeout.count());
    } else {
        upstream_note(worker, "pool {} endpoint {}: connect failed: {}", ex.pool->name, ex.endpoint->name,
                      std::strerror(error));
    }
    worker.upstream_failed(*ex.pool, *ex.endpoint, UpstreamError::connect, error);
    release_upstream(worker, &ex, conn, false);
}

namespace {

void count_upstream_handshake(const routing::Pool& pool, std::atomic<std::uint64_t> tls::HandshakeCounts::*result) {
    if (tls::HandshakeCounts* counts = pool.upstream.handshakes) (counts->*result).fetch_add(1, std::memory_order_relaxed);
}

void upstream_tls_failed(Worker& worker, const routing::Pool& pool, const routing::Endpoint& endpoint,
                         UpstreamPtr& conn, std::string_view why,
                         std::atomic<std::uint64_t> tls::HandshakeCounts::*outcome) {
    count_upstream_handshake(pool, outcome);
    upstream_note(worker, "pool {} endpoint {}: TLS handshake failed: {}", pool.name, endpoint.name, why);
    worker.upstream_failed(pool, endpoint, UpstreamError::tls);
    release_upstream(worker, nullptr, conn, false);
}

}  // namespace

bool attach_upstream_tls(Worker& worker, const routing::Pool& pool, const routing::Endpoint& endpoint,
                         UpstreamConnection& conn, bool h2) {
    const auto& tls = pool.upstream.tls;
    // HTTP/2 connections keep their sessions apart from HTTP/1.1 ones to the
    // same endpoint: a resumed session carries the protocol it agreed on.
    SSL* ssl = h2 ? tls->new_connection(endpoint.host, endpoint.name + "#h2")
                  : tls->new_connection(endpoint.host, endpoint.name);
    if (!ssl) {
        upstream_note(worker, "pool {} endpoint {}: cannot start TLS: out of memory", pool.name, endpoint.name);
        return false;
    }
    if (h2) {
        static constexpr unsigned char alpn_h2[] = {2, 'h', '2'};
        SSL_set_alpn_protos(ssl, alpn_h2, sizeof alpn_h2);
    }
    conn.tls = tls;
    conn.socket.attach_tls(ssl);
    return true;
}

bool attach_upstream_tls(Worker& worker, const Exchange& ex, UpstreamConnection& conn) {
    return attach_upstream_tls(worker, *ex.pool, *ex.endpoint, conn, false);
}

int advance_upstream_tls(Worker& worker, const routing::Pool& pool, const routing::Endpoint& endpoint,
                         UpstreamPtr& conn, bool h2) {
    std::string why;
    const int rc = conn->socket.handshake(why);
    if (rc == 0) return 0;
    if (rc < 0) {
        upstream_tls_failed(worker, pool, endpoint, conn, conn->tls->failure(conn->socket.tls(), why),
                            &tls::HandshakeCounts::failed);
        return -1;
    }
    if (h2) {
        const unsigned char* proto = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(conn->socket.tls(), &proto, &len);
        if (len != 2 || proto[0] != 'h' || proto[1] != '2') {
            upstream_tls_failed(worker, pool, endpoint, conn,
                                "the endpoint did not agree to HTTP/2 (no \"h2\" by ALPN; the pool has protocol: h2)",
                                &tls::HandshakeCounts::failed);
            return -1;
        }
    }
    count_upstream_handshake(pool, SSL_session_reused(conn->socket.tls()) ? &tls::HandshakeCounts::resumed
                                                                         : &tls::HandshakeCounts::full);
    return 1;
}

int advance_upstream_tls(Worker& worker, Exchange& ex, UpstreamPtr& conn) {
    const int rc = advance_upstream_tls(worker, *ex.pool, *ex.endpoint, conn, false);
    if (rc < 0) {
        release_upstream(worker, &ex, conn, false);  // the endpoint's in-flight count, if taken
        ex.last_failure_status = 502;
    }
    return rc;
}

void upstream_tls_timed_out(Worker& worker, const routing::Pool& pool, const routing::Endpoint& endpoint,
                            UpstreamPtr& conn) {
    upstream_tls_failed(worker, pool, endpoint, conn,
                        fmt::format("handshake not complete in {} ms (upstream.connect_timeout)",
                                    pool.upstream.connect_timeout.count()),
                        &tls::HandshakeCounts::timeout);
}

void upstream_tls_timed_out(Worker& worker, Exchange& ex, UpstreamPtr& conn) {
    upstream_tls_timed_out(worker, *ex.pool, *ex.endpoint, conn);
    release_upstream(worker, &ex, conn, false);
    ex.last_failure_status = 502;
}

void release_upstream(Worker& worker, Exchange* ex, UpstreamPtr& conn, bool reusable) {
    const bool counted = ex && ex->counted;
    const std::uint32_t key = counted ? ex->counted_key : conn ? conn->endpoint_key : 0;
    if (counted) {
        worker.endpoint_end(key);
        ex->counted = false;
    }
    if (!conn) return;
    // Only a reusable connection looks at its pool: the others may be
    // released after the exchange let go of its snapshot (and the pool).
    if (reusable && ex && ex->pool && ex->snapshot) {
        conn->reused = false;
        worker.upstreams().give_back(std::move(conn), worker.idle_keep(key, ex->pool->upstream.max_idle_per_endpoint),
                                     EventLoop::clock_ms(),
                                     static_cast<std::uint64_t>(ex->pool->upstream.idle_timeout.count()));
    } else {
        worker.upstreams().discard(std::move(conn));
    }
    conn.reset();
}

bool repeatable(const http::RequestHead& req) {
    using M = http::Method;
    const M m = req.method_id;
    if (m == M::get || m == M::head || m == M::options || m == M::trace || m == M::put || m == M::delete_)
        return true;
    for (const http::Header& h : req.headers) {
        if ((h.name.size() == 15 && http::iequals(h.name, "idempotency-key")) ||
            (h.name.size() == 17 && http::iequals(h.name, "x-idempotency-key")))
            return true;
    }
    return false;
}

void start_access_line(Worker& worker, Exchange& ex, const http::RequestHead* req, const http::ClaimPolicy& claims,
                       std::string_view client_ip) {
    const std::string_view client = req && claims.trusted_peer
                                        ? routing::forwarded_client(req->headers, ex.snapshot->trusted_proxies, client_ip)
                                        : client_ip;
    ex.log_prefix.clear();
    begin_access_line(ex.log_prefix, worker.time_stamper(), client, req);
}

void record_exchange(Worker& worker, Exchange& ex, int status, bool error, std::string_view client_ip,
                     bool log_line) {
    ex.recorded = true;
    ex.request_counted = false;
    const routing::Snapshot* snap = ex.snapshot ? ex.snapshot.get() : worker.snapshot().get();
    if (!snap) return;
    std::uint32_t stat = snap->unrouted_stat;
    if (ex.route && ex.pool) stat = ex.route->pool_stat[static_cast<std::size_t>(ex.pool - snap->pools.data())];
    else if (ex.route) stat = ex.route->no_pool_stat;
    const auto elapsed = std::chrono::steady_clock::now() - ex.request_started;
    worker.record(stat, status, elapsed, error);
    if (snap->access_log && log_line) {
        // {"time","client","method","host","path"} were taken when the head
        // arrived (the head's bytes may be gone by now); the outcome goes here.
        if (ex.log_prefix.empty()) begin_access_line(ex.log_prefix, worker.time_stamper(), client_ip, nullptr);
        end_access_line(worker.access_buffer(), ex.log_prefix, status,
                        ex.route ? std::string_view(ex.route->name) : std::string_view("none"),
                        ex.pool ? std::string_view(ex.pool->name) : std::string_view("none"),
                        ex.endpoint && ex.pool ? std::string_view(ex.endpoint->name) : std::string_view(),
                        std::chrono::duration<double, std::milli>(elapsed).count());
        worker.access_flush_if_full();
    }
    ex.log_prefix.clear();
}

}  // namespace weir::proxy
