// Header, cookie and query matchers (docs/config.md, route rules): every kind
// (exact, prefix, regex, present/absent, in) for every source, how a
// RequestView reads each source (name case, quoted cookies, several Cookie
// fields, query flags and duplicates), and bad regexes are rejected and
// reported.
#include "decision_support.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace weir::routing::decision_tests {
namespace {

struct MatchCase {
    const char* what;
    Source source;
    const char* name;
    MatchSpec spec;
    bool expected;
};

// Every matcher kind for every source, against one request carrying headers,
// several cookies (one quoted, across two Cookie fields) and query parameters.
TEST(RoutingMatcher, EveryKindForEverySource) {
    Req req({{"Host", "example.com"},
             {"X-Canary", "always"},
             {"X-User", "alice"},
             {"x-user", "mallory"},  // a second field of the same name: the first one counts
             {"X-Empty", ""},
             {"Cookie", "session=abc123; tester=yes; xgroup=beta"},
             {"cookie", "theme=\"dark mode\";group=\"beta-2\" ; lang=en"}},
            "/path/x?user=bob&flag&plan=gold%20plus&empty=&dup=1&dup=2#user=frag");
    const RequestView v = req.view();

    const MatchCase cases[] = {
        // header: names are case-insensitive, values are not
        {"h exact", Source::header, "x-canary", exact("always"), true},
        {"h exact upper name", Source::header, "X-CANARY", exact("always"), true},
        {"h exact other value", Source::header, "x-canary", exact("Always"), false},
        {"h exact is not prefix", Source::header, "x-canary", exact("alway"), false},
        {"h exact first field", Source::header, "x-user", exact("alice"), true},
        {"h exact second field", Source::header, "x-user", exact("mallory"), false},
        {"h exact empty value", Source::header, "x-empty", exact(""), true},
        {"h exact missing", Source::header, "x-missing", exact(""), false},
        {"h prefix", Source::header, "x-user", prefix("ali"), true},
        {"h prefix whole", Source::header, "x-user", prefix("alice"), true},
        {"h prefix longer", Source::header, "x-user", prefix("alice2"), false},
        {"h prefix empty", Source::header, "x-user", prefix(""), true},
        {"h prefix missing", Source::header, "x-missing", prefix(""), false},
        {"h regex full", Source::header, "x-user", regex("a[a-z]+e"), true},
        {"h regex partial is no match", Source::header, "x-user", regex("lic"), false},
        {"h regex alternation anchored", Source::header, "x-user", regex("alice|bob"), true},
        {"h regex prefix only", Source::header, "x-user", regex("ali"), false},
        {"h regex case", Source::header, "x-user", regex("ALICE"), false},
        {"h regex case flag", Source::header, "x-user", regex("(?i)ALICE"), true},
        {"h regex missing", Source::header, "x-missing", regex(".*"), false},
        {"h present", Source::header, "x-canary", present(true), true},
        {"h present empty", Source::header, "x-empty", present(true), true},
        {"h present missing", Source::header, "x-missing", present(true), false},
        {"h absent", Source::header, "x-missing", present(false), true},
        {"h absent but there", Source::header, "x-canary", present(false), false},
        {"h in", Source::header, "x-user", in({"bob", "alice"}), true},
        {"h in no", Source::header, "x-user", in({"bob", "carol"}), false},
        {"h in second field not used", Source::header, "x-user", in({"mallory"}), false},
        {"h in missing", Source::header, "x-missing", in({""}), false},

        // cookie: several cookies, several Cookie fields, quoted values, no substring hits
        {"c exact", Source::cookie, "tester", exact("yes"), true},
        {"c exact first", Source::cookie, "session", exact("abc123"), true},
        {"c exact last of first field", Source::cookie, "xgroup", exact("beta"), true},
        {"c second field", Source::cookie, "lang", exact("en"), true},
        {"c quoted", Source::cookie, "theme", exact("dark mode"), true},
        {"c quoted keeps no quotes", Source::cookie, "theme", exact("\"dark mode\""), false},
        {"c quoted no space before", Source::cookie, "group", exact("beta-2"), true},
        {"c name is not a suffix match", Source::cookie, "group", exact("beta"), false},
        {"c name is not a prefix match", Source::cookie, "test", present(true), false},
        {"c prefix", Source::cookie, "session", prefix("abc"), true},
        {"c prefix no", Source::cookie, "session", prefix("abd"), false},
        {"c regex", Source::cookie, "session", regex("[a-z]+[0-9]+"), true},
        {"c regex partial", Source::cookie, "session", regex("[a-z]+"), false},
        {"c regex quoted", Source::cookie, "theme", regex("dark .*"), true},
        {"c present", Source::cookie, "tester", present(true), true},
        {"c present missing", Source::cookie, "nope", present(true), false},
        {"c absent", Source::cookie, "nope", present(false), true},
        {"c absent but there", Source::cookie, "lang", present(false), false},
        {"c in", Source::cookie, "lang", in({"de", "en"}), true},
        {"c in quoted", Source::cookie, "group", in({"beta-2"}), true},
        {"c in no", Source::cookie, "lang", in({"de", "fr"}), false},
        {"c exact missing", Source::cookie, "nope", exact(""), false},

        // query: raw values, flags without '=', fragment ignored, first of duplicates
        {"q exact", Source::query, "user", exact("bob"), true},
        {"q exact no", Source::query, "user", exact("frag"), false},
        {"q raw not decoded", Source::query, "plan", exact("gold%20plus"), true},
        {"q decoded is not used", Source::query, "plan", exact("gold plus"), false},
        {"q flag present", Source::query, "flag", present(true), true},
        {"q flag empty value", Source::query, "flag", exact(""), true},
        {"q empty value", Source::query, "empty", exact(""), true},
        {"q first duplicate", Source::query, "dup", exact("1"), true},
        {"q second duplicate", Source::query, "dup", exact("2"), false},
        {"q name not substring", Source::query, "use", present(true), false},
        {"q prefix", Source::query, "plan", prefix("gold"), true},
        {"q prefix no", Source::query, "plan", prefix("silver"), false},
        {"q regex", Source::query, "user", regex("b.b"), true},
        {"q regex partial", Source::query, "user", regex("b"), false},
        {"q present missing", Source::query, "nope", present(true), false},
        {"q absent", Source::query, "nope", present(false), true},
        {"q absent but there", Source::query, "user", present(false), false},
        {"q in", Source::query, "user", in({"alice", "bob"}), true},
        {"q in no", Source::query, "user", in({"alice"}), false},
        {"q query is not a header", Source::query, "x-canary", present(true), false},
        {"h header is not a query", Source::header, "user", present(true), false},
        {"c cookie is not a header", Source::cookie, "x-canary", present(true), false},
    };
    for (const MatchCase& c : cases) {
        ValueMatcher m(c.source, c.name, c.spec);
        EXPECT_EQ(m.matches(v), c.expected) << c.what;
    }
}

TEST(RoutingMatcher, RequestViewReadsEachSource) {
    Req req({{"X-A", "1"}, {"Cookie", "a=1; b=\"2\"; c="}, {"COOKIE", "d=4"}}, "/p?x=1&y&z=&w=a=b");
    const RequestView v = req.view();
    EXPECT_EQ(v.header("x-a"), "1");
    EXPECT_EQ(v.header("X-A"), "1");
    EXPECT_FALSE(v.header("x-b"));
    EXPECT_EQ(v.cookie("a"), "1");
    EXPECT_EQ(v.cookie("b"), "2");
    EXPECT_EQ(v.cookie("c"), "");
    EXPECT_EQ(v.cookie("d"), "4");
    EXPECT_FALSE(v.cookie("e"));
    EXPECT_EQ(v.query("x"), "1");
    EXPECT_EQ(v.query("y"), "");
    EXPECT_EQ(v.query("z"), "");
    EXPECT_EQ(v.query("w"), "a=b");
    EXPECT_FALSE(v.query("v"));
    EXPECT_EQ(v.get(Source::header, "x-a"), "1");
    EXPECT_EQ(v.get(Source::cookie, "d"), "4");
    EXPECT_EQ(v.get(Source::query, "x"), "1");

    Req no_query({{"Cookie", "a=1"}}, "/p");
    EXPECT_FALSE(no_query.view().query("a"));
    Req no_cookie({{"X-A", "a=1"}}, "/p?");
    EXPECT_FALSE(no_cookie.view().cookie("a"));
    EXPECT_FALSE(no_cookie.view().query("a"));
}

TEST(RoutingMatcher, BadRegexThrowsAndIsReported) {
    for (const char* bad : {"(", "a[", "*a", "a{2,1}", "(?P<n>a", "\\"}) {
        EXPECT_FALSE(regex_error(bad).empty()) << bad;
        EXPECT_THROW(ValueMatcher(Source::header, "x", regex(bad)), std::invalid_argument) << bad;
    }
    for (const char* good : {"", "a+", "(?i)abc", "[0-9]{1,3}", "a|b|c"}) {
        EXPECT_TRUE(regex_error(good).empty()) << good << ": " << regex_error(good);
        EXPECT_NO_THROW(ValueMatcher(Source::header, "x", regex(good))) << good;
    }
}

}  // namespace
}  // namespace weir::routing::decision_tests
