// Everything an integration test needs: the weir process, fake upstreams,
// the raw client, and a few shared helpers.
#pragma once

#include "admin_client.hpp"
#include "fake_upstream.hpp"
#include "raw_client.hpp"
#include "weir_process.hpp"
#include "wire.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>

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

// An origin whose connections each serve one request: the first request on a
// connection gets `answer(request)`; any later one is read and met by `fate`
// (a close or a reset without an answer), as when an origin drops an idle
// keep-alive connection just as the proxy reuses it.
class OneRequestPerConnection {
public:
    OneRequestPerConnection(After fate, std::function<std::string(const UpstreamRequest&)> answer)
        : fate_(fate), answer_(std::move(answer)) {}
    Handler handler() {
        return [this](UpstreamConn& c, const UpstreamRequest& req) {
            int n;
            {
                std::lock_guard lk(mu_);
                n = ++per_conn_[c.id()];
            }
            if (n > 1) return fate_;
            c.send(answer_(req));
            return After::keep_alive;
        };
    }

private:
    After fate_;
    std::function<std::string(const UpstreamRequest&)> answer_;
    std::mutex mu_;
    std::map<int, int> per_conn_;
};

// A plain GET round trip on a fresh connection.
inline Response fetch(std::uint16_t port, const std::string& target = "/", const std::string& extra = "") {
    RawClient c(port);
    return c.request(get_request(target, extra));
}

}  // namespace weir_it
