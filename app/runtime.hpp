// Runs the proxy: builds the first snapshot, binds the listeners, starts the
// workers and the control thread (admin API, signals, reload), and drains
// gracefully on SIGTERM/SIGINT.
#pragma once

#include "config/config.hpp"

#include <functional>
#include <string>

namespace weir::app {

struct RunOptions {
    std::string config_path;   // re-read on reload; empty for a built-in config
    unsigned workers = 0;      // overrides the file when > 0
    // Called on the control thread once everything is bound (the demo prints hints).
    std::function<void(const std::string& proxy_address, const std::string& admin_address)> on_ready;
};

// Blocks until a signal has drained the proxy; returns the process exit code.
int serve(config::Config config, const RunOptions& options);

}  // namespace weir::app
