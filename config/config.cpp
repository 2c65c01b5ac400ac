// The schema of weir.yaml (docs/config.md): which keys exist, their types and the
// rules that tie them together. Reading never stops at the first problem.
#include "config/config.hpp"

#include "config/tls_config.hpp"
#include "config/yaml_reader.hpp"
#include "http/upgrade.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "routing/cidr.hpp"
#include "routing/matcher.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

namespace weir::config {
namespace {

// An etcd client URL the fleet can use: http://host:port (the gateway
// speaks HTTP/1.1 JSON). Empty when fine, else why not.
std::string etcd_url_problem(const std::string& url) {
    constexpr std::string_view scheme = "http://";
    if (url.rfind("https://", 0) == 0) return "https:// etcd endpoints are not supported yet; use http:// on a private network";
    if (url.rfind(scheme, 0) != 0) return "must be http://host:port, got " + url;
    std::string rest = url.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    auto hp = parse_host_port(rest);
    if (!hp || hp->port == 0) return "must be http://host:port, got " + url;
    return {};
}

// Certificates are checked against the wall clock (Unix seconds).
std::int64_t unix_now() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

using yaml::Diagnostics;
using yaml::Field;
using yaml::Location;
using yaml::MapReader;

constexpr double kMaxWeight = routing::max_weight;  // keeps sums of weights exact enough and finite

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string at_line(Location at) { return "line " + std::to_string(at.line); }

// Admin calls change where traffic goes; docs/config.md only allows them off
// loopback with a token.
bool is_loopback(const std::string& host) {
    if (host == "localhost") return true;
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

bool is_dns_label_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

// "*", "*.suffix" or an exact name; returns an error message or "".
std::string check_route_host(const std::string& host) {
    if (host == "*") return "";
    std::string_view name = host;
    if (name.rfind("*.", 0) == 0) name.remove_prefix(2);
    if (name.empty()) return "host " + quoted(host) + " needs a name after '*.'";
    if (name.find(':') != std::string_view::npos) {
        return "host " + quoted(host) + " must not include a port (it is matched without one)";
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if (c == '.' && (i == 0 || name[i - 1] == '.')) return "host " + quoted(host) + " has an empty label";
        if (c != '.' && !is_dns_label_char(c)) {
            return "host " + quoted(host) + " is not \"*\", \"*.suffix\" or a host name";
        }
    }
    return "";
}

std::string to_lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

class Loader {
public:
    Loader(Diagnostics& diag, std::string base_dir) : diag_(diag), base_dir_(std::move(base_dir)) {}

    void load(const Field& root, Config& config) {
        MapReader top(root, diag_);
        if (!top.ok()) return;
        if (auto f = top.take("workers")) {
            if (auto v = yaml::read_unsigned(*f, diag_, 1, 256)) config.workers = static_cast<unsigned>(*v);
        }
        if (auto f = top.take("drain_timeout")) {
            if (auto v = yaml::read_timeout(*f, diag_)) config.drain_timeout = *v;
        }
        if (auto f = top.take("state_file")) {
            if (auto v = read_path(*f)) config.state_file = *v;
        }
        if (auto f = top.take("access_log")) {
            MapReader map(*f, diag_);
            if (map.ok()) {
                if (auto p = map.require("path")) {
                    auto s = yaml::read_string(*p, diag_);
                    if (s && *s == "-") config.access_log.path = "-";  // standard output
                    else if (auto v = read_path(*p)) config.access_log.path = *v;
                }
                map.finish();
            }
        }
        if (auto f = top.take("trusted_proxies")) read_trusted_proxies(*f, config);
        if (auto f = top.require("listeners")) read_listeners(*f, config);
        if (auto f = top.take("admin")) read_admin(*f, config);
        if (auto f = top.take("limits")) read_limits(*f, config.limits);
        if (auto f = top.take("cluster")) read_cluster(*f, config);
        if (auto f = top.require("pools")) read_pools(*f, config);
        if (auto f = top.require("routes")) read_routes(*f, config);
        top.finish();
        check_admin_address(config);
        check_cluster(config);
    }

private:
    // Lists (listeners, pools, endpoints, routes) must not be empty; the error
    // sits on the list itself.
    std::optional<std::vector<Field>> non_empty_sequence(const Field& f, std::string_view what) {
        auto items = yaml::read_sequence(f, diag_);
        if (items && items->empty()) {
            diag_.error(f.at, f.path + ": at least one " + std::string(what) + " is required");
        }
        return items;
    }

    // A required, non-empty name, unique among `seen` (name -> where first defined).
    std::optional<std::string> read_name(MapReader& map, std::map<std::string, Location>& seen,
                                         std::string_view kind) {
        auto f = map.require("name");
        if (!f) return std::nullopt;
        auto name = yaml::read_string(*f, diag_);
        if (!name) return std::nullopt;
        if (name->empty()) {
            diag_.error(f->at, f->path + ": must not be empty");
            return std::nullopt;
        }
        // Names travel in admin URLs (/routes/{r}) and metric labels.
        if (!std::all_of(name->begin(), name->end(), [](char c) { return is_dns_label_char(c) || c == '.'; })) {
            diag_.error(f->at, f->path + ": " + quoted(*name) +
                                   " may only contain letters, digits, '.', '-' and '_'");
            return std::nullopt;
        }
        auto [it, inserted] = seen.emplace(*name, f->at);
        if (!inserted) {
            diag_.error(f->at, "duplicate " + std::string(kind) + " name " + quoted(*name) + " (first at " +
                                   at_line(it->second) + ")");
        }
        return name;
    }

    void read_listeners(const Field& f, Config& config) {
        auto items = non_empty_sequence(f, "listener");
        if (!items) return;
        std::map<std::string, Location> names;
        for (const auto& item : *items) {
            MapReader map(item, diag_);
            if (!map.ok()) continue;
            ListenerConfig listener;
            if (auto name = read_name(map, names, "listener")) listener.name = *name;
            if (auto a = map.require("address")) {
                if (auto hp = yaml::read_host_port(*a, diag_, /*allow_port_zero=*/true)) {
                    listener.address = *hp;
                    claim_address(*hp, a->at);
                }
            }
            if (auto u = map.take("underscores_in_headers")) {
                if (auto v = yaml::read_bool(*u, diag_)) listener.underscores_in_headers = *v;
            }
            std::optional<bool> http2;
            if (auto h = map.take("http2")) http2 = yaml::read_bool(*h, diag_);
            if (auto t = map.take("tls")) {
                listener.tls = read_listener_tls(
                    *t, diag_, [this](const Field& p) { return read_path(p); }, unix_now());
            }
            listener.http2 = http2.value_or(listener.tls.has_value());
            map.finish();
            config.listeners.push_back(std::move(listener));
        }
    }

    void read_trusted_proxies(const Field& f, Config& config) {
        auto items = yaml::read_sequence(f, diag_);
        if (!items) return;
        for (const auto& item : *items) {
            auto text = yaml::read_string(item, diag_);
            if (!text) continue;
            const routing::CidrParse range = routing::parse_cidr(*text);
            if (!range.error.empty()) {
                diag_.error(item.at, item.path + ": " + range.error);
                continue;
            }
            config.trusted_proxies.push_back(*text);
        }
    }

    // Two sockets cannot bind one address; port 0 asks the kernel for a fresh
    // port each time, so it never collides.
    void claim_address(const HostPort& hp, Location at) {
        if (hp.port == 0) return;
        auto [it, inserted] = bound_.emplace(hp.text(), at);
        if (!inserted) {
            diag_.error(at, "address " + hp.text() + " is already used (first at " + at_line(it->second) + ")");
        }
    }

    // A non-empty path, resolved against the config file's folder so a
    // config means the same thing whatever the working directory.
    std::optional<std::string> read_path(const Field& f) {
        auto v = yaml::read_string(f, diag_);
        if (!v) return std::nullopt;
        if (v->empty()) {
            diag_.error(f.at, f.path + ": must not be empty");
            return std::nullopt;
        }
        if (v->front() == '/' || base_dir_.empty()) return v;
        return base_dir_ + "/" + *v;
    }

    void read_admin(const Field& f, Config& config) {
        MapReader map(f, diag_, MapReader::IfNull::empty);
        if (!map.ok()) return;
        if (auto a = map.take("address")) {
            if (auto hp = yaml::read_host_port(*a, diag_, /*allow_port_zero=*/true)) {
                config.admin.address = *hp;
                admin_at_ = a->at;
            }
        }
        if (auto t = map.take("token_file")) {
            if (auto path = read_path(*t)) {
                config.admin.token_file = *path;
                read_token(*t, config.admin);
            }
        }
        map.finish();
    }

    void read_cluster(const Field& f, Config& config) {
        MapReader map(f, diag_);
        if (!map.ok()) return;
        ClusterConfig c;
        if (auto e = map.require("etcd")) {
            if (auto items = non_empty_sequence(*e, "etcd endpoint")) {
                for (const Field& item : *items) {
                    auto url = yaml::read_string(item, diag_);
                    if (!url) continue;
                    std::string why = etcd_url_problem(*url);
                    if (!why.empty()) diag_.error(item.at, item.path + ": " + why);
                    else c.etcd.push_back(*url);
                }
            }
        }
        if (auto p = map.take("prefix")) {
            if (auto v = yaml::read_string(*p, diag_)) {
                if (v->empty() || v->front() != '/' || v->back() == '/')
                    diag_.error(p->at, p->path + ": must start with '/' and not end with it, such as /weir/prod");
                else c.prefix = *v;
            }
        }
        if (auto l = map.take("lease")) {
            if (auto v = yaml::read_timeout(*l, diag_)) {
                if (*v < std::chrono::seconds(2) || *v > std::chrono::minutes(5) || v->count() % 1000 != 0)
                    diag_.error(l->at, l->path + ": must be whole seconds from 2s to 5m (etcd leases count seconds)");
                else c.lease = *v;
            }
        }
        std::optional<Location> user_at;
        if (auto u = map.take("username")) {
            if (auto v = yaml::read_string(*u, diag_)) {
                c.username = *v;
                user_at = u->at;
            }
        }
        if (auto p = map.take("password_file")) {
            if (auto path = read_path(*p)) {
                c.password_file = *path;
                read_secret_file(*p, c.password_file, c.password);
            }
            if (!user_at) diag_.error(p->at, p->path + ": needs cluster.username");
        } else if (user_at && !c.username.empty()) {
            diag_.error(*user_at, f.path + ".username: needs cluster.password_file (secrets are never written inline)");
        }
        if (auto a = map.take("advertise")) {
            if (auto hp = yaml::read_host_port(*a, diag_, /*allow_port_zero=*/false)) c.advertise = *hp;
        }
        if (auto n = map.take("name")) {
            if (auto v = yaml::read_string(*n, diag_)) {
                if (v->empty() || v->find('/') != std::string::npos)
                    diag_.error(n->at, n->path + ": must be non-empty and without '/'");
                else c.name = *v;
            }
        }
        map.finish();
        cluster_at_ = f.at;
        config.cluster = std::move(c);
    }

    // The file's content, trailing line breaks dropped (an editor's newline
    // is not part of a password).
    void read_secret_file(const Field& f, const std::string& path, std::string& out) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            diag_.error(f.at, f.path + ": cannot read " + quoted(path) + ": " + std::strerror(errno));
            return;
        }
        std::ostringstream buffer;
        buffer << in.rdbuf();
        out = buffer.str();
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
        if (out.empty()) diag_.error(f.at, f.path + ": " + quoted(path) + " is empty");
    }

