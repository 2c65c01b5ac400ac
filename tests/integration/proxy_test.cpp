// The proxy's everyday behaviour: weighted split, keep-alive and pipelining,
// HTTP/1.0, bodiless responses, Expect: 100-continue, hop-by-hop headers,
// X-Forwarded-*, routing by host, the admin basics.
#include "harness.hpp"

#include <atomic>
#include <cmath>
#include <map>
#include <thread>

namespace weir_it {
namespace {

// ---------------------------------------------------------------- split

TEST(ProxyTest, WeightedSplitFollowsTheWeights) {
    FakeUpstream stable("stable"), canary("canary");
    ConfigSpec c;
    c.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    c.routes = {{"web", "*", "/", {{"stable", 90}, {"canary", 10}}}};
    WeirProcess weir(c.yaml());

    constexpr int n = 2000;
    constexpr int connections = 4;
    std::map<std::string, int> seen;
    for (int k = 0; k < connections; ++k) {
        RawClient client(weir.port());
        for (int i = 0; i < n / connections; ++i) {
            Response r = client.request(get_request("/split/" + std::to_string(i)));
            ASSERT_EQ(r.status, 200) << r.describe();
            ++seen[r.body.substr(0, r.body.find(' '))];
        }
    }
    ASSERT_EQ(seen["stable"] + seen["canary"], n) << "bodies from neither pool";
    // Binomial(2000, 0.1): mean 200, sigma 13.4; +-4 sigma.
    const double mean = n * 0.1, sigma = std::sqrt(n * 0.1 * 0.9);
    EXPECT_NEAR(seen["canary"], mean, 4 * sigma) << "stable " << seen["stable"] << ", canary " << seen["canary"];
    EXPECT_EQ(static_cast<int>(canary.request_count()), seen["canary"]);
    EXPECT_EQ(static_cast<int>(stable.request_count()), seen["stable"]);
}

TEST(ProxyTest, ZeroWeightPoolGetsNothing) {
    FakeUpstream stable("stable"), canary("canary");
    ConfigSpec c;
    c.pools = {{"stable", {{stable.address()}}}, {"canary", {{canary.address()}}}};
    c.routes = {{"web", "*", "/", {{"stable", 100}, {"canary", 0}}}};
    WeirProcess weir(c.yaml());
    RawClient client(weir.port());
    for (int i = 0; i < 200; ++i) ASSERT_EQ(client.request(get_request("/")).status, 200);
    EXPECT_EQ(canary.request_count(), 0u);
}

// ---------------------------------------------------------------- keep-alive

TEST(ProxyTest, ManyRequestsOnOneKeepAliveConnection) {
    SingleProxy p;
    RawClient client(p.port());
    for (int i = 0; i < 200; ++i) {
        std::string target = "/ka/" + std::to_string(i);
        Response r = client.request(get_request(target));
        ASSERT_TRUE(r.complete) << i << ": " << r.describe();
        ASSERT_EQ(r.status, 200);
        ASSERT_EQ(r.body, "stable GET " + target);
        ASSERT_FALSE(r.connection_close()) << r.describe();
    }
    EXPECT_EQ(p.up.request_count(), 200u);
    // One downstream connection lives on one worker, which reuses its pooled
    // upstream connection instead of opening one per request.
    EXPECT_LE(p.up.connection_count(), 2u);
}

TEST(ProxyTest, PipelinedRequestsAreAnsweredInOrder) {
    SingleProxy p;
    RawClient client(p.port());
    std::string batch = get_request("/p1") +
                        "POST /p2 HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n\r\nhello" +
                        "HEAD /p3 HTTP/1.1\r\nHost: test.local\r\n\r\n" + get_request("/p4");
    ASSERT_TRUE(client.send(batch));  // one write
    Response r1 = client.read_response();
    Response r2 = client.read_response();
    ReadOptions head;
    head.head_request = true;
    Response r3 = client.read_response(head);
    Response r4 = client.read_response();
    EXPECT_EQ(r1.body, "stable GET /p1") << r1.describe();
    EXPECT_EQ(r2.body, "stable POST /p2") << r2.describe();
    EXPECT_EQ(r3.status, 200) << r3.describe();
    EXPECT_EQ(r3.body_bytes, 0u);
    EXPECT_EQ(r4.body, "stable GET /p4") << r4.describe();
    auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), 4u);
    EXPECT_EQ(reqs[0].target, "/p1");
    EXPECT_EQ(reqs[1].target, "/p2");
    EXPECT_EQ(reqs[1].body, "hello");
    EXPECT_EQ(reqs[2].method, "HEAD");
    EXPECT_EQ(reqs[3].target, "/p4");
}

