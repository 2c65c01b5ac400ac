#include "admin/status.hpp"

#include <boost/json/serialize.hpp>

namespace weir::admin {

int http_status(Errc code) {
    switch (code) {
        case Errc::ok: return 200;
        case Errc::invalid: return 400;
        case Errc::not_found: return 404;
        case Errc::conflict: return 409;
        case Errc::stale: return 412;
        case Errc::unavailable: return 503;
        case Errc::internal: return 500;
    }
    return 500;
}

AdminResponse error_response(const Result& result) { return json_error(http_status(result.code), result.message); }

AdminResponse json_ok(const boost::json::value& body, int status) { return {status, boost::json::serialize(body), {}}; }

}  // namespace weir::admin
