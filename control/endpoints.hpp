// Conversions between configured addresses and socket endpoints.
#pragma once

#include "config/config.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace weir::control {

// A listener or admin address: a literal IP ("localhost" means 127.0.0.1).
// Throws boost::system::system_error for anything else.
boost::asio::ip::tcp::endpoint to_endpoint(const config::HostPort& hp);

// "1.2.3.4:80" / "[::1]:80"
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace weir::control
