// Runtime edits made through the admin API, persisted to `state_file` so they
// survive reloads and restarts (docs/config.md `state_file`, §5).
//
// File format (JSON, UTF-8, human-readable):
//
//   {
//     "format": 1,
//     "routes": {
//       "web": {
//         "split": {"stable": 80, "canary": 20},
//         "file_split": {"stable": 90, "canary": 10}
//       }
//     }
//   }
//
// - "format" is required and must be 1; a file with another format is rejected
//   (treated like a corrupt file: moved aside, Weir starts from the config).
// - "routes" is optional (missing = no overrides).
// - Unknown keys, at the top level and inside a route entry, are ignored on load
//   and NOT preserved on rewrite: later issues add their own top-level sections
//   (drains, endpoint lists, rollout state) and a file written by a newer Weir
//   with extra sections still loads here, losing only what this version does
//   not know about.
// - Pool order inside a split is preserved. Weights round-trip exactly (written
//   as the shortest decimal that reads back to the same double).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace weir::control {

using Split = std::vector<std::pair<std::string, double>>;  // pool -> weight, in order

struct RouteOverride {
    Split split;       // the runtime split in force
    Split file_split;  // the file's split for this route when the override was made:
                       // a reload whose file split differs drops the override
                       // (the file is the newer intent)
    bool operator==(const RouteOverride&) const = default;
};

// A pool's endpoint list replaced at runtime: address -> weight. Like a
// route's split, it is dropped by a reload whose file changes that pool's
// endpoints.
struct PoolOverride {
    Split endpoints;
    Split file_endpoints;
    bool operator==(const PoolOverride&) const = default;
};

struct RuntimeState {
    std::map<std::string, RouteOverride> routes;  // by route name
    std::map<std::string, PoolOverride> pools;    // by pool name
    // Endpoints an operator drained (rolling updates), by pool: addresses.
    std::map<std::string, std::vector<std::string>> drained;
    // Progressive rollouts by route: each the JSON object of its run
    // (phase, step, decisions), kept as text; the rollout code reads it.
    std::map<std::string, std::string> rollouts;
    // The config version this state was written under. A restart continues
    // above it, so an ETag handed out before the restart never names a
    // different configuration after it.
    std::uint64_t config_version = 0;
    bool operator==(const RuntimeState&) const = default;
};

// Serialises `state` in the format above. Non-finite weights are written as
// null (and rejected by state_from_json); StateStore::save refuses them first.
std::string to_json(const RuntimeState& state);

// Parses and validates (route and pool names non-empty, weights finite and >= 0).
// On error returns nullopt and sets `error` to why, naming the place,
// e.g. "routes.web.split.canary: not a number".
std::optional<RuntimeState> state_from_json(std::string_view text, std::string& error);

// Checks what state_from_json would check; returns an empty string when `state`
// is valid, else why (same wording as state_from_json).
std::string validate(const RuntimeState& state);

class StateStore {
public:
    explicit StateStore(std::string path);
    StateStore(const StateStore&) = delete;
    StateStore& operator=(const StateStore&) = delete;

    const std::string& path() const;

    struct Loaded {
        RuntimeState state;
        std::string error;     // empty when the file was fine or absent
        std::string moved_to;  // where a bad file was moved; empty if not moved
    };

    // Missing file: empty state, no error. Unreadable or corrupt file: logs
    // loudly, renames it aside to "<path>.corrupt-<UTC YYYYmmddTHHMMSSZ>" (a
    // "-N" suffix is added if that name exists: never overwrites, never deletes
    // it), returns an empty state with `error` set and `moved_to` set (empty if
    // even the rename failed; the reason is then in `error` and the log).
    // Also removes "<path>.tmp-<pid>" files left by a process that no longer
    // exists (a save interrupted by a crash).
    Loaded load();

    // Atomic, durable write: writes "<path>.tmp-<pid>" in the same directory,
    // fsyncs it, renames it over `path`, fsyncs the directory. Returns an error
    // (std::errc::invalid_argument for an invalid state, else the failing
    // syscall's errno) with the old file untouched and the temp file removed.
    // The one exception: if only the final directory fsync fails, the rename has
    // happened (the new file is in place) but its durability is not guaranteed;
    // that error is returned too. Details of any failure are logged.
    // save() and load() on one StateStore are serialised by an internal mutex,
    // so concurrent callers are safe.
    std::error_code save(const RuntimeState& state);

private:
    std::string path_;
    std::mutex mutex_;
};

}  // namespace weir::control