TEST(ProxyTest, PipelinedRequestsInManySmallPieces) {
    SingleProxy p;
    RawClient client(p.port());
    std::string batch;
    for (int i = 0; i < 20; ++i) batch += get_request("/piece/" + std::to_string(i));
    // Split across writes at awkward places (inside lines, inside CRLFs).
    for (std::size_t at = 0; at < batch.size(); at += 7) ASSERT_TRUE(client.send(batch.substr(at, 7)));
    for (int i = 0; i < 20; ++i) {
        Response r = client.read_response();
        ASSERT_EQ(r.body, "stable GET /piece/" + std::to_string(i)) << r.describe();
    }
}

TEST(ProxyTest, Http10RequestWorksAndClosesByDefault) {
    SingleProxy p;
    RawClient client(p.port());
    Response r = client.request("GET /old HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "stable GET /old");
    EXPECT_TRUE(client.wait_closed(3s)) << "HTTP/1.0 without keep-alive must end with a close";
}

TEST(ProxyTest, Http10KeepAliveWhenAsked) {
    SingleProxy p;
    RawClient client(p.port());
    for (int i = 0; i < 3; ++i) {
        Response r = client.request("GET /old" + std::to_string(i) + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        ASSERT_TRUE(r.complete) << r.describe();
        EXPECT_EQ(r.body, "stable GET /old" + std::to_string(i));
        EXPECT_TRUE(r.headers.has_token("connection", "keep-alive")) << r.describe();
    }
}

TEST(ProxyTest, Http10ClientGetsAChunkedUpstreamBodyDelimitedByClose) {
    const std::string body = pattern_string(100000);
    SingleProxy p;
    p.up.set_handler([&](UpstreamConn& c, const UpstreamRequest&) {
        std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (std::size_t at = 0; at < body.size(); at += 30000) {
            std::string part = body.substr(at, 30000);
            char size[32];
            std::snprintf(size, sizeof size, "%zx\r\n", part.size());
            out += size + part + "\r\n";
        }
        out += "0\r\n\r\n";
        c.send(out);
        return After::keep_alive;
    });
    RawClient client(p.port());
    Response r = client.request("GET /old HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r.complete) << r.describe();
    EXPECT_FALSE(r.headers.has("transfer-encoding")) << "HTTP/1.0 does not know chunked:\n" << r.describe();
    EXPECT_EQ(r.body.size(), body.size());
    EXPECT_TRUE(r.body == body);
}

TEST(ProxyTest, Http11ClientGetsAnUntilCloseUpstreamBodyIntact) {
    const std::string body = pattern_string(300000);
    SingleProxy p;
    p.up.set_handler([&](UpstreamConn& c, const UpstreamRequest&) {
        c.send("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + body);
        return After::close;
    });
    RawClient client(p.port());
    Response r = client.request(get_request("/close-delimited"));
    ASSERT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.body.size(), body.size());
    EXPECT_TRUE(r.body == body);
    // Either chunked (keep-alive possible) or close-delimited; never a wrong length.
    if (r.chunked) {
        p.up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
            c.send(make_response(200, "again"));
            return After::keep_alive;
        });
        EXPECT_EQ(client.request(get_request("/again")).body, "again");
    }
}

TEST(ProxyTest, LaterHttp1MinorVersionIsServedAsHttp11) {
    SingleProxy p;
    RawClient client(p.port());
    Response r = client.request("GET /v12 HTTP/1.2\r\nHost: a\r\n\r\n");
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(p.up.requests().at(0).version, "HTTP/1.1");
}

TEST(ProxyTest, UpstreamConnectionCloseDoesNotCloseTheClientConnection) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        c.send(make_response(200, "bye " + r.target, "Connection: close\r\n"));
        return After::close;
    });
    RawClient client(p.port());
    for (int i = 0; i < 5; ++i) {
        Response r = client.request(get_request("/" + std::to_string(i)));
        ASSERT_EQ(r.body, "bye /" + std::to_string(i)) << r.describe();
        EXPECT_FALSE(r.connection_close()) << "the upstream's Connection: close is hop-by-hop:\n" << r.describe();
    }
}

