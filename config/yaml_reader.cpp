#include "config/yaml_reader.hpp"

#include "config/values.hpp"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace weir::config::yaml {
namespace {

// Offset of the first byte that does not belong to a well-formed UTF-8
// sequence (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
std::optional<std::size_t> invalid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
        if (b >= 0xc2 && b <= 0xdf) len = 2;
        else if (b == 0xe0) len = 3, lo = 0xa0;
        else if (b == 0xed) len = 3, hi = 0x9f;
        else if (b >= 0xe1 && b <= 0xef) len = 3;
        else if (b == 0xf0) len = 4, lo = 0x90;
        else if (b >= 0xf1 && b <= 0xf3) len = 4;
        else if (b == 0xf4) len = 4, hi = 0x8f;
        else return i;
        if (i + len > s.size()) return i;
        for (std::size_t k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xbf)) return i;
        }
        i += len;
    }
    return std::nullopt;
}

// Sees only where each document starts; the nodes are not built.
class DocumentStarts : public YAML::EventHandler {
public:
    std::vector<YAML::Mark> starts;
    void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};


std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// A quoted scalar ("2") is a string in YAML; only plain scalars or explicit
// numeric tags count as numbers and booleans.
bool is_plain(const YAML::Node& node) { return node.Tag() == "?"; }
bool has_tag(const YAML::Node& node, std::string_view tag) { return node.Tag() == tag; }

std::string child_path(const std::string& parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    return parent + "." + std::string(key);
}

std::string where(const std::string& path) { return path.empty() ? "at top level" : "in " + path; }

std::string label(const std::string& path) { return path.empty() ? "the file" : path; }

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// A scalar the operator meant as a string: plain, quoted or !!str.
std::optional<std::string> scalar_text(const Field& f, Diagnostics& diag, std::string_view expected) {
    if (!f.node.IsScalar()) {
        diag.error(f.at, label(f.path) + ": expected " + std::string(expected) + ", got " + describe(f.node));
        return std::nullopt;
    }
    return f.node.Scalar();
}

}  // namespace

Location location_of(const YAML::Node& node) {
    const auto mark = node.Mark();
    if (mark.is_null()) return {};
    return {mark.line + 1, mark.column + 1};
}

void Diagnostics::error(Location at, std::string message) {
    errors_.push_back(ConfigError{file_, at.line, at.col, std::move(message)});
}

Field root_field(const YAML::Node& root) { return Field{root, location_of(root), ""}; }

std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map: return "a mapping";
        case YAML::NodeType::Sequence: return "a sequence";
        case YAML::NodeType::Scalar:
            return (node.Tag() == "!" ? "a quoted string " : "a scalar ") + quoted(node.Scalar());
        case YAML::NodeType::Null: return "nothing";
        case YAML::NodeType::Undefined: break;
    }
    return "nothing";
}

MapReader::MapReader(const Field& map, Diagnostics& diag, IfNull if_null) : map_(map), diag_(diag) {
    if (map.node.IsNull() && if_null == IfNull::empty) {
        ok_ = true;
        return;
    }
    if (!map.node.IsMap()) {
        diag_.error(map.at, label(map.path) + ": expected a mapping, got " + describe(map.node));
        return;
    }
    ok_ = true;
    for (auto it = map.node.begin(); it != map.node.end(); ++it) {
        const YAML::Node k = it->first;  // the iterator hands out temporaries
        const Location at = location_of(k);
        if (!k.IsScalar()) {
            diag_.error(at, "keys " + where(map.path) + " must be strings, got " + describe(k));
            continue;
        }
        const std::string name = k.Scalar();
        const auto dup = std::find_if(keys_.begin(), keys_.end(), [&](const Key& x) { return x.name == name; });
        if (dup != keys_.end()) {
            diag_.error(at, "duplicate key " + quoted(name) + " " + where(map.path) + " (first at line " +
                                std::to_string(dup->at.line) + ")");
            continue;
        }
        keys_.push_back(Key{name, at, it->second, false});
    }
}

std::optional<Field> MapReader::take(std::string_view key) {
    asked_.emplace_back(key);
    for (auto& k : keys_) {
        if (k.name != key) continue;
        if (k.used) return std::nullopt;
        k.used = true;
        // An empty value's own mark points past it; its key is where the operator looks.
        const Location at = k.value.IsNull() ? k.at : location_of(k.value);
        return Field{k.value, at, child_path(map_.path, key)};
    }
    return std::nullopt;
}

