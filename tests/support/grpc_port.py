"""Binding the test gRPC servers (grpc_backend.py, grpc_health_backend.py).

add_port(server, cert_file, key_file) binds SERVER to 127.0.0.1 on a port of
the kernel's choosing, over TLS with the certificate and key in those PEM
files when given, and returns the port (0 if it could not bind).
"""
import grpc


def add_port(server, cert_file=None, key_file=None):
    if cert_file is None:
        return server.add_insecure_port("127.0.0.1:0")
    with open(cert_file, "rb") as f:
        cert = f.read()
    with open(key_file, "rb") as f:
        key = f.read()
    return server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