    void check_cluster(Config& config) {
        if (!config.cluster || config.cluster->advertise.port != 0) return;
        const HostPort& admin = config.admin.address;
        // Every address: the other replicas cannot be told which one to
        // call. A port 0 admin address is advertised as bound.
        if (admin.host == "0.0.0.0" || admin.host == "::" || admin.host.empty())
            diag_.error(cluster_at_, "cluster: admin.address " + admin.text() +
                                         " does not say where other replicas can reach this one; set cluster.advertise");
        else
            config.cluster->advertise = admin;
    }

    void read_token(const Field& f, AdminConfig& admin) {
        std::ifstream in(admin.token_file, std::ios::binary);
        if (!in) {
            diag_.error(f.at, f.path + ": cannot read " + quoted(admin.token_file) + ": " + std::strerror(errno));
            return;
        }
        std::ostringstream buffer;
        buffer << in.rdbuf();
        std::string token = buffer.str();
        auto space = [](unsigned char c) { return std::isspace(c) != 0; };
        while (!token.empty() && space(token.back())) token.pop_back();
        std::size_t start = 0;
        while (start < token.size() && space(token[start])) ++start;
        token.erase(0, start);
        if (token.size() < 16) {
            diag_.error(f.at, f.path + ": the token in " + quoted(admin.token_file) +
                                  " is shorter than 16 characters; use a long random one");
            return;
        }
        if (std::any_of(token.begin(), token.end(), [](unsigned char c) { return c < 0x21 || c > 0x7e; })) {
            diag_.error(f.at, f.path + ": the token in " + quoted(admin.token_file) +
                                  " must be printable ASCII without spaces (it travels in a header)");
            return;
        }
        admin.token = std::move(token);
    }