std::optional<Field> MapReader::require(std::string_view key) {
    const bool refused = std::any_of(keys_.begin(), keys_.end(),
                                     [&](const Key& k) { return k.name == key && k.used; });
    auto f = take(key);
    if (!f && ok_ && !refused) {
        diag_.error(map_.at, "missing required key " + quoted(key) + " " + where(map_.path));
    }
    return f;
}

void MapReader::finish() {
    for (auto& k : keys_) {
        if (k.used) continue;
        k.used = true;
        std::string message = "unknown key " + quoted(k.name) + " " + where(map_.path);
        std::string_view best;
        std::size_t best_distance = 3;  // suggest only near misses
        for (const auto& known : asked_) {
            const std::size_t d = edit_distance(k.name, known);
            if (d < best_distance) {
                best_distance = d;
                best = known;
            }
        }
        if (!best.empty()) message += " (did you mean " + quoted(best) + "?)";
        diag_.error(k.at, std::move(message));
    }
}

std::vector<MapReader::Entry> MapReader::entries() {
    std::vector<Entry> out;
    for (auto& k : keys_) {
        if (k.used) continue;
        k.used = true;
        const Location at = k.value.IsNull() ? k.at : location_of(k.value);
        out.push_back(Entry{k.name, k.at, Field{k.value, at, child_path(map_.path, k.name)}});
    }
    return out;
}

std::optional<std::vector<Field>> read_sequence(const Field& f, Diagnostics& diag) {
    if (!f.node.IsSequence()) {
        diag.error(f.at, label(f.path) + ": expected a sequence, got " + describe(f.node));
        return std::nullopt;
    }
    std::vector<Field> items;
    std::size_t i = 0;
    for (const auto& item : f.node) {
        // An empty item ("- ") has no mark of its own worth showing; the sequence's is close.
        const Location at = item.IsNull() ? f.at : location_of(item);
        items.push_back(Field{item, at, f.path + "[" + std::to_string(i++) + "]"});
    }
    return items;
}

std::optional<std::string> read_string(const Field& f, Diagnostics& diag) {
    return scalar_text(f, diag, "a string");
}

std::optional<bool> read_bool(const Field& f, Diagnostics& diag) {
    // Only YAML 1.2 booleans: yaml-cpp would also take yes/no/on/off, which
    // turn country codes and the like into booleans by surprise.
    if (f.node.IsScalar() && (is_plain(f.node) || has_tag(f.node, "tag:yaml.org,2002:bool"))) {
        const auto& s = f.node.Scalar();
        if (s == "true" || s == "True" || s == "TRUE") return true;
        if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    diag.error(f.at, label(f.path) + ": expected true or false, got " + describe(f.node));
    return std::nullopt;
}

std::optional<std::uint64_t> read_unsigned(const Field& f, Diagnostics& diag, std::uint64_t min,
                                           std::uint64_t max) {
    const std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    const bool numeric_tag = is_plain(f.node) || has_tag(f.node, "tag:yaml.org,2002:int");
    if (!f.node.IsScalar() || !numeric_tag) {
        diag.error(f.at, label(f.path) + ": expected " + range + ", got " + describe(f.node));
        return std::nullopt;
    }
    const std::string& s = f.node.Scalar();
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || value < min || value > max) {
        diag.error(f.at, label(f.path) + ": expected " + range + ", got " + quoted(s));
        return std::nullopt;
    }
    return value;
}

std::optional<double> read_number(const Field& f, Diagnostics& diag, double min, double max) {
    auto fmt = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.10g", v);
        return std::string(buf);
    };
    const std::string range = "a number from " + fmt(min) + " to " + fmt(max);
    const bool numeric_tag = is_plain(f.node) || has_tag(f.node, "tag:yaml.org,2002:int") ||
                             has_tag(f.node, "tag:yaml.org,2002:float");
    if (!f.node.IsScalar() || !numeric_tag) {
        diag.error(f.at, label(f.path) + ": expected " + range + ", got " + describe(f.node));
        return std::nullopt;
    }
    const std::string& s = f.node.Scalar();
    double value = 0;
    // from_chars takes neither "inf"/"nan" spelled the YAML way (.inf) nor hex
    // without a prefix; it does take "inf"/"nan", hence isfinite.
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, std::chars_format::general);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(value) || value < min ||
        value > max) {
        diag.error(f.at, label(f.path) + ": expected " + range + ", got " + quoted(s));
        return std::nullopt;
    }
    return value;
}