// A client may half-close after sending a complete request; the response is still due.
TEST(ProxyTest, ClientHalfCloseAfterTheRequestStillGetsTheResponse) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
        c.sleep_for(300ms);  // let the half-close reach Weir first
        c.send(make_response(200, "still here"));
        return After::keep_alive;
    });
    RawClient client(p.port());
    ASSERT_TRUE(client.send(get_request("/half")));
    client.shutdown_write();
    Response r = client.read_response();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.body, "still here");
}

TEST(ProxyTest, LargeResponseHeadersPassThrough) {
    const std::string big(50000, 'c');
    SingleProxy p;
    p.up.set_handler([&](UpstreamConn& c, const UpstreamRequest&) {
        c.send(make_response(200, "ok", "X-Big: " + big + "\r\nSet-Cookie: s=" + std::string(3000, 'd') + "\r\n"));
        return After::keep_alive;
    });
    RawClient client(p.port());
    Response r = client.request(get_request("/"));
    ASSERT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.headers.get("x-big"), big);
    EXPECT_EQ(r.body, "ok");
}

TEST(ProxyTest, ManyConcurrentConnections) {
    SingleProxy p;
    constexpr int n = 200;
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<RawClient>(p.port()));
        ASSERT_TRUE(clients.back()->connected());
    }
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < n; ++i) ASSERT_TRUE(clients[i]->send(get_request("/c/" + std::to_string(i))));
        for (int i = 0; i < n; ++i) {
            Response r = clients[i]->read_response();
            ASSERT_EQ(r.body, "stable GET /c/" + std::to_string(i)) << r.describe();
        }
    }
    EXPECT_EQ(p.up.request_count(), 3u * n);
}

// response_timeout bounds silence, not the length of a transfer: a body
// that keeps coming, however slowly, is not cut.
TEST(ProxyTest, SlowButSteadyResponseBodyIsNotCut) {
    SingleProxy p([](ConfigSpec& c) { c.pools[0].response_timeout = "1s"; });
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
        for (int i = 0; i < 10; ++i) {
            if (!c.sleep_for(250ms)) return After::close;  // 2.5 s in all, 0.25 s gaps
            c.send(std::to_string(i));
        }
        return After::keep_alive;
    });
    RawClient client(p.port());
    Response r = client.request(get_request("/trickle"));
    EXPECT_TRUE(r.complete) << r.describe();
    EXPECT_EQ(r.body, "0123456789");
}

TEST(ProxyTest, SlowButSteadyRequestBodyIsNotCut) {
    SingleProxy p([](ConfigSpec& c) {
        c.idle_timeout = "1s";
        c.header_timeout = "1s";
    });
    RawClient client(p.port());
    ASSERT_TRUE(client.send("POST /trickle HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"));
    for (int i = 0; i < 10; ++i) {
        std::this_thread::sleep_for(250ms);  // a slow client, 2.5 s in all
        ASSERT_TRUE(client.send(std::to_string(i)));
    }
    Response r = client.read_response();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(p.up.requests().at(0).body, "0123456789");
}

// ---------------------------------------------------------------- bodiless responses

TEST(ProxyTest, HeadResponseCarriesNoBodyAndKeepAliveContinues) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.method == "HEAD") c.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n");
        else c.send(make_response(200, "after head"));
        return After::keep_alive;
    });
    RawClient client(p.port());
    ReadOptions head;
    head.head_request = true;
    for (int i = 0; i < 3; ++i) {
        Response r = client.request("HEAD /h HTTP/1.1\r\nHost: test.local\r\n\r\n", head);
        ASSERT_EQ(r.status, 200) << r.describe();
        EXPECT_EQ(r.headers.get("content-length"), "1000") << "HEAD keeps the length of the GET";
        Response g = client.request(get_request("/g"));
        ASSERT_TRUE(g.complete) << g.describe();
        EXPECT_EQ(g.body, "after head") << "bytes after a HEAD response shifted the next one";
    }
}

TEST(ProxyTest, NoContentAndNotModifiedCarryNoBody) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.target == "/204") c.send("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n");
        else if (r.target == "/304") c.send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 1234\r\n\r\n");
        else c.send(make_response(200, "plain"));
        return After::keep_alive;
    });
    RawClient client(p.port());
    for (int i = 0; i < 3; ++i) {
        Response a = client.request(get_request("/204"));
        EXPECT_EQ(a.status, 204) << a.describe();
        EXPECT_FALSE(a.headers.has("transfer-encoding")) << a.describe();
        Response b = client.request(get_request("/304"));
        EXPECT_EQ(b.status, 304) << b.describe();
        EXPECT_FALSE(b.headers.has("transfer-encoding")) << b.describe();
        Response c = client.request(get_request("/plain"));
        ASSERT_TRUE(c.complete) << c.describe();
        EXPECT_EQ(c.body, "plain");
    }
}

