// Keeps the reference documents under docs/ in step with the code: every
// metric family, every configuration key and every admin route found in the
// sources must be documented, and the documents must not name ones that do
// not exist. The sources are read as text (std::regex over file contents), so
// a renamed key or a new route fails here until the documentation follows.
#include "config/config.hpp"
#include "config/to_json.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef WEIR_SOURCE_DIR
#error "WEIR_SOURCE_DIR must be defined by the build"
#endif

namespace weir {
namespace {

namespace fs = std::filesystem;

const fs::path kRoot{WEIR_SOURCE_DIR};

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        ADD_FAILURE() << "cannot read " << path;
        return {};
    }
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string source_name_of(const fs::path& p) { return fs::relative(p, kRoot).generic_string(); }

// C++ sources (.cpp, .hpp) directly in the given folders of the tree, sorted.
std::vector<fs::path> sources_in(std::initializer_list<const char*> folders) {
    std::vector<fs::path> out;
    for (const char* folder : folders) {
        const fs::path dir = kRoot / folder;
        if (!fs::is_directory(dir)) continue;
        for (const auto& entry : fs::directory_iterator(dir)) {
            const auto ext = entry.path().extension();
            if (entry.is_regular_file() && (ext == ".cpp" || ext == ".hpp")) out.push_back(entry.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Every first capture group of `pattern` in `text`.
std::vector<std::string> captures(const std::string& text, const std::regex& pattern, int group = 1) {
    std::vector<std::string> out;
    for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it)
        out.push_back((*it)[group].str());
    return out;
}

// ---- (a) metrics ---------------------------------------------------------------

// Metric names as string literals ("weir_requests_total") in the folders that
// define metric families; name -> the file that spells it.
std::map<std::string, std::string> metric_names_in_sources() {
    static const std::regex literal(R"re("(weir_[a-z0-9_]+)")re");
    std::map<std::string, std::string> names;
    for (const auto& file : sources_in({"control", "telemetry", "proxy", "health", "rollout"})) {
        for (const auto& name : captures(read_text(file), literal)) names.emplace(name, source_name_of(file));
    }
    return names;
}

TEST(DocsSync, EveryMetricIsDocumented) {
    const auto names = metric_names_in_sources();
    // The extraction must keep finding the families; an empty set would pass vacuously.
    ASSERT_GE(names.size(), 15u) << "metric extraction found too few \"weir_...\" literals";
    const std::string doc = read_text(kRoot / "docs/metrics.md");
    for (const auto& [name, file] : names) {
        const std::regex word("(^|[^a-z0-9_])" + name + "([^a-z0-9_]|$)");
        EXPECT_TRUE(std::regex_search(doc, word))
            << "metric " << name << " (defined in " << file << ") is missing from docs/metrics.md";
    }
}

TEST(DocsSync, EveryDocumentedMetricExists) {
    const auto names = metric_names_in_sources();
    const std::string doc = read_text(kRoot / "docs/metrics.md");
    static const std::regex mention("weir_[a-z0-9_]+");
    std::set<std::string> mentioned;
    for (const auto& m : captures(doc, mention, 0)) mentioned.insert(m);
    ASSERT_FALSE(mentioned.empty()) << "docs/metrics.md names no weir_ metric";
    for (const auto& name : mentioned) {
        std::string base = name;
        // A histogram's series carry these suffixes on the family's name.
        for (const char* suffix : {"_bucket", "_count", "_sum"}) {
            const std::string s(suffix);
            if (base.size() > s.size() && base.compare(base.size() - s.size(), s.size(), s) == 0 &&
                names.count(base.substr(0, base.size() - s.size()))) {
                base.resize(base.size() - s.size());
                break;
            }
        }
        EXPECT_TRUE(names.count(base)) << "docs/metrics.md names " << name
                                       << ", which no source in control/, telemetry/, proxy/, health/ or rollout/ defines";
    }
}

// ---- (b) configuration keys ------------------------------------------------------

// Keys the loader asks for: map.take("key") / map.require("key") and the
// read_*("key") helpers that forward to them, in config/*.cpp; the
// source keys it takes through routing::source_name(). key -> the file
// that names it.
std::map<std::string, std::string> config_keys_in_sources() {
    static const std::regex call(R"re(\b(?:take|require|read_[a-z_]+)\(\s*"([a-z][a-z0-9_]*)")re");
    static const std::regex via_source_name(R"re(\b(?:take|require)\(\s*routing::source_name\()re");
    static const std::regex source_name_case(R"re(case Source::[a-z_]+:\s*return "([a-z_]+)")re");
    std::map<std::string, std::string> keys;
    bool uses_source_names = false;
    for (const auto& file : sources_in({"config"})) {
        if (file.extension() != ".cpp") continue;
        const std::string text = read_text(file);
        for (const auto& key : captures(text, call)) keys.emplace(key, source_name_of(file));
        uses_source_names = uses_source_names || std::regex_search(text, via_source_name);
    }
    if (uses_source_names) {
        const fs::path matcher = kRoot / "routing/matcher.cpp";
        for (const auto& key : captures(read_text(matcher), source_name_case)) keys.emplace(key, source_name_of(matcher));
    }
    return keys;
}

TEST(DocsSync, EveryConfigKeyIsDocumented) {
    const auto keys = config_keys_in_sources();
    ASSERT_GE(keys.size(), 60u) << "config key extraction found too few take(\"...\")/require(\"...\") calls";
    for (const char* expected : {"workers", "listeners", "max_header_bytes", "header", "cookie", "query", "canary"})
        ASSERT_TRUE(keys.count(expected)) << "config key extraction missed '" << expected << "'";
    const std::string doc = read_text(kRoot / "docs/config.md");
    for (const auto& [key, file] : keys) {
        EXPECT_TRUE(doc.find("`" + key + "`") != std::string::npos)
            << "config key `" << key << "` (read in " << file << ") is missing from docs/config.md";
    }
}

// The first cell of every key table row names keys; each must be one the loader takes.
TEST(DocsSync, EveryDocumentedConfigKeyExists) {
    const auto keys = config_keys_in_sources();
    const std::string doc = read_text(kRoot / "docs/config.md");
    static const std::regex row(R"re((^|\n)\| *(`[^|]*)\|)re");
    static const std::regex ticked("`([^`]+)`");
    std::size_t rows = 0;
    for (const auto& cell : captures(doc, row, 2)) {
        ++rows;
        for (const auto& key : captures(cell, ticked)) {
            EXPECT_TRUE(keys.count(key)) << "docs/config.md documents `" << key
                                         << "`, which the loader (config/*.cpp) does not read";
        }
    }
    EXPECT_GE(rows, 60u) << "docs/config.md has too few key table rows";
}

// The complete example must load as it stands (with a token file beside it).
TEST(DocsSync, ConfigExampleLoads) {
    const std::string doc = read_text(kRoot / "docs/config.md");
    const auto at = doc.find("## Complete example");
    ASSERT_NE(at, std::string::npos) << "docs/config.md has no '## Complete example' section";
    const auto open = doc.find("```yaml\n", at);
    ASSERT_NE(open, std::string::npos) << "docs/config.md: the complete example has no ```yaml block";
    const auto body = open + 8;
    const auto close = doc.find("```", body);
    ASSERT_NE(close, std::string::npos);
    const fs::path dir = fs::temp_directory_path() / ("weir-docs-sync-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "admin.token") << "0123456789abcdef0123456789abcdef\n";
    std::ofstream(dir / "weir.yaml") << doc.substr(body, close - body);
    const auto loaded = config::load_config_file((dir / "weir.yaml").string());
    std::string errors;
    for (const auto& e : loaded.errors) errors += "  " + e.text() + "\n";
    fs::remove_all(dir);
    EXPECT_TRUE(loaded.config.has_value()) << "the complete example in docs/config.md does not load:\n" << errors;
}

// The default column of every key table must say what the loader applies
// when the key is left out. A configuration that leaves out every optional
// key it can (and enables health_check, outlier, sticky and rollout with no
// settings) is loaded and read back as GET /config shows it; each documented
// default is compared with that value.

// "## `pools[].upstream`" -> {"pools[]", "upstream"}; "## Top level" -> {} (the root).
std::optional<std::vector<std::string>> section_path(const std::string& heading) {
    static const std::regex ticked(R"re(^#+ `([a-z_.\[\]]+)`\s*$)re");
    if (std::regex_match(heading, std::regex(R"re(^## Top level\s*$)re"))) return std::vector<std::string>{};
    std::smatch m;
    if (!std::regex_match(heading, m, ticked)) return std::nullopt;
    std::vector<std::string> out;
    std::stringstream parts(m[1].str());
    for (std::string part; std::getline(parts, part, '.');) out.push_back(part);
    return out;
}

// Every object the path reaches ("pools[]" goes into each element).
void objects_at(const boost::json::value& v, const std::vector<std::string>& path, std::size_t i,
                std::vector<const boost::json::object*>& out) {
    if (!v.is_object()) return;
    const auto& o = v.as_object();
    if (i == path.size()) {
        out.push_back(&o);
        return;
    }
    std::string key = path[i];
    const bool each = key.size() > 2 && key.ends_with("[]");
    if (each) key.resize(key.size() - 2);
    const auto* next = o.if_contains(key);
    if (!next) return;
    if (!each) return objects_at(*next, path, i + 1, out);
    if (!next->is_array()) return;
    for (const auto& element : next->as_array()) objects_at(element, path, i + 1, out);
}

std::vector<std::string> table_cells(const std::string& line) {
    std::vector<std::string> cells;
    std::stringstream in(line);
    std::string cell;
    std::getline(in, cell, '|');  // before the first '|'
    while (std::getline(in, cell, '|')) {
        const auto b = cell.find_first_not_of(' ');
        const auto e = cell.find_last_not_of(' ');
        cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    if (!cells.empty() && cells.back().empty()) cells.pop_back();
    return cells;
}

std::optional<double> number_of(const std::string& text) {
    try {
        std::size_t used = 0;
        const double d = std::stod(text, &used);
        if (used == text.size()) return d;
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

std::optional<double> number_of(const boost::json::value& v) {
    if (v.is_int64()) return static_cast<double>(v.as_int64());
    if (v.is_uint64()) return static_cast<double>(v.as_uint64());
    if (v.is_double()) return v.as_double();
    return std::nullopt;
}

// Whether the documented default (the first `...` of the cell) spells the value.
bool same_value(const std::string& doc, const boost::json::value& v) {
    if (v.is_string()) {
        // Durations by value: `60s` is the "1m" GET /config shows.
        const std::string text(v.as_string().c_str());
        const auto a = config::parse_duration(doc), b = config::parse_duration(text);
        return a && b ? *a == *b : doc == text;
    }
    if (v.is_bool()) return doc == (v.as_bool() ? "true" : "false");
    if (auto n = number_of(v)) {
        auto d = number_of(doc);
        return d && *d == *n;
    }
    if (v.is_array()) {
        if (doc.size() < 2 || doc.front() != '[' || doc.back() != ']') return false;
        std::vector<std::string> items;
        std::stringstream in(doc.substr(1, doc.size() - 2));
        for (std::string item; std::getline(in, item, ',');) {
            const auto b = item.find_first_not_of(' ');
            items.push_back(b == std::string::npos ? "" : item.substr(b));
        }
        const auto& a = v.as_array();
        if (items.size() != a.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!same_value(items[i], a[i])) return false;
        }
        return true;
    }
    return false;
}

TEST(DocsSync, DocumentedDefaultsAreTheLoadersDefaults) {
    // Every optional key left out, except those that enable a feature
    // (listed in `written`, which are not compared).
    const auto loaded = config::load_config_text(R"(listeners:
  - name: main
    address: "127.0.0.1:18080"
pools:
  - name: stable
    endpoints:
      - address: "127.0.0.1:19001"
    health_check: {}
    outlier: {}
  - name: canary
    endpoints:
      - address: "127.0.0.1:19002"
routes:
  - name: web
    split: {stable: 1, canary: 0}
    rollout: {canary: canary, baseline: stable}
  - name: sticky
    match: {path_prefix: /sticky}
    split: {stable: 1}
    sticky: {cookie: id, assign: true}
)",
                                                 "defaults.yaml");
    std::string errors;
    for (const auto& e : loaded.errors) errors += "  " + e.text() + "\n";
    ASSERT_TRUE(loaded.config.has_value()) << errors;
    const std::set<std::string> written{"assign"};
    const boost::json::value effective = boost::json::parse(config::to_json(*loaded.config, 1));

    const std::string doc = read_text(kRoot / "docs/config.md");
    static const std::regex ticked("`([^`]+)`");
    std::optional<std::vector<std::string>> section;
    std::string heading;
    std::optional<std::size_t> default_column;  // of the current table
    std::size_t compared = 0;
    std::stringstream lines(doc);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("#")) {
            heading = line;
            section = section_path(line);
            default_column.reset();
            continue;
        }
        if (!line.starts_with("|")) {
            default_column.reset();
            continue;
        }
        const auto cells = table_cells(line);
        if (!default_column) {  // the header row
            const auto it = std::find(cells.begin(), cells.end(), "default");
            if (it != cells.end()) default_column = static_cast<std::size_t>(it - cells.begin());
            else default_column = cells.size();  // not a key table
            continue;
        }
        if (!section || *default_column >= cells.size() || cells[0].starts_with("---")) continue;
        std::smatch key, value;
        if (!std::regex_search(cells[0], key, ticked) || written.count(key[1].str())) continue;
        const std::string& cell = cells[*default_column];
        if (!std::regex_search(cell, value, ticked)) continue;  // "**required**", "none", "number of CPUs"
        std::vector<const boost::json::object*> objects;
        objects_at(effective, *section, 0, objects);
        for (const auto* o : objects) {
            const auto* v = o->if_contains(key[1].str());
            if (!v || v->is_object()) continue;
            EXPECT_TRUE(same_value(value[1].str(), *v))
                << "docs/config.md, " << heading << ": the default of `" << key[1].str() << "` is documented as `"
                << value[1].str() << "`, but the loader applies " << boost::json::serialize(*v);
            ++compared;
            break;
        }
    }
    EXPECT_GE(compared, 38u) << "too few documented defaults were compared with the loader's";
}

// ---- (c) admin routes --------------------------------------------------------------

using MethodPath = std::pair<std::string, std::string>;  // {"PUT", "/routes/{}/split"}

// "/routes/{route}/split" -> "/routes/{}/split": placeholders compare by position only.
std::string anonymous(const std::string& path) {
    static const std::regex placeholder(R"re(\{[^}]*\})re");
    return std::regex_replace(path, placeholder, "{}");
}

// The admin resources add their routes to the table as
// router.add({"METHOD", <expression naming the pattern>, handler...}); a
// pattern with {action} stands for every verb RolloutDriver::command accepts.
std::set<MethodPath> admin_routes_in_sources() {
    static const std::regex add(R"re(\badd\(\{\s*"(GET|POST|PUT|DELETE)",\s*([^,]*),)re");
    static const std::regex literal(R"re("(/[^"]*)")re");
    static const std::regex verb(R"re(\bverb\s*==\s*"([a-z_]+)")re");
    const auto verbs = captures(read_text(kRoot / "control/rollout_driver.cpp"), verb);
    std::set<MethodPath> routes;
    for (const auto& entry : fs::directory_iterator(kRoot / "admin")) {
        if (entry.path().extension() != ".cpp") continue;
        const std::string text = read_text(entry.path());
        for (std::sregex_iterator it(text.begin(), text.end(), add), end; it != end; ++it) {
            const std::string method = (*it)[1].str();
            for (const auto& pattern : captures((*it)[2].str(), literal)) {
                if (pattern.find("{action}") == std::string::npos) {
                    routes.emplace(method, anonymous(pattern));
                    continue;
                }
                for (const auto& v : verbs)
                    routes.emplace(method, anonymous(std::regex_replace(pattern, std::regex(R"re(\{action\})re"), v)));
            }
        }
    }
    return routes;
}

// Method and path of the endpoint table rows: "| GET | `/routes/{r}` | ...".
std::set<MethodPath> documented_admin_routes() {
    static const std::regex row(R"re((^|\n)\| *(GET|POST|PUT|DELETE|HEAD) *\| *`(/[^`]*)`)re");
    const std::string doc = read_text(kRoot / "docs/admin-api.md");
    std::set<MethodPath> out;
    for (std::sregex_iterator it(doc.begin(), doc.end(), row), end; it != end; ++it)
        out.emplace((*it)[2].str(), anonymous((*it)[3].str()));
    return out;
}

TEST(DocsSync, EveryAdminRouteIsDocumented) {
    const auto routes = admin_routes_in_sources();
    ASSERT_GE(routes.size(), 15u) << "admin route extraction found too few router.add({\"METHOD\", \"/path\"...}) "
                                     "calls in admin/*.cpp";
    const auto documented = documented_admin_routes();
    ASSERT_FALSE(documented.empty()) << "docs/admin-api.md has no endpoint table rows (| METHOD | `/path` |)";
    for (const auto& [method, path] : routes) {
        EXPECT_TRUE(documented.count({method, path}))
            << "admin route " << method << " " << path << " (added in admin/*_resource.cpp) is missing from "
            << "docs/admin-api.md";
    }
}

TEST(DocsSync, EveryDocumentedAdminRouteExists) {
    const auto routes = admin_routes_in_sources();
    for (const auto& [method, path] : documented_admin_routes()) {
        EXPECT_TRUE(routes.count({method, path}))
            << "docs/admin-api.md documents " << method << " " << path << ", which no admin resource adds";
    }
}

}  // namespace
}  // namespace weir
