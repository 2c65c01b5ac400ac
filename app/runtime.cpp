#include "app/runtime.hpp"

#include "admin/api.hpp"
#include "admin/server.hpp"
#include "common/log.hpp"
#include "control/endpoints.hpp"
#include "control/control_plane.hpp"
#include "fleet/fleet.hpp"
#include "fleet/traffic_pull.hpp"
#include "control/fd_limits.hpp"
#include "control/file_watch.hpp"
#include "control/rollout_driver.hpp"
#include "control/traffic_metrics.hpp"
#include "proxy/server.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#if defined(__GLIBC__)
#include <malloc.h>
#include <unistd.h>
#include <cstdio>
#endif
#include <memory>

namespace weir::app {
namespace {

using namespace weir::control;
using admin::AdminApi;
using admin::AdminRequest;
using admin::AdminServer;

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// State of the control thread; touched only from it.
class Control {
public:
    Control(config::Config config, const RunOptions& options)
        : options_(options), signals_(io_, SIGINT, SIGTERM, SIGHUP) {
        config_ = std::move(config);
    }

    int run() {
        unsigned workers = options_.workers > 0 ? options_.workers : config_.workers;
        // Before any socket exists, so that no descriptor is refused for want of it.
        fd_limit_ = raise_fd_limit();
        server_ = std::make_unique<proxy::Server>(workers);
        report_fd_limit(fd_limit_, estimate_fd_need(config_, static_cast<unsigned>(server_->workers().size())));
        plane_ = std::make_unique<ControlPlane>(config_, options_.config_path, *server_, metrics_, io_);
        // Workers report upstream failures by posting to this thread, which
        // owns the counters and the ejection decisions.
        server_->set_failure_sink([this](proxy::EndpointFailure f) {
            asio::post(io_, [this, f = std::move(f)] { plane_->on_upstream_failure(f); });
        });
        // In a fleet, ready once the fleet's state was read (or could not be).
        api_ = std::make_unique<AdminApi>(*plane_, metrics_, [this] { return ready_ && (!fleet_ || fleet_->settled()); },
                                          [this] { return server_->load(std::chrono::seconds(2)); });
        if (!plane_->start()) return 1;
        metrics_.set_dynamic([this] { return traffic_families(*server_, *plane_); });
        rollouts_ = std::make_unique<RolloutDriver>(io_, *plane_, *server_, metrics_);
        rollouts_->sync();
        plane_->on_reloaded([this] {
            rollouts_->sync();
            // A reload may raise max_connections or add endpoints.
            const FdNeed need = estimate_fd_need(plane_->effective_config(), static_cast<unsigned>(server_->workers().size()));
            warn_if_short(fd_limit_, need);
        });
        api_->set_rollouts(rollouts_.get());
        std::vector<proxy::ListenSpec> specs;
        try {
            for (const auto& l : config_.listeners) specs.push_back({l.name, to_endpoint(l.address)});
            server_->listen(specs);
            admin_ = std::make_unique<AdminServer>(io_, to_endpoint(config_.admin.address),
                                                   [this](const AdminRequest& r, AdminServer::Reply reply) { api_->handle(r, std::move(reply)); });
        } catch (const std::exception& e) {
            log::error("weir", "cannot listen: {}", e.what());
            return 1;
        }
        server_->start();
        for (std::size_t i = 0; i < specs.size(); ++i)
            log::info("weir", "listener {} listening on {}", specs[i].name, endpoint_text(server_->bound()[i]));
        std::string admin_addr = endpoint_text(admin_->local_endpoint());
        log::info("weir", "admin listening on {}", admin_addr);
        if (config_.cluster) join_fleet(*config_.cluster, admin_->local_endpoint());
        log::info("weir", "serving config version {} with {} workers", plane_->version(), server_->workers().size());
        if (!options_.config_path.empty()) {
            // Editors and ConfigMap updates rewrite the file; a burst of events
            // becomes one reload.
            watch_ = std::make_unique<FileWatch>(io_, options_.config_path, std::chrono::milliseconds(300),
                                                 [this] { plane_->reload("file change"); });
        }
        rollouts_->start_ticking();
        ready_ = true;
        if (options_.on_ready) options_.on_ready(endpoint_text(server_->bound().front()), admin_addr);
        wait_signal();
        io_.run();
        return 0;
    }

private:
    // Runtime edits go to the fleet's state in etcd from now on; rollouts
    // are judged by the fleet's leader.
    void join_fleet(const config::ClusterConfig& cluster, const tcp::endpoint& admin) {
        const std::string advertise = cluster.advertise.port != 0 ? cluster.advertise.text() : endpoint_text(admin);
        std::string name = cluster.name;
        if (name.empty()) {
            char host[256] = {};
            if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "weir");
            name = std::string(host) + ":" + std::to_string(admin.port());
        }
        fleet_ = std::make_unique<fleet::Fleet>(io_, *plane_, cluster, name, advertise, metrics_);
        plane_->attach_fleet(fleet_.get());
        plane_->on_fleet_applied([this] { rollouts_->follow(); });
        rollouts_->set_judge(false);
        rollouts_->join_fleet();
        fleet_->on_leadership([this](bool leader) { rollouts_->set_judge(leader); });
        pull_ = std::make_unique<fleet::TrafficPull>(
            io_, *fleet_, config_.admin.token,
            [this](const boost::json::object& record) { return rollouts_->add_remote(record); }, metrics_);
        pull_->start();
        api_->set_fleet(fleet_.get());
        fleet_->start();
    }