TEST(ProxyTest, HeadOfAChunkedResourceCarriesNoBody) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.method == "HEAD") c.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        else c.send(make_response(200, "next"));
        return After::keep_alive;
    });
    RawClient client(p.port());
    ReadOptions head;
    head.head_request = true;
    Response r = client.request("HEAD / HTTP/1.1\r\nHost: test.local\r\n\r\n", head);
    EXPECT_EQ(r.status, 200) << r.describe();
    Response g = client.request(get_request("/next"));
    EXPECT_EQ(g.body, "next") << g.describe();
}

TEST(ProxyTest, HeadResponseWithAStrayBodyFromTheUpstreamIsNotForwarded) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        // A broken origin that sends a body after a HEAD response.
        if (r.method == "HEAD") c.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        else c.send(make_response(200, "clean"));
        return After::keep_alive;
    });
    RawClient client(p.port());
    ReadOptions head;
    head.head_request = true;
    Response h = client.request("HEAD / HTTP/1.1\r\nHost: test.local\r\n\r\n", head);
    EXPECT_EQ(h.status, 200) << h.describe();
    for (int i = 0; i < 3; ++i) {
        Response g = client.request(get_request("/g"));
        ASSERT_TRUE(g.complete) << g.describe();
        EXPECT_EQ(g.body, "clean") << "the stray HEAD body leaked into the next response";
    }
}

TEST(ProxyTest, InterimResponsesAreForwardedToHttp11Clients) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
        c.send("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
        c.send(make_response(200, "final"));
        return After::keep_alive;
    });
    RawClient client(p.port());
    ASSERT_TRUE(client.send(get_request("/hints")));
    ReadOptions interim;
    interim.return_interim = true;
    Response early = client.read_response(interim);
    EXPECT_EQ(early.status, 103) << early.describe();
    EXPECT_EQ(early.headers.get("link"), "</style.css>; rel=preload");
    Response r = client.read_response();
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.body, "final");
    // An HTTP/1.0 client never sees a 1xx.
    RawClient old(p.port());
    Response r10 = old.request("GET /hints HTTP/1.0\r\n\r\n");
    EXPECT_EQ(r10.status, 200);
    EXPECT_TRUE(r10.interim.empty()) << "1xx sent to an HTTP/1.0 client";
}

TEST(ProxyTest, ThousandPipelinedRequestsInOneWrite) {
    SingleProxy p;
    RawClient client(p.port());
    std::string batch;
    for (int i = 0; i < 1000; ++i) batch += get_request("/many/" + std::to_string(i));
    ASSERT_TRUE(client.send(batch));
    for (int i = 0; i < 1000; ++i) {
        Response r = client.read_response();
        ASSERT_EQ(r.body, "stable GET /many/" + std::to_string(i)) << r.describe();
    }
}

TEST(ProxyTest, RequestTargetIsForwardedVerbatim) {
    SingleProxy p;
    RawClient client(p.port());
    const std::vector<std::string> targets = {"/a%20b?x=1&y=%2F", "/p;param/q?", "/~user/./../x?a=b#frag",
                                              "/" + std::string(4000, 'l') + "?q=" + std::string(1000, 'v')};
    for (const auto& t : targets) ASSERT_EQ(client.request(get_request(t)).status, 200) << t;
    auto reqs = p.up.requests();
    ASSERT_EQ(reqs.size(), targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) EXPECT_EQ(reqs[i].target, targets[i]);
}

TEST(ProxyTest, Http10PostWithContentLength) {
    SingleProxy p;
    RawClient client(p.port());
    Response r = client.request("POST /old-post HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd");
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(p.up.requests().at(0).body, "abcd");
    EXPECT_TRUE(client.wait_closed(3s));
}

