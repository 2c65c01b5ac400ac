// The fleet's shared copy of the runtime state, as the control plane sees
// it: one document that every replica serves, written only if nobody wrote
// it since the revision the change was computed from (fleet/ keeps it in
// etcd). Without a fleet, the state file alone holds the runtime state.
#pragma once

#include "control/state_store.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace weir::control {

struct FleetWriteOutcome {
    enum class Kind { written, stale, unavailable };
    Kind kind = Kind::unavailable;
    std::uint64_t revision = 0;  // the fleet's revision after the write
    std::string error;           // why, when unavailable
};

class FleetStore {
public:
    virtual ~FleetStore() = default;
    // Why edits cannot be written now (the store is unreachable, or this
    // replica has not caught up with it yet); empty when they can.
    virtual std::string unavailable() const = 0;
    // Writes `state` if the fleet's state is still at revision `base`. When
    // it is not (`stale`), the store has already given the control plane the
    // newer state (ControlPlane::apply_fleet) before `done` runs.
    virtual void write(const RuntimeState& state, std::uint64_t base, std::function<void(FleetWriteOutcome)> done) = 0;
};

}  // namespace weir::control
