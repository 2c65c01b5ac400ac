#include "h2_support.hpp"

#include <regex>
#include <sstream>
#include <stdexcept>

#ifndef WEIR_SOURCE_DIR
#error "WEIR_SOURCE_DIR must be defined by the build"
#endif

namespace weir_it::h2 {

namespace {

// Debian's python3, which has python3-h2 (a python3 earlier on PATH may not).
const char* kPython = "/usr/bin/python3";
const char* kScript = WEIR_SOURCE_DIR "/tests/support/h2_client.py";
const char* kCurl = "/usr/bin/curl";
const char* kH2load = "/usr/bin/h2load";

std::string cut(const std::string& s, std::size_t n = 3000) {
    return s.size() <= n ? s : s.substr(0, n) + "... (" + std::to_string(s.size()) + " bytes)";
}

const json::value* field(const json::value& v, const char* name) {
    if (!v.is_object()) return nullptr;
    return v.as_object().if_contains(name);
}

std::optional<std::int64_t> as_int(const json::value* v) {
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
    return std::nullopt;
}

}  // namespace

std::string with_http2(const std::string& yaml, bool on) {
    const std::string listeners = "listeners: [{name: public, address: \"127.0.0.1:0\"";
    auto at = yaml.find(listeners);
    if (at == std::string::npos) throw std::runtime_error("with_http2: no listener line in\n" + yaml);
    std::string out = yaml;
    out.insert(at + listeners.size(), std::string(", http2: ") + (on ? "true" : "false"));
    return out;
}

// ---------------------------------------------------------------- H2Report

std::string H2Report::describe() const {
    return "h2_client exit " + std::to_string(exit_code) + "\nstdout: " + cut(out) + "\nstderr: " + cut(err);
}

bool H2Report::handshake() const {
    const json::value* h = field(v, "handshake");
    return h && h->is_bool() && h->as_bool();
}

bool H2Report::closed() const {
    const json::value* c = field(v, "closed");
    return c && c->is_bool() && c->as_bool();
}

std::optional<double> H2Report::closed_t() const {
    const json::value* c = field(v, "closed_t");
    if (!c || c->is_null()) return std::nullopt;
    return json_number(*c);
}

std::vector<json::object> H2Report::goaways() const {
    std::vector<json::object> out;
    const json::value* g = field(v, "goaways");
    if (!g || !g->is_array()) return out;
    for (const auto& e : g->as_array())
        if (e.is_object()) out.push_back(e.as_object());
    return out;
}

std::optional<std::uint32_t> H2Report::first_goaway_code() const {
    auto g = goaways();
    if (g.empty()) return std::nullopt;
    auto c = as_int(g.front().if_contains("error_code"));
    if (!c) return std::nullopt;
    return static_cast<std::uint32_t>(*c);
}

std::optional<std::uint64_t> H2Report::setting(const std::string& name) const {
    const json::value* s = field(v, "server_settings");
    if (!s || !s->is_object()) return std::nullopt;
    auto n = as_int(s->as_object().if_contains(name));
    if (!n) return std::nullopt;
    return static_cast<std::uint64_t>(*n);
}

json::value H2Report::stream(std::int64_t id) const {
    const json::value* s = field(v, "streams");
    if (!s || !s->is_object()) return nullptr;
    const json::value* one = s->as_object().if_contains(std::to_string(id));
    return one ? *one : json::value(nullptr);
}

std::optional<std::int64_t> H2Report::number(const std::string& name) const {
    if (!v.is_object()) return std::nullopt;
    return as_int(v.as_object().if_contains(name));
}

std::optional<std::int64_t> stream_number(const json::value& stream, const char* name) {
    return as_int(field(stream, name));
}

std::vector<std::string> stream_header(const json::value& stream, const std::string& name) {
    std::vector<std::string> out;
    const json::value* h = field(stream, "headers");
    if (!h || !h->is_array()) return out;
    for (const auto& f : h->as_array()) {
        if (!f.is_array() || f.as_array().size() != 2) continue;
        if (iequals(std::string(f.as_array()[0].as_string()), name)) out.emplace_back(f.as_array()[1].as_string());
    }
    return out;
}

std::string stream_body(const json::value& stream) {
    const json::value* b = field(stream, "body");
    return b && b->is_string() ? std::string(b->as_string()) : std::string();
}

H2Report run_h2_client(const std::string& mode, std::uint16_t port, const std::vector<std::string>& args,
                       Millis timeout) {
    std::vector<std::string> argv = {kPython, kScript, mode, "--port", std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    metrics::RunResult r = metrics::run_command(argv, "", timeout);
    H2Report rep;
    rep.exit_code = r.exit_code;
    rep.out = r.out;
    rep.err = r.err;
    rep.v = parse_json(r.out);
    return rep;
}

std::future<H2Report> start_h2_client(const std::string& mode, std::uint16_t port, const std::vector<std::string>& args,
                                      Millis timeout) {
    return std::async(std::launch::async, [=] { return run_h2_client(mode, port, args, timeout); });
}

// ---------------------------------------------------------------- curl and h2load

std::string CurlResult::describe() const {
    return "curl exit " + std::to_string(exit_code) + ", status " + std::to_string(status) + ", http_version '" +
           http_version + "', stderr: " + cut(err, 600) + ", body: " + cut(body, 300);
}

CurlResult curl(const std::vector<std::string>& args, const std::string& url, Millis timeout) {
    std::vector<std::string> argv = {kCurl, "-sS", "--max-time", std::to_string(timeout.count() / 1000),
                                     "-w", "\n%{http_code} %{http_version}"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(url);
    metrics::RunResult r = metrics::run_command(argv, "", timeout + 5s);
    CurlResult c;
    c.exit_code = r.exit_code;
    c.err = r.err;
    auto nl = r.out.rfind('\n');
    if (nl == std::string::npos) {
        c.body = r.out;
        return c;
    }
    c.body = r.out.substr(0, nl);
    std::istringstream tail(r.out.substr(nl + 1));
    tail >> c.status >> c.http_version;
    return c;
}

CurlResult curl_h2c(std::uint16_t port, const std::string& target, std::vector<std::string> extra) {
    extra.insert(extra.begin(), "--http2-prior-knowledge");
    return curl(extra, "http://127.0.0.1:" + std::to_string(port) + target);
}

std::string H2loadResult::describe() const { return "h2load exit " + std::to_string(exit_code) + ":\n" + cut(out, 4000); }

H2loadResult h2load(const std::vector<std::string>& args, Millis timeout) {
    std::vector<std::string> argv = {kH2load};
    argv.insert(argv.end(), args.begin(), args.end());
    metrics::RunResult r = metrics::run_command(argv, "", timeout);
    H2loadResult h;
    h.exit_code = r.exit_code;
    h.out = r.out + r.err;
    std::smatch m;
    static const std::regex proto(R"(Application protocol: (\S+))");
    if (std::regex_search(h.out, m, proto)) h.protocol = m[1];
    static const std::regex reqs(
        R"(requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout)");
    if (std::regex_search(h.out, m, reqs)) {
        h.total = std::stol(m[1]);
        h.succeeded = std::stol(m[2]);
        h.failed = std::stol(m[3]);
        h.errored = std::stol(m[4]);
        h.timeout = std::stol(m[5]);
    }
    static const std::regex codes(R"(status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx)");
    if (std::regex_search(h.out, m, codes)) {
        h.status_2xx = std::stol(m[1]);
        h.status_3xx = std::stol(m[2]);
        h.status_4xx = std::stol(m[3]);
        h.status_5xx = std::stol(m[4]);
    }
    return h;
}

// ---------------------------------------------------------------- Bystander

Bystander::Bystander(std::uint16_t port, std::string target) : port_(port), target_(std::move(target)) {
    thread_ = std::thread([this] {
        while (!stop_.load()) {
            CurlResult r = curl({"--http2-prior-knowledge"}, "http://127.0.0.1:" + std::to_string(port_) + target_, 10s);
            if (r.exit_code == 0 && r.status == 200 && r.http_version == "2") {
                ++ok_;
                continue;
            }
            std::lock_guard lk(mu_);
            if (failed_++ == 0) first_failure_ = r.describe();
        }
    });
}

Bystander::~Bystander() { stop(); }

void Bystander::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

bool Bystander::wait_fetches(int n, Millis timeout) const {
    return wait_for([&] { return ok_.load() + failed_.load() >= n; }, timeout, 20ms);
}

std::string Bystander::first_failure() const {
    std::lock_guard lk(mu_);
    return first_failure_;
}

// ---------------------------------------------------------------- counting

std::size_t settled_count(const std::function<std::size_t()>& count, Millis quiet, Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    std::size_t last = count();
    auto since = Clock::now();
    while (Clock::now() < deadline) {
        wait_out(50ms);
        const std::size_t now = count();
        if (now != last) {
            last = now;
            since = Clock::now();
        } else if (Clock::now() - since >= quiet) {
            break;
        }
    }
    return last;
}

}  // namespace weir_it::h2
