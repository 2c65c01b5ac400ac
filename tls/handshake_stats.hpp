// TLS handshake outcomes by listener name, for
// weir_tls_handshakes_total{listener,result}, and by pool name for the
// handshakes with upstream endpoints,
// weir_upstream_tls_handshakes_total{pool,result}. The counters of a name live as
// long as the process (a reload that keeps the listener keeps counting on
// them, so the counter never goes back); the snapshot hands each connection a
// pointer to its listener's, so the data path never looks a name up.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace weir::tls {

struct HandshakeCounts {
    std::atomic<std::uint64_t> full{0};     // completed, new session
    std::atomic<std::uint64_t> resumed{0};  // completed, resumed session (ticket or cache)
    std::atomic<std::uint64_t> failed{0};   // refused: protocol version, no shared cipher, a certificate...
    std::atomic<std::uint64_t> timeout{0};  // not completed in time (header_timeout; upstream: connect_timeout)
};

// The counters of `listener`, created at first use. Control thread (snapshot
// building); the pointer stays valid for the life of the process.
HandshakeCounts* handshake_counts(const std::string& listener);

// Every listener's counters, by name.
std::vector<std::pair<std::string, const HandshakeCounts*>> all_handshake_counts();

// The same for the pools that speak TLS to their endpoints.
HandshakeCounts* upstream_handshake_counts(const std::string& pool);
std::vector<std::pair<std::string, const HandshakeCounts*>> all_upstream_handshake_counts();

}  // namespace weir::tls
