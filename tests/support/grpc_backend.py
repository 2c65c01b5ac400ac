#!/usr/bin/python3
"""A gRPC backend for the integration tests, on Debian's python3-grpcio.

No protoc: the service is registered with generic handlers whose
(de)serializers pass raw bytes, and requests/replies are plain UTF-8 text.

    grpc_backend.py [--name NAME] [--tls CERT KEY] [--fail-code N]

Binds 127.0.0.1:0 and prints the port alone on the first stdout line (then
flushes). Exits on SIGTERM/SIGINT, and when its parent goes away, so a test
that dies never leaves it behind.

Service weir.test.Echo:
  Unary         reply  NAME ":" request; initial metadata x-backend: NAME,
                trailing metadata x-trailer: NAME
  ServerStream  request "N" (a decimal count): N replies "NAME:i" (i = 0..N-1),
                then trailing metadata x-trailer: NAME, x-count: N
  ClientStream  replies "NAME:<messages>:<bytes>" after the client's stream ends
  Fail          request "CODE[ MESSAGE]": aborts with that status code and
                MESSAGE (default "failed by NAME")
  Slow          request "MS": sleeps MS milliseconds, then replies "NAME:slept MS"
                (the sleep ends early if the call is cancelled or its deadline passes)
grpc.health.v1.Health/Check answers SERVING (HealthCheckResponse{status: 1}).

--fail-code N makes every Echo call fail with status N ("failing by NAME"),
as a broken canary would; Health/Check still answers SERVING.

Each call adds one line to stderr: "call METHOD peer=PEER".

--raw-h2 serves instead a hand-made h2c server (python3-h2, no grpc library)
that knows no deadlines: it ignores grpc-timeout (and logs the value it got
as "grpc-timeout VALUE"), so a call cut short was cut by the proxy. It
answers Unary as above (reply, x-backend, x-trailer), Slow (sleeps, then
replies) and SlowStream (request "MS": sends one message "NAME:first" at
once, sleeps MS, then a second one and the trailers) and NoStatus (a reply
message and the end of the stream, without any grpc-status: a broken gRPC
server), each stream on its own thread; anything else is UNIMPLEMENTED.
Each accepted connection logs "connection N" (and "connection closed by the
peer" at its end), and each GOAWAY it receives ("goaway CODE last=N"; the
library then stops answering the connection's streams, so drains and
SIGTERM are tested against the grpcio server). With --max-streams N it
advertises SETTINGS_MAX_CONCURRENT_STREAMS N, and each stream it takes logs
"streams K acked=B", K being the streams then open on its connection (itself
included) and B whether the peer had acknowledged those SETTINGS; a stream
beyond N is refused (RST_STREAM REFUSED_STREAM, "refused K acked=B"), as
RFC 9113 5.1.2 allows for streams opened before the SETTINGS took effect.
With --refuse-first K it refuses the first K streams of every connection
(REFUSED_STREAM, logged "refused-first"): streams it never processed, which
RFC 9113 8.7 says a client may safely send again.
Without --raw-h2, --max-streams N sets the grpcio server's
grpc.max_concurrent_streams.

--tls-no-h2 CERT KEY serves instead a TLS server (Python's ssl) whose ALPN
offers only http/1.1: it completes handshakes, logs "handshake ALPN" for each
(ALPN the protocol chosen, or None), logs "data B" with the first bytes it
receives and answers them with an HTTP/1.1 "200 OK" — a server that cannot
speak h2.
"""
import argparse
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from grpc_port import add_port

SERVICE = "weir.test.Echo"


def ident(b):
    return b


