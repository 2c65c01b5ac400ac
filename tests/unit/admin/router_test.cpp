// The admin route table (admin/router.hpp): handlers that answer later (an
// edit the fleet's store must take first), If-Match before any handler, the
// audit line, and the version a conditional edit is pinned to.
#include "admin/router.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace weir::admin {
namespace {

const std::string token = "s3cret";

AdminRequest request(const std::string& method, const std::string& path, const std::string& body = "") {
    AdminRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.peer = "127.0.0.1:40000";
    r.headers["host"] = "localhost:9901";
    r.headers["authorization"] = "Bearer " + token;
    if (!body.empty()) r.headers["content-type"] = "application/json";
    return r;
}

// Every answer the router gave, in order.
struct Replies {
    std::vector<AdminResponse> got;
    AdminServer::Reply reply() {
        return [this](AdminResponse r) { got.push_back(std::move(r)); };
    }
};

struct AdminRouterDeferred : ::testing::Test {
    std::uint64_t version = 7;
    AdminRouter router{[] { return token; }, [this] { return version; }};

    // Deferred handler: keeps the call and the reply for the test to answer later.
    struct Held {
        const AdminCall* call = nullptr;
        AdminServer::Reply reply;
        // Copied when the handler ran, to compare with what the call holds later.
        std::string method, path, body, if_match;
        std::vector<std::string> params;
    };
    std::vector<Held> held;
    int sync_calls = 0;

