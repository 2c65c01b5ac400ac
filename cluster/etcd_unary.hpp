// One unary gateway call with endpoint failover, authentication and the
// request_timeout deadline (see etcd_client.hpp for the rules). Internal.
#pragma once

#include "cluster/etcd_core.hpp"

#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace weir::cluster {

// `done` gets the body of a 200 answer without etcd error, or the error; it
// runs on the core's io_context, never inside this call, and not at all once
// the core is closed.
void start_unary_call(const std::shared_ptr<ClientCore>& core, std::string target, std::string body,
                      std::function<void(std::error_code, std::string)> done);

}  // namespace weir::cluster
