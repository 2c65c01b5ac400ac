#include "cluster/etcd_error.hpp"

#include <mutex>
#include <vector>

namespace weir::cluster {
namespace {

struct Entry {
    int code;
    std::string text;
};

constexpr std::size_t max_entries = 512;

// value 0 is "no error"; value i >= 1 is entries()[i - 1]. Values above
// max_entries + 1000 encode a bare code (table full).
std::mutex& table_mutex() {
    static std::mutex m;
    return m;
}
std::vector<Entry>& entries() {
    static std::vector<Entry> e;
    return e;
}
constexpr int bare_base = 100000;

const char* code_name(int code) {
    switch (code) {
    case 1: return "cancelled";
    case 2: return "unknown";
    case 3: return "invalid argument";
    case 4: return "deadline exceeded";
    case 5: return "not found";
    case 6: return "already exists";
    case 7: return "permission denied";
    case 8: return "resource exhausted";
    case 9: return "failed precondition";
    case 10: return "aborted";
    case 11: return "out of range";
    case 12: return "unimplemented";
    case 13: return "internal";
    case 14: return "unavailable";
    case 15: return "data loss";
    case 16: return "unauthenticated";
    case 100: return "bad response from etcd";
    default: return "etcd error";
    }
}

class Category : public std::error_category {
public:
    const char* name() const noexcept override { return "etcd"; }
    std::string message(int value) const override {
        if (value >= bare_base) return std::string("etcd: ") + code_name(value - bare_base);
        std::lock_guard lk(table_mutex());
        const auto& e = entries();
        if (value >= 1 && static_cast<std::size_t>(value) <= e.size()) return e[value - 1].text;
        return "etcd error";
    }
};

}  // namespace

const std::error_category& etcd_category() {
    static const Category c;
    return c;
}

std::error_code make_etcd_error(EtcdCode code, std::string_view message) {
    const int c = static_cast<int>(code);
    std::lock_guard lk(table_mutex());
    auto& e = entries();
    for (std::size_t i = 0; i < e.size(); ++i)
        if (e[i].code == c && e[i].text == message) return {static_cast<int>(i + 1), etcd_category()};
    if (e.size() >= max_entries) return {bare_base + c, etcd_category()};
    e.push_back({c, std::string(message.empty() ? code_name(c) : message)});
    return {static_cast<int>(e.size()), etcd_category()};
}

int etcd_code(std::error_code ec) {
    if (!ec || ec.category() != etcd_category()) return 0;
    if (ec.value() >= bare_base) return ec.value() - bare_base;
    std::lock_guard lk(table_mutex());
    const auto& e = entries();
    if (ec.value() >= 1 && static_cast<std::size_t>(ec.value()) <= e.size()) return e[ec.value() - 1].code;
    return 0;
}

bool is_invalid_token(std::error_code ec) {
    if (ec.category() != etcd_category()) return false;
    // etcd 3.4: "etcdserver: invalid auth token" (Unauthenticated); a token
    // of an old auth revision reads "user name is empty" / "auth revision is old".
    const std::string m = ec.message();
    return m.find("invalid auth token") != std::string::npos || m.find("auth revision is old") != std::string::npos ||
           m.find("user name is empty") != std::string::npos;
}

}  // namespace weir::cluster
