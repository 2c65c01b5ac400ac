#!/usr/bin/python3
"""A gRPC client for the integration tests, on Debian's python3-grpcio.

    grpc_client.py ADDRESS METHOD [--request TEXT] [--calls N] [--concurrency C]
                   [--timeout-ms MS] [--tls CA_FILE] [--server-name NAME]
                   [--stream-messages K] [--channels K]

METHOD is a method of weir.test.Echo (Unary, ServerStream, ClientStream,
Fail, Slow; see grpc_backend.py) or "Health" (grpc.health.v1.Health/Check).
Runs N calls (default 1), C at a time (default 1), each with the request
TEXT (raw UTF-8 bytes), over one channel (or K channels used in turn), with a
deadline of MS per call if given (sent upstream as grpc-timeout). Over TLS
with the CA in CA_FILE, the name checked (and sent as SNI) is NAME
(grpc.ssl_target_name_override).

Prints one JSON object:
  calls, elapsed_s        how many calls ran, the whole run's wall time
  codes                   {"OK": n, "UNAVAILABLE": m, ...}
  backends                {name: n}: the first word (before ':') of each reply
  details                 {"CODE: details": n} for failed calls
  trailers                {"key=value": n} trailing metadata seen (grpc-* left out)
  initial                 {"key=value": n} initial metadata seen
  max_call_s, min_call_s  the longest and shortest call
  results                 the first 20 calls: {code, details, reply(s), trailers, initial, elapsed_s}
                          (reply is a list of messages for ServerStream)
ClientStream sends --stream-messages K messages (default 3), each TEXT.

With --raw-grpc-timeout VALUE (e.g. "300m"), one unary call is made by hand
over h2c (python3-h2, no grpc library) with that grpc-timeout header and no
deadline of the client's own, so whatever ends the call early is the server
side's doing. Prints {"status", "headers", "trailers", "grpc_status",
"grpc_message", "reset" (RST_STREAM error code or null), "goaway",
"messages", "elapsed_s", "closed"}; "messages_t" gives each message's
arrival time (seconds after the request). With --raw-cancel-after-first the
client resets the stream (RST_STREAM CANCEL) as soon as the first message
arrives, waits a moment for anything else, and reports "cancelled": true.
"""
import argparse
import json
import sys
import time
from collections import Counter
from concurrent import futures

import grpc


def ident(b):
    return b


def meta_strings(md):
    out = []
    for k, v in (md or ()):
        if k.startswith("grpc-"):
            continue
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        out.append("%s=%s" % (k, v))
    return out


