#include "control/config.hpp"

#include <gtest/gtest.h>

namespace weir::control {
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
}  // namespace weir::control
