#include "rollout_support.hpp"

#include <cmath>
#include <sstream>

namespace weir_it::rollout {

namespace json = boost::json;

// ---------------------------------------------------------------- backend

PoolBackend::PoolBackend(std::string name, Millis latency, double error_share)
    : name_(std::move(name)), latency_(latency), error_share_(error_share), up_(name_) {
    up_.set_handler([this](UpstreamConn& c, const UpstreamRequest&) {
        const std::uint64_t i = requests_.fetch_add(1);
        const bool fail = error_share_ > 0 && std::floor(static_cast<double>(i + 1) * error_share_) >
                                                  std::floor(static_cast<double>(i) * error_share_);
        if (latency_.count() > 0 && !c.sleep_for(latency_)) return After::close;
        if (fail) {
            errors_.fetch_add(1);
            c.send(make_response(500, name_ + " error"));
        } else {
            c.send(make_response(200, name_ + " ok"));
        }
        return After::keep_alive;
    });
}

// ---------------------------------------------------------------- config

std::string rollout_yaml(ControlConfig c, const RolloutBlock& r) {
    c.split = r.file_split;
    std::ostringstream y;
    y << c.yaml();
    y << "    rollout: {canary: canary, baseline: stable, steps: " << r.steps
      << ", step_min_duration: " << r.step_min_duration << ", step_max_duration: " << r.step_max_duration
      << ", min_samples: " << r.min_samples << ", max_latency_ratio: " << r.max_latency_ratio
      << ", max_error_rate_increase: " << r.max_error_rate_increase << ", on_inconclusive: " << r.on_inconclusive
      << (r.extra.empty() ? "" : ", " + r.extra) << "}\n";
    return y.str();
}

// ---------------------------------------------------------------- traffic

Traffic::Traffic(std::uint16_t port, int threads, double rate_per_thread, std::string target)
    : port_(port), rate_(rate_per_thread), target_(std::move(target)), per_thread_(static_cast<std::size_t>(threads)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(i); });
}

Traffic::~Traffic() { stop(); }

