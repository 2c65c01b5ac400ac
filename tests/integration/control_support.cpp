#include "control_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace weir_it::control {

namespace json = boost::json;

// ---------------------------------------------------------------- config

std::string ControlConfig::yaml() const {
    std::ostringstream y;
    y << "workers: " << workers << "\n";
    y << "drain_timeout: " << drain_timeout << "\n";
    if (!state_file.empty()) y << "state_file: \"" << state_file << "\"\n";
    y << "listeners:\n";
    y << "  - {name: public, address: \"127.0.0.1:0\"}\n";
    for (const auto& l : extra_listeners) y << "  - {name: " << l << ", address: \"127.0.0.1:0\"}\n";
    y << "admin: {address: \"" << admin_address << "\"";
    if (!token_file.empty()) y << ", token_file: \"" << token_file << "\"";
    y << "}\n";
    y << "limits: {header_timeout: 5s, idle_timeout: " << idle_timeout << "}\n";
    y << "pools:\n";
    for (const auto& [name, address] : {std::pair{std::string("stable"), stable}, std::pair{std::string("canary"), canary}}) {
        y << "  - name: " << name << "\n";
        y << "    endpoints:\n";
        y << "      - {address: \"" << address << "\", weight: 1}\n";
        y << "    upstream: {connect_timeout: 1s, response_timeout: " << response_timeout
          << ", max_idle_per_endpoint: 32}\n";
    }
    y << "routes:\n";
    y << "  - name: web\n";
    y << "    match: {host: \"*\", path_prefix: /}\n";
    y << "    split: {";
    for (std::size_t i = 0; i < split.size(); ++i) y << (i ? ", " : "") << split[i].first << ": " << number_text(split[i].second);
    y << "}\n";
    return y.str();
}

std::string state_path(const TempDir& dir) { return dir.path + "/weir.state.json"; }

ControlConfig stateful_config(const TempDir& dir, std::string stable, std::string canary,
                              std::vector<std::pair<std::string, double>> split) {
    ControlConfig c(std::move(stable), std::move(canary));
    c.split = std::move(split);
    c.state_file = state_path(dir);
    return c;
}

int line_of(const std::string& text, const std::string& needle) {
    auto at = text.find(needle);
    if (at == std::string::npos) return 0;
    return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    if (at == std::string::npos) throw std::runtime_error("replace_once: '" + from + "' not found in:\n" + text);
    text.replace(at, from.size(), to);
    return text;
}

// ---------------------------------------------------------------- files

bool file_exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& dir, const std::string& prefix) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (name.rfind(prefix, 0) == 0) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::size_t count_occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

// ---------------------------------------------------------------- JSON and metrics

std::optional<SplitMap> split_from(const json::value& v, const char* key) {
    if (!v.is_object()) return std::nullopt;
    const json::value* s = v.as_object().if_contains(key);
    if (!s || !s->is_object()) return std::nullopt;
    SplitMap out;
    for (const auto& [pool, w] : s->as_object()) {
        auto n = json_number(w);
        if (!n) return std::nullopt;
        out[std::string(pool)] = *n;
    }
    return out;
}

std::string to_text(const SplitMap& split) {
    std::string s = "{";
    for (const auto& [pool, w] : split) s += (s.size() > 1 ? ", " : "") + pool + ": " + number_text(w);
    return s + "}";
}

SplitMap split_map(const std::vector<std::pair<std::string, double>>& split) { return {split.begin(), split.end()}; }

std::string split_body(const SplitMap& split) {
    std::string s = "{";
    for (const auto& [pool, w] : split) s += (s.size() > 1 ? ", " : "") + ("\"" + pool + "\": " + number_text(w));
    return s + "}";
}

// ---------------------------------------------------------------- admin client

Response AdminClient::call(const std::string& method, const std::string& path, const std::string& body,
                           const std::string& extra, bool auth) const {
    return admin_request(port_, method, path, body, extra, auth ? token_ : "");
}

AdminClient::Route AdminClient::route(const std::string& name) const {
    Route out;
    Response r = get("/routes/" + name);
    out.status = r.status;
    out.raw = r.body;
    out.etag = r.headers.get("etag");
    if (r.status != 200) return out;
    json::value v = parse_json(r.body);
    if (auto s = split_from(v, "split")) out.split = *s;
    if (auto s = split_from(v, "file_split")) out.file_split = *s;
    if (v.is_object()) {
        if (auto* o = v.as_object().if_contains("override"); o && o->is_bool()) out.override_ = o->as_bool();
        if (auto* ver = v.as_object().if_contains("version")) {
            if (auto n = json_number(*ver)) out.version = static_cast<std::uint64_t>(*n);
        }
    }
    return out;
}

std::string AdminClient::metrics() const { return get("/metrics").body; }

