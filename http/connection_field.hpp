// The Connection field of a message: its close/keep-alive options, and the
// other fields it names, which belong to this connection only (RFC 9110 §7.6.1).
//
// Read once per message, in time linear in the head: every Connection token
// is looked up in a hash table of the message's field names, so a head cannot
// make the proxy compare every field with every token (a 31 000-token
// Connection value next to a hundred fields costs one pass over each).
#pragma once

#include "http/message.hpp"

#include <vector>

namespace weir::http {

struct ConnectionOptions {
    bool close = false;
    bool keep_alive = false;
    bool upgrade = false;       // "upgrade": the message's Upgrade field applies (RFC 9110 §7.8)
    bool names_fields = false;  // a token other than close/keep-alive
};

// Tokenizes every Connection field of `headers` and sets
// `Header::named_in_connection` on the fields the tokens name — except the
// ones that frame or address the message (Content-Length, Host): a sender
// cannot make the next hop read a framing other than the one Weir used.
ConnectionOptions read_connection(std::vector<Header>& headers);

}  // namespace weir::http