    void SetUp() override {
        router.add({"PUT", "/routes/{route}/split", nullptr, false, /*conditional=*/true,
                    [this](const AdminCall& call, AdminServer::Reply reply) {
                        Held h;
                        h.call = &call;
                        h.reply = std::move(reply);
                        h.method = call.request.method;
                        h.path = call.request.path;
                        h.body = call.request.body;
                        auto it = call.request.headers.find("if-match");
                        if (it != call.request.headers.end()) h.if_match = it->second;
                        h.params = call.params;
                        held.push_back(std::move(h));
                    }});
        router.add({"GET", "/routes/{route}", [this](const AdminCall& call) {
                        ++sync_calls;
                        AdminResponse r;
                        r.status = 200;
                        r.body = R"({"route":")" + call.params.at(0) + R"("})";
                        return r;
                    }});
        router.add({"DELETE", "/routes/{route}/split",
                    [this](const AdminCall&) {
                        ++sync_calls;
                        AdminResponse r;
                        r.status = 204;
                        return r;
                    },
                    false, /*conditional=*/true});
    }
};

TEST_F(AdminRouterDeferred, DeferredReplyComesLaterWithTheRequestStillValid) {
    Replies replies;
    {
        // The request the server handed over is gone once handle() returns.
        AdminRequest r = request("PUT", "/routes/web%2Dapi/split", R"({"stable": 80, "canary": 20})");
        r.headers["if-match"] = "\"7\"";
        router.handle(r, replies.reply());
        r.body = "overwritten";
        r.path = "/overwritten";
        r.headers.clear();
    }
    ASSERT_EQ(held.size(), 1u);
    EXPECT_TRUE(replies.got.empty()) << "a deferred handler's call must not be answered by the router";
    EXPECT_EQ(held[0].params, std::vector<std::string>{"web-api"});

    // Some heap traffic in between, so a dangling reference would show.
    std::vector<std::string> noise;
    for (int i = 0; i < 1000; ++i) noise.push_back(std::string(64, static_cast<char>('a' + i % 26)));

    // The call the handler saw still holds the request as it was.
    const AdminCall& call = *held[0].call;
    EXPECT_EQ(call.request.method, "PUT");
    EXPECT_EQ(call.request.path, "/routes/web%2Dapi/split");
    EXPECT_EQ(call.request.body, R"({"stable": 80, "canary": 20})");
    EXPECT_EQ(call.request.headers.at("if-match"), "\"7\"");
    EXPECT_EQ(call.request.peer, "127.0.0.1:40000");
    EXPECT_EQ(call.params, std::vector<std::string>{"web-api"});

    AdminResponse done;
    done.status = 200;
    done.body = R"({"route":"web-api"})";
    done.headers["etag"] = "\"8\"";
    held[0].reply(done);
    ASSERT_EQ(replies.got.size(), 1u);
    EXPECT_EQ(replies.got[0].status, 200);
    EXPECT_EQ(replies.got[0].body, done.body);
    EXPECT_EQ(replies.got[0].headers.at("etag"), "\"8\"");
}

TEST_F(AdminRouterDeferred, TwoDeferredCallsAnsweredInAnyOrder) {
    Replies first, second;
    router.handle(request("PUT", "/routes/a/split", R"({"x": 1})"), first.reply());
    router.handle(request("PUT", "/routes/b/split", R"({"y": 1})"), second.reply());
    ASSERT_EQ(held.size(), 2u);
    EXPECT_EQ(held[0].call->params, std::vector<std::string>{"a"});
    EXPECT_EQ(held[1].call->params, std::vector<std::string>{"b"});
    EXPECT_EQ(held[1].call->request.body, R"({"y": 1})");
    AdminResponse r2;
    r2.status = 202;
    held[1].reply(r2);
    AdminResponse r1;
    r1.status = 201;
    held[0].reply(r1);
    ASSERT_EQ(first.got.size(), 1u);
    ASSERT_EQ(second.got.size(), 1u);
    EXPECT_EQ(first.got[0].status, 201);
    EXPECT_EQ(second.got[0].status, 202);
}

// The audit line of a deferred change is written when it answers, with the
// status it answered with.
TEST_F(AdminRouterDeferred, DeferredAnswerGoesThroughTheAuditLine) {
    Replies replies;
    router.handle(request("PUT", "/routes/web/split", R"({"stable": 1})"), replies.reply());
    ASSERT_EQ(held.size(), 1u);

    ::testing::internal::CaptureStderr();
    held[0].reply(json_error(503, "the fleet's state cannot be written: no quorum"));
    const std::string log = ::testing::internal::GetCapturedStderr();

    ASSERT_EQ(replies.got.size(), 1u);
    EXPECT_EQ(replies.got[0].status, 503);
    EXPECT_NE(replies.got[0].body.find("no quorum"), std::string::npos);
    EXPECT_NE(log.find("PUT /routes/web/split -> 503"), std::string::npos) << log;
    EXPECT_NE(log.find("no quorum"), std::string::npos) << log;
    EXPECT_NE(log.find("127.0.0.1:40000"), std::string::npos) << log;

    // A success is audited too.
    Replies ok;
    router.handle(request("PUT", "/routes/web/split", R"({"stable": 1})"), ok.reply());
    ASSERT_EQ(held.size(), 2u);
    ::testing::internal::CaptureStderr();
    AdminResponse fine;
    fine.status = 200;
    held[1].reply(fine);
    const std::string log2 = ::testing::internal::GetCapturedStderr();
    ASSERT_EQ(ok.got.size(), 1u);
    EXPECT_EQ(ok.got[0].status, 200);
    EXPECT_NE(log2.find("PUT /routes/web/split -> 200"), std::string::npos) << log2;
}

TEST_F(AdminRouterDeferred, IfMatchIsCheckedBeforeADeferredHandlerRuns) {
    Replies replies;
    AdminRequest r = request("PUT", "/routes/web/split", R"({"stable": 1})");
    r.headers["if-match"] = "\"6\"";  // the version is 7
    router.handle(r, replies.reply());
    EXPECT_TRUE(held.empty()) << "the handler must not run when If-Match fails";
    ASSERT_EQ(replies.got.size(), 1u);
    EXPECT_EQ(replies.got[0].status, 412);

    // The current version, as a weak tag among others, or "*": the handler runs.
    for (const char* good : {"\"7\"", "W/\"7\"", "\"3\", \"7\"", "*"}) {
        SCOPED_TRACE(good);
        Replies more;
        AdminRequest g = request("PUT", "/routes/web/split", R"({"stable": 1})");
        g.headers["if-match"] = good;
        const std::size_t before = held.size();
        router.handle(g, more.reply());
        EXPECT_EQ(held.size(), before + 1);
        EXPECT_TRUE(more.got.empty());
    }

    // After the version moves on, the old tag is refused.
    version = 8;
    Replies late;
    AdminRequest l = request("PUT", "/routes/web/split", R"({"stable": 1})");
    l.headers["if-match"] = "\"7\"";
    const std::size_t before = held.size();
    router.handle(l, late.reply());
    EXPECT_EQ(held.size(), before);
    ASSERT_EQ(late.got.size(), 1u);
    EXPECT_EQ(late.got[0].status, 412);
}

TEST_F(AdminRouterDeferred, AuthenticationIsCheckedBeforeADeferredHandlerRuns) {
    Replies replies;
    AdminRequest r = request("PUT", "/routes/web/split", R"({"stable": 1})");
    r.headers["authorization"] = "Bearer wrong";
    router.handle(r, replies.reply());
    EXPECT_TRUE(held.empty());
    ASSERT_EQ(replies.got.size(), 1u);
    EXPECT_EQ(replies.got[0].status, 401);
}

TEST_F(AdminRouterDeferred, SyncHandlersStillAnswerAtOnce) {
    Replies replies;
    router.handle(request("GET", "/routes/web"), replies.reply());
    ASSERT_EQ(replies.got.size(), 1u);
    EXPECT_EQ(replies.got[0].status, 200);
    EXPECT_EQ(replies.got[0].body, R"({"route":"web"})");
    EXPECT_EQ(sync_calls, 1);

    // A conditional sync handler: at once, and refused with 412 without running.
    Replies del;
    AdminRequest d = request("DELETE", "/routes/web/split");
    d.headers["if-match"] = "\"7\"";
    router.handle(d, del.reply());
    ASSERT_EQ(del.got.size(), 1u);
    EXPECT_EQ(del.got[0].status, 204);
    EXPECT_EQ(sync_calls, 2);

    Replies stale;
    d.headers["if-match"] = "\"1\"";
    router.handle(d, stale.reply());
    ASSERT_EQ(stale.got.size(), 1u);
    EXPECT_EQ(stale.got[0].status, 412);
    EXPECT_EQ(sync_calls, 2);

    // 404 and 405 at once as well.
    Replies missing, wrong_method;
    router.handle(request("GET", "/nothing/here"), missing.reply());
    router.handle(request("POST", "/routes/web/split", R"({})"), wrong_method.reply());
    ASSERT_EQ(missing.got.size(), 1u);
    EXPECT_EQ(missing.got[0].status, 404);
    ASSERT_EQ(wrong_method.got.size(), 1u);
    EXPECT_EQ(wrong_method.got[0].status, 405);
    EXPECT_TRUE(held.empty());
}

TEST(AdminRouterPinned, PinnedVersion) {
    AdminRequest r;
    EXPECT_EQ(pinned_version(r, 12), std::nullopt) << "no If-Match";
    r.headers["if-match"] = "*";
    EXPECT_EQ(pinned_version(r, 12), std::nullopt) << "If-Match: *";
    r.headers["if-match"] = "\"12\"";
    EXPECT_EQ(pinned_version(r, 12), std::optional<std::uint64_t>(12));
    r.headers["if-match"] = "W/\"12\"";
    EXPECT_EQ(pinned_version(r, 12), std::optional<std::uint64_t>(12));
    // Already checked to match: the current version is what it pins.
    r.headers["if-match"] = "\"11\", \"12\"";
    EXPECT_EQ(pinned_version(r, 12), std::optional<std::uint64_t>(12));
}

}  // namespace
}  // namespace weir::admin
