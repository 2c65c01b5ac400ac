#include "control/state_store.hpp"

#include "common/log.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <set>

namespace weir::control {
namespace json = boost::json;

namespace {

constexpr std::int64_t kFormat = 1;

// ---------------------------------------------------------------- writing

void append_string(std::string& out, std::string_view s) {
    out += json::serialize(json::string_view(s.data(), s.size()));
}

void append_number(std::string& out, double d) {
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    // Shortest representation that reads back to the same double.
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, r.ptr);
}

void append_split(std::string& out, const Split& split) {
    out += '{';
    bool first = true;
    for (const auto& [pool, weight] : split) {
        if (!first) out += ", ";
        first = false;
        append_string(out, pool);
        out += ": ";
        append_number(out, weight);
    }
    out += '}';
}

// ---------------------------------------------------------------- parsing

// Boost.JSON 1.81's own number conversion is not always correctly rounded for
// 17-digit mantissas; weights must round-trip exactly (a reload compares the
// file's split with the stored file_split), so numbers are re-read from their
// text with std::from_chars. Everything else is what boost::json::parser does.
struct ExactHandler {
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    json::value_stack st;
    std::string number;  // text of a number split across on_number_part calls

    explicit ExactHandler(json::storage_ptr sp) : st(std::move(sp)) {}

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t n, json::error_code&) {
        st.push_object(n);
        return true;
    }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) {
        st.push_array(n);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        st.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        st.push_key(s);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        st.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        st.push_string(s);
        return true;
    }
    bool on_number_part(json::string_view s, json::error_code&) {
        number.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        number.clear();
        st.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        number.clear();
        st.push_uint64(u);
        return true;
    }
    bool on_double(double d, json::string_view s, json::error_code&) {
        number.append(s.data(), s.size());
        double exact = 0;
        auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), exact);
        // Out of range (1e999, 1e-999): keep Boost's value (inf or 0), which
        // validation then judges.
        if (ec == std::errc() && ptr == number.data() + number.size()) d = exact;
        number.clear();
        st.push_double(d);
        return true;
    }
    bool on_bool(bool b, json::error_code&) {
        st.push_bool(b);
        return true;
    }
    bool on_null(json::error_code&) {
        st.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }
};

std::string line_col(std::string_view text, std::size_t offset) {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return fmt::format("line {} column {}", line, col);
}

std::optional<json::value> parse_exact(std::string_view text, std::string& error) {
    json::basic_parser<ExactHandler> p{json::parse_options{}, json::storage_ptr{}};
    p.handler().st.reset();
    json::error_code ec;
    std::size_t n = p.write_some(false, text.data(), text.size(), ec);
    if (!ec && n < text.size()) ec = json::error::extra_data;
    if (ec) {
        error = fmt::format("invalid JSON at {}: {}", line_col(text, n), ec.message());
        return std::nullopt;
    }
    return p.handler().st.release();
}

std::string weight_problem(double w) {
    if (!std::isfinite(w)) return "weight is not finite";
    if (w < 0) return fmt::format("negative weight {}", w);
    return {};
}

bool parse_split(const json::value& v, const std::string& where, Split& out, std::string& error) {
    const json::object* obj = v.if_object();
    if (!obj) {
        error = where + ": not an object";
        return false;
    }
    std::set<std::string, std::less<>> seen;
    for (const auto& kv : *obj) {
        std::string pool(kv.key());
        std::string here = where + "." + pool;
        if (pool.empty()) {
            error = where + ": empty pool name";
            return false;
        }
        if (!seen.insert(pool).second) {
            error = here + ": duplicate pool";
            return false;
        }
        double w = 0;
        const json::value& wv = kv.value();
        if (wv.is_int64()) {
            w = static_cast<double>(wv.get_int64());
        } else if (wv.is_uint64()) {
            w = static_cast<double>(wv.get_uint64());
        } else if (wv.is_double()) {
            w = wv.get_double();
        } else {
            error = here + ": not a number";
            return false;
        }
        if (auto why = weight_problem(w); !why.empty()) {
            error = here + ": " + why;
            return false;
        }
        out.emplace_back(std::move(pool), w);
    }
    return true;
}