    void wait_signal() {
        signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                plane_->reload("SIGHUP");
                wait_signal();
                return;
            }
            shutdown(sig == SIGTERM ? "SIGTERM" : "SIGINT");
        });
    }

    void shutdown(const char* why) {
        std::chrono::milliseconds timeout = plane_->file_config().drain_timeout;
        log::info("weir", "{}: draining (up to {} ms)", why, timeout.count());
        // Not ready first, so an outer balancer stops sending before we stop accepting.
        ready_ = false;
        watch_.reset();
        plane_->stop();
        rollouts_->stop();
        // Another replica leads from now on, without waiting for the lease.
        if (pull_) pull_->stop();
        if (fleet_) fleet_->stop([this] { fleet_left_ = true; });
        else fleet_left_ = true;
        server_->begin_drain();
        // The admin API keeps answering (/ready says 503) while connections finish.
        drain_deadline_ = std::chrono::steady_clock::now() + timeout;
        wait_drained();
    }

    void wait_drained() {
        std::size_t open = server_->active_sessions();
        // The lease is revoked before the loop stops, or the next leader
        // waits for it to expire.
        if ((open > 0 || !fleet_left_) && std::chrono::steady_clock::now() < drain_deadline_) {
            drain_timer_.expires_after(std::chrono::milliseconds(20));
            drain_timer_.async_wait([this](const boost::system::error_code& ec) {
                if (!ec) wait_drained();
            });
            return;
        }
        if (open > 0) log::warn("weir", "drain timeout: closing {} connections", open);
        server_->stop();
        admin_->close();
        log::info("weir", "stopped after {} requests", server_->requests());
        signals_.cancel();
        io_.stop();
    }

    config::Config config_;  // as loaded at start; the control plane owns the live one
    const RunOptions& options_;
    asio::io_context io_{1};
    asio::signal_set signals_;
    telemetry::Metrics metrics_;
    std::unique_ptr<proxy::Server> server_;
    std::unique_ptr<ControlPlane> plane_;
    std::unique_ptr<AdminApi> api_;
    std::unique_ptr<AdminServer> admin_;
    std::unique_ptr<FileWatch> watch_;
    std::unique_ptr<RolloutDriver> rollouts_;
    std::unique_ptr<fleet::Fleet> fleet_;  // after rollouts_, so it goes first: its hooks call the driver
    std::unique_ptr<fleet::TrafficPull> pull_;
    asio::steady_timer drain_timer_{io_};
    std::chrono::steady_clock::time_point drain_deadline_;
    bool ready_ = false;
    bool fleet_left_ = false;
    FdLimit fd_limit_;
};

}  // namespace

int serve(config::Config config, const RunOptions& options) {
    // Writes to a closed peer must fail with EPIPE, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
#if defined(__GLIBC__)
    // glibc gives the top of a heap back to the kernel on free() once it is
    // over the trim threshold, and grows it again on the next malloc: under
    // load a worker's arena did that every few dozen requests (an mprotect
    // each, and the pages faulted in again). Memory goes back instead when a
    // worker's housekeeping finds a burst over (Worker::return_memory's
    // malloc_trim, which ignores this threshold).
    ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
    Control control(std::move(config), options);
    return control.run();
}

}  // namespace weir::app
