#include "control/runtime.hpp"

#include "common/log.hpp"
#include "control/admin_server.hpp"
#include "control/config_json.hpp"
#include "control/snapshot_builder.hpp"
#include "proxy/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <memory>

namespace weir::control {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string endpoint_text(const tcp::endpoint& ep) {
    auto a = ep.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

tcp::endpoint to_endpoint(const HostPort& hp) {
    // Listener hosts are literal addresses; "localhost" is accepted as loopback.
    std::string host = hp.host == "localhost" ? "127.0.0.1" : hp.host;
    return {asio::ip::make_address(host), hp.port};
}

// State of the control thread; touched only from it.
class Control {
public:
    Control(Config config, const RunOptions& options)
        : config_(std::move(config)), options_(options), signals_(io_, SIGINT, SIGTERM, SIGHUP) {}

    int run() {
        unsigned workers = options_.workers > 0 ? options_.workers : config_.workers;
        auto built = build_snapshot(config_, ++version_, keys_);
        if (!built.snapshot) {
            for (const auto& e : built.errors) log::error("config", "{}", e);
            return 1;
        }
        server_ = std::make_unique<proxy::Server>(workers);
        std::vector<proxy::ListenSpec> specs;
        try {
            for (const auto& l : config_.listeners) specs.push_back({l.name, to_endpoint(l.address)});
            server_->listen(specs);
            admin_ = std::make_unique<AdminServer>(io_, to_endpoint(config_.admin.address),
                                                   [this](const AdminRequest& r) { return handle(r); });
        } catch (const std::exception& e) {
            log::error("weir", "cannot listen: {}", e.what());
            return 1;
        }
        server_->publish(built.snapshot);
        server_->start();
        for (std::size_t i = 0; i < specs.size(); ++i)
            log::info("weir", "listener {} listening on {}", specs[i].name, endpoint_text(server_->bound()[i]));
        std::string admin_addr = endpoint_text(admin_->local_endpoint());
        log::info("weir", "admin listening on {}", admin_addr);
        log::info("weir", "serving config version {} with {} workers", version_, server_->workers().size());
        ready_ = true;
        if (options_.on_ready) options_.on_ready(endpoint_text(server_->bound().front()), admin_addr);
        wait_signal();
        io_.run();
        return exit_code_;
    }

private:
    void wait_signal() {
        signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                reload("SIGHUP");
                wait_signal();
                return;
            }
            shutdown(sig == SIGTERM ? "SIGTERM" : "SIGINT");
        });
    }

    void shutdown(const char* why) {
        log::info("weir", "{}: draining (up to {} ms)", why, config_.drain_timeout.count());
        ready_ = false;
        // The drain blocks this thread, which owns nothing the workers need.
        std::size_t left = server_->drain(config_.drain_timeout);
        if (left > 0) log::warn("weir", "drain timeout: closing {} connections", left);
        server_->stop();
        admin_->close();
        log::info("weir", "stopped after {} requests", server_->requests());
        signals_.cancel();
        io_.stop();
    }

    // Basic reload: a valid file replaces the routing snapshot. Listener and
    // admin address changes need a restart for now (logged).
    void reload(const char* trigger) {
        if (options_.config_path.empty()) {
            log::warn("weir", "{}: no config file to reload", trigger);
            return;
        }
        auto loaded = load_config_file(options_.config_path);
        if (!loaded.config) {
            for (const auto& e : loaded.errors) log::error("config", "{}", e.text());
            log::error("weir", "{}: reload failed, keeping config version {}", trigger, version_);
            return;
        }
        auto built = build_snapshot(*loaded.config, version_ + 1, keys_);
        if (!built.snapshot) {
            for (const auto& e : built.errors) log::error("config", "{}", e);
            log::error("weir", "{}: reload failed, keeping config version {}", trigger, version_);
            return;
        }
        ++version_;
        config_ = std::move(*loaded.config);
        server_->publish(built.snapshot);
        log::info("weir", "{}: reloaded, config version {}", trigger, version_);
    }

    AdminResponse handle(const AdminRequest& r) {
        if (r.path == "/healthz") {
            if (r.method != "GET") return json_error(405, "method not allowed");
            return {200, R"({"status":"ok"})", {}};
        }
        if (r.path == "/ready") {
            if (r.method != "GET") return json_error(405, "method not allowed");
            if (!ready_) return {503, R"({"status":"not ready"})", {}};
            return {200, R"({"status":"ready"})", {}};
        }
        if (r.path == "/config") {
            if (r.method != "GET") return json_error(405, "method not allowed");
            return {200, to_json(config_, version_), {}};
        }
        return json_error(404, "no such admin resource: " + r.path);
    }

    Config config_;
    const RunOptions& options_;
    asio::io_context io_{1};
    asio::signal_set signals_;
    EndpointKeys keys_;
    std::uint64_t version_ = 0;
    std::unique_ptr<proxy::Server> server_;
    std::unique_ptr<AdminServer> admin_;
    bool ready_ = false;
    int exit_code_ = 0;
};

}  // namespace

int serve(Config config, const RunOptions& options) {
    // Writes to a closed peer must fail with EPIPE, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    Control control(std::move(config), options);
    return control.run();
}

}  // namespace weir::control
