#!/usr/bin/python3
"""Calls grpc.health.v1.Health/Check through Weir, for the health check tests
(Debian python3-grpcio; raw bytes, no generated code).

    grpc_health_client.py ADDRESS SERVICE COUNT

Makes COUNT calls one after another over one h2c channel to ADDRESS, each
asking about SERVICE, and prints one line per call: "ok STATUS" with the
answer's serving status number, or "error CODE_NAME". Then prints "EOF" and
exits.
"""
import sys

import grpc


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    address, service, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
    request = b"\x0a" + bytes([len(service)]) + service if service else b""
    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b, response_deserializer=lambda b: b)
        for _ in range(count):
            try:
                answer = check(request, timeout=10)
                # The status is the varint after tag 0x08 (the backend puts it last).
                sys.stdout.write("ok %d\n" % answer[-1])
            except grpc.RpcError as e:
                sys.stdout.write("error %s\n" % e.code().name)
            sys.stdout.flush()
    sys.stdout.write("EOF\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
