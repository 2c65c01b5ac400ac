#include "routing/matcher.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <stdexcept>

namespace weir::routing {
namespace {

using http::trim_ows;

RE2::Options regex_options() {
    RE2::Options o;
    o.set_log_errors(false);
    o.set_max_mem(1 << 20);  // a pattern needing more than 1 MiB is refused at load
    return o;
}

}  // namespace

const char* source_name(Source s) {
    switch (s) {
        case Source::header: return "header";
        case Source::cookie: return "cookie";
        case Source::query: return "query";
    }
    return "?";
}

const char* kind_name(MatchKind k) {
    switch (k) {
        case MatchKind::exact: return "exact";
        case MatchKind::prefix: return "prefix";
        case MatchKind::regex: return "regex";
        case MatchKind::present: return "present";
        case MatchKind::in: return "in";
    }
    return "?";
}

std::optional<std::string_view> RequestView::header(std::string_view name) const {
    if (!claims_.passes(name)) return std::nullopt;
    for (const http::Header& h : headers_) {
        if (http::iequals(h.name, name)) return h.value;
    }
    return std::nullopt;
}

std::optional<std::string_view> RequestView::cookie(std::string_view name) const {
    for (const http::Header& h : headers_) {
        if (!http::iequals(h.name, "cookie")) continue;
        std::string_view v = h.value;
        while (!v.empty()) {
            std::size_t semi = v.find(';');
            std::string_view pair = trim_ows(v.substr(0, semi));
            std::size_t eq = pair.find('=');
            if (eq != std::string_view::npos && trim_ows(pair.substr(0, eq)) == name) {
                std::string_view value = trim_ows(pair.substr(eq + 1));
                // RFC 6265 allows the value in double quotes.
                if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                    value = value.substr(1, value.size() - 2);
                return value;
            }
            if (semi == std::string_view::npos) break;
            v.remove_prefix(semi + 1);
        }
    }
    return std::nullopt;
}

std::optional<std::string_view> RequestView::query(std::string_view name) const {
    std::size_t q = target_.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view v = target_.substr(q + 1);
    if (std::size_t hash = v.find('#'); hash != std::string_view::npos) v = v.substr(0, hash);
    while (!v.empty()) {
        std::size_t amp = v.find('&');
        std::string_view pair = v.substr(0, amp);
        std::size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (key == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (amp == std::string_view::npos) break;
        v.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::optional<std::string_view> RequestView::get(Source source, std::string_view name) const {
    switch (source) {
        case Source::header: return header(name);
        case Source::cookie: return cookie(name);
        case Source::query: return query(name);
    }
    return std::nullopt;
}

std::string regex_error(const std::string& pattern) {
    RE2 re(pattern, regex_options());
    return re.ok() ? std::string() : re.error();
}

ValueMatcher::ValueMatcher(Source source, std::string name, const MatchSpec& spec)
    : source_(source), name_(std::move(name)), spec_(spec) {
    if (spec_.kind == MatchKind::regex) {
        regex_ = std::make_unique<RE2>(spec_.value, regex_options());
        if (!regex_->ok()) throw std::invalid_argument(regex_->error());
    }
}

ValueMatcher::~ValueMatcher() = default;
ValueMatcher::ValueMatcher(ValueMatcher&&) noexcept = default;
ValueMatcher& ValueMatcher::operator=(ValueMatcher&&) noexcept = default;

bool ValueMatcher::matches(const RequestView& request) const {
    auto v = request.get(source_, name_);
    switch (spec_.kind) {
        case MatchKind::present:
            return v.has_value() == spec_.present;
        case MatchKind::exact:
            return v && *v == spec_.value;
        case MatchKind::prefix:
            return v && v->starts_with(spec_.value);
        case MatchKind::regex:
            return v && RE2::FullMatch(re2::StringPiece(v->data(), v->size()), *regex_);
        case MatchKind::in:
            return v && std::find(spec_.values.begin(), spec_.values.end(), *v) != spec_.values.end();
    }
    return false;
}

}  // namespace weir::routing
