#include "fleet/fleet.hpp"

#include "common/log.hpp"
#include "control/control_plane.hpp"
#include "telemetry/metrics.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace weir::fleet {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// Reconnects start quickly and back off to this, so a long etcd outage
// costs a few calls a second, and a short one is noticed at once.
constexpr std::chrono::milliseconds max_backoff{2000};
constexpr std::chrono::milliseconds first_backoff{100};

std::string member_json(const std::string& name, const std::string& admin) {
    return json::serialize(json::object{{"name", name}, {"admin", admin}});
}

std::optional<Member> parse_member(const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.as_object();
    const auto* name = o.if_contains("name");
    const auto* admin = o.if_contains("admin");
    if (!name || !name->is_string() || !admin || !admin->is_string()) return std::nullopt;
    return Member{std::string(name->as_string()), std::string(admin->as_string())};
}

// The document kept in etcd: the runtime state without this replica's own
// config version (which means nothing to the others).
std::string state_document(control::RuntimeState state) {
    state.config_version = 0;
    return control::to_json(state);
}

}  // namespace

Fleet::Fleet(boost::asio::io_context& io, control::ControlPlane& plane, const config::ClusterConfig& config,
             std::string name, std::string admin, telemetry::Metrics& metrics)
    : plane_(plane),
      metrics_(metrics),
      prefix_(config.prefix),
      lease_ttl_(std::chrono::duration_cast<std::chrono::seconds>(config.lease)),
      lease_ms_(lease_ttl_),
      name_(std::move(name)),
      admin_(std::move(admin)),
      reconnect_timer_(io),
      keepalive_timer_(io) {
    cluster::EtcdOptions options;
    options.endpoints = config.etcd;
    options.username = config.username;
    options.password = config.password;
    // A call must end well inside a lease period: a leader that cannot
    // renew within it must learn so before the lease runs out.
    options.request_timeout = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(2000), lease_ms_ / 3);
    client_ = std::make_unique<cluster::EtcdClient>(io, std::move(options));
}

Fleet::~Fleet() = default;

void Fleet::start() {
    metrics_.enable_cluster();
    metrics_.set_cluster_etcd_up(false);
    metrics_.set_cluster_leader(false);
    log::info("fleet", "replica {} joining the fleet at {} (lease {}s)", name_, prefix_, lease_ttl_.count());
    connect();
    keepalive_tick();
}

void Fleet::stop(std::function<void()> done) {
    if (!done) done = [] {};
    if (stopped_) return done();
    stopped_ = true;
    reconnect_timer_.cancel();
    keepalive_timer_.cancel();
    watch_.reset();
    set_leader(false, "shutting down");
    if (lease_id_ != 0) {
        // Without the lease, the leader key and this replica's membership go
        // at once: the next leader need not wait for the lease to expire.
        client_->lease_revoke(lease_id_, [done](std::error_code ec) {
            if (ec) log::warn("fleet", "cannot revoke the lease at shutdown: {} (it expires by itself)", ec.message());
            done();
        });
        lease_id_ = 0;
        return;
    }
    done();
}

std::string Fleet::unavailable() const {
    if (synced_) return {};
    return down_reason_;
}

void Fleet::failed(const std::string& op, const std::error_code& ec) {
    metrics_.cluster_etcd_error(op);
    log::warn("fleet", "etcd {} failed: {}", op, ec.message());
}

void Fleet::set_up(bool up, const std::string& why) {
    if (!up) down_reason_ = why;
    if (up == up_) return;
    up_ = up;
    metrics_.set_cluster_etcd_up(up);
    if (up) log::info("fleet", "etcd reachable; following the fleet's state from revision {}", plane_.fleet_revision());
    else log::error("fleet", "etcd unreachable ({}); serving the last known state, edits refused", why);
}