std::pair<int, json::value> AdminClient::reload() const {
    Response r = post("/reload");
    return {r.status, parse_json(r.body)};
}

// ---------------------------------------------------------------- traffic

std::string pool_of(RawClient& c, const std::string& target) {
    Response r = c.request(get_request(target));
    if (!r.complete) return "error: " + r.error;
    if (r.status != 200) return "error: status " + std::to_string(r.status);
    return r.body.substr(0, r.body.find(' '));
}

bool settle_on(RawClient& c, const std::string& pool, Millis timeout) {
    return wait_for([&] { return pool_of(c) == pool; }, timeout, 1ms);
}

std::map<std::string, int> sample_pools(std::uint16_t port, int n, const std::string& settle, const std::string& target) {
    std::map<std::string, int> out;
    auto c = std::make_unique<RawClient>(port);
    if (!settle.empty()) settle_on(*c, settle);
    for (int i = 0; i < n; ++i) {
        std::string p = pool_of(*c, target);
        if (p.rfind("error", 0) == 0) {
            ++out["error"];
            c = std::make_unique<RawClient>(port);
        } else {
            ++out[p];
        }
    }
    return out;
}

std::string describe(const LoadGen::Stats& s) {
    std::string out = "requests " + std::to_string(s.requests) + ", ok " + std::to_string(s.ok) + ", non-2xx " +
                      std::to_string(s.non2xx) + ", errors " + std::to_string(s.errors) + ", reconnects " +
                      std::to_string(s.reconnects) + "; by pool:";
    for (const auto& [p, n] : s.by_pool) out += " " + p + "=" + std::to_string(n);
    for (const auto& f : s.samples) out += "\n  " + f;
    return out;
}

LoadGen::LoadGen(std::uint16_t port, int threads, std::string target) : port_(port), target_(std::move(target)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { run(i); });
}

LoadGen::~LoadGen() { stop(); }

void LoadGen::stop() {
    stop_ = true;
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

LoadGen::Stats LoadGen::stats() const {
    std::lock_guard lk(mu_);
    return stats_;
}

bool LoadGen::wait_progress(std::uint64_t n, Millis timeout) const {
    std::uint64_t start = stats().requests;
    return wait_for([&] { return stats().requests >= start + n; }, timeout);
}

void LoadGen::record_failure(const std::string& what) {
    if (stats_.samples.size() < 8) stats_.samples.push_back(what);
}

void LoadGen::run(int index) {
    auto c = std::make_unique<RawClient>(port_, 10s);
    std::uint64_t i = 0;
    while (!stop_) {
        std::string target = target_ + "?t=" + std::to_string(index) + "&i=" + std::to_string(i++);
        Response r = c->request(get_request(target));
        bool reopen = false;
        {
            std::lock_guard lk(mu_);
            ++stats_.requests;
            if (!r.complete) {
                ++stats_.errors;
                record_failure("thread " + std::to_string(index) + " " + target + ": " + r.describe());
                reopen = true;
            } else {
                if (r.status >= 200 && r.status < 300) {
                    ++stats_.ok;
                    ++stats_.by_pool[r.body.substr(0, r.body.find(' '))];
                } else {
                    ++stats_.non2xx;
                    record_failure("thread " + std::to_string(index) + " " + target + ": " + r.describe());
                }
                if (r.connection_close()) {
                    record_failure("thread " + std::to_string(index) + " " + target +
                                   ": proxy closed the keep-alive connection: " + r.describe());
                    reopen = true;
                }
            }
            if (reopen) ++stats_.reconnects;
        }
        if (reopen) c = std::make_unique<RawClient>(port_, 10s);
        // Pacing, not synchronisation: leave some CPU to the proxy on a small machine.
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

// ---------------------------------------------------------------- the weir process

std::optional<std::uint16_t> logged_listener_port(const std::string& log, const std::string& name) {
    return logged_port(log, "listener " + name + " listening on ", /*last=*/true);
}

std::string detach_config(WeirProcess& weir, const std::string& real_dir, const std::string& yaml) {
    const std::string target = real_dir + "/weir.yaml";
    write_file(target, yaml);
    const std::string link = weir.config_path() + ".it-link";
    ::unlink(link.c_str());
    if (::symlink(target.c_str(), link.c_str()) != 0) throw std::runtime_error("symlink failed");
    const std::size_t before = count_occurrences(weir.log(), "file change: reload");
    if (::rename(link.c_str(), weir.config_path().c_str()) != 0) throw std::runtime_error("rename of the link failed");
    // The watch reloads once (same content); wait for it so later counts are exact.
    wait_for([&] { return count_occurrences(weir.log(), "file change: reload") > before; }, 5s, 10ms);
    return target;
}

}  // namespace weir_it::control
