// Re-serialisation of heads. Weir never relays raw head bytes: it writes a
// fresh head from the parsed fields, without hop-by-hop headers, into one
// contiguous buffer so head and first body bytes leave in one gather write.
#pragma once

#include "http/claims.hpp"
#include "http/message.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace weir::http {

struct ForwardedFor {
    std::string_view client_ip;    // appended to X-Forwarded-For
    std::string_view proto;        // X-Forwarded-Proto
    std::string_view default_host; // Host to send when the client sent none (HTTP/1.0)
    std::uint16_t port = 0;        // X-Forwarded-Port: the listener port the client connected to
    ClaimPolicy claims;            // which of the client's claims go on (http/claims.hpp)
    std::string_view client_cert_subject;  // mTLS: the verified client certificate's subject (RFC 2253)
    std::string_view upgrade;      // protocols offered upstream (http/upgrade.hpp); empty: none
};

// Weir's received-by name in Via (RFC 9110 §7.6.3), also what loop detection counts.
inline constexpr std::string_view via_pseudonym = "weir";

// Appends the upstream request head. The body framing sent upstream is the
// client's (Content-Length kept, chunked re-encoded); Expect is answered by
// Weir itself and not forwarded. Claims the policy refuses are dropped;
// X-Forwarded-Proto/-Host/-Port are Weir's own unless a trusted peer sent
// them; X-Forwarded-For and Via are each sent as one list with Weir's entry last.
void serialize_request(std::string& out, const RequestHead& req, const ForwardedFor& fwd);

// How the response body travels to the client.
enum class ClientFraming {
    as_upstream,  // none or Content-Length: header passed through
    chunked,      // re-encoded as chunked (HTTP/1.1 client, upstream chunked or until-close)
    until_close,  // HTTP/1.0 client and no length known: body ends at close
};

// Appends the response head for the client (an HTTP/1.1 status line in every
// case). A 101 (only ever one checked by http::check_switch) carries its
// Upgrade field and the "upgrade" connection option. `set_cookie`, when not
// empty, is the value of a Set-Cookie field of Weir's own (a sticky id).
void serialize_response(std::string& out, const ResponseHead& resp, ClientFraming framing, bool keep_alive,
                        int client_minor, std::string_view set_cookie = {});

// Appends a complete local reply (short text body) such as 502 or 431.
void local_reply(std::string& out, int status, std::string_view body, bool close);

std::string_view reason_phrase(int status);

}  // namespace weir::http
