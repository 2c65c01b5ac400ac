#include "grpc_health_support.hpp"

namespace weir_it::grpc_health {

GrpcHealthBackend::GrpcHealthBackend(const std::string& status_file, const std::string& cert, const std::string& key)
    : ScriptProcess("grpc_health_backend.py",
                    cert.empty() ? std::vector<std::string>{status_file} : std::vector<std::string>{status_file, cert, key}) {}

H2cHttpBackend::H2cHttpBackend(const std::string& status_file)
    : ScriptProcess("h2c_http_backend.py", {status_file}) {}

GrpcHealthCalls::GrpcHealthCalls(const std::string& address, const std::string& service, int count)
    : ScriptProcess("grpc_health_client.py", {address, service, std::to_string(count)}) {}

}  // namespace weir_it::grpc_health