// Legal but less common upstream responses must pass.
TEST(ProxyTest, LegalUpstreamResponseVariants) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        if (r.target == "/no-reason") c.send("HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok");
        else if (r.target == "/no-reason-no-space") c.send("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok");
        else if (r.target == "/tight") c.send("HTTP/1.1 200 OK\r\ncontent-length:2\r\nX-A:b\r\n\r\nok");
        else if (r.target == "/http10") {
            c.send("HTTP/1.0 200 OK\r\n\r\nok");
            return After::close;
        } else if (r.target == "/te-upper") c.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
        else if (r.target == "/ext-trailer")
            c.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\no\r\n1\r\nk\r\n0\r\nX-T: 1\r\n\r\n");
        else if (r.target == "/status-599") c.send("HTTP/1.1 599 Custom\r\nContent-Length: 2\r\n\r\nok");
        else c.send(make_response(404, "?"));
        return After::keep_alive;
    });
    for (const char* t : {"/no-reason", "/no-reason-no-space", "/tight", "/http10", "/te-upper", "/ext-trailer", "/status-599"}) {
        RawClient client(p.port());
        Response r = client.request(get_request(t));
        EXPECT_TRUE(r.complete) << t << ": " << r.describe();
        EXPECT_EQ(r.body, "ok") << t << ": " << r.describe();
        EXPECT_EQ(r.status, std::string(t) == "/status-599" ? 599 : 200) << t;
    }
}

// max_idle_per_endpoint bounds what a worker keeps open after a burst.
TEST(ProxyTest, IdleUpstreamConnectionsAreBounded) {
    std::atomic<int> waiting{0};
    FakeUpstream up("stable");
    ConfigSpec c = ConfigSpec::single(up.address());
    c.workers = 1;
    c.pools[0].max_idle_per_endpoint = 1;
    WeirProcess weir(c.yaml());
    up.set_handler([&](UpstreamConn& conn, const UpstreamRequest&) {
        ++waiting;
        // Hold every request until four are in flight at once.
        wait_for([&] { return waiting.load() >= 4; }, 5s);
        conn.send(make_response(200, "ok"));
        return After::keep_alive;
    });
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(std::make_unique<RawClient>(weir.port()));
        ASSERT_TRUE(clients.back()->send(get_request("/burst")));
    }
    for (auto& cl : clients) EXPECT_EQ(cl->read_response().status, 200);
    EXPECT_EQ(up.connection_count(), 4u);
    EXPECT_TRUE(up.wait([&] { return up.open_connections() <= 1; }, 5s))
        << up.open_connections() << " upstream connections still open with max_idle_per_endpoint 1";
    // And the one kept is reused.
    EXPECT_EQ(clients[0]->request(get_request("/again")).status, 200);
    EXPECT_EQ(up.connection_count(), 4u);
}

// More requests in flight at once than max_idle_per_endpoint, round after
// round: the pool keeps a connection for each while the load lasts (idle_keep),
// so later rounds reuse them instead of connecting anew past the setting.
TEST(ProxyTest, ConcurrencyAboveMaxIdleReusesItsConnections) {
    constexpr int kConcurrent = 6;
    constexpr int kRounds = 4;
    std::atomic<int> waiting{0};
    std::atomic<int> round_target{kConcurrent};
    FakeUpstream up("stable");
    ConfigSpec c = ConfigSpec::single(up.address());
    c.workers = 1;
    c.pools[0].max_idle_per_endpoint = 2;
    WeirProcess weir(c.yaml());
    up.set_handler([&](UpstreamConn& conn, const UpstreamRequest&) {
        ++waiting;
        // Every round's requests are in flight together before any is answered.
        wait_for([&] { return waiting.load() >= round_target.load(); }, 5s);
        conn.send(make_response(200, "ok"));
        return After::keep_alive;
    });
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < kConcurrent; ++i) clients.push_back(std::make_unique<RawClient>(weir.port()));
    for (int round = 0; round < kRounds; ++round) {
        round_target = (round + 1) * kConcurrent;
        for (auto& cl : clients) ASSERT_TRUE(cl->send(get_request("/round")));
        for (auto& cl : clients) ASSERT_EQ(cl->read_response().status, 200) << "round " << round;
    }
    EXPECT_EQ(up.request_count(), static_cast<std::size_t>(kConcurrent * kRounds));
    EXPECT_EQ(up.connection_count(), static_cast<std::size_t>(kConcurrent))
        << "rounds after the first connected anew past max_idle_per_endpoint 2";
}

// ---------------------------------------------------------------- Expect

