#include "http/connection_field.hpp"

#include "http/chars.hpp"
#include "http/list_field.hpp"

#include <bit>
#include <cstdint>
#include <random>

namespace weir::http {
namespace {

// Field names are chosen by the sender, so the table's hash is keyed per
// process: nobody can aim a set of names at one bucket.
std::uint64_t hash_seed() {
    static const std::uint64_t seed = [] {
        std::random_device rd;
        return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ 0xcbf29ce484222325ull;
    }();
    return seed;
}

// FNV-1a over the lower-cased name, from a secret start.
std::uint64_t name_hash(std::string_view name) {
    std::uint64_t h = hash_seed();
    for (char c : name) {
        h ^= static_cast<unsigned char>(to_lower(c));
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

constexpr std::uint32_t empty_slot = UINT32_MAX;

// Open addressing over distinct names; fields sharing a name are chained
// through `next`, so marking a name marks all of them at once.
class NameTable {
public:
    explicit NameTable(std::vector<Header>& headers) : headers_(headers) {
        const std::size_t n = headers.size();
        slots_.assign(std::bit_ceil(std::max<std::size_t>(2 * n, 8)), empty_slot);
        next_.assign(n, empty_slot);
        tail_.assign(n, empty_slot);
        mask_ = slots_.size() - 1;
        for (std::uint32_t i = 0; i < n; ++i) insert(i);
    }

    // Marks every field called `name`; a name already marked costs nothing more.
    void mark(std::string_view name) {
        for (std::size_t s = name_hash(name) & mask_; slots_[s] != empty_slot; s = (s + 1) & mask_) {
            std::uint32_t first = slots_[s];
            if (!iequals(headers_[first].name, name)) continue;
            if (headers_[first].named_in_connection) return;
            for (std::uint32_t i = first; i != empty_slot; i = next_[i]) headers_[i].named_in_connection = true;
            return;
        }
    }

private:
    void insert(std::uint32_t i) {
        std::string_view name = headers_[i].name;
        for (std::size_t s = name_hash(name) & mask_;; s = (s + 1) & mask_) {
            if (slots_[s] == empty_slot) {
                slots_[s] = i;
                tail_[i] = i;
                return;
            }
            std::uint32_t first = slots_[s];
            if (iequals(headers_[first].name, name)) {
                next_[tail_[first]] = i;  // the chain's tail is kept at its first field
                tail_[first] = i;
                return;
            }
        }
    }

    std::vector<Header>& headers_;
    std::vector<std::uint32_t> slots_;
    std::vector<std::uint32_t> next_;
    std::vector<std::uint32_t> tail_;
    std::size_t mask_ = 0;
};

}  // namespace

ConnectionOptions read_connection(std::vector<Header>& headers) {
    ConnectionOptions o;
    std::vector<std::string_view> named;  // tokens naming fields, looked up once the table exists
    for (const Header& h : headers) {
        if (!(h.name.size() == 10 && iequals(h.name, "connection"))) continue;
        for_each_list_item(h.value, [&](std::string_view tok) {
            if (iequals(tok, "close")) {
                o.close = true;
            } else if (iequals(tok, "keep-alive")) {
                o.keep_alive = true;
            } else {
                if (iequals(tok, "upgrade")) o.upgrade = true;
                o.names_fields = true;
                if (!iequals(tok, "content-length") && !iequals(tok, "host")) named.push_back(tok);
            }
        });
    }
    if (named.empty()) return o;
    NameTable table(headers);
    for (std::string_view tok : named) table.mark(tok);
    return o;
}

}  // namespace weir::http
