// Keeps the reference documents under docs/ in step with the code: every
// metric family, every configuration key and every admin route found in the
// sources must be documented, and the documents must not name ones that do
// not exist. The sources are read as text (std::regex over file contents), so
// a renamed key or a new route fails here until the documentation follows.
#include "config/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <map>
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
// source keys it takes through routing::source_name(); and the keys it
// refuses as not supported yet. key -> the file that names it.
std::map<std::string, std::string> config_keys_in_sources() {
    static const std::regex call(R"re(\b(?:take|require|read_[a-z_]+)\(\s*"([a-z][a-z0-9_]*)")re");
    static const std::regex via_source_name(R"re(\b(?:take|require)\(\s*routing::source_name\()re");
    static const std::regex source_name_case(R"re(case Source::[a-z_]+:\s*return "([a-z_]+)")re");
    static const std::regex refused(R"re(\{"[^"]*",\s*"([a-z][a-z0-9_]*)",\s*")re");
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
    const fs::path refusals = kRoot / "config/not_supported_yet.hpp";
    for (const auto& key : captures(read_text(refusals), refused)) keys.emplace(key, source_name_of(refusals));
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