TEST(ProxyTest, ExpectContinueWaitsForTheGoAhead) {
    SingleProxy p;
    RawClient client(p.port());
    ASSERT_TRUE(client.send(
        "POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"));
    ReadOptions interim;
    interim.return_interim = true;
    Response cont = client.read_response(interim);
    ASSERT_EQ(cont.status, 100) << cont.describe();
    ASSERT_TRUE(client.send("hello world"));
    Response r = client.read_response();
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.body, "stable POST /upload");
    ASSERT_EQ(p.up.complete_count(), 1u);
    EXPECT_EQ(p.up.requests()[0].body, "hello world");
    // The connection stays usable.
    EXPECT_EQ(client.request(get_request("/after")).body, "stable GET /after");
}

TEST(ProxyTest, ExpectContinueWithChunkedBody) {
    SingleProxy p;
    RawClient client(p.port());
    ASSERT_TRUE(client.send("POST /up HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n"
                            "Expect: 100-continue\r\n\r\n"));
    ReadOptions interim;
    interim.return_interim = true;
    ASSERT_EQ(client.read_response(interim).status, 100);
    ASSERT_TRUE(client.send("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
    Response r = client.read_response();
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(p.up.requests().at(0).body, "hello world");
}

TEST(ProxyTest, ExpectContinueClientThatSendsTheBodyAnyway) {
    SingleProxy p;
    RawClient client(p.port());
    Response r = client.request(
        "POST /eager HTTP/1.1\r\nHost: test.local\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nabcd");
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(p.up.requests().at(0).body, "abcd");
    EXPECT_EQ(client.request(get_request("/next")).body, "stable GET /next");
}

// ---------------------------------------------------------------- hop-by-hop

const char* const kRequestHopByHop[] = {"connection", "keep-alive", "proxy-connection", "te",
                                        "trailer",    "upgrade",    "x-secret"};

TEST(ProxyTest, HopByHopRequestHeadersDoNotReachTheUpstream) {
    SingleProxy p;
    RawClient client(p.port());
    Response r = client.request(get_request("/hop",
                                            "Connection: keep-alive, X-Secret\r\n"
                                            "Keep-Alive: timeout=5\r\n"
                                            "Proxy-Connection: keep-alive\r\n"
                                            "TE: trailers\r\n"
                                            "Trailer: X-Checksum\r\n"
                                            "Upgrade: websocket\r\n"
                                            "X-Secret: hidden\r\n"
                                            "X-Kept: visible\r\n"));
    ASSERT_EQ(r.status, 200) << r.describe();
    ASSERT_EQ(p.up.request_count(), 1u);
    const auto req = p.up.requests()[0];
    for (const char* name : kRequestHopByHop)
        EXPECT_FALSE(req.headers.has(name)) << name << " reached the upstream:\n" << req.headers.dump();
    EXPECT_EQ(req.headers.get("x-kept"), "visible");
    EXPECT_EQ(req.headers.get("host"), "test.local");
    // Still keep-alive.
    EXPECT_EQ(client.request(get_request("/again")).status, 200);
}

TEST(ProxyTest, ConnectionCloseWithNamedHeaderIsStrippedAndHonoured) {
    SingleProxy p;
    RawClient client(p.port());
    Response r = client.request(get_request("/close", "Connection: close, X-Secret\r\nX-Secret: s\r\nX-Kept: k\r\n"));
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_TRUE(r.connection_close()) << r.describe();
    EXPECT_TRUE(client.wait_closed(3s));
    const auto req = p.up.requests().at(0);
    EXPECT_FALSE(req.headers.has("x-secret")) << req.headers.dump();
    EXPECT_EQ(req.headers.get("x-kept"), "k");
    // The upstream connection itself is Weir's to keep: "close" is not forwarded.
    EXPECT_FALSE(req.headers.has_token("connection", "close")) << req.headers.dump();
}

TEST(ProxyTest, HopByHopResponseHeadersDoNotReachTheClient) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
        c.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
               "Connection: X-Up-Secret\r\n"
               "Keep-Alive: timeout=30\r\n"
               "Proxy-Connection: keep-alive\r\n"
               "Trailer: X-Foo\r\n"
               "Upgrade: h2c\r\n"
               "TE: trailers\r\n"
               "X-Up-Secret: s\r\n"
               "X-Kept: k\r\n\r\nok");
        return After::keep_alive;
    });
    RawClient client(p.port());
    for (int i = 0; i < 2; ++i) {
        Response r = client.request(get_request("/"));
        ASSERT_TRUE(r.complete) << r.describe();
        EXPECT_EQ(r.body, "ok");
        for (const char* name : {"keep-alive", "proxy-connection", "trailer", "upgrade", "te", "x-up-secret"})
            EXPECT_FALSE(r.headers.has(name)) << name << " reached the client:\n" << r.describe();
        for (const auto& v : r.headers.all("connection"))
            EXPECT_TRUE(iequals(v, "close") || iequals(v, "keep-alive")) << "Connection: " << v;
        EXPECT_EQ(r.headers.get("x-kept"), "k");
    }
}

