#include "fleet_support.hpp"

#include <signal.h>

#include <sstream>
#include <stdexcept>

namespace weir_it::fleet {

namespace json = boost::json;

Fleet3::Fleet3(const std::string& test_name, FleetOptions options) : options_(std::move(options)) {
    if (options_.own_etcd) {
        own_etcd_ = std::make_unique<EtcdCluster>();
        etcd_urls_ = own_etcd_->client_urls();
    } else {
        etcd_urls_ = shared_etcd();
    }
    prefix_ = unique_etcd_prefix(test_name);
    while (prefix_.size() > 1 && prefix_.back() == '/') prefix_.pop_back();
    replicas_.resize(static_cast<std::size_t>(options_.replicas));
    const int now = options_.start_now < 0 ? options_.replicas : options_.start_now;
    for (int i = 0; i < now; ++i) start(i);
}

Fleet3::~Fleet3() {
    // Replicas first (SIGKILL by their destructors), then etcd.
    replicas_.clear();
    own_etcd_.reset();
}

std::string Fleet3::state_file(int i) const { return dir_.path + "/" + name(i) + ".state.json"; }

std::string Fleet3::yaml(int i) const {
    std::ostringstream y;
    y << "workers: " << options_.workers << "\n";
    y << "drain_timeout: 2s\n";
    y << "state_file: \"" << state_file(i) << "\"\n";
    y << "listeners:\n";
    y << "  - {name: public, address: \"127.0.0.1:0\"}\n";
    y << "admin: {address: \"127.0.0.1:0\"}\n";
    y << "limits: {header_timeout: 5s, idle_timeout: 30s}\n";
    y << "cluster:\n";
    y << "  etcd: [";
    for (std::size_t k = 0; k < etcd_urls_.size(); ++k) y << (k ? ", " : "") << "\"" << etcd_urls_[k] << "\"";
    y << "]\n";
    y << "  prefix: \"" << prefix_ << "\"\n";
    y << "  lease: " << options_.lease << "\n";
    y << "  name: " << name(i) << "\n";
    y << "pools:\n";
    y << "  - name: stable\n";
    y << "    endpoints:\n";
    y << "      - {address: \"" << stable.address() << "\", weight: 1}\n";
    y << "      - {address: \"" << stable_b.address() << "\", weight: 1}\n";
    y << "    upstream: {connect_timeout: 1s, response_timeout: 10s, max_idle_per_endpoint: 32}\n";
    y << "  - name: canary\n";
    y << "    endpoints:\n";
    y << "      - {address: \"" << canary.address() << "\", weight: 1}\n";
    y << "    upstream: {connect_timeout: 1s, response_timeout: 10s, max_idle_per_endpoint: 32}\n";
    y << "routes:\n";
    y << "  - name: web\n";
    y << "    match: {host: \"*\", path_prefix: /}\n";
    y << "    split: {";
    for (std::size_t k = 0; k < options_.split.size(); ++k)
        y << (k ? ", " : "") << options_.split[k].first << ": " << number_text(options_.split[k].second);
    y << "}\n";
    if (!options_.sticky_header.empty()) y << "    sticky: {header: " << options_.sticky_header << "}\n";
    return y.str();
}

WeirProcess& Fleet3::start(int i) {
    replicas_[i].reset();
    replicas_[i] = std::make_unique<WeirProcess>(yaml(i));
    WeirProcess& w = *replicas_[i];
    bool ready = wait_for([&] { return admin_request(w.admin_port(), "GET", "/ready").status == 200; }, 10s, 5ms);
    if (!ready) throw std::runtime_error(name(i) + " did not become ready; log:\n" + tail(w.log()));
    return w;
}

void Fleet3::stop(int i, int sig) {
    if (!replicas_[i]) return;
    replicas_[i]->signal(sig);
    if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT) {
        replicas_[i]->wait_exit(15s);
        replicas_[i].reset();
    }
}

json::value Fleet3::cluster(int i) const {
    Response r = admin(i).get("/cluster");
    if (r.status != 200) return nullptr;
    return parse_json(r.body);
}

bool Fleet3::wait_synced(int i, Millis timeout) const {
    return wait_for(
        [&] {
            json::value c = cluster(i);
            return json_bool(c, "synced").value_or(false) && json_bool(c, "etcd_up").value_or(false);
        },
        timeout, 20ms);
}

bool Fleet3::wait_all_synced(Millis timeout) const {
    for (int i = 0; i < size(); ++i) {
        if (replicas_[i] && !wait_synced(i, timeout)) return false;
    }
    return true;
}

bool Fleet3::wait_split(int i, const SplitMap& split, Millis timeout) const {
    return wait_for([&] { return admin(i).route("web").split == split; }, timeout, 5ms);
}

bool Fleet3::wait_all_split(const SplitMap& split, Millis timeout) const {
    for (int i = 0; i < size(); ++i) {
        if (replicas_[i] && !wait_split(i, split, timeout)) return false;
    }
    return true;
}

std::string Fleet3::logs() const {
    std::string out;
    for (int i = 0; i < size(); ++i) {
        if (!replicas_[i]) continue;
        out += "---- " + name(i) + " log (tail):\n" + tail(replicas_[i]->log()) + "\n";
    }
    return out;
}

std::optional<bool> json_bool(const json::value& v, const char* key) {
    if (!v.is_object()) return std::nullopt;
    const json::value* x = v.as_object().if_contains(key);
    if (!x || !x->is_bool()) return std::nullopt;
    return x->as_bool();
}

std::optional<std::string> json_string(const json::value& v, const char* key) {
    if (!v.is_object()) return std::nullopt;
    const json::value* x = v.as_object().if_contains(key);
    if (!x || !x->is_string()) return std::nullopt;
    return std::string(x->as_string());
}

Response put_split(const AdminClient& a, const SplitMap& split, const std::string& extra) {
    return a.put("/routes/web/split", control::split_body(split), extra);
}

Response put_split_until(const AdminClient& a, const SplitMap& split, int status, Millis timeout, Millis every) {
    const auto deadline = Clock::now() + timeout;
    Response r = put_split(a, split);
    while (r.status != status && Clock::now() < deadline) {
        std::this_thread::sleep_for(every);
        r = put_split(a, split);
    }
    return r;
}

std::string if_match(const std::string& etag) { return "If-Match: " + etag + "\r\n"; }

std::string tail(const std::string& text, std::size_t n) {
    std::size_t at = text.size();
    for (std::size_t k = 0; k <= n && at != std::string::npos && at > 0; ++k) at = text.rfind('\n', at - 1);
    return at == std::string::npos ? text : text.substr(at + 1);
}

}  // namespace weir_it::fleet
