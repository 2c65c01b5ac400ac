// Turns a validated Config into the immutable routing Snapshot the workers
// read: resolves endpoint names, assigns stable endpoint keys, precomputes
// selection tables.
//
// This is the one place the configuration's settings are translated into the
// runtime's types (routing/settings.hpp: limits, upstream settings, sticky,
// on_pool_unhealthy). Health checks, outlier ejection and rollouts need no
// translation: the configuration holds them as health::CheckSpec,
// health::OutlierSpec and rollout::RolloutSpec (config/config.hpp).
#pragma once

#include "config/config.hpp"
#include "routing/snapshot.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace weir::control {

// Gives names (an endpoint address, a "route\npool" pair) small numbers
// that stay the same across snapshots, so workers can keep per-endpoint and
// per-pool state in plain vectors. Control thread only.
class StableKeys {
public:
    std::uint32_t key_for(const std::string& name);
    std::uint32_t limit() const { return static_cast<std::uint32_t>(names_.size()); }
    const std::string& name_of(std::uint32_t key) const { return names_[key]; }

private:
    std::map<std::string, std::uint32_t> keys_;
    std::vector<std::string> names_;
};

// Statistics slot ids by "route\npool" name: the same id while the pair
// lives. A pair a reload removed gives its index back; the next pair to take
// it gets a new generation (routing/stat_id.hpp), so per-worker tables stay
// as small as the live configuration however often routes are renamed.
// Control thread only.
class StatKeys {
public:
    std::uint32_t key_for(const std::string& name);
    // Releases every pair whose id is not in `live` (called once a snapshot
    // naming exactly `live` is published).
    void retain(const std::vector<std::uint32_t>& live);
    // The name of a live id, or nullptr.
    const std::string* name_of(std::uint32_t id) const;
    std::size_t size() const { return ids_.size(); }
    std::size_t index_limit() const { return names_.size(); }

private:
    std::map<std::string, std::uint32_t> ids_;
    std::vector<std::string> names_;         // by index; empty when free
    std::vector<std::uint32_t> generation_;  // by index
    std::vector<std::uint32_t> free_;        // indexes to reuse
};

// The statistics slot name of a (route, pool) pair; "none" stands for no route or no pool.
std::string stat_name(const std::string& route, const std::string& pool);

struct BuildResult {
    std::shared_ptr<routing::Snapshot> snapshot;  // still to be given endpoint states and finalized
    std::vector<std::string> errors;  // e.g. a name that does not resolve
};

// Endpoint names resolved at load and at every reload (`fresh`), and reused
// for runtime edits of weights and states, which must not depend on DNS.
class AddressBook {
public:
    // Empty on failure, with `error` set.
    std::vector<boost::asio::ip::tcp::endpoint> lookup(const config::HostPort& hp, bool fresh, std::string& error);

private:
    std::map<std::string, std::vector<boost::asio::ip::tcp::endpoint>> cache_;
};

BuildResult build_snapshot(const config::Config& config, std::uint64_t version, StableKeys& endpoint_keys,
                           StatKeys& stat_keys, AddressBook& book, bool fresh);

}  // namespace weir::control