void Fleet::set_leader(bool leader, const std::string& why) {
    if (leader == leader_) return;
    leader_ = leader;
    metrics_.set_cluster_leader(leader);
    if (leader) leader_name_ = name_;
    log::info("fleet", "replica {} {} ({})", name_, leader ? "is now the leader" : "is no longer the leader", why);
    if (on_leadership_) on_leadership_(leader);
}

// ---- following the state ----

void Fleet::connect() {
    if (stopped_) return;
    ++epoch_;
    watch_.reset();
    synced_ = false;
    const std::uint64_t epoch = epoch_;
    client_->range(key(""), cluster::prefix_end(key("")), [this, epoch](std::error_code ec, cluster::RangeResult read) {
        if (epoch != epoch_) return;
        settled_ = true;
        if (ec) {
            failed("range", ec);
            return reconnect_later("cannot read the fleet's state: " + ec.message());
        }
        on_read(read);
    });
}

void Fleet::reconnect_later(const std::string& why) {
    synced_ = false;
    watch_.reset();
    set_up(false, why);
    backoff_ = backoff_.count() == 0 ? first_backoff : std::min(max_backoff, backoff_ * 2);
    reconnect_timer_.expires_after(backoff_);
    reconnect_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && !stopped_) connect();
    });
}

void Fleet::on_read(const cluster::RangeResult& read) {
    const cluster::KeyValue* state = nullptr;
    const cluster::KeyValue* leader = nullptr;
    members_.clear();
    const std::string members_prefix = key("members/");
    for (const auto& kv : read.kvs) {
        if (kv.key == key("state")) state = &kv;
        else if (kv.key == key("leader")) leader = &kv;
        else if (kv.key.rfind(members_prefix, 0) == 0) {
            if (auto m = parse_member(kv.value)) members_[m->name] = *m;
        }
    }
    note_leader(leader);
    if (!state) return seed();
    // A fresh read: whatever the watch missed while away is in it.
    apply_state(*state);
    watch_from(read.revision + 1);
}

void Fleet::seed() {
    // The first replica of a new fleet: its own state (from its state file)
    // becomes the fleet's, unless another replica got there first.
    cluster::Txn txn;
    txn.compare.push_back({key("state"), "", cluster::Compare::Target::create, cluster::Compare::Op::equal, 0, ""});
    txn.success.push_back({cluster::TxnOp::Kind::put, key("state"), "", state_document(plane_.state()), 0});
    const std::uint64_t epoch = epoch_;
    client_->txn(std::move(txn), [this, epoch](std::error_code ec, cluster::TxnResult r) {
        if (epoch != epoch_) return;
        if (ec) {
            failed("txn", ec);
            return reconnect_later("cannot seed the fleet's state: " + ec.message());
        }
        if (r.succeeded) log::info("fleet", "no fleet state in etcd yet: seeded it with this replica's (revision {})", r.revision);
        connect();  // read it back, with whatever came in meanwhile
    });
}

void Fleet::watch_from(std::int64_t revision) {
    const std::uint64_t epoch = epoch_;
    watch_ = client_->watch(
        key(""), cluster::prefix_end(key("")), revision,
        [this, epoch](std::vector<cluster::WatchEvent> events, std::int64_t) {
            if (epoch == epoch_) on_events(events);
        },
        [this, epoch](std::error_code ec, std::int64_t compact_revision) {
            if (epoch != epoch_) return;
            if (compact_revision > 0) {
                // History we did not see is gone: read the state afresh.
                log::warn("fleet", "watch fell behind etcd's compaction (revision {}); reading the state afresh",
                          compact_revision);
                synced_ = false;
                return connect();
            }
            failed("watch", ec);
            reconnect_later("the watch on etcd ended: " + ec.message());
        });
    synced_ = true;
    backoff_ = std::chrono::milliseconds(0);
    set_up(true, "");
    ensure_lease();
}

