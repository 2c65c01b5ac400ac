// Everything an integration test needs: the weir process, fake upstreams,
// the raw client, and a few shared helpers.
#pragma once

#include "admin_client.hpp"
#include "fake_upstream.hpp"
#include "raw_client.hpp"
#include "weir_process.hpp"
#include "wire.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

namespace weir_it {

// How clients reach the listener: plain TCP or TLS over it.
enum class Transport { plain, tls };
inline const char* to_string(Transport t) { return t == Transport::tls ? "Tls" : "Plain"; }
inline void PrintTo(Transport t, std::ostream* os) { *os << to_string(t); }

// A proxy in front of one upstream pool ("stable") with the given upstreams,
// plus the config it was started with. With Transport::tls its listener
// terminates TLS (make_test_tls_listener) and connect()/fetch() speak TLS.
struct SingleProxy {
    FakeUpstream up{"stable"};
    ConfigSpec config;
    Transport transport = Transport::plain;
    std::optional<TempDir> tls_dir;  // the listener's certificate and key
    ClientTls client_tls;
    std::unique_ptr<WeirProcess> weir;

    explicit SingleProxy(const std::function<void(ConfigSpec&)>& tweak = {}) : SingleProxy(Transport::plain, tweak) {}
    explicit SingleProxy(Transport t, const std::function<void(ConfigSpec&)>& tweak = {}) : transport(t) {
        config = ConfigSpec::single(up.address());
        if (transport == Transport::tls) {
            tls_dir.emplace();
            TestTlsListener listener = make_test_tls_listener(tls_dir->path);
            config.listener_tls = listener.tls_yaml;
            client_tls = listener.client;
        }
        if (tweak) tweak(config);
        weir = std::make_unique<WeirProcess>(config.yaml());
    }
    std::uint16_t port() const { return weir->port(); }
    // A fresh connection over this proxy's transport (TLS: handshake done).
    RawClient connect(Millis timeout = 10s) const {
        if (transport == Transport::tls) return RawClient(port(), client_tls, timeout);
        return RawClient(port(), timeout);
    }
    // A plain GET round trip on a fresh connection over this proxy's transport.
    Response fetch(const std::string& target = "/", const std::string& extra = "") const {
        RawClient c = connect();
        if (!c.connected()) {
            Response r;
            r.error = "connect failed: " + std::string(std::strerror(c.connect_errno())) + " " + c.tls_error();
            return r;
        }
        return c.request(get_request(target, extra));
    }
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
