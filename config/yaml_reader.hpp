// Typed, located reading of a yaml-cpp tree. Every mistake becomes a
// ConfigError pointing at the offending node and reading carries on, so one
// `weir check` lists all problems of a file. Only config loading uses this.
#pragma once

#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weir::config::yaml {

struct Location {
    int line = 0;  // 1-based; 0: the file as a whole
    int col = 0;
};

Location location_of(const YAML::Node& node);

// YAML::LoadAll, except that it throws YAML::ParserException where
// yaml-cpp 0.7's LoadAll never returns: on a stray token after a document
// ("[],", ",") its parser reports an empty document at the same place
// forever, allocating as it goes.
// It also refuses text that is not UTF-8 (YAML streams are Unicode): such
// bytes would otherwise reach GET /config, whose JSON must be UTF-8.
std::vector<YAML::Node> load_all(const std::string& text);

class Diagnostics {
public:
    explicit Diagnostics(std::string file) : file_(std::move(file)) {}
    void error(Location at, std::string message);
    bool empty() const { return errors_.empty(); }
    std::size_t count() const { return errors_.size(); }
    std::vector<ConfigError> take() { return std::move(errors_); }

private:
    std::string file_;
    std::vector<ConfigError> errors_;
};

// A value and where to point when it is wrong. yaml-cpp gives an empty value
// the mark of whatever token follows it (often the next line), so for those we
// point at the key instead.
struct Field {
    YAML::Node node;
    Location at;
    std::string path;  // "pools[0].upstream.connect_timeout"; "" for the root
};

Field root_field(const YAML::Node& root);

// "a mapping", "a sequence", "a string", "nothing"
std::string describe(const YAML::Node& node);

// Reads one mapping. Construction reports duplicate keys and non-string keys;
// finish() reports every key that no take()/require() asked for, with a
// suggestion when one is close.
class MapReader {
public:
    enum class IfNull { error, empty };
    MapReader(const Field& map, Diagnostics& diag, IfNull if_null = IfNull::error);

    bool ok() const { return ok_; }
    std::optional<Field> take(std::string_view key);
    // Like take(), but a missing key is an error located at the mapping.
    std::optional<Field> require(std::string_view key);
    void finish();

    // For mappings whose keys are data (a split: pool -> weight), in file order.
    struct Entry {
        std::string key;
        Location key_at;
        Field value;
    };
    std::vector<Entry> entries();

private:
    struct Key {
        std::string name;
        Location at;
        YAML::Node value;
        bool used = false;
    };
    Field map_;
    Diagnostics& diag_;
    bool ok_ = false;
    std::vector<Key> keys_;
    std::vector<std::string> asked_;
};

// Sequence items as fields named "path[i]"; nullopt (after reporting) when the
// node is not a sequence.
std::optional<std::vector<Field>> read_sequence(const Field& f, Diagnostics& diag);

std::optional<std::string> read_string(const Field& f, Diagnostics& diag);
std::optional<bool> read_bool(const Field& f, Diagnostics& diag);
std::optional<std::uint64_t> read_unsigned(const Field& f, Diagnostics& diag, std::uint64_t min,
                                           std::uint64_t max);
// A finite decimal number (integer or not) in [min, max].
std::optional<double> read_number(const Field& f, Diagnostics& diag, double min, double max);
// A duration with unit; must be > 0 (every duration in the schema today is a timeout).
std::optional<Duration> read_timeout(const Field& f, Diagnostics& diag);
// A latency tolerance: a number with a unit us, ms or s, fractions allowed
// ("0.2ms", "150us"), zero allowed, at most 60 s; in microseconds.
std::optional<std::chrono::microseconds> read_latency(const Field& f, Diagnostics& diag);
std::optional<HostPort> read_host_port(const Field& f, Diagnostics& diag, bool allow_port_zero);

// The workers' deadline granularity: a data-path timeout shorter than this
// could not be honoured, so it is refused rather than silently rounded.
inline constexpr Duration timer_granularity{10};
// A timeout the workers enforce per request or connection: at least timer_granularity.
std::optional<Duration> read_data_path_timeout(const Field& f, Diagnostics& diag);

}  // namespace weir::config::yaml
