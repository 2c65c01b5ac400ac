// Errors etcd itself reports (through its JSON gateway), as error codes of
// their own category whose message is etcd's text ("etcdserver: requested
// lease not found"). Connection errors and timeouts stay asio / std codes.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace weir::cluster {

// gRPC status codes, which the gateway reports as "code", plus the client's
// own for answers it cannot read.
enum class EtcdCode {
    cancelled = 1,
    unknown = 2,
    invalid_argument = 3,
    deadline_exceeded = 4,
    not_found = 5,
    already_exists = 6,
    permission_denied = 7,
    resource_exhausted = 8,
    failed_precondition = 9,
    aborted = 10,
    out_of_range = 11,
    unimplemented = 12,
    internal = 13,
    unavailable = 14,
    data_loss = 15,
    unauthenticated = 16,
    bad_response = 100,  // not etcd's: an answer that is not the expected JSON
};

const std::error_category& etcd_category();

// An error of etcd_category() with etcd's status code and text. The text is
// kept in a small table (etcd's messages are a fixed set), so the
// error_code stays a plain value; beyond the table's size the text falls back
// to the code's name.
std::error_code make_etcd_error(EtcdCode code, std::string_view message);

// The status code of an etcd_category() error; 0 for any other error.
int etcd_code(std::error_code ec);

// etcd's answers for a token it does not accept (expired after
// --auth-token-ttl, or from before a restart): authenticate again.
bool is_invalid_token(std::error_code ec);

}  // namespace weir::cluster