std::string validate_split(const Split& split, const std::string& where) {
    std::set<std::string_view> seen;
    for (const auto& [pool, w] : split) {
        if (pool.empty()) return where + ": empty pool name";
        if (!seen.insert(pool).second) return where + "." + pool + ": duplicate pool";
        if (auto why = weight_problem(w); !why.empty()) return where + "." + pool + ": " + why;
    }
    return {};
}

// ---------------------------------------------------------------- files

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string directory_of(const std::string& path) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    return dir.empty() ? std::string(".") : dir;
}

std::string utc_stamp() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

// fsync of the directory holding `path`, so a rename in it is durable.
int sync_directory(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = 0;
    if (::fsync(fd) != 0) err = errno;
    ::close(fd);
    return err;
}

// Renames `from` to `to` unless `to` exists. Returns 0 or an errno (EEXIST when taken).
int rename_noreplace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    int err = errno;
    if (err != EINVAL && err != ENOSYS) return err;
    // The filesystem does not support RENAME_NOREPLACE: check, then rename.
    struct stat st;
    if (::lstat(to.c_str(), &st) == 0) return EEXIST;
    if (::rename(from.c_str(), to.c_str()) == 0) return 0;
    return errno;
}

// Reads a whole regular file. Returns 0 or an errno.
int read_file(const std::string& path, std::string& out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        return err;
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    }
    out.clear();
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            return err;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return 0;
}

int write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

// Removes "<base>.tmp-<pid>" files in `dir` whose process no longer exists.
void remove_stale_temps(const std::string& path) {
    std::string dir = directory_of(path);
    std::string prefix = std::filesystem::path(path).filename().string() + ".tmp-";
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
        std::string_view name(e->d_name);
        if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) continue;
        std::string_view digits = name.substr(prefix.size());
        long pid = 0;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
        if (ec != std::errc() || ptr != digits.data() + digits.size() || pid <= 0) continue;
        if (pid == ::getpid()) continue;
        if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // may be alive
        std::string full = dir + "/" + std::string(name);
        if (::unlink(full.c_str()) == 0)
            weir::log::info("state", "removed {} left by an interrupted save (process {} is gone)", full, pid);
    }
    ::closedir(d);
}

}  // namespace

// ---------------------------------------------------------------- public

std::string to_json(const RuntimeState& state) {
    std::string out;
    out += "{\n  \"format\": 1,\n  \"config_version\": " + std::to_string(state.config_version) +
           ",\n  \"routes\": {";
    bool first = true;
    for (const auto& [name, ov] : state.routes) {
        out += first ? "\n    " : ",\n    ";
        first = false;
        append_string(out, name);
        out += ": {\n      \"split\": ";
        append_split(out, ov.split);
        out += ",\n      \"file_split\": ";
        append_split(out, ov.file_split);
        out += "\n    }";
    }
    out += first ? "}" : "\n  }";
    out += ",\n  \"pools\": {";
    first = true;
    for (const auto& [name, ov] : state.pools) {
        out += first ? "\n    " : ",\n    ";
        first = false;
        append_string(out, name);
        out += ": {\n      \"endpoints\": ";
        append_split(out, ov.endpoints);
        out += ",\n      \"file_endpoints\": ";
        append_split(out, ov.file_endpoints);
        out += "\n    }";
    }
    out += first ? "}" : "\n  }";
    out += ",\n  \"rollouts\": {";
    first = true;
    for (const auto& [route, text] : state.rollouts) {
        out += first ? "\n    " : ",\n    ";
        first = false;
        append_string(out, route);
        out += ": ";
        out += text;
    }
    out += first ? "}" : "\n  }";
    out += ",\n  \"drained\": {";
    first = true;
    for (const auto& [pool, addresses] : state.drained) {
        out += first ? "\n    " : ",\n    ";
        first = false;
        append_string(out, pool);
        out += ": [";
        for (std::size_t i = 0; i < addresses.size(); ++i) {
            if (i) out += ", ";
            append_string(out, addresses[i]);
        }
        out += "]";
    }
    out += first ? "}\n}\n" : "\n  }\n}\n";
    return out;
}

