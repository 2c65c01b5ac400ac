// Control-plane results as admin API answers: the one place a result kind
// becomes an HTTP status.
#pragma once

#include "admin/server.hpp"
#include "common/result.hpp"

#include <boost/json/value.hpp>

namespace weir::admin {

int http_status(Errc code);

// {"error": message} with the status of the result's kind.
AdminResponse error_response(const Result& result);

// `body` as JSON with `status`.
AdminResponse json_ok(const boost::json::value& body, int status = 200);

}  // namespace weir::admin
