#include "cluster/etcd_core.hpp"

#include "cluster/etcd_error.hpp"
#include "cluster/etcd_json.hpp"

#include <algorithm>

namespace weir::cluster {

ClientCore::ClientCore(boost::asio::io_context& io, EtcdOptions options) : io_(io), options_(std::move(options)) {
    for (const auto& url : options_.endpoints) {
        Slot s;
        s.url = url;
        s.valid = parse_endpoint_url(url, s.address);
        if (!s.valid) {
            s.up = false;
            s.last_error = "not an http://host:port URL";
        }
        endpoints_.push_back(std::move(s));
    }
}

void ClientCore::add(const std::shared_ptr<Outstanding>& op) {
    std::erase_if(outstanding_, [](const auto& w) { return w.expired(); });
    outstanding_.push_back(op);
}

void ClientCore::close() {
    if (closed_) return;
    closed_ = true;
    auto all = std::move(outstanding_);
    for (auto& w : all)
        if (auto op = w.lock()) op->cancel();
}

bool ClientCore::address(std::size_t i, EndpointAddress& out) const {
    if (!endpoints_[i].valid) return false;
    out = endpoints_[i].address;
    return true;
}

std::vector<std::size_t> ClientCore::order() const {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::size_t> first, later;
    const std::size_t n = endpoints_.size();
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (preferred_ + k) % n;
        const auto& s = endpoints_[i];
        if (!s.valid) continue;
        if (s.up || now - s.down_at >= options_.down_retry)
            first.push_back(i);
        else
            later.push_back(i);
    }
    first.insert(first.end(), later.begin(), later.end());
    return first;
}

void ClientCore::mark_up(std::size_t i) {
    endpoints_[i].up = true;
    preferred_ = i;
}

void ClientCore::mark_down(std::size_t i, std::error_code why) {
    auto& s = endpoints_[i];
    s.up = false;
    s.last_error = why.message();
    s.down_at = std::chrono::steady_clock::now();
    // Watches on it are told after the list is copied: ending one may add or
    // drop others.
    std::vector<std::shared_ptr<Outstanding>> live;
    for (auto& w : outstanding_)
        if (auto op = w.lock()) live.push_back(std::move(op));
    for (auto& op : live) {
        if (closed_) return;
        op->endpoint_down(i, why);
    }
}

std::vector<EndpointState> ClientCore::states() const {
    std::vector<EndpointState> out;
    for (const auto& s : endpoints_) out.push_back({s.url, s.up, s.last_error});
    return out;
}

std::shared_ptr<HttpExchange> authenticate(const std::shared_ptr<ClientCore>& core, std::size_t i,
                                           std::function<void(std::error_code, bool sent)> done) {
    auto exchange = make_http_exchange(core->io());
    HttpPost post;
    core->address(i, post.to);
    post.target = "/v3/auth/authenticate";
    post.body = encode_authenticate(core->options().username, core->options().password);
    exchange->post(std::move(post), [core, done = std::move(done)](std::error_code ec, bool sent, int status,
                                                                  std::string body) {
        if (ec) return done(ec, sent);
        if (auto err = decode_error(status, body)) return done(err, true);
        std::string token;
        if (auto err = decode_authenticate(body, token)) return done(err, true);
        core->set_token(std::move(token));
        done({}, true);
    });
    return exchange;
}

}  // namespace weir::cluster