def raw_call(args):
    import socket
    import struct

    import h2.config
    import h2.connection
    import h2.events

    host, _, port = args.address.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    path = "/grpc.health.v1.Health/Check" if args.method == "Health" else "/weir.test.Echo/" + args.method
    sid = conn.get_next_available_stream_id()
    start = time.monotonic()
    conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                            (":authority", args.address), ("content-type", "application/grpc"),
                            ("te", "trailers"), ("grpc-timeout", args.raw_grpc_timeout)])
    msg = args.request.encode()
    conn.send_data(sid, b"\x00" + struct.pack(">I", len(msg)) + msg, end_stream=True)
    sock.sendall(conn.data_to_send())
    out = {"status": None, "headers": [], "trailers": [], "grpc_status": None, "grpc_message": None,
           "reset": None, "goaway": None, "messages": [], "messages_t": [], "elapsed_s": None, "closed": False}
    pending_msgs = b""
    body = b""
    done = False
    while not done:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            out["closed"] = True
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                out["headers"] = [[k, v] for k, v in ev.headers]
                for k, v in ev.headers:
                    if k == ":status":
                        out["status"] = int(v)
                    elif k == "grpc-status":
                        out["grpc_status"] = int(v)
                    elif k == "grpc-message":
                        out["grpc_message"] = v
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                body += ev.data
                pending_msgs += ev.data
                while len(pending_msgs) >= 5 and len(pending_msgs) >= 5 + struct.unpack(">I", pending_msgs[1:5])[0]:
                    pending_msgs = pending_msgs[5 + struct.unpack(">I", pending_msgs[1:5])[0]:]
                    out["messages_t"].append(round(time.monotonic() - start, 4))
                if args.raw_cancel_after_first and out["messages_t"] and not out.get("cancelled"):
                    conn.reset_stream(sid, 8)
                    out["cancelled"] = True
                    sock.sendall(conn.data_to_send())
                    sock.settimeout(1.0)
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.TrailersReceived) and ev.stream_id == sid:
                out["trailers"] = [[k, v] for k, v in ev.headers]
                for k, v in ev.headers:
                    if k == "grpc-status":
                        out["grpc_status"] = int(v)
                    elif k == "grpc-message":
                        out["grpc_message"] = v
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                done = True
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                out["reset"] = int(ev.error_code)
                done = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                out["goaway"] = int(ev.error_code)
                done = True
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)
    out["elapsed_s"] = round(time.monotonic() - start, 4)
    while len(body) >= 5:
        n = struct.unpack(">I", body[1:5])[0]
        out["messages"].append(body[5:5 + n].decode("utf-8", "replace"))
        body = body[5 + n:]
    sock.close()
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("method")
    ap.add_argument("--request", default="hello")
    ap.add_argument("--request-size", type=int, default=0,
                    help="send N bytes (a repeating pattern) instead of --request")
    ap.add_argument("--calls", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--timeout-ms", type=int, default=0)
    ap.add_argument("--tls", metavar="CA_FILE")
    ap.add_argument("--server-name")
    ap.add_argument("--stream-messages", type=int, default=3)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--raw-grpc-timeout")
    ap.add_argument("--raw-cancel-after-first", action="store_true")
    args = ap.parse_args()
    if args.raw_grpc_timeout:
        return raw_call(args)

    options = [("grpc.enable_retries", 0)]
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    channels = []
    for i in range(max(1, args.channels)):
        # A distinct option per channel keeps grpc from sharing one subchannel.
        opts = options + [("weir.test.channel", i)]
        if args.tls:
            with open(args.tls, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            channels.append(grpc.secure_channel(args.address, creds, options=opts))
        else:
            channels.append(grpc.insecure_channel(args.address, options=opts))

    def stub(ch):
        if args.method == "Health":
            return ch.unary_unary("/grpc.health.v1.Health/Check", ident, ident)
        path = "/weir.test.Echo/" + args.method
        if args.method == "ServerStream":
            return ch.unary_stream(path, ident, ident)
        if args.method == "ClientStream":
            return ch.stream_unary(path, ident, ident)
        return ch.unary_unary(path, ident, ident)

    stubs = [stub(ch) for ch in channels]
    request = args.request.encode()
    if args.request_size:
        request = bytes((i * 7 + 3) % 251 for i in range(args.request_size))
    timeout = args.timeout_ms / 1000.0 if args.timeout_ms else None

    def one(i):
        call_stub = stubs[i % len(stubs)]
        start = time.monotonic()
        r = {"code": "OK", "details": None, "reply": None, "trailers": [], "initial": []}
        try:
            if args.method == "ServerStream":
                call = call_stub(request, timeout=timeout)
                replies = []
                try:
                    for m in call:
                        replies.append(m.decode("utf-8", "replace"))
                finally:
                    r["reply"] = replies
                r["initial"] = meta_strings(call.initial_metadata())
                r["trailers"] = meta_strings(call.trailing_metadata())
            elif args.method == "ClientStream":
                msgs = [request] * args.stream_messages
                reply, call = call_stub.with_call(iter(msgs), timeout=timeout)
                r["reply"] = reply.decode("utf-8", "replace")
                r["initial"] = meta_strings(call.initial_metadata())
                r["trailers"] = meta_strings(call.trailing_metadata())
            else:
                reply, call = call_stub.with_call(request, timeout=timeout)
                if args.method == "Health":
                    r["reply"] = "SERVING" if reply == b"\x08\x01" else reply.hex()
                elif args.request_size:
                    prefix, _, echoed = reply.partition(b":")
                    r["reply"] = prefix.decode() + ":<%d bytes%s>" % (
                        len(echoed), "" if echoed == request else ", NOT the request")
                else:
                    r["reply"] = reply.decode("utf-8", "replace")
                r["initial"] = meta_strings(call.initial_metadata())
                r["trailers"] = meta_strings(call.trailing_metadata())
        except grpc.RpcError as e:
            r["code"] = e.code().name
            r["details"] = e.details()
            try:
                r["initial"] = meta_strings(e.initial_metadata())
                r["trailers"] = meta_strings(e.trailing_metadata())
            except Exception:  # noqa: BLE001 - not every error carries metadata
                pass
        r["elapsed_s"] = round(time.monotonic() - start, 4)
        return r

    t0 = time.monotonic()
    results = [None] * args.calls
    with futures.ThreadPoolExecutor(max_workers=max(1, args.concurrency)) as pool:
        for i, r in zip(range(args.calls), pool.map(one, range(args.calls))):
            results[i] = r
    elapsed = time.monotonic() - t0

    codes = Counter(r["code"] for r in results)
    backends = Counter()
    details = Counter()
    trailers = Counter()
    initial = Counter()
    for r in results:
        rep = r["reply"]
        if isinstance(rep, list):
            if rep:
                backends[rep[0].split(":", 1)[0]] += 1
        elif rep is not None:
            backends[rep.split(":", 1)[0]] += 1
        if r["code"] != "OK":
            details["%s: %s" % (r["code"], r["details"])] += 1
        for t in r["trailers"]:
            trailers[t] += 1
        for t in r["initial"]:
            initial[t] += 1
    elapsed_calls = [r["elapsed_s"] for r in results] or [0]
    out = {
        "calls": args.calls,
        "elapsed_s": round(elapsed, 4),
        "codes": dict(codes),
        "backends": dict(backends),
        "details": dict(details),
        "trailers": dict(trailers),
        "initial": dict(initial),
        "max_call_s": max(elapsed_calls),
        "min_call_s": min(elapsed_calls),
        "results": results[:20],
    }
    for ch in channels:
        ch.close()
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
