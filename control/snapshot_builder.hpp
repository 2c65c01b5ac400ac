// Turns a validated Config into the immutable routing Snapshot the workers
// read: resolves endpoint names, assigns stable endpoint keys, precomputes
// selection tables.
#pragma once

#include "control/config.hpp"
#include "routing/snapshot.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace weir::control {

// Gives every endpoint address a small number that stays the same across
// snapshots, so workers can keep per-endpoint state (idle upstream
// connections) in a plain vector. Control thread only.
class EndpointKeys {
public:
    std::uint32_t key_for(const std::string& address);
    std::uint32_t limit() const { return next_; }

private:
    std::map<std::string, std::uint32_t> keys_;
    std::uint32_t next_ = 0;
};

struct BuildResult {
    std::shared_ptr<routing::Snapshot> snapshot;  // still to be given endpoint states and finalized
    std::vector<std::string> errors;  // e.g. a name that does not resolve
};

BuildResult build_snapshot(const Config& config, std::uint64_t version, EndpointKeys& keys);

}  // namespace weir::control
