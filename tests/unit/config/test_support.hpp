// Helpers shared by the config unit tests: loading YAML text and checking the
// errors it produces at their exact line:col.
#pragma once

#include "config/config.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace weir::config::config_test {

// Raw literals start with a newline for readability; drop it so line 1 is the line after it.
inline std::string without_leading_newline(std::string text) {
    if (!text.empty() && text.front() == '\n') text.erase(0, 1);
    return text;
}

inline std::string dump(const std::vector<ConfigError>& errors) {
    std::string out;
    for (const auto& e : errors) out += "  " + e.text() + "\n";
    return out.empty() ? "  (no errors)\n" : out;
}

inline bool error_matches(const ConfigError& e, int line, int col, const std::string& needle) {
    return e.line == line && e.col == col && e.message.find(needle) != std::string::npos;
}

// True when some error sits at line:col and mentions `needle`.
inline ::testing::AssertionResult has_error(const LoadResult& r, int line, int col, const std::string& needle) {
    for (const auto& e : r.errors) {
        if (error_matches(e, line, col, needle)) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "no error at " << line << ":" << col << " containing '" << needle
                                         << "'; got:\n"
                                         << dump(r.errors);
}

// Exactly one error, at line:col, whose message contains `needle`; no config.
inline ::testing::AssertionResult only_error(const LoadResult& r, int line, int col, const std::string& needle) {
    if (r.errors.size() != 1)
        return ::testing::AssertionFailure() << "expected exactly one error, got " << r.errors.size() << ":\n"
                                             << dump(r.errors);
    if (r.config) return ::testing::AssertionFailure() << "a config was returned despite the error";
    if (error_matches(r.errors[0], line, col, needle)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected " << line << ":" << col << " containing '" << needle
                                         << "'; got:\n"
                                         << dump(r.errors);
}

// The loaded config; a failed expectation (and an exception) when it did not load cleanly.
inline const Config& ok(const LoadResult& r) {
    EXPECT_TRUE(r.errors.empty()) << dump(r.errors);
    if (!r.config) throw std::runtime_error("config did not load:\n" + dump(r.errors));
    return *r.config;
}

}  // namespace weir::config::config_test
