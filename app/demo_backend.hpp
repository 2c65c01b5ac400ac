// A tiny in-process HTTP backend for `weir demo`: answers every request with
// its name and the request path, so the split is visible from curl.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace weir::app {

class DemoBackend {
public:
    explicit DemoBackend(std::string name);  // binds 127.0.0.1 on a free port
    ~DemoBackend();
    std::uint16_t port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace weir::app
