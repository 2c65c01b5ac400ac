#include "fleet/traffic_pull.hpp"

#include "common/log.hpp"
#include "config/config.hpp"
#include "fleet/fleet.hpp"
#include "telemetry/metrics.hpp"

#include <boost/json.hpp>

namespace weir::fleet {
namespace {

namespace json = boost::json;

constexpr std::chrono::milliseconds period{1000};
// An answer slower than this is given up; the next call catches up.
constexpr std::chrono::milliseconds call_timeout{2000};

}  // namespace

TrafficPull::TrafficPull(boost::asio::io_context& io, const Fleet& fleet, std::string token, Deliver deliver,
                         telemetry::Metrics& metrics)
    : io_(io), fleet_(fleet), token_(std::move(token)), deliver_(std::move(deliver)), metrics_(metrics), timer_(io) {}

TrafficPull::~TrafficPull() { stop(); }

void TrafficPull::start() {
    timer_.expires_after(period);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopped_) return;
        tick();
        start();
    });
}

void TrafficPull::stop() {
    stopped_ = true;
    timer_.cancel();
    for (auto& [_, p] : peers_) {
        if (p.call) p.call->cancel();
    }
    peers_.clear();
}

void TrafficPull::tick() {
    if (!fleet_.leader()) {
        // What was heard as leader means nothing to the next one: start
        // afresh when leading again.
        for (auto& [_, p] : peers_) {
            if (p.call) p.call->cancel();
        }
        peers_.clear();
        return;
    }
    const auto& members = fleet_.members();
    for (auto it = peers_.begin(); it != peers_.end();) {
        auto m = members.find(it->first);
        if (m == members.end() || m->second.admin != it->second.admin) {
            if (it->second.call) it->second.call->cancel();
            it = peers_.erase(it);
        } else {
            ++it;
        }
    }
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [name, member] : members) {
        if (name == fleet_.name()) continue;
        Peer& p = peers_[name];
        p.admin = member.admin;
        if (p.call) {
            if (now - p.asked < call_timeout) continue;
            p.call->cancel();
            p.call.reset();
            failed(name, "no answer within " + std::to_string(call_timeout.count()) + " ms");
        }
        ask(name, p);
    }
}

void TrafficPull::ask(const std::string& name, Peer& peer) {
    auto hp = config::parse_host_port(peer.admin);
    if (!hp) return failed(name, "unusable admin address " + peer.admin);
    cluster::HttpPost request;
    request.to = {hp->host, std::to_string(hp->port)};
    request.target = "/cluster/slices?after=" + std::to_string(peer.seq);
    request.get = true;
    if (!token_.empty()) request.authorization = "Bearer " + token_;
    peer.call = cluster::make_http_exchange(io_);
    peer.asked = std::chrono::steady_clock::now();
    peer.call->post(std::move(request), [this, name](std::error_code ec, bool, int status, std::string body) {
        answered(name, ec, status, body);
    });
}

void TrafficPull::failed(const std::string& name, const std::string& why) {
    metrics_.cluster_traffic_error();
    auto it = peers_.find(name);
    if (it != peers_.end() && !it->second.failing) {
        it->second.failing = true;
        log::warn("fleet", "cannot gather the traffic of replica {}: {} (its traffic is missing from the judge's view "
                  "until it answers)", name, why);
    }
}

void TrafficPull::answered(const std::string& name, std::error_code ec, int status, const std::string& body) {
    auto it = peers_.find(name);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    p.call.reset();
    if (ec) return failed(name, ec.message());
    if (status != 200) return failed(name, "HTTP " + std::to_string(status) + ": " + body.substr(0, 200));
    boost::system::error_code jec;
    json::value v = json::parse(body, jec);
    const json::object* o = jec ? nullptr : v.if_object();
    const json::value* epoch = o ? o->if_contains("epoch") : nullptr;
    const json::value* seq = o ? o->if_contains("seq") : nullptr;
    const json::value* slices = o ? o->if_contains("slices") : nullptr;
    if (!epoch || !epoch->is_string() || !seq || !seq->is_number() || !slices || !slices->is_array())
        return failed(name, "not a slices answer");
    if (p.failing) log::info("fleet", "gathering the traffic of replica {} again", name);
    p.failing = false;
    const std::uint64_t last = seq->to_number<std::uint64_t>();
    if (p.epoch != epoch->as_string()) {
        // First heard from (or restarted): catch up without counting what
        // may already have been judged.
        p.epoch = std::string(epoch->as_string());
        p.seq = last;
        return;
    }
    for (const json::value& r : slices->as_array()) {
        const json::object* rec = r.if_object();
        const json::value* n = rec ? rec->if_contains("seq") : nullptr;
        const json::value* routes = rec ? rec->if_contains("routes") : nullptr;
        if (!n || !n->is_number() || !routes || !routes->is_object()) return failed(name, "a malformed slice record");
        if (n->to_number<std::uint64_t>() <= p.seq) continue;
        if (std::string why = deliver_(*rec); !why.empty()) return failed(name, why);
    }
    p.seq = last;
}

}  // namespace weir::fleet