void Fleet::on_events(const std::vector<cluster::WatchEvent>& events) {
    const std::string members_prefix = key("members/");
    for (const auto& e : events) {
        const bool put = e.type == cluster::WatchEvent::Type::put;
        if (e.kv.key == key("state")) {
            if (put) apply_state(e.kv);
            else log::error("fleet", "the fleet's state was deleted from etcd; keeping the state in force");
        } else if (e.kv.key == key("leader")) {
            note_leader(put ? &e.kv : nullptr);
        } else if (e.kv.key.rfind(members_prefix, 0) == 0) {
            const std::string member = e.kv.key.substr(members_prefix.size());
            if (!put) {
                if (members_.erase(member)) log::info("fleet", "replica {} left the fleet", member);
            } else if (auto m = parse_member(e.kv.value)) {
                if (!members_.count(m->name)) log::info("fleet", "replica {} joined the fleet ({})", m->name, m->admin);
                members_[m->name] = *m;
            }
        }
    }
}

void Fleet::apply_state(const cluster::KeyValue& kv) {
    std::string error;
    auto state = control::state_from_json(kv.value, error);
    if (!state) {
        metrics_.cluster_etcd_error("range");
        log::error("fleet", "the fleet's state at revision {} is unreadable ({}); keeping the state in force",
                   kv.mod_revision, error);
        return;
    }
    plane_.apply_fleet(std::move(*state), static_cast<std::uint64_t>(kv.mod_revision));
    metrics_.set_cluster_revision(plane_.fleet_revision());
}

void Fleet::write(const control::RuntimeState& state, std::uint64_t base,
                  std::function<void(control::FleetWriteOutcome)> done) {
    using Outcome = control::FleetWriteOutcome;
    cluster::Txn txn;
    txn.compare.push_back({key("state"), "", cluster::Compare::Target::mod, cluster::Compare::Op::equal,
                           static_cast<std::int64_t>(base), ""});
    txn.success.push_back({cluster::TxnOp::Kind::put, key("state"), "", state_document(state), 0});
    txn.failure.push_back({cluster::TxnOp::Kind::range, key("state"), "", "", 0});
    client_->txn(std::move(txn), [this, done = std::move(done)](std::error_code ec, cluster::TxnResult r) {
        if (ec) {
            failed("txn", ec);
            return done({Outcome::Kind::unavailable, 0, "etcd: " + ec.message()});
        }
        if (r.succeeded) return done({Outcome::Kind::written, static_cast<std::uint64_t>(r.revision), ""});
        if (!r.ranges.empty() && !r.ranges.front().kvs.empty()) apply_state(r.ranges.front().kvs.front());
        done({Outcome::Kind::stale, plane_.fleet_revision(), ""});
    });
}

// ---- lease, membership, leadership ----

void Fleet::keepalive_tick() {
    if (stopped_) return;
    keepalive_timer_.expires_after(lease_ms_ / 3);
    keepalive_timer_.async_wait([this](const boost::system::error_code& wait_ec) {
        if (wait_ec || stopped_) return;
        keepalive_tick();
        if (lease_id_ == 0) return ensure_lease();
        const std::int64_t id = lease_id_;
        client_->lease_keepalive(id, [this, id](std::error_code ec, std::int64_t ttl) {
            if (id != lease_id_ || stopped_) return;
            if (ec) {
                failed("lease", ec);
                // Leadership is given up before the lease can have run out,
                // so two leaders never judge at once.
                if (leader_ && Clock::now() - lease_confirmed_ > lease_ms_ * 2 / 3)
                    set_leader(false, "cannot renew the lease: " + ec.message());
                return;
            }
            if (ttl <= 0) {
                log::warn("fleet", "lease {:x} expired; taking a new one", id);
                lease_id_ = 0;
                set_leader(false, "the lease expired");
                return ensure_lease();
            }
            lease_confirmed_ = Clock::now();
            // Given up while renewals failed, but the key is still ours.
            if (!leader_ && leader_lease_ == id) set_leader(true, "the lease holds again");
        });
    });
}

