// libFuzzer target for the YAML configuration loader (load_config_text).
// Beyond memory safety and not throwing, it checks:
//  - a result has a config or errors, never both, never neither; every error
//    has a message and a location inside the text (or 0:0 for the whole file);
//  - an accepted config, shown as GET /config shows it (JSON is YAML), loads
//    back without errors to the same JSON: what an operator reads back is a
//    valid configuration meaning the same thing.
#include "config/config.hpp"
#include "config/to_json.hpp"
#include "fuzz_check.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

using namespace weir;

namespace {

void check_errors(const config::LoadResult& r, const std::string& text) {
    FUZZ_CHECK(r.config.has_value() != !r.errors.empty());
    const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    for (const config::ConfigError& e : r.errors) {
        FUZZ_CHECK(!e.message.empty());
        FUZZ_CHECK(e.line >= 0 && e.col >= 0);
        FUZZ_CHECK(e.line <= lines + 1);  // yaml-cpp may point just past the last line
        FUZZ_CHECK(!e.text().empty());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    config::LoadResult first = config::load_config_text(text, "fuzz.yaml");
    check_errors(first, text);
    if (!first.config) return 0;

    const std::string shown = config::to_json(*first.config, 1);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(shown, ec);
    FUZZ_CHECK(!ec && v.is_object());
    // What GET /config adds beyond the file's keys.
    v.as_object().erase("version");
    v.as_object().erase("source");
    const std::string again_text = boost::json::serialize(v);
    // Paths in it are already resolved against the file's folder; a name in
    // <> (and no slash) makes the loader take them as written instead of resolving again.
    config::LoadResult second = config::load_config_text(again_text, "<config>");
    if (!second.config) {
        for (const config::ConfigError& e : second.errors) std::fprintf(stderr, "reloading GET /config: %s\n", e.text().c_str());
        std::fprintf(stderr, "%s\n", again_text.c_str());
    }
    FUZZ_CHECK(second.config.has_value());
    second.config->source_path = first.config->source_path;  // the one field that differs by design
    const std::string shown_again = config::to_json(*second.config, 1);
    if (shown_again != shown) std::fprintf(stderr, "first:  %s\nsecond: %s\n", shown.c_str(), shown_again.c_str());
    FUZZ_CHECK(shown_again == shown);
    return 0;
}
