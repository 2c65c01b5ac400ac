#include "http/claims.hpp"

namespace weir::http {
namespace {

constexpr std::string_view forwarded_prefix = "x-forwarded-";

// Case-insensitive, and '_' in `name` stands for '-' in `dashed`.
bool same_folded(std::string_view name, std::string_view dashed) {
    if (name.size() != dashed.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        if (c == '_') c = '-';
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (c != dashed[i]) return false;
    }
    return true;
}

ClaimField classify_folded(std::string_view n) {
    switch (n.size()) {
        case 3:
            return same_folded(n, "via") ? ClaimField::via : ClaimField::none;
        case 9:
            return same_folded(n, "forwarded") || same_folded(n, "x-real-ip") ? ClaimField::other : ClaimField::none;
        case 21:
            if (same_folded(n, "x-client-cert-subject")) return ClaimField::client_cert;
            break;
    }
    if (n.size() <= forwarded_prefix.size() || !same_folded(n.substr(0, forwarded_prefix.size()), forwarded_prefix))
        return ClaimField::none;
    const std::string_view rest = n.substr(forwarded_prefix.size());
    if (same_folded(rest, "for")) return ClaimField::x_forwarded_for;
    if (same_folded(rest, "proto")) return ClaimField::x_forwarded_proto;
    if (same_folded(rest, "host")) return ClaimField::x_forwarded_host;
    if (same_folded(rest, "port")) return ClaimField::x_forwarded_port;
    return ClaimField::other;
}

}  // namespace

ClaimField claim_field(std::string_view name) {
    // Most fields start with neither letter: one comparison and done.
    const char c = static_cast<char>(name.empty() ? 0 : name[0] | 0x20);
    if (c != 'x' && c != 'f' && c != 'v') return ClaimField::none;
    const ClaimField f = classify_folded(name);
    // A look-alike is a claim, but never the field Weir itself writes.
    if (f != ClaimField::none && has_underscore(name)) return ClaimField::other;
    return f;
}

bool ClaimPolicy::passes(std::string_view name, ClaimField f) const {
    if (!keep_underscores && has_underscore(name)) return false;
    if (trusted_peer) return true;
    return f == ClaimField::none || f == ClaimField::x_forwarded_for || f == ClaimField::via;
}

int via_count(const std::vector<Header>& headers, std::string_view pseudonym) {
    int n = 0;
    for (const Header& h : headers) {
        if (h.name.size() != 3 || !iequals(h.name, "via")) continue;
        // Members: received-protocol SP received-by [comment], comma-separated.
        std::string_view list = h.value;
        while (!list.empty()) {
            const std::size_t comma = list.find(',');
            std::string_view member = trim_ows(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
            const std::size_t sp = member.find(' ');
            if (sp == std::string_view::npos) continue;
            member = trim_ows(member.substr(sp + 1));
            if (iequals(member.substr(0, member.find_first_of(" \t")), pseudonym)) ++n;
        }
    }
    return n;
}

}  // namespace weir::http
