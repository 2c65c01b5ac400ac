#include "cluster/etcd_unary.hpp"

#include "cluster/etcd_error.hpp"
#include "cluster/etcd_json.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <vector>

namespace weir::cluster {
namespace {

namespace asio = boost::asio;

class UnaryCall : public Outstanding, public std::enable_shared_from_this<UnaryCall> {
public:
    UnaryCall(std::shared_ptr<ClientCore> core, std::string target, std::string body,
              std::function<void(std::error_code, std::string)> done)
        : core_(std::move(core)), timer_(core_->io()), target_(std::move(target)), body_(std::move(body)),
          done_(std::move(done)) {}

    void start() {
        core_->add(shared_from_this());
        order_ = core_->order();
        auto self = shared_from_this();
        timer_.expires_after(core_->options().request_timeout);
        timer_.async_wait([self](boost::system::error_code ec) {
            if (!ec) self->on_deadline();
        });
        // Never call back from inside the caller's call.
        asio::post(core_->io(), [self] { self->next_endpoint(); });
    }

    void cancel() override {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        if (exchange_) exchange_->cancel();
        done_ = nullptr;
    }

private:
    void next_endpoint() {
        if (finished_) return;
        if (pos_ >= order_.size()) {
            std::error_code ec = last_connect_error_;
            if (!ec)
                ec = order_.empty() ? make_etcd_error(EtcdCode::invalid_argument, "no usable etcd endpoint")
                                    : std::make_error_code(std::errc::host_unreachable);
            return finish(ec, {});
        }
        current_ = order_[pos_++];
        auth_retried_ = false;
        if (core_->needs_auth() && core_->token().empty()) return get_token();
        send();
    }

    void get_token() {
        auto self = shared_from_this();
        exchange_ = authenticate(core_, current_, [self](std::error_code ec, bool sent) {
            if (self->finished_) return;
            if (ec) return self->connection_or_etcd_error(ec, sent);
            self->send();
        });
    }

    void send() {
        HttpPost post;
        core_->address(current_, post.to);
        post.target = target_;
        post.body = body_;
        used_token_ = core_->token();
        post.authorization = used_token_;
        exchange_ = make_http_exchange(core_->io());
        auto self = shared_from_this();
        exchange_->post(std::move(post), [self](std::error_code ec, bool sent, int status, std::string body) {
            if (self->finished_) return;
            if (ec) return self->connection_or_etcd_error(ec, sent);
            self->core_->mark_up(self->current_);
            auto err = decode_error(status, body);
            if (err && is_invalid_token(err) && self->core_->needs_auth() && !self->auth_retried_) {
                // Refused for its token: not applied, so it can be sent again.
                self->auth_retried_ = true;
                self->core_->drop_token(self->used_token_);
                return self->get_token();
            }
            if (err && is_no_leader(err)) self->core_->mark_down(self->current_, err);
            self->finish(err, err ? std::string() : std::move(body));
        });
    }

    // etcd's error, or a connection error: a connection never made moves on
    // to the next endpoint; one that broke after sending ends the call.
    void connection_or_etcd_error(std::error_code ec, bool sent) {
        if (ec.category() == etcd_category()) {
            core_->mark_up(current_);
            return finish(ec, {});
        }
        core_->mark_down(current_, ec);
        if (finished_) return;  // closed by something marking it down
        if (!sent) {
            last_connect_error_ = ec;
            return next_endpoint();
        }
        finish(ec, {});
    }

    // A member cut off from the leader answers this at once: the next call
    // should start elsewhere.
    static bool is_no_leader(std::error_code ec) { return ec.message().find("no leader") != std::string::npos; }

    void on_deadline() {
        if (finished_) return;
        const auto ec = std::make_error_code(std::errc::timed_out);
        if (exchange_) exchange_->cancel();
        if (current_ < core_->endpoint_count()) core_->mark_down(current_, ec);
        finish(ec, {});
    }

    void finish(std::error_code ec, std::string body) {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        if (exchange_) exchange_->cancel();
        auto done = std::move(done_);
        if (done && !core_->closed()) done(ec, std::move(body));
    }

    std::shared_ptr<ClientCore> core_;
    asio::steady_timer timer_;
    std::string target_;
    std::string body_;
    std::function<void(std::error_code, std::string)> done_;
    std::shared_ptr<HttpExchange> exchange_;
    std::vector<std::size_t> order_;
    std::size_t pos_ = 0;
    std::size_t current_ = static_cast<std::size_t>(-1);
    std::string used_token_;
    bool auth_retried_ = false;
    bool finished_ = false;
    std::error_code last_connect_error_;
};

}  // namespace

void start_unary_call(const std::shared_ptr<ClientCore>& core, std::string target, std::string body,
                      std::function<void(std::error_code, std::string)> done) {
    auto call = std::make_shared<UnaryCall>(core, std::move(target), std::move(body), std::move(done));
    call->start();
}

}  // namespace weir::cluster
