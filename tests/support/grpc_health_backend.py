#!/usr/bin/python3
"""A gRPC server answering the health protocol, for Weir's health check tests
(Debian python3-grpcio; no generated code: raw bytes in and out).

    grpc_health_backend.py STATUS_FILE [CERT_FILE KEY_FILE]

Listens on 127.0.0.1, port chosen by the OS (over TLS with CERT_FILE and
KEY_FILE), and prints "port N" on stdout once it serves.

grpc.health.v1.Health/Check answers from STATUS_FILE, re-read on every call
so a test switches the status at runtime: one line per service,
"NAME STATUS" ("-" names the whole server, service ""), STATUS one of
SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, or "grpc:CODE" to fail the
call with that gRPC status code. A service not listed fails with NOT_FOUND,
as the reference implementation does. A missing file means "- SERVING".
Each call is reported on stdout as "check NAME ANSWER DEADLINE", DEADLINE
"deadline" when the call came with a grpc-timeout, else "no-deadline".

The process exits as soon as its stdin closes (the test that started it went
away) or after 300 seconds.
"""
import sys
import threading
import time

import grpc
from grpc_port import add_port

STATUSES = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3}


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def service_of(request):
    """HealthCheckRequest.service (field 1, length-delimited); other fields skipped."""
    at, service = 0, b""
    while at < len(request):
        tag, at = read_varint(request, at)
        kind = tag & 7
        if kind == 0:
            _, at = read_varint(request, at)
        elif kind == 1:
            at += 8
        elif kind == 5:
            at += 4
        elif kind == 2:
            n, at = read_varint(request, at)
            if tag >> 3 == 1:
                service = request[at:at + n]
            at += n
        else:
            raise ValueError("wire type %d" % kind)
    return service.decode()


def table(path):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = ["- SERVING"]
    out = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2:
            out["" if parts[0] == "-" else parts[0]] = parts[1]
    return out


def main():
    if len(sys.argv) not in (2, 4):
        sys.stderr.write(__doc__)
        return 2
    status_file = sys.argv[1]

    def check(request, context):
        service = service_of(request)
        answer = table(status_file).get(service)
        deadline = "deadline" if context.time_remaining() is not None else "no-deadline"
        say("check %s %s %s" % (service or "-", answer or "NOT_FOUND", deadline))
        if answer is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        if answer.startswith("grpc:"):
            code = int(answer[5:])
            for c in grpc.StatusCode:
                if c.value[0] == code:
                    context.abort(c, "set by the test")
        # HealthCheckResponse { status = 1 }, with an unknown field 9 first
        # (a newer server's): the check must skip it.
        return b"\x48\x01\x08" + bytes([STATUSES[answer]])

    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            check, request_deserializer=lambda b: b, response_serializer=lambda b: b),
    })
    from concurrent import futures
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = add_port(server, *(sys.argv[2:4] if len(sys.argv) == 4 else ()))
    server.start()
    say("port %d" % port)

    done = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait(300)
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