    Location cluster_at_{};

    void check_admin_address(const Config& config) {
        const HostPort& hp = config.admin.address;
        if (admin_at_.line == 0) {
            // The default admin address still takes a port; say so where it collides.
            auto it = bound_.find(hp.text());
            if (it != bound_.end()) {
                diag_.error(it->second, "address " + hp.text() +
                                            " is also the default admin address; set admin.address");
            }
            return;
        }
        if (!is_loopback(hp.host) && config.admin.token_file.empty()) {
            diag_.error(admin_at_, "admin.address: " + hp.text() +
                                       " is not a loopback address; the admin API off loopback needs "
                                       "admin.token_file");
        }
        claim_address(hp, admin_at_);
    }

    void read_limits(const Field& f, LimitsConfig& limits) {
        MapReader map(f, diag_, MapReader::IfNull::empty);
        if (!map.ok()) return;
        if (auto v = map.take("max_header_bytes")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 1024, 1024 * 1024)) limits.max_header_bytes = *n;
        }
        if (auto v = map.take("max_body_bytes")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 0, UINT64_MAX)) limits.max_body_bytes = *n;
        }
        if (auto v = map.take("header_timeout")) {
            if (auto d = yaml::read_data_path_timeout(*v, diag_)) limits.header_timeout = *d;
        }
        if (auto v = map.take("idle_timeout")) {
            if (auto d = yaml::read_data_path_timeout(*v, diag_)) limits.idle_timeout = *d;
        }
        if (auto v = map.take("max_connections")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 1, 10'000'000)) limits.max_connections = *n;
        }
        if (auto v = map.take("max_statistics_bytes")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 1ull << 20, 1ull << 40)) limits.max_statistics_bytes = *n;
        }
        if (auto v = map.take("max_via_hops")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 0, 100)) limits.max_via_hops = static_cast<unsigned>(*n);
        }
        map.finish();
    }

    void read_pools(const Field& f, Config& config) {
        auto items = non_empty_sequence(f, "pool");
        if (!items) return;
        pools_known_ = true;
        for (const auto& item : *items) {
            MapReader map(item, diag_);
            if (!map.ok()) continue;
            PoolConfig pool;
            if (auto name = read_name(map, pool_names_, "pool")) pool.name = *name;
            if (auto e = map.require("endpoints")) read_endpoints(*e, pool);
            if (auto p = map.take("protocol")) {
                if (auto s = yaml::read_string(*p, diag_)) {
                    if (*s == "http1") pool.protocol = routing::UpstreamProtocol::http1;
                    else if (*s == "h2") pool.protocol = routing::UpstreamProtocol::h2;
                    else diag_.error(p->at, p->path + ": must be 'http1' or 'h2', got " + quoted(*s));
                }
            }
            if (auto g = map.take("grpc_error_codes")) read_grpc_error_codes(*g, pool);
            if (auto u = map.take("upstream")) read_upstream(*u, pool.upstream);
            if (auto h = map.take("health_check")) read_health_check(*h, pool);
            if (auto o = map.take("outlier")) read_outlier(*o, pool);
            map.finish();
            config.pools.push_back(std::move(pool));
        }
    }

    void read_endpoints(const Field& f, PoolConfig& pool) {
        auto items = non_empty_sequence(f, "endpoint");
        if (!items || items->empty()) return;
        std::map<std::string, Location> addresses;
        bool any_weight = false;
        bool all_read = true;
        for (const auto& item : *items) {
            MapReader map(item, diag_);
            if (!map.ok()) {
                all_read = false;
                continue;
            }
            EndpointConfig endpoint;
            if (auto a = map.require("address")) {
                if (auto hp = yaml::read_host_port(*a, diag_, /*allow_port_zero=*/false)) {
                    endpoint.address = *hp;
                    auto [it, inserted] = addresses.emplace(hp->text(), a->at);
                    if (!inserted) {
                        diag_.error(a->at, "duplicate endpoint " + hp->text() + " in pool " + quoted(pool.name) +
                                               " (first at " + at_line(it->second) + ")");
                    }
                }
            }
            if (auto w = map.take("weight")) {
                if (auto v = yaml::read_number(*w, diag_, 0, kMaxWeight)) {
                    endpoint.weight = *v;
                } else {
                    all_read = false;
                }
            }
            if (endpoint.weight > 0) any_weight = true;
            map.finish();
            pool.endpoints.push_back(std::move(endpoint));
        }
        // Only when every weight was read: otherwise the real problem is already reported.
        if (all_read && !any_weight) {
            diag_.error(f.at, f.path + ": at least one endpoint needs a weight above 0");
        }
    }

    // Names (any case) or numbers 1..16; OK (0) is never an error. An empty
    // list is allowed: no gRPC status counts.
    void read_grpc_error_codes(const Field& f, PoolConfig& pool) {
        auto items = yaml::read_sequence(f, diag_);
        if (!items) return;
        routing::GrpcStatusMask mask = 0;
        for (const auto& item : *items) {
            auto text = yaml::read_string(item, diag_);
            if (!text) continue;
            const auto code = routing::parse_grpc_status(*text);
            if (!code || *code == 0) {
                diag_.error(item.at, item.path + ": " + quoted(*text) +
                                         " is not a gRPC error status (a name such as UNAVAILABLE, or 1 to 16)");
                continue;
            }
            mask |= routing::grpc_status_bit(*code);
        }
        pool.grpc_error_codes = mask;
    }

    void read_health_check(const Field& f, PoolConfig& pool) {
        MapReader map(f, diag_, MapReader::IfNull::empty);
        if (!map.ok()) return;
        HealthCheckConfig hc;
        std::optional<Location> grpc_at;  // where `type: grpc` was written
        if (auto v = map.take("type")) {
            if (auto t = yaml::read_string(*v, diag_)) {
                if (*t == "http") {
                    hc.type = health::CheckType::http;
                } else if (*t == "grpc") {
                    hc.type = health::CheckType::grpc;
                    grpc_at = v->at;
                    // The gRPC health protocol is a call over HTTP/2.
                    if (pool.protocol != routing::UpstreamProtocol::h2)
                        diag_.error(v->at, v->path + ": type grpc needs the pool's protocol: h2");
                } else {
                    diag_.error(v->at, v->path + ": must be 'http' or 'grpc', got " + quoted(*t));
                }
            }
        }
        if (auto v = map.take("service")) {
            if (auto name = yaml::read_string(*v, diag_)) {
                if (!grpc_at) diag_.error(v->at, v->path + ": only with type: grpc (the gRPC service asked about)");
                else hc.service = *name;
            }
        }
        // Settings of the HTTP check that a gRPC check would silently ignore.
        auto not_with_grpc = [&](const Field& v) {
            if (grpc_at)
                diag_.error(v.at, v.path + ": means nothing with type: grpc (its check is the call "
                                           "grpc.health.v1.Health/Check, healthy when SERVING)");
        };
        if (auto v = map.take("path")) {
            not_with_grpc(*v);
            if (auto p = yaml::read_string(*v, diag_)) {
                bool bad = p->empty() || p->front() != '/';
                for (char c : *p) bad = bad || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
                if (bad) diag_.error(v->at, v->path + ": must start with '/' and contain no spaces or controls");
                else hc.path = *p;
            }
        }
        if (auto v = map.take("interval")) {
            if (auto d = yaml::read_timeout(*v, diag_)) hc.interval = *d;
        }
        Location timeout_at = f.at;
        if (auto v = map.take("timeout")) {
            if (auto d = yaml::read_timeout(*v, diag_)) hc.timeout = *d;
            timeout_at = v->at;
        }
        if (auto v = map.take("healthy_threshold")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 1, 100)) hc.healthy_threshold = static_cast<int>(*n);
        }
        if (auto v = map.take("unhealthy_threshold")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 1, 100)) hc.unhealthy_threshold = static_cast<int>(*n);
        }
        if (auto v = map.take("expect_status")) {
            not_with_grpc(*v);
            auto items = yaml::read_sequence(*v, diag_);
            if (items && items->size() != 2) {
                diag_.error(v->at, v->path + ": expected [min, max], an inclusive range of status codes");
            } else if (items) {
                auto lo = yaml::read_unsigned((*items)[0], diag_, 100, 599);
                auto hi = yaml::read_unsigned((*items)[1], diag_, 100, 599);
                if (lo && hi && *lo > *hi) diag_.error(v->at, v->path + ": the range is empty (min > max)");
                if (lo && hi) {
                    hc.expect_min = static_cast<int>(*lo);
                    hc.expect_max = static_cast<int>(*hi);
                }
            }
        }
        if (hc.timeout > hc.interval)
            diag_.error(timeout_at, f.path + ".timeout: must not be longer than the interval (" +
                                        format_duration(hc.interval) + ")");
        map.finish();
        pool.health_check = hc;
    }

    void read_outlier(const Field& f, PoolConfig& pool) {
        MapReader map(f, diag_, MapReader::IfNull::empty);
        if (!map.ok()) return;
        OutlierConfig oc;
        if (auto v = map.take("consecutive_failures")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 1, 1000)) oc.consecutive_failures = static_cast<int>(*n);
        }
        std::optional<Location> ejection_at;
        if (auto v = map.take("ejection_time")) {
            if (auto d = yaml::read_timeout(*v, diag_)) oc.ejection_time = *d;
            ejection_at = v->at;
        }
        if (auto v = map.take("max_ejection_time")) {
            if (auto d = yaml::read_timeout(*v, diag_)) oc.max_ejection_time = *d;
            if (!ejection_at) ejection_at = v->at;
        }
        // Doubling stops at max_ejection_time; a first ejection longer than
        // that would be cut short without a word, so it is refused instead.
        if (oc.ejection_time > oc.max_ejection_time)
            diag_.error(ejection_at.value_or(f.at),
                        f.path + ".ejection_time: " + format_duration(oc.ejection_time) +
                            " is longer than max_ejection_time (" + format_duration(oc.max_ejection_time) +
                            "); raise outlier.max_ejection_time to allow it");
        map.finish();
        pool.outlier = oc;
    }

    void read_upstream(const Field& f, UpstreamConfig& upstream) {
        MapReader map(f, diag_, MapReader::IfNull::empty);
        if (!map.ok()) return;
        if (auto v = map.take("connect_timeout")) {
            if (auto d = yaml::read_data_path_timeout(*v, diag_)) upstream.connect_timeout = *d;
        }
        if (auto v = map.take("response_timeout")) {
            if (auto d = yaml::read_data_path_timeout(*v, diag_)) upstream.response_timeout = *d;
        }
        if (auto v = map.take("tls")) {
            upstream.tls = read_upstream_tls(*v, diag_, [this](const Field& p) { return read_path(p); }, unix_now());
        }
        if (auto v = map.take("max_idle_per_endpoint")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 0, 100'000)) upstream.max_idle_per_endpoint = *n;
        }
        if (auto v = map.take("idle_timeout")) {
            if (auto d = yaml::read_timeout(*v, diag_)) upstream.idle_timeout = *d;
        }
        if (auto v = map.take("max_response_header_bytes")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 1024, 16u << 20)) upstream.max_response_header_bytes = *n;
        }
        if (auto v = map.take("max_response_headers")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 8, 100'000)) upstream.max_response_headers = *n;
        }
        map.finish();
    }

    void read_routes(const Field& f, Config& config) {
        auto items = non_empty_sequence(f, "route");
        if (!items) return;
        std::map<std::string, Location> names;
        for (const auto& item : *items) {
            MapReader map(item, diag_);
            if (!map.ok()) continue;
            RouteConfig route;
            if (auto name = read_name(map, names, "route")) route.name = *name;
            if (auto m = map.take("match")) read_match(*m, route.match);
            if (auto s = map.require("split")) read_split(*s, route);
            if (auto r = map.take("rules")) read_rules(*r, route);
            if (auto s = map.take("sticky")) read_sticky(*s, route);
            if (auto r = map.take("rollout")) read_rollout(*r, route);
            if (auto u = map.take("upgrade")) read_upgrade(*u, route.tunnel);
            if (auto v = map.take("tunnel_idle_timeout")) {
                if (auto d = yaml::read_data_path_timeout(*v, diag_)) route.tunnel.idle_timeout = *d;
            }
            if (auto v = map.take("max_tunnel_age")) {
                if (auto d = yaml::read_data_path_timeout(*v, diag_)) route.tunnel.max_age = *d;
            }
            if (auto p = map.take("on_pool_unhealthy")) {
                if (auto v = yaml::read_string(*p, diag_)) {
                    if (*v == "shift") route.on_pool_unhealthy = OnPoolUnhealthy::shift;
                    else if (*v == "fail") route.on_pool_unhealthy = OnPoolUnhealthy::fail;
                    else diag_.error(p->at, p->path + ": must be 'shift' or 'fail', got " + quoted(*v));
                }
            }
            map.finish();
            config.routes.push_back(std::move(route));
        }
    }

    // `upgrade: [websocket, ...]`: protocol names a request may switch to; [] for none.
    void read_upgrade(const Field& f, routing::TunnelSettings& tunnel) {
        auto items = yaml::read_sequence(f, diag_);
        if (!items) return;
        tunnel.upgrade.clear();
        for (const auto& item : *items) {
            auto name = yaml::read_string(item, diag_);
            if (!name) continue;
            // A name, not a name/version: the route allows a protocol in any version.
            if (name->empty() || name->find('/') != std::string::npos || !http::valid_upgrade_protocol(*name)) {
                diag_.error(item.at, item.path + ": must be a protocol name such as \"websocket\", got " + quoted(*name));
                continue;
            }
            std::string lower = to_lower(*name);
            if (std::find(tunnel.upgrade.begin(), tunnel.upgrade.end(), lower) != tunnel.upgrade.end()) {
                diag_.error(item.at, item.path + ": " + quoted(*name) + " is listed twice");
                continue;
            }
            tunnel.upgrade.push_back(std::move(lower));
        }
    }

    void read_match(const Field& f, RouteMatchConfig& match) {
        MapReader map(f, diag_, MapReader::IfNull::empty);
        if (!map.ok()) return;
        if (auto v = map.take("host")) {
            if (auto host = yaml::read_string(*v, diag_)) {
                // Host names compare case-insensitively; storing them lowered
                // lets the matcher compare bytes.
                const std::string problem = check_route_host(*host);
                if (problem.empty()) {
                    match.host = to_lower(*host);
                } else {
                    diag_.error(v->at, v->path + ": " + problem);
                }
            }
        }
        if (auto v = map.take("path_prefix")) {
            if (auto prefix = yaml::read_string(*v, diag_)) {
                if (prefix->empty() || prefix->front() != '/') {
                    diag_.error(v->at, v->path + ": must start with '/', got " + quoted(*prefix));
                } else {
                    match.path_prefix = *prefix;
                }
            }
        }
        if (auto v = map.take("headers")) {
            if (auto items = yaml::read_sequence(*v, diag_)) {
                for (const auto& item : *items) {
                    MapReader hm(item, diag_);
                    if (!hm.ok()) continue;
                    AttributeMatchConfig a;
                    a.source = routing::Source::header;
                    if (auto n = hm.require("name")) {
                        if (auto name = read_attribute_name(*n, routing::Source::header)) a.name = *name;
                    }
                    read_test(hm, item, a.match);
                    hm.finish();
                    match.headers.push_back(std::move(a));
                }
            }
        }
        map.finish();
    }

    // header/cookie/query names: header names are tokens; the others must
    // at least be non-empty and free of separators that could never match.
    std::optional<std::string> read_attribute_name(const Field& f, routing::Source source) {
        auto name = yaml::read_string(f, diag_);
        if (!name) return std::nullopt;
        if (name->empty()) {
            diag_.error(f.at, f.path + ": must not be empty");
            return std::nullopt;
        }
        for (char c : *name) {
            const bool ok = source == routing::Source::header
                                ? (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c))
                                : (c > 0x20 && c < 0x7f && c != ';' && c != '=' && c != '&' && c != ',');
            if (!ok) {
                diag_.error(f.at, f.path + ": " + quoted(*name) + " is not a valid " +
                                      routing::source_name(source) + " name");
                return std::nullopt;
            }
        }
        return name;
    }

    // Exactly one test among exact, prefix, regex, present and in.
    void read_test(MapReader& map, const Field& owner, routing::MatchSpec& spec) {
        int found = 0;
        if (auto v = map.take("exact")) {
            ++found;
            spec.kind = routing::MatchKind::exact;
            if (auto s = yaml::read_string(*v, diag_)) spec.value = *s;
        }
        if (auto v = map.take("prefix")) {
            ++found;
            spec.kind = routing::MatchKind::prefix;
            if (auto s = yaml::read_string(*v, diag_)) spec.value = *s;
        }
        if (auto v = map.take("regex")) {
            ++found;
            spec.kind = routing::MatchKind::regex;
            if (auto s = yaml::read_string(*v, diag_)) {
                std::string why = routing::regex_error(*s);
                if (!why.empty()) diag_.error(v->at, v->path + ": invalid regular expression: " + why);
                spec.value = *s;
            }
        }
        if (auto v = map.take("present")) {
            ++found;
            spec.kind = routing::MatchKind::present;
            if (auto b = yaml::read_bool(*v, diag_)) spec.present = *b;
        }
        if (auto v = map.take("in")) {
            ++found;
            spec.kind = routing::MatchKind::in;
            if (auto items = yaml::read_sequence(*v, diag_)) {
                if (items->empty()) diag_.error(v->at, v->path + ": needs at least one value");
                for (const auto& item : *items) {
                    if (auto s = yaml::read_string(item, diag_)) spec.values.push_back(*s);
                }
            }
        }
        if (found != 1) {
            diag_.error(owner.at, owner.path + ": needs exactly one of exact, prefix, regex, present, in" +
                                      (found > 1 ? std::string(" (found ") + std::to_string(found) + ")" : ""));
        }
    }

    // Exactly one of header, cookie, query; returns false when none or several.
    bool read_source(MapReader& map, const Field& owner, routing::Source& source, std::string& name) {
        int found = 0;
        for (auto s : {routing::Source::header, routing::Source::cookie, routing::Source::query}) {
            if (auto v = map.take(routing::source_name(s))) {
                ++found;
                source = s;
                if (auto n = read_attribute_name(*v, s)) name = *n;
            }
        }
        if (found != 1) {
            diag_.error(owner.at, owner.path + ": needs exactly one of header, cookie, query");
            return false;
        }
        return true;
    }

    void read_rules(const Field& f, RouteConfig& route) {
        auto items = yaml::read_sequence(f, diag_);
        if (!items) return;
        for (const auto& item : *items) {
            MapReader map(item, diag_);
            if (!map.ok()) continue;
            RuleConfig rule;
            read_source(map, item, rule.when.source, rule.when.name);
            read_test(map, item, rule.when.match);
            if (auto p = map.require("pool")) {
                if (auto pool = yaml::read_string(*p, diag_)) {
                    if (pools_known_ && !pool_names_.contains(*pool))
                        diag_.error(p->at, p->path + ": unknown pool " + quoted(*pool));
                    rule.pool = *pool;
                }
            }
            map.finish();
            route.rules.push_back(std::move(rule));
        }
    }

    void read_rollout(const Field& f, RouteConfig& route) {
        MapReader map(f, diag_);
        if (!map.ok()) return;
        RolloutConfig r;
        auto read_pool = [&](const char* key, std::string& out) {
            if (auto v = map.require(key)) {
                if (auto name = yaml::read_string(*v, diag_)) {
                    if (pools_known_ && !pool_names_.contains(*name))
                        diag_.error(v->at, v->path + ": unknown pool " + quoted(*name));
                    bool in_split = false;
                    for (const auto& [p, _] : route.split) in_split = in_split || p == *name;
                    if (!route.split.empty() && !in_split)
                        diag_.error(v->at, v->path + ": pool " + quoted(*name) + " must be in the route's split");
                    out = *name;
                }
            }
        };
        read_pool("canary", r.canary);
        read_pool("baseline", r.baseline);
        if (!r.canary.empty() && r.canary == r.baseline)
            diag_.error(f.at, f.path + ": canary and baseline must be different pools");
        for (const auto& [p, _] : route.split) {
            if (!r.canary.empty() && !r.baseline.empty() && p != r.canary && p != r.baseline)
                diag_.error(f.at, f.path + ": the route's split may only name the canary and the baseline (found " +
                                      quoted(p) + "); the rollout sets their weights");
        }
        if (auto v = map.take("steps")) {
            if (auto items = yaml::read_sequence(*v, diag_)) {
                r.steps.clear();
                double last = 0;
                for (const auto& item : *items) {
                    if (auto n = yaml::read_number(item, diag_, 0.0001, 100)) {
                        if (*n <= last) diag_.error(item.at, item.path + ": steps must increase");
                        last = *n;
                        r.steps.push_back(*n);
                    }
                }
                if (items->empty()) diag_.error(v->at, v->path + ": needs at least one step");
            }
        }
        auto min_field = map.take("step_min_duration");
        if (min_field) {
            if (auto d = yaml::read_timeout(*min_field, diag_)) r.step_min_duration = *d;
        }
        auto max_field = map.take("step_max_duration");
        if (max_field) {
            if (auto d = yaml::read_timeout(*max_field, diag_)) r.step_max_duration = *d;
        }
        // Checked whether written or defaulted: a step that must last longer
        // than it may would end every rollout "inconclusive".
        if (r.step_max_duration < r.step_min_duration) {
            const Field& at = max_field ? *max_field : min_field ? *min_field : f;
            diag_.error(at.at, at.path + ": step_max_duration (" + format_duration(r.step_max_duration) +
                                   (max_field ? "" : ", the default") + ") is shorter than step_min_duration (" +
                                   format_duration(r.step_min_duration) + (min_field ? "" : ", the default") +
                                   "); set step_max_duration to at least step_min_duration");
        }
        if (auto v = map.take("min_samples")) {
            if (auto n = yaml::read_unsigned(*v, diag_, 1, 100000000)) r.min_samples = *n;
        }
        if (auto v = map.take("max_latency_ratio")) {
            if (auto n = yaml::read_number(*v, diag_, 1.0, 100)) r.max_latency_ratio = *n;
        }
        if (auto v = map.take("max_error_rate_increase")) {
            if (auto n = yaml::read_number(*v, diag_, 0, 1)) r.max_error_rate_increase = *n;
        }
        if (auto v = map.take("min_latency_difference")) {
            if (auto d = yaml::read_latency(*v, diag_)) r.min_latency_difference = *d;
        }
        if (auto v = map.take("on_inconclusive")) {
            if (auto s = yaml::read_string(*v, diag_)) {
                if (*s == "hold") r.on_inconclusive = rollout::OnInconclusive::hold;
                else if (*s == "rollback") r.on_inconclusive = rollout::OnInconclusive::rollback;
                else diag_.error(v->at, v->path + ": must be 'hold' or 'rollback', got " + quoted(*s));
            }
        }
        map.finish();
        route.rollout = std::move(r);
    }

    void read_sticky(const Field& f, RouteConfig& route) {
        MapReader map(f, diag_);
        if (!map.ok()) return;
        StickyConfig sticky;
        bool ok = read_source(map, f, sticky.source, sticky.name);
        if (auto a = map.take("assign")) {
            if (auto b = yaml::read_bool(*a, diag_)) {
                sticky.assign = *b;
                if (*b && ok && sticky.source != routing::Source::cookie)
                    diag_.error(a->at, a->path + ": only a cookie can be assigned (use sticky: {cookie: NAME, assign: true})");
            }
        }
        if (auto m = map.take("max_age")) {
            if (auto d = yaml::read_timeout(*m, diag_)) sticky.max_age = *d;
            if (!sticky.assign) diag_.error(m->at, m->path + ": max_age applies only with assign: true");
        }
        map.finish();
        route.sticky = std::move(sticky);
    }

    void read_split(const Field& f, RouteConfig& route) {
        MapReader map(f, diag_);
        if (!map.ok()) return;
        bool any_weight = false;
        bool all_read = true;
        auto entries = map.entries();
        if (entries.empty()) {
            diag_.error(f.at, f.path + ": at least one pool is required");
            return;
        }
        for (auto& entry : entries) {
            if (pools_known_ && !pool_names_.contains(entry.key)) {
                diag_.error(entry.key_at, f.path + ": unknown pool " + quoted(entry.key));
            }
            auto weight = yaml::read_number(entry.value, diag_, 0, kMaxWeight);
            if (!weight) {
                all_read = false;
                continue;
            }
            if (*weight > 0) any_weight = true;
            route.split.emplace_back(entry.key, *weight);
        }
        if (all_read && !any_weight) {
            diag_.error(f.at, f.path + ": at least one pool needs a weight above 0");
        }
    }

    Diagnostics& diag_;
    std::map<std::string, Location> pool_names_;
    bool pools_known_ = false;  // without a readable pools list, every split would look wrong
    std::map<std::string, Location> bound_;
    Location admin_at_;
    std::string base_dir_;  // the config file's folder, for relative paths
};

}  // namespace

