// Headers in which a client speaks about itself or about the path its request
// took (Forwarded, X-Forwarded-*, X-Real-IP, Via) and the underscore spelling
// of header names. Weir passes such claims on only from trusted proxies; what
// it forwards and what routing rules may look at follow the same rules here.
#pragma once

#include "http/message.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace weir::http {

enum class ClaimField : std::uint8_t {
    none,               // not a claim
    x_forwarded_for,    // the one list: the client's entries plus the real peer
    x_forwarded_proto,  // replaced by Weir's own unless the peer is trusted
    x_forwarded_host,
    x_forwarded_port,
    other,              // Forwarded, X-Real-IP, any other X-Forwarded-*, and the
                        // underscore look-alikes of all of them (X_Forwarded_For)
    via,                // the path taken: Weir appends itself
    client_cert,        // X-Client-Cert-Subject: Weir's own from a verified client
                        // certificate (mTLS) replaces it
};

// By the exact (case-insensitive) name. CGI and WSGI stacks read '_' as '-',
// so X_Forwarded_Proto is a claim too, but never the dashed field itself.
ClaimField claim_field(std::string_view name);

inline bool has_underscore(std::string_view name) { return name.find('_') != std::string_view::npos; }

// What a request from this connection may carry to the upstream and show to
// routing rules. The default is the untrusted peer on a default listener.
struct ClaimPolicy {
    bool trusted_peer = false;      // keep the peer's Forwarded / X-Forwarded-* / X-Real-IP
    bool keep_underscores = false;  // keep names with '_'

    // False for a header Weir drops or replaces for this peer; `field` is claim_field(name).
    bool passes(std::string_view name, ClaimField field) const;
    bool passes(std::string_view name) const { return passes(name, claim_field(name)); }
};

// How many members of the request's Via list name `pseudonym` as received-by.
int via_count(const std::vector<Header>& headers, std::string_view pseudonym);

}  // namespace weir::http