// ---------------------------------------------------------------- X-Forwarded-*

TEST(ProxyTest, ForwardedHeadersAreSet) {
    SingleProxy p;
    RawClient client(p.port());
    ASSERT_EQ(client.request(get_request("/xff", "", "example.test")).status, 200);
    auto req = p.up.requests().at(0);
    EXPECT_EQ(req.headers.all("x-forwarded-for"), std::vector<std::string>{"127.0.0.1"}) << req.headers.dump();
    EXPECT_EQ(req.headers.all("x-forwarded-proto"), std::vector<std::string>{"http"}) << req.headers.dump();
    EXPECT_EQ(req.headers.all("x-forwarded-host"), std::vector<std::string>{"example.test"}) << req.headers.dump();
    EXPECT_EQ(req.headers.get("host"), "example.test");
}

TEST(ProxyTest, ForwardedForKeepsExistingValuesFirst) {
    SingleProxy p;
    RawClient client(p.port());
    ASSERT_EQ(client.request(get_request("/xff",
                                         "X-Forwarded-For: 203.0.113.7\r\n"
                                         "X-Forwarded-Proto: https\r\n"
                                         "X-Forwarded-Host: spoofed.example\r\n",
                                         "example.test"))
                  .status,
              200);
    auto req = p.up.requests().at(0);
    auto xff = req.headers.all("x-forwarded-for");
    std::string joined;
    for (const auto& v : xff) joined += (joined.empty() ? "" : ", ") + v;
    EXPECT_EQ(joined, "203.0.113.7, 127.0.0.1") << req.headers.dump();
    EXPECT_EQ(req.headers.all("x-forwarded-proto"), std::vector<std::string>{"http"}) << req.headers.dump();
    EXPECT_EQ(req.headers.all("x-forwarded-host"), std::vector<std::string>{"example.test"}) << req.headers.dump();
}

TEST(ProxyTest, SeveralForwardedForFieldsKeepTheirOrder) {
    SingleProxy p;
    RawClient client(p.port());
    ASSERT_EQ(client.request(get_request("/", "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-For: 192.0.2.2, 192.0.2.3\r\n"))
                  .status,
              200);
    auto xff = p.up.requests().at(0).headers.all("x-forwarded-for");
    std::string joined;
    for (const auto& v : xff) joined += (joined.empty() ? "" : ", ") + v;
    EXPECT_EQ(joined, "192.0.2.1, 192.0.2.2, 192.0.2.3, 127.0.0.1");
}