std::optional<Duration> read_timeout(const Field& f, Diagnostics& diag) {
    auto text = scalar_text(f, diag, "a duration such as \"2s\"");
    if (!text) return std::nullopt;
    auto parsed = parse_duration_detailed(*text);
    if (!parsed.error.empty()) {
        diag.error(f.at, f.path + ": " + parsed.error);
        return std::nullopt;
    }
    if (parsed.value.count() <= 0) {
        diag.error(f.at, f.path + ": a timeout must be greater than zero");
        return std::nullopt;
    }
    return parsed.value;
}

std::optional<std::chrono::microseconds> read_latency(const Field& f, Diagnostics& diag) {
    auto text = scalar_text(f, diag, "a latency such as \"1ms\" or \"200us\"");
    if (!text) return std::nullopt;
    const std::string hint = " (expected a number with a unit us, ms or s, e.g. \"200us\", \"0.5ms\", \"2ms\")";
    const std::string_view t = *text;
    std::size_t i = 0;
    while (i < t.size() && ((t[i] >= '0' && t[i] <= '9') || t[i] == '.')) ++i;
    const std::string number(t.substr(0, i));
    const std::string_view unit = t.substr(i);
    const double scale = unit == "us" ? 1 : unit == "ms" ? 1e3 : unit == "s" ? 1e6 : 0;
    char* end = nullptr;
    const double value = number.empty() ? -1 : std::strtod(number.c_str(), &end);
    if (scale == 0 || number.empty() || end != number.c_str() + number.size() ||
        std::count(number.begin(), number.end(), '.') > 1) {
        diag.error(f.at, f.path + ": invalid latency " + quoted(t) + hint);
        return std::nullopt;
    }
    const double us = value * scale;
    if (us > 60e6) {
        diag.error(f.at, f.path + ": latency " + quoted(t) + " is too large (at most 60s)");
        return std::nullopt;
    }
    return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(us)));
}

std::optional<HostPort> read_host_port(const Field& f, Diagnostics& diag, bool allow_port_zero) {
    auto text = scalar_text(f, diag, "an address host:port");
    if (!text) return std::nullopt;
    auto parsed = parse_host_port_detailed(*text);
    if (!parsed.error.empty()) {
        diag.error(f.at, f.path + ": " + parsed.error);
        return std::nullopt;
    }
    if (parsed.value.port == 0 && !allow_port_zero) {
        diag.error(f.at, f.path + ": port must be from 1 to 65535, got 0");
        return std::nullopt;
    }
    return parsed.value;
}

std::optional<Duration> read_data_path_timeout(const Field& f, Diagnostics& diag) {
    auto d = read_timeout(f, diag);
    if (d && *d < timer_granularity) {
        diag.error(f.at, f.path + ": must be at least " + format_duration(timer_granularity) +
                             " (the granularity of the proxy's timers), got " + format_duration(*d));
        return std::nullopt;
    }
    return d;
}

std::vector<YAML::Node> load_all(const std::string& text) {
    // A first pass that only walks the events: every document must start
    // past the previous one. A parser that makes no progress is stopped with
    // an error at the token it is stuck on; a stream that passes is then
    // loaded normally (same input, same calls, so it ends too).
    if (auto bad = invalid_utf8(text)) {
        YAML::Mark at;
        at.pos = static_cast<int>(*bad);
        const std::string_view before = std::string_view(text).substr(0, *bad);
        at.line = static_cast<int>(std::count(before.begin(), before.end(), '\n'));
        const std::size_t line_start = before.rfind('\n');
        at.column = static_cast<int>(line_start == std::string_view::npos ? *bad : *bad - line_start - 1);
        char byte[8];
        std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[*bad]));
        throw YAML::ParserException(at, std::string("the file is not valid UTF-8 (byte ") + byte + ")");
    }
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    while (parser.HandleNextDocument(starts)) {
        const auto& s = starts.starts;
        if (s.size() >= 2 && s[s.size() - 1].pos <= s[s.size() - 2].pos)
            throw YAML::ParserException(s.back(), "unexpected content after the end of a document");
    }
    return YAML::LoadAll(text);
}

}  // namespace weir::config::yaml