void Traffic::stop() {
    stop_ = true;
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

Traffic::Counts Traffic::counts() const {
    std::lock_guard lk(mu_);
    return counts_;
}

bool Traffic::wait_each_thread(std::uint64_t n, Millis timeout) const {
    std::vector<std::uint64_t> start;
    {
        std::lock_guard lk(mu_);
        start = per_thread_;
    }
    return wait_for(
        [&] {
            std::lock_guard lk(mu_);
            for (std::size_t i = 0; i < start.size(); ++i)
                if (per_thread_[i] < start[i] + n) return false;
            return true;
        },
        timeout);
}

bool Traffic::wait_total(std::uint64_t n, Millis timeout) const {
    const std::uint64_t start = counts().done;
    return wait_for([&] { return counts().done >= start + n; }, timeout);
}

void Traffic::run(int index) {
    using namespace std::chrono;
    const auto interval = duration_cast<Clock::duration>(duration<double>(1.0 / rate_));
    // Threads start spread over one interval so that they do not fire together.
    auto next = Clock::now() + interval * index / static_cast<int>(per_thread_.size());
    auto c = std::make_unique<RawClient>(port_, 10s);
    std::uint64_t i = 0;
    while (!stop_) {
        // Pacing, not synchronisation: the schedule sets the request rate.
        std::this_thread::sleep_until(next);
        if (stop_) break;
        next += interval;
        if (next < Clock::now()) next = Clock::now();  // behind (slow answers): no burst to catch up
        const std::string target = target_ + "?t=" + std::to_string(index) + "&i=" + std::to_string(i++);
        Response r = c->request(get_request(target));
        bool reopen = !r.complete || r.connection_close();
        {
            std::lock_guard lk(mu_);
            ++counts_.done;
            ++per_thread_[static_cast<std::size_t>(index)];
            const std::string pool = r.body.substr(0, r.body.find(' '));
            const bool named = pool == "stable" || pool == "canary";
            if (r.complete && named && r.status >= 200 && r.status < 300) {
                ++counts_.ok[pool];
            } else if (r.complete && named && r.status >= 500) {
                ++counts_.errors[pool];
            } else {
                ++counts_.failures;
                if (counts_.samples.size() < 8)
                    counts_.samples.push_back("thread " + std::to_string(index) + " " + target + ": " + r.describe());
            }
        }
        if (reopen) c = std::make_unique<RawClient>(port_, 10s);
    }
}

// ---------------------------------------------------------------- admin

std::vector<std::string> RolloutView::kinds() const {
    std::vector<std::string> out;
    for (const auto& d : decisions) out.push_back(d.decision);
    return out;
}

int RolloutView::count(const std::string& kind) const {
    int n = 0;
    for (const auto& d : decisions) n += d.decision == kind;
    return n;
}

const RolloutView::Decision* RolloutView::last(const std::string& kind) const {
    for (auto it = decisions.rbegin(); it != decisions.rend(); ++it)
        if (it->decision == kind) return &*it;
    return nullptr;
}

std::string str_at(const json::value& v, std::initializer_list<const char*> path) {
    const json::value* cur = &v;
    for (const char* key : path) {
        if (!cur->is_object()) return "";
        cur = cur->as_object().if_contains(key);
        if (!cur) return "";
    }
    return cur->is_string() ? std::string(cur->as_string()) : "";
}

std::optional<double> num_at(const json::value& v, std::initializer_list<const char*> path) {
    const json::value* cur = &v;
    for (const char* key : path) {
        if (!cur->is_object()) return std::nullopt;
        cur = cur->as_object().if_contains(key);
        if (!cur) return std::nullopt;
    }
    return control::json_number(*cur);
}

RolloutView rollout_view(const AdminClient& admin, const std::string& route) {
    RolloutView out;
    Response r = admin.get("/routes/" + route + "/rollout");
    out.status = r.status;
    out.raw = r.body;
    if (r.status != 200) return out;
    out.json = control::parse_json(r.body);
    out.phase = str_at(out.json, {"phase"});
    if (auto s = num_at(out.json, {"step"})) out.step = static_cast<int>(*s);
    if (auto p = num_at(out.json, {"canary_percent"})) out.canary_percent = *p;
    if (out.json.is_object()) {
        if (const json::value* ds = out.json.as_object().if_contains("decisions"); ds && ds->is_array()) {
            for (const json::value& d : ds->as_array()) {
                RolloutView::Decision rec;
                if (auto a = num_at(d, {"at_ms"})) rec.at_ms = static_cast<std::int64_t>(*a);
                if (auto s = num_at(d, {"step"})) rec.step = static_cast<int>(*s);
                rec.decision = str_at(d, {"decision"});
                rec.reason = str_at(d, {"reason"});
                if (d.is_object()) {
                    if (const json::value* ev = d.as_object().if_contains("evidence")) rec.evidence = *ev;
                }
                out.decisions.push_back(std::move(rec));
            }
        }
    }
    return out;
}

Response rollout_call(const AdminClient& admin, const std::string& verb, const std::string& route) {
    return admin.post("/routes/" + route + "/rollout/" + verb);
}

RolloutView wait_rollout(const AdminClient& admin, const std::function<bool(const RolloutView&)>& pred, Millis timeout,
                         const std::string& route) {
    RolloutView v;
    wait_for(
        [&] {
            v = rollout_view(admin, route);
            return v.status == 200 && pred(v);
        },
        timeout, 50ms);
    return v;
}

json::value rollout_state(const AdminClient& admin, const std::string& route) {
    Response r = admin.get("/routes/" + route);
    if (r.status != 200) return nullptr;
    json::value v = control::parse_json(r.body);
    if (!v.is_object()) return nullptr;
    const json::value* s = v.as_object().if_contains("rollout_state");
    return s ? *s : json::value(nullptr);
}

std::optional<double> metric(const AdminClient& admin, const std::string& name,
                             const std::map<std::string, std::string>& labels) {
    return control::metric_value(admin.metrics(), name, labels);
}

std::string describe(const Traffic::Counts& c) {
    std::ostringstream s;
    s << "done=" << c.done;
    for (const auto& [p, n] : c.ok) s << " " << p << "_ok=" << n;
    for (const auto& [p, n] : c.errors) s << " " << p << "_5xx=" << n;
    s << " failures=" << c.failures;
    for (const auto& f : c.samples) s << "\n  " << f;
    return s.str();
}

std::string kinds_text(const RolloutView& v) {
    std::string s;
    for (const auto& d : v.decisions) s += (s.empty() ? "" : ", ") + d.decision + "@" + std::to_string(d.step);
    return "[" + s + "]";
}

}  // namespace weir_it::rollout