def raw_h2_server(name, max_streams=0, refuse_first=0):
    import socket
    import struct

    import h2.config
    import h2.connection
    import h2.events
    import h2.errors
    import h2.settings

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    count = [0]

    def serve(sock):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        lock = threading.Lock()
        conn.initiate_connection()
        if max_streams:
            conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams})
        sock.sendall(conn.data_to_send())
        streams = {}
        active = set()
        acked = [False]
        refused_first = [0]

        def finished(sid):
            active.discard(sid)

        def flush():
            data = conn.data_to_send()
            if data:
                sock.sendall(data)

        def answer(sid, path, body):
            try:
                answer_stream(sid, path, body)
            finally:
                with lock:
                    finished(sid)

        def answer_stream(sid, path, body):
            msg = body[5:] if len(body) >= 5 else b""
            method = path.rsplit("/", 1)[-1]
            sys.stderr.write("call %s raw\n" % method)
            sys.stderr.flush()
            if method == "NoStatus":
                reply = name.encode() + b":" + msg
                with lock:
                    try:
                        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                        conn.send_data(sid, b"\x00" + struct.pack(">I", len(reply)) + reply, end_stream=True)
                        flush()
                    except Exception:  # noqa: BLE001 - the proxy reset the stream: fine
                        pass
                return
            if method == "SlowStream":
                first = ("%s:first" % name).encode()
                with lock:
                    try:
                        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc"),
                                                ("x-backend", name)])
                        conn.send_data(sid, b"\x00" + struct.pack(">I", len(first)) + first)
                        flush()
                    except Exception:  # noqa: BLE001 - the proxy reset the stream: fine
                        return
                time.sleep(int(msg.decode() or "0") / 1000.0)
                second = ("%s:second" % name).encode()
                with lock:
                    try:
                        conn.send_data(sid, b"\x00" + struct.pack(">I", len(second)) + second)
                        conn.send_headers(sid, [("grpc-status", "0"), ("x-trailer", name)], end_stream=True)
                        flush()
                    except Exception:  # noqa: BLE001 - the proxy reset the stream: fine
                        pass
                return
            if method == "Slow":
                time.sleep(int(msg.decode() or "0") / 1000.0)
                reply = ("%s:slept %s" % (name, msg.decode())).encode()
            elif method == "Unary":
                reply = name.encode() + b":" + msg
            else:
                with lock:
                    try:
                        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc"),
                                                ("grpc-status", "12")], end_stream=True)
                        flush()
                    except Exception:  # noqa: BLE001 - the stream may be gone
                        pass
                return
            with lock:
                try:
                    conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc"),
                                            ("x-backend", name)])
                    conn.send_data(sid, b"\x00" + struct.pack(">I", len(reply)) + reply)
                    conn.send_headers(sid, [("grpc-status", "0"), ("x-trailer", name)], end_stream=True)
                    flush()
                except Exception:  # noqa: BLE001 - the proxy reset the stream: fine
                    pass

        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    sys.stderr.write("connection closed by the peer\n")
                    sys.stderr.flush()
                    break
                with lock:
                    events = conn.receive_data(data)
                    for ev in events:
                        if isinstance(ev, h2.events.SettingsAcknowledged):
                            acked[0] = True
                        elif isinstance(ev, h2.events.RequestReceived) and refused_first[0] < refuse_first:
                            refused_first[0] += 1
                            sys.stderr.write("refused-first %d\n" % ev.stream_id)
                            sys.stderr.flush()
                            conn.reset_stream(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                        elif isinstance(ev, h2.events.RequestReceived) and max_streams and \
                                conn.open_inbound_streams > max_streams:
                            sys.stderr.write("refused %d acked=%s\n" % (conn.open_inbound_streams, acked[0]))
                            sys.stderr.flush()
                            conn.reset_stream(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                        elif isinstance(ev, h2.events.RequestReceived):
                            hdrs = dict(ev.headers)
                            if "grpc-timeout" in hdrs:
                                sys.stderr.write("grpc-timeout %s\n" % hdrs["grpc-timeout"])
                                sys.stderr.flush()
                            streams[ev.stream_id] = [hdrs.get(":path", ""), b""]
                            active.add(ev.stream_id)
                            sys.stderr.write("streams %d acked=%s\n" % (conn.open_inbound_streams, acked[0]))
                            sys.stderr.flush()
                        elif isinstance(ev, h2.events.DataReceived):
                            if ev.stream_id in streams:
                                streams[ev.stream_id][1] += ev.data
                            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        elif isinstance(ev, h2.events.StreamEnded):
                            if ev.stream_id in streams:
                                path, body = streams.pop(ev.stream_id)
                                threading.Thread(target=answer, args=(ev.stream_id, path, body),
                                                 daemon=True).start()
                        elif isinstance(ev, h2.events.ConnectionTerminated):
                            # python3-h2 closes its side here: streams under way cannot be
                            # answered any more (a limitation of the library, not of HTTP/2).
                            sys.stderr.write("goaway %d last=%d\n" % (ev.error_code, ev.last_stream_id))
                            sys.stderr.flush()
                        elif isinstance(ev, h2.events.StreamReset):
                            sys.stderr.write("reset %d\n" % ev.stream_id)
                            sys.stderr.flush()
                            streams.pop(ev.stream_id, None)
                            finished(ev.stream_id)
                    flush()
        except Exception as e:  # noqa: BLE001 - a connection's end, whatever it is
            sys.stderr.write("connection ended: %r\n" % (e,))
        finally:
            sock.close()

    def accept():
        while True:
            s, _ = lsock.accept()
            count[0] += 1
            sys.stderr.write("connection %d\n" % count[0])
            sys.stderr.flush()
            threading.Thread(target=serve, args=(s,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return lsock.getsockname()[1]


def tls_no_h2_server(cert, key):
    import socket
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)

    def serve(raw):
        try:
            raw.settimeout(10)
            s = ctx.wrap_socket(raw, server_side=True)
            sys.stderr.write("handshake %s\n" % s.selected_alpn_protocol())
            sys.stderr.flush()
            data = s.recv(65536)
            if data:
                sys.stderr.write("data %r\n" % (data[:24],))
                sys.stderr.flush()
                s.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            s.close()
        except Exception as e:  # noqa: BLE001 - a failed handshake is what the tests expect
            sys.stderr.write("handshake failed: %r\n" % (e,))
            sys.stderr.flush()
            raw.close()

    def accept():
        while True:
            c, _ = lsock.accept()
            sys.stderr.write("connection\n")
            sys.stderr.flush()
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return lsock.getsockname()[1]


def serve_until_stopped(port):
    """Announces PORT (alone on the first stdout line), then returns on
    SIGTERM or SIGINT, or once the parent (the test) is gone."""
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = os.getppid()
    while not stop.wait(0.2):
        if os.getppid() != parent:
            break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="backend")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--fail-code", type=int, default=0)
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--raw-h2", action="store_true")
    ap.add_argument("--max-streams", type=int, default=0)
    ap.add_argument("--refuse-first", type=int, default=0)
    ap.add_argument("--tls-no-h2", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    if args.raw_h2 or args.tls_no_h2:
        if args.tls_no_h2:
            port = tls_no_h2_server(*args.tls_no_h2)
        else:
            port = raw_h2_server(args.name, args.max_streams, args.refuse_first)
        serve_until_stopped(port)
        return 0
    name = args.name
    fail_code = grpc.StatusCode.OK
    if args.fail_code:
        fail_code = next(c for c in grpc.StatusCode if c.value[0] == args.fail_code)

    def log(method, context):
        sys.stderr.write("call %s peer=%s\n" % (method, context.peer()))
        sys.stderr.flush()

    def maybe_fail(context):
        if args.fail_code:
            context.abort(fail_code, "failing by " + name)

    def unary(request, context):
        log("Unary", context)
        maybe_fail(context)
        context.send_initial_metadata((("x-backend", name),))
        context.set_trailing_metadata((("x-trailer", name),))
        return name.encode() + b":" + request

    def server_stream(request, context):
        log("ServerStream", context)
        maybe_fail(context)
        n = int(request.decode() or "0")
        context.send_initial_metadata((("x-backend", name),))
        for i in range(n):
            yield ("%s:%d" % (name, i)).encode()
        context.set_trailing_metadata((("x-trailer", name), ("x-count", str(n))))

    def client_stream(request_iterator, context):
        log("ClientStream", context)
        maybe_fail(context)
        messages = 0
        size = 0
        for m in request_iterator:
            messages += 1
            size += len(m)
        context.set_trailing_metadata((("x-trailer", name),))
        return ("%s:%d:%d" % (name, messages, size)).encode()

    def fail(request, context):
        log("Fail", context)
        maybe_fail(context)
        text = request.decode()
        code_text, _, message = text.partition(" ")
        code = int(code_text)
        status = next(c for c in grpc.StatusCode if c.value[0] == code)
        context.set_trailing_metadata((("x-trailer", name),))
        context.abort(status, message or ("failed by " + name))

    def slow(request, context):
        log("Slow", context)
        maybe_fail(context)
        ms = int(request.decode() or "0")
        end = time.monotonic() + ms / 1000.0
        done = threading.Event()
        context.add_callback(done.set)
        while not done.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            done.wait(min(left, 0.05))
        context.set_trailing_metadata((("x-trailer", name),))
        return ("%s:slept %d" % (name, ms)).encode()

    def health_check(request, context):
        log("Check", context)
        return b"\x08\x01"  # HealthCheckResponse{status: SERVING}

    echo = grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, ident, ident),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, ident, ident),
        "Fail": grpc.unary_unary_rpc_method_handler(fail, ident, ident),
        "Slow": grpc.unary_unary_rpc_method_handler(slow, ident, ident),
    })
    health = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(health_check, ident, ident),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers),
                         handlers=(echo, health),
                         options=[("grpc.so_reuseport", 0)] +
                         ([("grpc.max_concurrent_streams", args.max_streams)] if args.max_streams else []))
    port = add_port(server, *(args.tls or ()))
    if port == 0:
        sys.stderr.write("could not bind\n")
        return 1
    server.start()
    serve_until_stopped(port)
    server.stop(0.5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