std::optional<RuntimeState> state_from_json(std::string_view text, std::string& error) {
    auto parsed = parse_exact(text, error);
    if (!parsed) return std::nullopt;
    const json::object* top = parsed->if_object();
    if (!top) {
        error = "top level: not an object";
        return std::nullopt;
    }
    const json::value* format = top->if_contains("format");
    if (!format) {
        error = "format: missing";
        return std::nullopt;
    }
    if (!format->is_int64() && !format->is_uint64()) {
        error = "format: not an integer";
        return std::nullopt;
    }
    if (!format->is_int64() || format->get_int64() != kFormat) {
        error = fmt::format("format: unsupported version {} (this Weir reads {})", json::serialize(*format), kFormat);
        return std::nullopt;
    }
    RuntimeState state;
    if (const json::value* v = top->if_contains("config_version")) {
        if (v->is_uint64()) state.config_version = v->get_uint64();
        else if (v->is_int64() && v->get_int64() >= 0) state.config_version = static_cast<std::uint64_t>(v->get_int64());
        else {
            error = "config_version: not a non-negative integer";
            return std::nullopt;
        }
    }
    if (const json::value* pools = top->if_contains("pools")) {
        const json::object* pobj = pools->if_object();
        if (!pobj) {
            error = "pools: not an object";
            return std::nullopt;
        }
        for (const auto& kv : *pobj) {
            std::string name(kv.key());
            std::string where = "pools." + name;
            const json::object* entry = kv.value().if_object();
            if (name.empty() || !entry) {
                error = where + ": not a named object";
                return std::nullopt;
            }
            PoolOverride ov;
            for (const char* key : {"endpoints", "file_endpoints"}) {
                const json::value* v = entry->if_contains(key);
                std::string here = where + "." + key;
                if (!v) {
                    error = here + ": missing";
                    return std::nullopt;
                }
                if (!parse_split(*v, here, std::string_view(key) == "endpoints" ? ov.endpoints : ov.file_endpoints,
                                 error))
                    return std::nullopt;
            }
            state.pools.emplace(std::move(name), std::move(ov));
        }
    }
    if (const json::value* rollouts = top->if_contains("rollouts")) {
        const json::object* robj = rollouts->if_object();
        if (!robj) {
            error = "rollouts: not an object";
            return std::nullopt;
        }
        for (const auto& kv : *robj) {
            if (kv.key().empty() || !kv.value().is_object()) {
                error = "rollouts." + std::string(kv.key()) + ": not a named object";
                return std::nullopt;
            }
            state.rollouts.emplace(std::string(kv.key()), json::serialize(kv.value()));
        }
    }
    if (const json::value* drained = top->if_contains("drained")) {
        const json::object* dobj = drained->if_object();
        if (!dobj) {
            error = "drained: not an object";
            return std::nullopt;
        }
        for (const auto& kv : *dobj) {
            std::string where = "drained." + std::string(kv.key());
            const json::array* list = kv.value().if_array();
            if (kv.key().empty() || !list) {
                error = where + ": not a list of addresses";
                return std::nullopt;
            }
            std::vector<std::string> addresses;
            for (const auto& a : *list) {
                if (!a.is_string() || a.get_string().empty()) {
                    error = where + ": not a list of addresses";
                    return std::nullopt;
                }
                addresses.emplace_back(a.get_string());
            }
            state.drained.emplace(std::string(kv.key()), std::move(addresses));
        }
    }
    const json::value* routes = top->if_contains("routes");
    if (!routes) return state;
    const json::object* robj = routes->if_object();
    if (!robj) {
        error = "routes: not an object";
        return std::nullopt;
    }
    for (const auto& kv : *robj) {
        std::string name(kv.key());
        if (name.empty()) {
            error = "routes: empty route name";
            return std::nullopt;
        }
        std::string where = "routes." + name;
        if (state.routes.count(name)) {
            error = where + ": duplicate route";
            return std::nullopt;
        }
        const json::object* entry = kv.value().if_object();
        if (!entry) {
            error = where + ": not an object";
            return std::nullopt;
        }
        RouteOverride ov;
        for (const char* key : {"split", "file_split"}) {
            const json::value* v = entry->if_contains(key);
            std::string here = where + "." + key;
            if (!v) {
                error = here + ": missing";
                return std::nullopt;
            }
            if (!parse_split(*v, here, std::string_view(key) == "split" ? ov.split : ov.file_split, error))
                return std::nullopt;
        }
        state.routes.emplace(std::move(name), std::move(ov));
    }
    return state;
}

