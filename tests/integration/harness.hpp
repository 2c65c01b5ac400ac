// Everything an integration test needs: the weir process, fake upstreams,
// the raw client, and a few shared helpers.
#pragma once

#include "admin_client.hpp"
#include "fake_upstream.hpp"
#include "raw_client.hpp"
#include "weir_process.hpp"
#include "wire.hpp"

#include <gtest/gtest.h>

namespace weir_it {

// A proxy in front of one upstream pool ("stable") with the given upstreams,
// plus the config it was started with.
struct SingleProxy {
    FakeUpstream up{"stable"};
    ConfigSpec config;
    std::unique_ptr<WeirProcess> weir;

    explicit SingleProxy(const std::function<void(ConfigSpec&)>& tweak = {}) {
        config = ConfigSpec::single(up.address());
        if (tweak) tweak(config);
        weir = std::make_unique<WeirProcess>(config.yaml());
    }
    std::uint16_t port() const { return weir->port(); }
};

// A plain GET round trip on a fresh connection.
inline Response fetch(std::uint16_t port, const std::string& target = "/", const std::string& extra = "") {
    RawClient c(port);
    return c.request(get_request(target, extra));
}

}  // namespace weir_it
