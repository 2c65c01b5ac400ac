#include "control/endpoints.hpp"

#include <boost/asio/ip/address.hpp>

namespace weir::control {

boost::asio::ip::tcp::endpoint to_endpoint(const config::HostPort& hp) {
    std::string host = hp.host == "localhost" ? "127.0.0.1" : hp.host;
    return {boost::asio::ip::make_address(host), hp.port};
}

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep) {
    auto a = ep.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

}  // namespace weir::control