std::string validate(const RuntimeState& state) {
    for (const auto& [name, ov] : state.routes) {
        if (name.empty()) return "routes: empty route name";
        std::string where = "routes." + name;
        if (auto why = validate_split(ov.split, where + ".split"); !why.empty()) return why;
        if (auto why = validate_split(ov.file_split, where + ".file_split"); !why.empty()) return why;
    }
    for (const auto& [name, ov] : state.pools) {
        if (name.empty()) return "pools: empty pool name";
        std::string where = "pools." + name;
        if (auto why = validate_split(ov.endpoints, where + ".endpoints"); !why.empty()) return why;
        if (auto why = validate_split(ov.file_endpoints, where + ".file_endpoints"); !why.empty()) return why;
    }
    for (const auto& [pool, addresses] : state.drained) {
        if (pool.empty()) return "drained: empty pool name";
        for (const auto& a : addresses) {
            if (a.empty()) return "drained." + pool + ": empty address";
        }
    }
    return {};
}

StateStore::StateStore(std::string path) : path_(std::move(path)) {}

const std::string& StateStore::path() const { return path_; }

StateStore::Loaded StateStore::load() {
    std::lock_guard lock(mutex_);
    Loaded out;
    remove_stale_temps(path_);

    std::string text;
    if (int err = read_file(path_, text); err != 0) {
        if (err == ENOENT) return out;  // no runtime edits yet
        out.error = fmt::format("cannot read {}: {}", path_, errno_text(err));
    } else if (auto state = state_from_json(text, out.error)) {
        weir::log::info("state", "loaded {} route override(s) from {}", state->routes.size(), path_);
        out.state = std::move(*state);
        return out;
    } else {
        out.error = fmt::format("{}: {}", path_, out.error);
    }

    // Unusable: keep it for a human, under a name nothing else will overwrite.
    std::string base = path_ + ".corrupt-" + utc_stamp();
    int err = EEXIST;
    std::string target;
    for (int i = 1; i <= 1000 && err == EEXIST; ++i) {
        target = i == 1 ? base : fmt::format("{}-{}", base, i);
        err = rename_noreplace(path_, target);
    }
    if (err == 0) {
        out.moved_to = target;
        sync_directory(directory_of(path_));
        weir::log::error("state",
                         "STATE FILE UNUSABLE: {}. Runtime overrides are NOT applied; starting from the config "
                         "file alone. The bad file was moved to {}",
                         out.error, target);
    } else {
        out.error += fmt::format(" (and moving it aside to {} failed: {})", target, errno_text(err));
        weir::log::error("state",
                         "STATE FILE UNUSABLE: {}. Runtime overrides are NOT applied; starting from the config "
                         "file alone.",
                         out.error);
    }
    return out;
}

std::error_code StateStore::save(const RuntimeState& state) {
    if (auto why = validate(state); !why.empty()) {
        weir::log::error("state", "not saving an invalid state to {}: {}", path_, why);
        return std::make_error_code(std::errc::invalid_argument);
    }
    std::string text = to_json(state);

    std::lock_guard lock(mutex_);
    std::string tmp = fmt::format("{}.tmp-{}", path_, ::getpid());
    auto fail = [&](const char* step, int err, bool remove_tmp) {
        if (remove_tmp) ::unlink(tmp.c_str());
        weir::log::error("state", "saving {} failed: {} {}: {}; the previous state file is unchanged", path_, step,
                         tmp, errno_text(err));
        return std::error_code(err, std::generic_category());
    };

    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return fail("open", errno, false);
    if (int err = write_all(fd, text); err != 0) {
        ::close(fd);
        return fail("write", err, true);
    }
    if (::fsync(fd) != 0) {
        int err = errno;
        ::close(fd);
        return fail("fsync", err, true);
    }
    if (::close(fd) != 0) return fail("close", errno, true);
    if (::rename(tmp.c_str(), path_.c_str()) != 0) return fail("rename", errno, true);
    if (int err = sync_directory(directory_of(path_)); err != 0) {
        weir::log::error("state", "saved {} but the directory fsync failed: {}; the write may not survive a power loss",
                         path_, errno_text(err));
        return std::error_code(err, std::generic_category());
    }
    return {};
}

}  // namespace weir::control
