// Keeps the reference documents under docs/ in step with the code: every
// metric family, every configuration key and every admin route found in the
// sources must be documented, and the documents must not name ones that do
// not exist. The sources are read as text (std::regex over file contents), so
// a renamed key or a new route fails here until the documentation follows.
#include "control/config.hpp"

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
// read_*("key") helpers that forward to them, in control/config*.cpp; the
// source keys it takes through routing::source_name(); and the keys it
// refuses as not supported yet. key -> the file that names it.
std::map<std::string, std::string> config_keys_in_sources() {
    static const std::regex call(R"re(\b(?:take|require|read_[a-z_]+)\(\s*"([a-z][a-z0-9_]*)")re");
    static const std::regex via_source_name(R"re(\b(?:take|require)\(\s*routing::source_name\()re");
    static const std::regex source_name_case(R"re(case Source::[a-z_]+:\s*return "([a-z_]+)")re");
    static const std::regex refused(R"re(\{"[^"]*",\s*"([a-z][a-z0-9_]*)",\s*")re");
    std::map<std::string, std::string> keys;
    bool uses_source_names = false;
    for (const auto& file : sources_in({"control"})) {
        const std::string name = file.filename().string();
        if (name.rfind("config", 0) != 0 || file.extension() != ".cpp") continue;
        const std::string text = read_text(file);
        for (const auto& key : captures(text, call)) keys.emplace(key, source_name_of(file));
        uses_source_names = uses_source_names || std::regex_search(text, via_source_name);
    }
    if (uses_source_names) {
        const fs::path matcher = kRoot / "routing/matcher.cpp";
        for (const auto& key : captures(read_text(matcher), source_name_case)) keys.emplace(key, source_name_of(matcher));
    }
    const fs::path refusals = kRoot / "control/not_supported_yet.hpp";
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
                                         << "`, which the loader (control/config*.cpp) does not read";
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
    const auto loaded = control::load_config_file((dir / "weir.yaml").string());
    std::string errors;
    for (const auto& e : loaded.errors) errors += "  " + e.text() + "\n";
    fs::remove_all(dir);
    EXPECT_TRUE(loaded.config.has_value()) << "the complete example in docs/config.md does not load:\n" << errors;
}

// ---- (c) admin routes --------------------------------------------------------------

struct AdminRoutes {
    std::set<std::string> exact;                  // r.path == "/healthz"
    std::set<std::pair<std::size_t, std::string>> segments;  // parts[2] == "split" -> {2, "split"}
};

// The admin API matches whole paths (r.path == "/x") and path segments
// (parts[i] == "x"); rollout actions are the verbs RolloutDriver::command
// compares, at the segment index admin_api.cpp passes to it.
AdminRoutes admin_routes_in_sources() {
    static const std::regex whole(R"re(\b\w+\.path\s*==\s*"(/[^"]*)")re");
    static const std::regex segment(R"re(\bparts\[(\d+)\]\s*==\s*"([^"]+)")re");
    static const std::regex command_at(R"re(->command\(\s*\w+\s*,\s*parts\[(\d+)\]\s*\))re");
    static const std::regex verb(R"re(\bverb\s*==\s*"([a-z_]+)")re");
    AdminRoutes routes;
    const std::string api = read_text(kRoot / "control/admin_api.cpp");
    for (const auto& p : captures(api, whole)) routes.exact.insert(p);
    for (std::sregex_iterator it(api.begin(), api.end(), segment), end; it != end; ++it)
        routes.segments.emplace(std::stoul((*it)[1].str()), (*it)[2].str());
    std::smatch m;
    if (std::regex_search(api, m, command_at)) {
        const std::size_t index = std::stoul(m[1].str());
        for (const auto& v : captures(read_text(kRoot / "control/rollout_driver.cpp"), verb))
            routes.segments.emplace(index, v);
    }
    return routes;
}

std::vector<std::string> split_segments(const std::string& path) {
    std::vector<std::string> out;
    std::size_t i = 1;
    while (i <= path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        if (j > i) out.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

// Paths of the endpoint table rows: "| GET | `/routes/{r}` | ...".
std::vector<std::string> documented_admin_paths() {
    static const std::regex row(R"re((^|\n)\| *(GET|POST|PUT|DELETE|HEAD) *\| *`(/[^`]*)`)re");
    return captures(read_text(kRoot / "docs/admin-api.md"), row, 3);
}

TEST(DocsSync, EveryAdminRouteIsDocumented) {
    const auto routes = admin_routes_in_sources();
    ASSERT_GE(routes.exact.size(), 5u) << "admin route extraction found too few r.path == \"...\" comparisons";
    ASSERT_GE(routes.segments.size(), 10u) << "admin route extraction found too few parts[i] == \"...\" comparisons";
    const auto paths = documented_admin_paths();
    ASSERT_FALSE(paths.empty()) << "docs/admin-api.md has no endpoint table rows (| METHOD | `/path` |)";
    for (const auto& p : routes.exact) {
        EXPECT_TRUE(std::find(paths.begin(), paths.end(), p) != paths.end())
            << "admin route " << p << " (matched in control/admin_api.cpp) is missing from docs/admin-api.md";
    }
    for (const auto& [index, seg] : routes.segments) {
        bool found = false;
        for (const auto& p : paths) {
            const auto parts = split_segments(p);
            found = found || (index < parts.size() && parts[index] == seg);
        }
        EXPECT_TRUE(found) << "admin route segment '" << seg << "' at position " << index
                           << " (matched in control/admin_api.cpp or control/rollout_driver.cpp) is missing from "
                              "docs/admin-api.md";
    }
}

TEST(DocsSync, EveryDocumentedAdminRouteExists) {
    const auto routes = admin_routes_in_sources();
    for (const auto& p : documented_admin_paths()) {
        if (routes.exact.count(p)) continue;
        const auto parts = split_segments(p);
        for (std::size_t i = 0; i < parts.size(); ++i) {
            if (parts[i].size() >= 2 && parts[i].front() == '{' && parts[i].back() == '}') continue;  // a parameter
            EXPECT_TRUE(routes.segments.count({i, parts[i]}))
                << "docs/admin-api.md documents " << p << ", but control/admin_api.cpp matches no '" << parts[i]
                << "' at position " << i;
        }
    }
}

}  // namespace
}  // namespace weir
