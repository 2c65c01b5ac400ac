#include "config/config.hpp"

#include <gtest/gtest.h>

namespace weir::config {
namespace {

// yaml-cpp 0.7's LoadAll never returns on a stray token after a document
// (it reports empty documents at the same place forever); the loader turns
// that into a located syntax error.
TEST(ConfigYamlStall, StrayTokenAfterADocumentIsASyntaxErrorNotAHang) {
    struct Case {
        const char* text;
        int line, col;
    };
    for (const Case& c : {Case{"[],", 1, 3}, Case{",", 1, 1}, Case{"[{}],", 1, 5}, Case{"{a: 1}\n ,\n", 2, 2}}) {
        SCOPED_TRACE(c.text);
        const auto r = load_config_text(c.text, "test.yaml");
        ASSERT_FALSE(r.config);
        ASSERT_EQ(r.errors.size(), 1u);
        EXPECT_NE(r.errors[0].message.find("YAML syntax error"), std::string::npos) << r.errors[0].text();
        EXPECT_EQ(r.errors[0].line, c.line) << r.errors[0].text();
        EXPECT_EQ(r.errors[0].col, c.col) << r.errors[0].text();
    }
}

TEST(ConfigYamlStall, SeveralDocumentsAreStillCountedAndRefused) {
    const auto r = load_config_text("a: 1\n---\nb: 2\n---\nc: 3\n", "test.yaml");
    ASSERT_FALSE(r.config);
    bool found = false;
    for (const auto& e : r.errors) found = found || e.message.find("one YAML document; found 3") != std::string::npos;
    EXPECT_TRUE(found);
}

}  // namespace
}  // namespace weir::config

namespace weir::config {
namespace {

std::string with_header_value(const std::string& value) {
    return "listeners: [{name: public, address: 127.0.0.1:8080}]\n"
           "pools: [{name: stable, endpoints: [{address: 127.0.0.1:9001}]}]\n"
           "routes:\n"
           "  - name: web\n"
           "    split: {stable: 1}\n"
           "    rules: [{header: x-name, exact: \"" + value + "\", pool: stable}]\n";
}

// YAML is Unicode, and GET /config's JSON must be UTF-8: other bytes are
// refused where they stand.
TEST(ConfigUtf8, WellFormedUtf8IsAcceptedAndOtherBytesAreRefusedWithTheirPlace) {
    for (const char* ok : {"caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x99\x82", "\xef\xbb\xbf"}) {
        const auto r = load_config_text(with_header_value(ok), "test.yaml");
        EXPECT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0].text());
    }
    for (const char* bad : {"alw\xa3ys", "\xc0\xaf", "\xed\xa0\x80", "\xf5\x80\x80\x80", "\xe2\x82", "\xf4\x90\x80\x80"}) {
        const auto r = load_config_text(with_header_value(bad), "test.yaml");
        ASSERT_FALSE(r.config);
        ASSERT_EQ(r.errors.size(), 1u);
        EXPECT_NE(r.errors[0].message.find("not valid UTF-8"), std::string::npos) << r.errors[0].text();
        EXPECT_EQ(r.errors[0].line, 6) << r.errors[0].text();
        const std::string line6 = "    rules: [{header: x-name, exact: \"";
        const int first_bad = static_cast<int>(line6.size() + std::string(bad).find_first_of(
                                                                 std::string("\xa3\xc0\xed\xf5\xe2\xf4", 6)));
        EXPECT_EQ(r.errors[0].col, first_bad + 1) << r.errors[0].text();
    }
}

}  // namespace
}  // namespace weir::config