std::string ConfigError::text() const {
    if (line <= 0) return file + ": " + message;
    return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

LoadResult load_config_text(const std::string& text, const std::string& file_name) {
    LoadResult result;
    Diagnostics diag(file_name);
    std::vector<YAML::Node> docs;
    try {
        docs = yaml::load_all(text);
    } catch (const YAML::ParserException& e) {
        Location at;
        if (!e.mark.is_null()) at = {e.mark.line + 1, e.mark.column + 1};
        diag.error(at, "YAML syntax error: " + e.msg);
        result.errors = diag.take();
        return result;
    } catch (const YAML::Exception& e) {
        diag.error({}, std::string("YAML error: ") + e.what());
        result.errors = diag.take();
        return result;
    }
    if (docs.empty() || docs.front().IsNull()) {
        diag.error({1, 1}, "the configuration is empty; expected a mapping with listeners, pools and routes");
        result.errors = diag.take();
        return result;
    }
    if (docs.size() > 1) {
        diag.error(yaml::location_of(docs[1]), "a configuration is one YAML document; found " +
                                                   std::to_string(docs.size()));
    }
    Config config;
    config.source_path = file_name;
    std::string base_dir;
    if (auto slash = file_name.rfind('/'); slash != std::string::npos) base_dir = file_name.substr(0, slash);
    else if (!file_name.empty() && file_name.front() != '<') base_dir = ".";
    Loader(diag, base_dir).load(yaml::root_field(docs.front()), config);
    if (diag.empty()) {
        result.config = std::move(config);
    } else {
        // Found in schema order; listed in file order, as a compiler would.
        result.errors = diag.take();
        std::stable_sort(result.errors.begin(), result.errors.end(), [](const auto& a, const auto& b) {
            return std::tie(a.line, a.col) < std::tie(b.line, b.col);
        });
    }
    return result;
}

LoadResult load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LoadResult result;
        result.errors.push_back(ConfigError{path, 0, 0, std::string("cannot read file: ") + std::strerror(errno)});
        return result;
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) {
        LoadResult result;
        result.errors.push_back(ConfigError{path, 0, 0, "cannot read file"});
        return result;
    }
    return load_config_text(buffer.str(), path);
}

}  // namespace weir::config