TEST(ProxyTest, AbsoluteFormTargetIsForwardedInOriginForm) {
    SingleProxy p;
    RawClient client(p.port());
    Response r = client.request("GET http://example.test/abs?q=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
    ASSERT_EQ(r.status, 200) << r.describe();
    auto req = p.up.requests().at(0);
    EXPECT_EQ(req.target, "/abs?q=1");
    EXPECT_EQ(req.headers.get("host"), "example.test");
}

TEST(ProxyTest, EndToEndHeadersAndBodyArePassedUnchanged) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest& r) {
        c.send(make_response(201, "created:" + r.body, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty:\r\n"));
        return After::keep_alive;
    });
    RawClient client(p.port());
    Response r = client.request(
        "PUT /thing HTTP/1.1\r\nHost: test.local\r\nContent-Type: text/plain\r\nX-Multi: 1\r\nX-Multi: 2\r\n"
        "Content-Length: 3\r\n\r\nabc");
    ASSERT_EQ(r.status, 201) << r.describe();
    EXPECT_EQ(r.body, "created:abc");
    EXPECT_EQ(r.headers.all("set-cookie"), (std::vector<std::string>{"a=1", "b=2"}));
    auto req = p.up.requests().at(0);
    EXPECT_EQ(req.method, "PUT");
    EXPECT_EQ(req.headers.all("x-multi"), (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(req.headers.get("content-type"), "text/plain");
    EXPECT_EQ(req.headers.get("content-length"), "3");
}

// Weir writes the head it understood, in canonical form, rather than
// passing the client's bytes through.
TEST(ProxyTest, RequestHeadIsReserialisedNotForwardedRaw) {
    SingleProxy p;
    RawClient client(p.port());
    ASSERT_EQ(client.request("GET /raw HTTP/1.0\r\nHost:test.local\r\nX-Spaced:\t  v  \t\r\n"
                             "Connection: keep-alive\r\n\r\n")
                  .status,
              200);
    const std::string raw = p.up.requests().at(0).raw_head;
    EXPECT_EQ(raw.rfind("GET /raw HTTP/1.1\r\n", 0), 0u) << raw;
    EXPECT_NE(raw.find("\r\nX-Spaced: v\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nHost: test.local\r\n"), std::string::npos) << raw;
    EXPECT_EQ(raw.find('\t'), std::string::npos) << raw;
}

TEST(ProxyTest, ResponseHeadIsReserialisedNotForwardedRaw) {
    SingleProxy p;
    p.up.set_handler([](UpstreamConn& c, const UpstreamRequest&) {
        c.send("HTTP/1.1 200 Fine\r\nX-Spaced:\t  v  \t\r\ncontent-length:2\r\n\r\nok");
        return After::keep_alive;
    });
    RawClient client(p.port());
    Response r = client.request(get_request("/"));
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.head.find("\r\nX-Spaced: v\r\n"), std::string::npos) << r.head;
    EXPECT_EQ(r.head.find('\t'), std::string::npos) << r.head;
    EXPECT_EQ(r.body, "ok");
}

// ---------------------------------------------------------------- routing

TEST(ProxyTest, RoutesByHostAndPathPrefix) {
    FakeUpstream api("api"), web("web");
    ConfigSpec c;
    c.pools = {{"api", {{api.address()}}}, {"web", {{web.address()}}}};
    c.routes = {{"api", "api.example.com", "/v1/", {{"api", 1}}}, {"wild", "*.example.com", "/", {{"web", 1}}}};
    WeirProcess weir(c.yaml());
    RawClient client(weir.port());
    EXPECT_EQ(client.request(get_request("/v1/users", "", "api.example.com")).body, "api GET /v1/users");
    EXPECT_EQ(client.request(get_request("/v1/users", "", "API.Example.com:8080")).body, "api GET /v1/users");
    EXPECT_EQ(client.request(get_request("/other", "", "api.example.com")).body, "web GET /other");
    EXPECT_EQ(client.request(get_request("/v1/x", "", "www.example.com")).body, "web GET /v1/x");
    EXPECT_EQ(client.request(get_request("/", "", "example.org")).status, 404);
}

// With an absolute-form target the authority wins over Host (RFC 9112 §3.2.2),
// for routing and for what the upstream is told.
TEST(ProxyTest, AbsoluteFormAuthorityOverridesHost) {
    FakeUpstream api("api"), web("web");
    ConfigSpec c;
    c.pools = {{"api", {{api.address()}}}, {"web", {{web.address()}}}};
    c.routes = {{"api", "api.example.com", "/", {{"api", 1}}}, {"web", "*", "/", {{"web", 1}}}};
    WeirProcess weir(c.yaml());
    RawClient client(weir.port());
    Response r = client.request("GET http://api.example.com/x HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    EXPECT_EQ(r.body, "api GET /x") << r.describe();
    ASSERT_EQ(api.request_count(), 1u);
    auto req = api.requests()[0];
    EXPECT_EQ(req.headers.all("host"), std::vector<std::string>{"api.example.com"}) << req.headers.dump();
    EXPECT_EQ(req.headers.get("x-forwarded-host"), "api.example.com");
}

// ---------------------------------------------------------------- admin

TEST(ProxyTest, AdminServesHealthReadyAndConfig) {
    SingleProxy p;
    RawClient admin(p.weir->admin_port());
    Response h = admin.request("GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n");
    EXPECT_EQ(h.status, 200) << h.describe();
    RawClient admin2(p.weir->admin_port());
    Response ready = admin2.request("GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n");
    EXPECT_EQ(ready.status, 200) << ready.describe();
    RawClient admin3(p.weir->admin_port());
    Response cfg = admin3.request("GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    EXPECT_EQ(cfg.status, 200) << cfg.describe();
    EXPECT_NE(cfg.body.find("\"version\""), std::string::npos) << cfg.body;
    EXPECT_NE(cfg.body.find(p.up.address()), std::string::npos) << cfg.body;
}

}  // namespace
}  // namespace weir_it