void Fleet::ensure_lease() {
    if (stopped_ || granting_ || !synced_) return;
    if (lease_id_ != 0) return campaign();
    granting_ = true;
    const auto asked = Clock::now();
    client_->lease_grant(lease_ttl_.count(), [this, asked](std::error_code ec, std::int64_t id, std::int64_t) {
        granting_ = false;
        if (stopped_) {
            if (!ec) client_->lease_revoke(id, [](std::error_code) {});
            return;
        }
        if (ec) return failed("lease", ec);
        lease_id_ = id;
        lease_confirmed_ = asked;
        register_member();
        campaign();
    });
}

void Fleet::register_member() {
    cluster::Txn txn;
    txn.success.push_back(
        {cluster::TxnOp::Kind::put, key("members/" + name_), "", member_json(name_, admin_), lease_id_});
    client_->txn(std::move(txn), [this](std::error_code ec, cluster::TxnResult) {
        if (ec) failed("txn", ec);
    });
}

void Fleet::campaign() {
    if (stopped_ || lease_id_ == 0 || leader_) return;
    if (leader_name_ && *leader_name_ != name_) return;  // someone leads; the watch says when that ends
    cluster::Txn txn;
    txn.compare.push_back({key("leader"), "", cluster::Compare::Target::create, cluster::Compare::Op::equal, 0, ""});
    txn.success.push_back({cluster::TxnOp::Kind::put, key("leader"), "", member_json(name_, admin_), lease_id_});
    txn.failure.push_back({cluster::TxnOp::Kind::range, key("leader"), "", "", 0});
    const std::int64_t id = lease_id_;
    client_->txn(std::move(txn), [this, id](std::error_code ec, cluster::TxnResult r) {
        if (stopped_ || id != lease_id_) return;
        if (ec) return failed("txn", ec);
        if (r.succeeded) {
            leader_lease_ = id;
            return set_leader(true, "won the election with lease " + std::to_string(id));
        }
        if (!r.ranges.empty() && !r.ranges.front().kvs.empty()) note_leader(&r.ranges.front().kvs.front());
    });
}

void Fleet::note_leader(const cluster::KeyValue* kv) {
    if (!kv) {
        leader_name_.reset();
        leader_lease_ = 0;
        set_leader(false, "the leader key is gone");
        return campaign();
    }
    auto m = parse_member(kv->value);
    leader_name_ = m ? m->name : std::string("?");
    leader_lease_ = kv->lease;
    // Held under this process's lease: ours. Under another lease (even with
    // our name, from before a restart): not ours until it expires.
    set_leader(kv->lease == lease_id_ && lease_id_ != 0, "leader is " + *leader_name_);
}

boost::json::object Fleet::describe() const {
    json::array etcd;
    for (const auto& e : client_->endpoints()) {
        json::object o{{"url", e.url}, {"up", e.up}};
        if (!e.last_error.empty()) o["last_error"] = e.last_error;
        etcd.push_back(std::move(o));
    }
    json::array members;
    for (const auto& [n, m] : members_) {
        members.push_back(json::object{{"name", m.name}, {"admin", m.admin}, {"leader", leader_name_ && *leader_name_ == n}});
    }
    json::object o{{"name", name_},
                   {"leader", leader_},
                   {"role", leader_ ? "leader" : "follower"},
                   {"leader_name", leader_name_ ? json::value(*leader_name_) : json::value(nullptr)},
                   {"etcd_up", up_},
                   {"synced", synced_},
                   {"editable", synced_},
                   {"etcd", std::move(etcd)},
                   {"members", std::move(members)},
                   {"revision", plane_.fleet_revision()},
                   {"prefix", prefix_},
                   {"lease_seconds", lease_ttl_.count()}};
    if (!synced_) o["unavailable"] = down_reason_;
    return o;
}

}  // namespace weir::fleet
