// Compiled request matchers: one attribute of the request (a header, a
// cookie, a query parameter) tested against a MatchSpec. Regular expressions
// are RE2 (linear time, no backtracking blow-ups) compiled once per snapshot.
#pragma once

#include "http/claims.hpp"
#include "http/message.hpp"
#include "routing/match_spec.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace weir::routing {

// The attributes of one request that routing may look at. Headers the
// connection's claim policy drops before the upstream sees them are not
// visible to rules and sticky keys either, so both agree on what was sent.
class RequestView {
public:
    RequestView(const std::vector<http::Header>& headers, std::string_view target,
                http::ClaimPolicy claims = {.trusted_peer = true, .keep_underscores = true})
        : headers_(headers), target_(target), claims_(claims) {}

    // First header of that name (case-insensitive) the claim policy lets through.
    std::optional<std::string_view> header(std::string_view name) const;
    // Value of the first cookie of that name in any Cookie header.
    std::optional<std::string_view> cookie(std::string_view name) const;
    // Raw (not percent-decoded) value of the first query parameter of that name.
    std::optional<std::string_view> query(std::string_view name) const;
    std::optional<std::string_view> get(Source source, std::string_view name) const;

private:
    const std::vector<http::Header>& headers_;
    std::string_view target_;
    http::ClaimPolicy claims_;
};

class ValueMatcher {
public:
    // Throws std::invalid_argument with RE2's message for a bad pattern.
    ValueMatcher(Source source, std::string name, const MatchSpec& spec);
    ~ValueMatcher();
    ValueMatcher(ValueMatcher&&) noexcept;
    ValueMatcher& operator=(ValueMatcher&&) noexcept;

    bool matches(const RequestView& request) const;

    Source source() const { return source_; }
    const std::string& name() const { return name_; }
    const MatchSpec& spec() const { return spec_; }

private:
    Source source_;
    std::string name_;
    MatchSpec spec_;
    std::unique_ptr<re2::RE2> regex_;
};

// Checks a pattern as the loader does; empty when it compiles, else RE2's reason.
std::string regex_error(const std::string& pattern);

}  // namespace weir::routing
