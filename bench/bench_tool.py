#!/usr/bin/env python3
"""Helpers for bench/run.sh (stdlib only).

Subcommands:
  ports N                         print N free 127.0.0.1 TCP ports (space separated)
  probe PORT [TIMEOUT]            exit 0 if GET / on 127.0.0.1:PORT answers HTTP 200
  split PORT N                    send N keep-alive GETs, print "stable canary other errors"
  idle PORT N DEADLINE PID...     RSS per idle keep-alive connection (see idle())
  burst PORT N DEADLINE SETTLE PID...
                                  RSS per idle connection after N simultaneous requests (see burst())
  rollout-start PORT ROUTE        POST /routes/ROUTE/rollout/start on the admin PORT; exit 0 if it
                                  answers 200 with phase "running"; print "phase step canary_percent"
  rollout-state PORT ROUTE        GET /routes/ROUTE/rollout; print one TSV line: phase step
                                  canary_percent decisions last_decision advances rollbacks holds
  report RESULTS_DIR OUT_MD       render the markdown report from the run's TSV files

TLS (the TLS rounds; certificate verification is off: the bench's certificate is self-signed):
  probe PORT TIMEOUT tls          as probe, over TLS
  split PORT N tls                as split, over TLS
  tls-idle PORT N DEADLINE PID... as idle, over TLS: each connection completes the handshake and
                                  one GET before the next opens (see idle())
  tls-info PORT                   one TLS connection, then a second offering the first's session, then
                                  10 each offering the one before's (as wrk reconnects):
                                  print JSON {version, cipher, group, resumed, chain}
  weir-handshakes ADMIN_PORT [upstream]  weir_tls_handshakes_total (upstream:
                                  weir_upstream_tls_handshakes_total) from GET /metrics: print
                                  "full resumed failed timeout"
  tls-report RESULTS_DIR OUT_MD   render the TLS report (tls_*.tsv) to OUT_MD

Tunnels (the tunnel rounds; bench/tunnel_tool.cpp does the measuring):
  tunnel-report RESULTS_DIR OUT_MD  render the tunnel report (tunnel_*.tsv, idle.tsv) to OUT_MD

HTTP/2 (the HTTP/2 rounds; h2load does the load):
  h2load-parse FILE PROTO [RC]    check one h2load run (protocol PROTO, h2 or h2c; no failed, errored or
                                  timed-out request; only 2xx) and print one TSV line:
                                  ok rps succeeded protocol tls_version cipher reason
  h2-idle PORT N DEADLINE PID...  RSS per idle HTTP/2 connection over TLS: N connections, each brought to
                                  idle (ALPN h2, preface + SETTINGS, server SETTINGS read and acknowledged)
                                  before the next opens, no request (see h2_idle())
  h2-answers FILE N [RC]          check `nghttp -s -m N` output (the h2 upstream runs): N answers, all 200
                                  with a 7-byte stable/canary body
  h2-report RESULTS_DIR OUT_MD    render the HTTP/2 report (h2_*.tsv) to OUT_MD
"""
import json
import os
import resource
import socket
import ssl
import statistics
import sys
import time

REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

_TLS_CTX = None



def idle_row(key, r):
    """One row of an idle-connections table (raw results)."""
    return (f"| {key} | {r['opened']} | {r['still_open']} | {r['errors']} | {r['rss_before_kib']} | "
            f"{r['rss_after_kib']} | {r['bytes_per_conn']} |")


def write_report(lines, out_md, rdir, flag, all_met):
    """Writes a report's markdown (and prints it), and whether every goal was met to rdir/flag."""
    text = "\n".join(lines)
    with open(out_md, "w") as f:
        f.write(text)
    print(text)
    with open(os.path.join(rdir, flag), "w") as f:
        f.write("1" if all_met else "0")


def best_of(measures, field, higher_better):
    """The better peer's value of `field` (None when no peer has one)."""
    vals = [m[field] for m in measures if m[field] is not None]
    if not vals:
        return None
    return max(vals) if higher_better else min(vals)

def tls_client_context():
    """Client context for the TLS rounds: no verification (self-signed bench
    certificate), the library's default versions, ciphers and groups."""
    global _TLS_CTX
    if _TLS_CTX is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        _TLS_CTX = ctx
    return _TLS_CTX


def connect(port, timeout, tls=False, session=None):
    """A blocking connection to 127.0.0.1:port; with tls, after a completed handshake."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if not tls:
        return s
    try:
        return tls_client_context().wrap_socket(s, server_hostname="localhost", session=session)
    except BaseException:
        s.close()
        raise


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def read_response(sock, buf=b""):
    """Read one HTTP/1.1 response from a blocking socket.

    Returns (status, body, leftover bytes, server_closed)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    closed = headers.get(b"connection", b"").lower() == b"close"
    if b"content-length" in headers:
        n = int(headers[b"content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in body")
            rest += chunk
        return status, rest[:n], rest[n:], closed
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed in chunked body")
                rest += chunk
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed in chunk")
                rest += chunk
            if size == 0:
                # Trailers are not expected; the final CRLF has been consumed.
                return status, body, rest[2:], closed
            body += rest[:size]
            rest = rest[size + 2:]
    # No length: body runs to close.
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return status, rest, b"", True
        rest += chunk


def probe(port, timeout, tls=False):
    try:
        with connect(port, timeout, tls) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            status, _, _, _ = read_response(s)
            return status == 200
    except (OSError, ValueError, IndexError):
        return False


def split(port, n, tls=False):
    counts = {"stable": 0, "canary": 0, "other": 0, "errors": 0}
    sock, buf = None, b""
    deadline = time.monotonic() + 30
    for _ in range(n):
        if time.monotonic() > deadline:
            counts["errors"] += 1
            break
        try:
            if sock is None:
                sock, buf = connect(port, 5, tls), b""
            sock.sendall(REQ)
            status, body, buf, closed = read_response(sock, buf)
            key = body.strip().decode(errors="replace")
            counts[key if key in ("stable", "canary") and status == 200 else "other"] += 1
            if closed:
                sock.close()
                sock = None
        except (OSError, ValueError, IndexError):
            counts["errors"] += 1
            if sock is not None:
                sock.close()
            sock = None
    if sock is not None:
        sock.close()
    print(counts["stable"], counts["canary"], counts["other"], counts["errors"])


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        raise SystemExit(f"RLIMIT_NOFILE is {soft}, need at least {need}")


def count_open(socks):
    """How many of the idle sockets are still open? A readable idle socket means
    EOF or unexpected data."""
    still_open = 0
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(1)
            if data:
                still_open += 1  # unexpected bytes, but the connection is open
        except (BlockingIOError, ssl.SSLWantReadError):
            still_open += 1
        except OSError:
            pass
    return still_open


def rss_result(n, socks, errors, before, after):
    """The JSON line idle and burst print, after closing socks."""
    still_open = count_open(socks)
    for s in socks:
        s.close()
    opened = len(socks)
    per_conn = (after - before) * 1024 / opened if opened else float("nan")
    return json.dumps({"requested": n, "opened": opened, "still_open": still_open,
                       "errors": errors, "rss_before_kib": before, "rss_after_kib": after,
                       "bytes_per_conn": round(per_conn, 1)})


def rss_start(n, deadline_s, pids):
    """Descriptors for n connections, a moment of quiet, then the deadline and the
    RSS before the test."""
    raise_nofile(n + 64)
    deadline = time.monotonic() + deadline_s
    time.sleep(0.5)
    return deadline, rss_kib(pids)


def keep_if_answered(s, socks):
    """Reads one response on s: kept in socks (returns 0) when it is a 200 that
    leaves the connection open, else closed (returns 1, an error)."""
    try:
        status, _, _, closed = read_response(s)
        if status == 200 and not closed:
            socks.append(s)
            return 0
    except (OSError, ValueError, IndexError):
        pass
    s.close()
    return 1


def idle(port, n, deadline_s, pids, tls=False):
    """Open n keep-alive connections one after another, each completing one request
    (so the proxy never has more than one request in flight and needs only one
    upstream connection), leave them idle, and report the RSS growth of pids."""
    deadline, before = rss_start(n, deadline_s, pids)
    socks, errors, half = [], 0, None
    for i in range(n):
        if time.monotonic() > deadline:
            break
        if tls and i == n // 2 and n >= 2:  # TLS: also the cost of the second half alone
            time.sleep(1.0)
            half = (len(socks), rss_kib(pids))
        try:
            s = connect(port, 5, tls)
        except OSError:
            errors += 1
            continue
        try:
            s.sendall(REQ)
        except OSError:
            errors += 1
            s.close()
            continue
        errors += keep_if_answered(s, socks)
    # Let the proxy settle (release per-request buffers, finish any lazy work).
    time.sleep(1.0)
    after = rss_kib(pids)
    line = rss_result(n, socks, errors, before, after)
    if tls:
        d = json.loads(line)
        if half is not None and d["opened"] > half[0]:
            d["rss_half_kib"] = half[1]
            d["bytes_per_conn_second_half"] = round((after - half[1]) * 1024 / (d["opened"] - half[0]), 1)
        line = json.dumps(d)
    print(line)


def burst(port, n, deadline_s, settle_s, pids):
    """Open n connections, then send one request on every one of them at once (so
    the proxy has n requests in flight, and as many upstream connections), read
    all the answers, leave the connections idle for settle_s and report the RSS
    growth of pids per connection: what the burst left behind. A proxy that
    gives the burst's memory back costs about what the idle test shows."""
    deadline, before = rss_start(n, deadline_s, pids)
    socks, errors = [], 0
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        except OSError:
            errors += 1
    sent = []
    for s in socks:  # one small write each: all requests are out within milliseconds
        try:
            s.sendall(REQ)
            sent.append(s)
        except OSError:
            errors += 1
            s.close()
    socks = []
    for s in sent:  # answers wait in the socket buffers; reading order does not matter
        errors += keep_if_answered(s, socks)
    time.sleep(settle_s)
    after = rss_kib(pids)
    print(rss_result(n, socks, errors, before, after))


def tls_info(port):
    """What a default client gets from the proxy: protocol, cipher, key-exchange group,
    whether a second connection offering the first one's session is resumed (the
    proxy's default resumption: TLS 1.3 tickets, or a session cache), and how many of
    10 further connections are resumed when each offers the session of the one before,
    as wrk does when it reconnects (its SSL_clear keeps the last session)."""
    info = {"version": None, "cipher": None, "group": None, "resumed": None, "chain": None}
    try:
        with connect(port, 5, True) as s:
            info["version"] = s.version()
            info["cipher"] = s.cipher()[0]
            info["group"] = getattr(s, "group", lambda: None)() if hasattr(s, "group") else None
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            read_response(s)  # TLS 1.3 tickets arrive after the handshake: read them
            session = s.session
        with connect(port, 5, True, session=session) as s2:
            info["resumed"] = bool(s2.session_reused)
        # As wrk reconnects (SSL_clear keeps the connection's session): each new connection
        # offers the session of the one before, one request with Connection: close each.
        chain = 0
        for _ in range(10):
            with connect(port, 5, True, session=session) as s3:
                chain += bool(s3.session_reused)
                s3.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                read_response(s3)
                session = s3.session
        info["chain"] = f"{chain}/10"
    except (OSError, ValueError, IndexError) as e:
        info["error"] = str(e)
    print(json.dumps(info))


def weir_handshakes(admin_port, upstream=False):
    """Sum weir_tls_handshakes_total by result over listeners (upstream: the
    pools' weir_upstream_tls_handshakes_total)."""
    metric = "weir_upstream_tls_handshakes_total{" if upstream else "weir_tls_handshakes_total{"
    out = {"full": 0, "resumed": 0, "failed": 0, "timeout": 0}
    try:
        _, body = admin_call(admin_port, "GET", "/metrics")
    except (OSError, ValueError, IndexError):
        print("nan nan nan nan")
        return
    for line in body.decode(errors="replace").splitlines():
        if not line.startswith(metric):
            continue
        labels, _, value = line.rpartition(" ")
        for k in out:
            if f'result="{k}"' in labels:
                out[k] += int(float(value))
    print(out["full"], out["resumed"], out["failed"], out["timeout"])


# ---------------------------------------------------------------------------
# HTTP/2 (the HTTP/2 rounds; h2load does the load, these are the checks and
# the idle-connection client, stdlib only: the frames needed are written by hand)

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"       # SETTINGS, no parameters (defaults)
H2_SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"   # SETTINGS with the ACK flag
H2_FRAME_SETTINGS, H2_FRAME_GOAWAY, H2_FLAG_ACK = 4, 7, 1

_H2_CTX = None


class H2Error(Exception):
    """The server did not complete the HTTP/2 connection preface as expected."""


def h2_client_context():
    """As tls_client_context(), offering only h2 by ALPN."""
    global _H2_CTX
    if _H2_CTX is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        _H2_CTX = ctx
    return _H2_CTX


def h2_frames(buf):
    """The complete frames at the start of buf: ([(type, flags, stream, payload)], rest)."""
    out = []
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + n:
            break
        out.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
        buf = buf[9 + n:]
    return out, buf


def h2_open(port, timeout):
    """One HTTP/2 connection over TLS, brought to idle: the handshake (ALPN must select
    h2), the client preface and an empty SETTINGS, the server's SETTINGS read and
    acknowledged, and the server's acknowledgement of ours read. Returns the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        t = h2_client_context().wrap_socket(s, server_hostname="localhost")
    except BaseException:
        s.close()
        raise
    try:
        alpn = t.selected_alpn_protocol()
        if alpn != "h2":
            raise H2Error(f"ALPN selected {alpn or 'nothing'}, not h2")
        t.sendall(H2_PREFACE + H2_SETTINGS)
        buf, first, got_settings, got_ack = b"", True, False, False
        while not (got_settings and got_ack):
            chunk = t.recv(65536)
            if not chunk:
                raise H2Error("connection closed before the server's SETTINGS" +
                              (f" (it sent {buf[:40]!r})" if buf else ""))
            buf += chunk
            if first and len(buf) >= 9 and buf[3] != H2_FRAME_SETTINGS:
                # The server preface is a SETTINGS frame; "HTTP/1.1 400 ..." is not.
                raise H2Error(f"not an HTTP/2 server preface: {buf[:40]!r}")
            frames, buf = h2_frames(buf)
            for typ, flags, _, payload in frames:
                first = False
                if typ == H2_FRAME_SETTINGS and not flags & H2_FLAG_ACK:
                    t.sendall(H2_SETTINGS_ACK)
                    got_settings = True
                elif typ == H2_FRAME_SETTINGS:
                    got_ack = True
                elif typ == H2_FRAME_GOAWAY:
                    code = int.from_bytes(payload[4:8], "big") if len(payload) >= 8 else -1
                    raise H2Error(f"GOAWAY (error code {code}) during the preface")
        return t
    except BaseException:
        t.close()
        raise


def h2_count_open(socks):
    """How many idle HTTP/2 connections are still open: not closed, and no GOAWAY
    received (a server that sent one is closing the connection)."""
    still_open = 0
    for s in socks:
        s.setblocking(False)
        buf, closed = b"", False
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    closed = True
                    break
                buf += data
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        except OSError:
            closed = True
        frames, _ = h2_frames(buf)
        if not closed and not any(f[0] == H2_FRAME_GOAWAY for f in frames):
            still_open += 1
    return still_open


def fd_count(pids):
    """Open descriptors of pids (the proxy's accepted connections among them)."""
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return total


def h2_idle(port, n, deadline_s, pids):
    """RSS per idle HTTP/2 connection over TLS: n connections opened one after another,
    each brought to idle by h2_open() (so the proxy has accepted it and answered its
    preface before the next opens), no request on any; VmRSS of pids 1 s after the last,
    against before the first (and at the half-way mark, after 1 s). The proxy's open
    descriptors are counted before and after as a cross-check. A server that does not
    complete the preface on the first three connections is not waited on n times."""
    deadline, before = rss_start(n, deadline_s, pids)
    fds_before = fd_count(pids)
    socks, errors, half, first_error = [], 0, None, None
    for i in range(n):
        if time.monotonic() > deadline:
            first_error = first_error or f"deadline ({deadline_s:.0f} s) reached after {i} connections"
            break
        if i == n // 2 and n >= 2:
            time.sleep(1.0)
            half = (len(socks), rss_kib(pids))
        try:
            socks.append(h2_open(port, 5))
        except (OSError, ValueError, H2Error) as e:
            errors += 1
            first_error = first_error or f"{type(e).__name__}: {e}"
            if not socks and errors >= 3:
                break
    time.sleep(1.0)
    after = rss_kib(pids)
    fds_after = fd_count(pids)
    still_open = h2_count_open(socks)
    for s in socks:
        s.close()
    opened = len(socks)
    d = {"requested": n, "opened": opened, "still_open": still_open, "errors": errors,
         "rss_before_kib": before, "rss_after_kib": after,
         "bytes_per_conn": round((after - before) * 1024 / opened, 1) if opened else float("nan"),
         "fds_before": fds_before, "fds_after": fds_after, "first_error": first_error}
    if half is not None and opened > half[0]:
        d["rss_half_kib"] = half[1]
        d["bytes_per_conn_second_half"] = round((after - half[1]) * 1024 / (opened - half[0]), 1)
    print(json.dumps(d))


def h2load_parse(path, expect_proto, rc):
    """Reads one h2load run's output and checks it: the expected application protocol
    (h2 by ALPN, or h2c by prior knowledge), at least one request done, none failed,
    errored or timed out, no status other than 2xx, and every connection completed requests
    (h2load's per-client req/s minimum above 0). Prints one TSV line:
    ok rps succeeded protocol tls_version cipher reason (ok 0 or 1; reason last)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    v = {"proto": "none", "tls": "-", "cipher": "-"}
    nums = {}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Application protocol:"):
            v["proto"] = s.split(":", 1)[1].strip()
        elif s.startswith("No protocol negotiated"):
            v["proto"] = "none"
        elif s.startswith("TLS Protocol:"):
            v["tls"] = s.split(":", 1)[1].strip()
        elif s.startswith("Cipher:"):
            v["cipher"] = s.split(":", 1)[1].strip()
        elif s.startswith("finished in"):
            parts = s.replace(",", "").split()
            try:
                nums["rps"] = float(parts[parts.index("req/s") - 1])
            except (ValueError, IndexError):
                pass
        elif s.startswith("requests:"):
            words = s[len("requests:"):].replace(",", "").split()
            for i in range(0, len(words) - 1, 2):
                try:
                    nums[words[i + 1]] = int(words[i])
                except ValueError:
                    pass
        elif s.startswith("status codes:"):
            words = s[len("status codes:"):].replace(",", "").split()
            for i in range(0, len(words) - 1, 2):
                try:
                    nums["status_" + words[i + 1]] = int(words[i])
                except ValueError:
                    pass
        elif s.startswith("req/s") and ":" in s:
            try:
                nums["client_min_rps"] = float(s.split(":", 1)[1].split()[0])
            except (ValueError, IndexError):
                pass
    why = []
    if rc not in (0, None):
        why.append(f"h2load exited with {rc}" + (" (timed out)" if rc == 124 else ""))
    if "rps" not in nums or "succeeded" not in nums:
        why.append("no h2load summary")
    if v["proto"] != expect_proto:
        why.append(f"protocol {v['proto']}, expected {expect_proto}")
    ok_n = nums.get("succeeded", 0)
    if "succeeded" in nums and ok_n == 0:
        why.append(f"no request succeeded ({nums.get('started', 0)} started)")
    bad = [f"{nums[k]} {k}" for k in ("failed", "errored", "timeout") if nums.get(k, 0) > 0]
    if bad:
        why.append(", ".join(bad))
    # Status codes count response heads, so a stream cut off by the end of the run after its
    # head can add a 2xx to a request that is not "done": more 2xx than done is fine.
    non2xx = sum(nums.get(k, 0) for k in ("status_3xx", "status_4xx", "status_5xx"))
    if non2xx or ("status_2xx" in nums and nums["status_2xx"] < ok_n):
        why.append(f"{non2xx} answers not 2xx ({nums.get('status_2xx', 0)} 2xx for {ok_n} done)")
    if ok_n and nums.get("client_min_rps") == 0:
        why.append("a connection completed no request")
    ok = 0 if why else 1
    print("\t".join([str(ok), str(nums.get("rps", "nan")), str(ok_n), v["proto"], v["tls"], v["cipher"],
                     "; ".join(why) or "-"]))


def h2_answers(path, n, rc):
    """Reads `nghttp -s -m N URL` output (the bodies, then the per-request statistics) and
    checks the answers of an h2 upstream target: N requests listed, every one 200 with a
    7-byte body, and N bodies reading `stable` or `canary`. Prints one TSV line:
    ok requests status_200 bodies_7b stable canary reason (ok 0 or 1; reason last)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    body, _, stats = text.partition("***** Statistics *****")
    words = [w.strip() for w in body.splitlines() if w.strip()]
    stable, canary = words.count("stable"), words.count("canary")
    other = len(words) - stable - canary
    rows, st200, size7, in_table = 0, 0, 0, False
    for line in stats.splitlines():
        f = line.split()
        if f[:2] == ["id", "responseEnd"]:
            in_table = True
        elif in_table and len(f) >= 7 and f[0].isdigit():
            rows += 1
            st200 += f[4] == "200"
            size7 += f[5] == "7"
    why = []
    if rc not in (0, None):
        why.append(f"nghttp exited with {rc}" + (" (timed out)" if rc == 124 else ""))
    if rows != n:
        why.append(f"{rows} of {n} requests answered")
    if st200 != rows:
        why.append(f"{rows - st200} answers not 200")
    if size7 != rows:
        why.append(f"{rows - size7} bodies not 7 bytes")
    if stable + canary != n or other:
        why.append(f"{stable + canary} of {n} bodies stable/canary" + (f", {other} other lines" if other else ""))
    print("\t".join(str(x) for x in [0 if why else 1, rows, st200, size7, stable, canary, "; ".join(why) or "-"]))


# ---------------------------------------------------------------------------
# Admin calls (the weir+rollout target)

def admin_call(port, method, path, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        req = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
               f"Content-Length: 0\r\n\r\n").encode()
        s.sendall(req)
        status, body, _, _ = read_response(s)
        return status, body


def rollout_start(port, route):
    try:
        status, body = admin_call(port, "POST", f"/routes/{route}/rollout/start")
        d = json.loads(body)
    except (OSError, ValueError, IndexError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if status != 200 or d.get("phase") != "running":
        print(f"error: HTTP {status}: {body[:500]!r}", file=sys.stderr)
        return 1
    print(d.get("phase"), d.get("step"), d.get("canary_percent"))
    return 0


def rollout_state(port, route):
    try:
        status, body = admin_call(port, "GET", f"/routes/{route}/rollout")
        d = json.loads(body)
    except (OSError, ValueError, IndexError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"error: HTTP {status}: {body[:500]!r}", file=sys.stderr)
        return 1
    ds = d.get("decisions") or []
    kinds = [x.get("decision", "") for x in ds]
    print("\t".join(str(x) for x in [d.get("phase"), d.get("step"), d.get("canary_percent"), len(ds),
                                      kinds[-1] if kinds else "-", kinds.count("advance"),
                                      kinds.count("rollback"), kinds.count("hold") + kinds.count("inconclusive")]))
    return 0


# ---------------------------------------------------------------------------
# Report

TARGETS = [("direct", "direct backend"), ("weir", "Weir"), ("weir_rollout", "Weir + rollout"),
           ("haproxy", "HAProxy"), ("nginx", "nginx")]

# The rollout's cost: Weir with a running rollout vs plain Weir, at most this much.
ROLLOUT_MAX_COST = 0.02


def read_tsv(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def fnum(x):
    try:
        v = float(x)
        return None if v != v else v
    except (TypeError, ValueError):
        return None


def fmt(v, digits=2):
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def rollout_section(runs, med, status, rollout_rows, pairs, meta):
    """The cost of a running rollout: Weir + rollout vs plain Weir. Every round measures
    both back to back (A B, then B A with BENCH_ROLLOUT_PAIRS=2), so each round gives a
    ratio with drift cancelled; the headline is the median of those per-round ratios."""
    L = ["## Rollout cost", ""]
    st = status.get("weir_rollout", {}).get("status", "skipped")
    if st != "ok" or status.get("weir", {}).get("status", "skipped") != "ok" or \
            med["weir"]["rps"] is None or med["weir_rollout"]["rps"] is None:
        L.append(f"- n/a: Weir + rollout was not measured ({st})")
        L.append("")
        return L, None
    if not pairs:  # older results: the main rows only
        pairs = [{"round": r["round"], "tag": "main", "target": r["target"], "rps": r["rps"],
                  "cpu_us": r["cpu_us"], "control_ns": "nan", "requests": r["requests"]}
                 for r in runs if r["ok"] == "1" and r["target"] in ("weir", "weir_rollout")]

    by_round = {}
    for r in pairs:
        if fnum(r["rps"]) is None or fnum(r["cpu_us"]) is None:
            continue
        by_round.setdefault(r["round"], {}).setdefault(r["target"], []).append(r)

    def mean(rows, field):
        vals = [fnum(x[field]) for x in rows if fnum(x[field]) is not None]
        return sum(vals) / len(vals) if vals else None

    def per_req(rows, field):  # sum(field) / sum(requests)
        num = [fnum(x[field]) for x in rows]
        if not rows or any(v is None for v in num):
            return None
        n = sum(int(x["requests"]) for x in rows)
        return sum(num) / n if n else None

    ratios = {"rps": [], "cpu_us": []}
    for rnd in sorted(by_round, key=int):
        d = by_round[rnd]
        if "weir" not in d or "weir_rollout" not in d:
            continue
        for field in ratios:
            a, b = mean(d["weir"], field), mean(d["weir_rollout"], field)
            if a and b is not None:
                ratios[field].append(b / a)
    a_rows = [x for d in by_round.values() for x in d.get("weir", [])]
    b_rows = [x for d in by_round.values() for x in d.get("weir_rollout", [])]
    n_a, n_b = len(a_rows), len(b_rows)

    def med_of(rows, field):
        vals = [fnum(x[field]) for x in rows if fnum(x[field]) is not None]
        return statistics.median(vals) if vals else None

    rows = []
    met_all = True
    for label, field, higher_better in (("throughput (req/s)", "rps", True), ("CPU per request (µs)", "cpu_us", False)):
        ma, mb = med_of(a_rows, field), med_of(b_rows, field)
        of_medians = mb / ma if ma else None
        rs = ratios[field]
        ratio = statistics.median(rs) if rs else of_medians
        if ratio is None:
            cost, met = None, "n/a"
            met_all = False
        else:
            cost = (1 - ratio) if higher_better else (ratio - 1)
            ok = cost < ROLLOUT_MAX_COST
            met = "yes" if ok else "**no**"
            met_all &= ok
        per_round = ", ".join(f"{x:.3f}" for x in rs)
        rows.append(f"| {label} | {fmt(ma, 2)} | {fmt(mb, 2)} | "
                    f"{'n/a' if of_medians is None else f'{of_medians:.3f}'} | "
                    f"{'n/a' if not rs else f'{statistics.median(rs):.3f}'} ({per_round}) | "
                    f"{'n/a' if cost is None else f'{100 * cost:+.1f}%'} | < {100 * ROLLOUT_MAX_COST:.0f}% | {met} |")

    # Attribution: the control thread is where the judge runs.
    ca = per_req(a_rows, "control_ns")
    cb = per_req(b_rows, "control_ns")
    dur = fnum(meta.get("duration_s"))
    L.append("Same 90/10 traffic, two Weir instances: plain, and one whose route has a rollout "
             "(`steps: [10, 100]`, a day per step, limits no traffic reaches) started through the admin API "
             "before the rounds, so the canary stays at 10% while the judge looks at every 1 s slice. "
             f"Each round runs the two back to back ({n_a} + {n_b} runs in all, order alternating so drift "
             "cancels); *paired ratio* is the median over rounds of each round's Weir + rollout / Weir. "
             "Cost = 1 − ratio for req/s, ratio − 1 for CPU/request.")
    L.append("")
    L.append("| metric | Weir | Weir + rollout | ratio of medians | paired ratio (per round) | cost | goal | met |")
    L.append("|---|---:|---:|---:|---:|---:|---|---|")
    L.extend(rows)
    L.append("")
    if ca is not None and cb is not None:
        cpu_a = med_of(a_rows, "cpu_us")
        delta_us = (cb - ca) / 1000.0
        share = f"{100 * delta_us / cpu_a:+.3f}% of plain Weir's CPU per request" if cpu_a else "n/a"
        per_s = ""
        if dur:
            per_s = (f"; {sum(fnum(x['control_ns']) for x in a_rows) / 1e6 / (n_a * dur):.2f} vs "
                     f"{sum(fnum(x['control_ns']) for x in b_rows) / 1e6 / (n_b * dur):.2f} ms of CPU per second of load")
        L.append(f"- Where the judge runs — the control thread (schedstat, ns resolution): "
                 f"{ca:.2f} ns/req in Weir vs {cb:.2f} ns/req in Weir + rollout{per_s}. "
                 f"The difference, {cb - ca:+.2f} ns/req = {share}, is the rollout's own work "
                 "(taking the slices, the judge's looks); the per-request recording into the judge's "
                 "histograms happens in both instances.")
    if rollout_rows and rollout_rows[-1].get("last_decision", "").startswith("A/A"):
        L.append("- **A/A calibration (BENCH_ROLLOUT_AA=1)**: the second instance is a plain Weir too, so the "
                 "'cost' above is the measurement's noise floor, not a rollout's cost.")
    if rollout_rows:
        r = rollout_rows[-1]
        steady = r.get("phase") == "running" and r.get("step") == "0"
        L.append(f"- Rollout after the rounds: phase `{r.get('phase')}`, step {r.get('step')}, canary "
                 f"{r.get('canary_percent')}%, {r.get('decisions')} decisions (last `{r.get('last_decision')}`; "
                 f"{r.get('advances')} advance, {r.get('rollbacks')} rollback, {r.get('holds')} hold notes)"
                 + ("" if steady else " — **the rollout left its step during the measurement: the comparison "
                                      "is not valid**"))
        if not steady:
            met_all = False
    else:
        L.append("- Rollout state after the rounds: not available")
        met_all = False
    L.append(f"- Rollout cost target (< {100 * ROLLOUT_MAX_COST:.0f}% on req/s and on CPU/request, paired): "
             f"{'met' if met_all else '**not met**'}")
    L.append("")
    L.append("<details><summary>Weir / Weir + rollout runs, in order</summary>")
    L.append("")
    L.append("| round | run | target | req/s | CPU µs/req | control thread ns/req |")
    L.append("|---:|---|---|---:|---:|---:|")
    for x in pairs:
        c = fnum(x["control_ns"])
        n = int(x["requests"]) if x["requests"].isdigit() else 0
        L.append(f"| {x['round']} | {x['tag']} | {x['target']} | {fmt(fnum(x['rps']), 0)} | "
                 f"{fmt(fnum(x['cpu_us']), 2)} | {'n/a' if c is None or not n else f'{c / n:.2f}'} |")
    L.append("")
    L.append("</details>")
    L.append("")
    return L, met_all


def report(rdir, out_md):
    meta = {}
    with open(os.path.join(rdir, "meta.tsv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    runs = read_tsv(os.path.join(rdir, "runs.tsv"))
    idle_rows = {r["target"]: r for r in read_tsv(os.path.join(rdir, "idle.tsv"))}
    burst_rows = {r["target"]: r for r in read_tsv(os.path.join(rdir, "burst.tsv"))}
    split_rows = {r["target"]: r for r in read_tsv(os.path.join(rdir, "split.tsv"))}
    status = {r["target"]: r for r in read_tsv(os.path.join(rdir, "status.tsv"))}

    med = {}
    for key, _ in TARGETS:
        mine = [r for r in runs if r["target"] == key and r["ok"] == "1"]
        m = {}
        for field in ("rps", "p50_ms", "p99_ms", "cpu_us"):
            vals = [fnum(r[field]) for r in mine if fnum(r[field]) is not None]
            m[field] = statistics.median(vals) if vals else None
        m["rounds"] = len(mine)
        m["errors"] = sum(int(r["errors"]) for r in runs if r["target"] == key)
        ir = idle_rows.get(key)
        m["rss"] = fnum(ir["bytes_per_conn"]) if ir else None
        br = burst_rows.get(key)
        m["burst"] = fnum(br["bytes_per_conn"]) if br else None
        med[key] = m

    L = []
    L.append(f"# Weir benchmark — {meta.get('date', '')}")
    L.append("")
    L.append(f"- Machine: {meta.get('nproc')} CPUs, {meta.get('cpu_model')}; kernel {meta.get('kernel')}; "
             f"load average before the run {meta.get('loadavg')}")
    L.append(f"- Versions: {meta.get('weir_version')}; {meta.get('haproxy_version')}; "
             f"{meta.get('nginx_version')}; {meta.get('wrk_version')}")
    L.append(f"- Load: `wrk -t1 -c{meta.get('conns')} -d{meta.get('duration')} --latency`, "
             f"{meta.get('rounds')} interleaved rounds (median shown), warm-up {meta.get('warmup')} per target; "
             f"idle test: {meta.get('idle_conns')} keep-alive connections; "
             f"burst test: {meta.get('burst_conns', 'n/a')} connections")
    L.append("- Every proxy: 1 worker/thread, 90/10 split over two local nginx backends "
             "(1 worker each, fixed ~7-byte body), upstream keep-alive on. Nothing pinned. "
             "*Weir + rollout*: a second Weir with the same split held by a running rollout "
             "(see [Rollout cost](#rollout-cost)); no idle test.")
    L.append("")
    L.append("| target | req/s | p50 ms | p99 ms | CPU µs/req | RSS B/idle conn | after a burst | canary share | errors |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, name in TARGETS:
        m = med[key]
        st = status.get(key, {}).get("status", "")
        if st and st != "ok":
            L.append(f"| {name} | {st} | | | | | | | |")
            continue
        sr = split_rows.get(key)
        share = "—"
        if sr and key != "direct":
            s, c = int(sr["stable"]), int(sr["canary"])
            share = f"{100.0 * c / (s + c):.1f}%" if s + c else "n/a"
            bad = int(sr["other"]) + int(sr["errors"])
            if bad:
                share += f" ({bad} bad)"
        def rss_cell(field, rows):
            if key in ("direct", "weir_rollout"):
                return "—"
            cell = fmt(m[field], 0)
            r = rows.get(key)
            if r and r["still_open"] != r["requested"]:
                cell += f" ({r['still_open']}/{r['requested']} open)"
            return cell
        L.append(f"| {name} | {fmt(m['rps'], 0)} | {fmt(m['p50_ms'], 3)} | {fmt(m['p99_ms'], 3)} | "
                 f"{fmt(m['cpu_us'], 2)} | {rss_cell('rss', idle_rows)} | {rss_cell('burst', burst_rows)} | "
                 f"{share} | {m['errors']} |")
    L.append("")
    direct_rps = [fnum(r["rps"]) for r in runs if r["target"] == "direct" and r["ok"] == "1"]
    if len(direct_rps) >= 2 and max(direct_rps) > 0 and \
            (max(direct_rps) - min(direct_rps)) / max(direct_rps) > 0.15:
        L.append(f"**Warning:** direct-backend throughput varied by "
                 f"{100 * (max(direct_rps) - min(direct_rps)) / max(direct_rps):.0f}% across rounds: "
                 "something else was using the CPUs; treat req/s and latency with care "
                 "(CPU µs/req is less affected).")
        L.append("")
    L.append("CPU µs/req of *direct backend* is the backend nginx's own cost (a floor for reference). "
             "RSS is (VmRSS after − before) / connections, measured after the load rounds: *idle conn* "
             "opens the connections one after another, one request each; *after a burst* sends one request "
             "on every connection at once, then reads VmRSS after the connections have been idle for "
             f"{meta.get('burst_settle', '?')} s (what the burst's memory left behind).")
    L.append("")

    w, h, n = med["weir"], med["haproxy"], med["nginx"]

    def ratio(a, b):
        return a / b if a is not None and b not in (None, 0) else None

    weir_ok = status.get("weir", {}).get("status", "ok") == "ok" and w["rps"] is not None
    L.append("## Ratios")
    L.append("")
    if weir_ok:
        for other, om in (("HAProxy", h), ("nginx", n)):
            def rx(a, b):
                v = ratio(a, b)
                return "n/a" if v is None else f"{v:.2f}x"
            L.append(f"- Weir/{other}: rps {rx(w['rps'], om['rps'])}, "
                     f"p99 {rx(w['p99_ms'], om['p99_ms'])}, "
                     f"CPU/request {rx(w['cpu_us'], om['cpu_us'])}, "
                     f"RSS/conn {rx(w['rss'], om['rss'])}, "
                     f"RSS/conn after a burst {rx(w['burst'], om['burst'])}")
    else:
        L.append("- n/a: Weir was not measured (" + status.get("weir", {}).get("status", "skipped") + ")")
    L.append("")

    def best(field, higher_better):
        return best_of((h, n), field, higher_better)

    L.append("## Targets")
    L.append("")
    L.append("| target | Weir | best of HAProxy/nginx | goal | met |")
    L.append("|---|---:|---:|---|---|")
    all_met = True
    goals = [
        ("throughput (req/s)", "rps", True, 1.10, ">= 1.10x best"),
        ("p99 latency (ms)", "p99_ms", False, 0.90, "<= 0.90x best"),
        ("CPU per request (µs)", "cpu_us", False, 0.90, "<= 0.90x best"),
    ]
    for label, field, hb, factor, goal in goals:
        b = best(field, hb)
        wv = w[field] if weir_ok else None
        if wv is None or b is None:
            met = "n/a"
            all_met = False
        else:
            ok = wv >= factor * b if hb else wv <= factor * b
            met = "yes" if ok else "**no**"
            all_met &= ok
        L.append(f"| {label} | {fmt(wv, 3)} | {fmt(b, 3)} | {goal} | {met} |")
    for label, field in (("RSS per idle connection (B)", "rss"), ("RSS per idle connection after a burst (B)", "burst")):
        wv = w[field] if weir_ok else None
        if wv is None:
            met = "n/a"
            all_met = False
        else:
            ok = wv <= 1024
            met = "yes" if ok else "**no**"
            all_met &= ok
        L.append(f"| {label} | {fmt(wv, 0)} | {fmt(best(field, False), 0)} | <= 1024 B | {met} |")
    L.append("")

    rollout_lines, rollout_met = rollout_section(runs, med, status, read_tsv(os.path.join(rdir, "rollout.tsv")),
                                                 read_tsv(os.path.join(rdir, "pairs.tsv")), meta)
    if rollout_met is not None:
        all_met &= rollout_met
    L.append(f"All targets met: {'yes' if all_met else 'no'}")
    L.append("")
    L.extend(rollout_lines)

    L.append("<details><summary>Per-round raw results</summary>")
    L.append("")
    L.append("| round | target | req/s | p50 ms | p99 ms | CPU µs/req | requests | errors |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        L.append(f"| {r['round']} | {r['target']} | {fmt(fnum(r['rps']), 0)} | {fmt(fnum(r['p50_ms']), 3)} | "
                 f"{fmt(fnum(r['p99_ms']), 3)} | {fmt(fnum(r['cpu_us']), 2)} | {r['requests']} | {r['errors']} |")
    L.append("")
    for test, rows in (("idle test", idle_rows), ("burst test", burst_rows)):
        if not rows:
            continue
        L.append(f"| {test} | opened | still open | errors | RSS before KiB | RSS after KiB | B/conn |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        for key, _ in TARGETS:
            r = rows.get(key)
            if r:
                L.append(idle_row(key, r))
        L.append("")
    L.append("</details>")
    L.append("")
    write_report(L, out_md, rdir, "all_met", all_met)


# ---------------------------------------------------------------------------
# TLS report

TLS_TARGETS = [("weir_tls", "Weir"), ("haproxy_tls", "HAProxy"), ("nginx_tls", "nginx")]


def canary_share(sr):
    """The canary's share of the split check (a tls_split.tsv row), with the bad answers if any."""
    if not sr:
        return "n/a"
    sv, cv = int(sr["stable"]), int(sr["canary"])
    share = f"{100.0 * cv / (sv + cv):.1f}%" if sv + cv else "n/a"
    bad = int(sr["other"]) + int(sr["errors"])
    return share + (f" ({bad} bad)" if bad else "")


KIND_LABEL = {"ka": "keep-alive", "new": "new conn", "up": "TLS upstream"}
UP_TARGETS = [("weir_up", "Weir"), ("haproxy_up", "HAProxy"), ("nginx_up", "nginx")]


def upstream_section(runs, status, split_rows, meta, paired, hs):
    """The TLS-to-upstreams rounds (kind "up"): plain client, TLS to the backends."""
    mine = [r for r in runs if r["kind"] == "up"]
    if not mine:
        return []
    L = ["## TLS to upstreams", ""]
    L.append(f"wrk speaks plain HTTP (`wrk -t1 -c{meta.get('conns')} -d{meta.get('duration')}`, keep-alive) to "
             "each proxy; each proxy speaks TLS to two nginx backends terminating it with the bench certificate "
             "(same 90/10 split, keep-alive on both legs) and verifies it: Weir against it as `ca_file` by "
             "address, HAProxy `ssl verify required ca-file`, nginx `proxy_ssl_verify` by the name localhost. "
             f"{meta.get('up_rounds')} interleaved rounds, median shown. No goal is set for this path; the "
             "ratios say where Weir stands.")
    L.append("")
    L.append("| proxy | req/s | p99 ms | CPU µs/req | wrk CPU µs/req | canary share | errors |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    med = {}
    for key, name in UP_TARGETS:
        st = status.get(key, "")
        if st and st != "ok":
            L.append(f"| {name} | {st} | | | | | |")
            continue
        rows = [r for r in mine if r["target"] == key and r["ok"] == "1"]
        m = {}
        for field in ("rps", "p99_ms", "cpu_us", "client_cpu_us"):
            vals = [fnum(r.get(field)) for r in rows if fnum(r.get(field)) is not None]
            m[field] = statistics.median(vals) if vals else None
        med[key] = m
        share = canary_share(split_rows.get(key))
        errors = sum(int(r["errors"]) for r in mine if r["target"] == key)
        L.append(f"| {name} | {fmt(m['rps'], 0)} | {fmt(m['p99_ms'], 3)} | {fmt(m['cpu_us'], 2)} | "
                 f"{fmt(m['client_cpu_us'], 2)} | {share} | {errors} |")
    L.append("")
    w = med.get("weir_up")
    if w:
        for other_key, other in (("haproxy_up", "HAProxy"), ("nginx_up", "nginx")):
            o = med.get(other_key)
            if not o:
                continue
            parts = []
            for field, label, hb in (("rps", "req/s", True), ("cpu_us", "CPU/request", False)):
                a, b = w[field], o[field]
                rom = "n/a" if a is None or not b else f"{a / b:.2f}x"
                pr = paired(f"up_{field}", hb, "weir_up", (other_key,))
                pcell = "" if not pr else f", paired {statistics.median(pr):.2f}x"
                parts.append(f"{label} {rom}{pcell}")
            L.append(f"- Weir/{other}: " + ", ".join(parts))
        L.append("")
    if len(hs) >= 2:
        h0, h1 = hs[0], hs[-1]

        def d(k):
            a, b = fnum(h0.get(k)), fnum(h1.get(k))
            return "n/a" if a is None or b is None else f"{int(b - a):,}"
        L.append(f"Weir's handshakes with the backends during the rounds (`weir_upstream_tls_handshakes_total`): "
                 f"{d('full')} full, {d('resumed')} resumed, {d('failed')} failed, {d('timeout')} timed out "
                 f"(before: {h0.get('full')} full, {h0.get('resumed')} resumed, from the split check and warm-up).")
        L.append("")
    return L


def tls_report(rdir, out_md):
    meta = {}
    with open(os.path.join(rdir, "tls_meta.tsv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    runs = read_tsv(os.path.join(rdir, "tls_runs.tsv"))
    idle_rows = {r["target"]: r for r in read_tsv(os.path.join(rdir, "tls_idle.tsv"))}
    split_rows = {r["target"]: r for r in read_tsv(os.path.join(rdir, "tls_split.tsv"))}
    info_rows = {r["target"]: r for r in read_tsv(os.path.join(rdir, "tls_info.tsv"))}
    status = {r["target"]: r["status"] for r in read_tsv(os.path.join(rdir, "tls_status.tsv"))}
    hs = read_tsv(os.path.join(rdir, "tls_weir_handshakes.tsv"))

    med = {}
    for key, _ in TLS_TARGETS:
        m = {}
        for kind in ("ka", "new"):
            mine = [r for r in runs if r["target"] == key and r["kind"] == kind and r["ok"] == "1"]
            for field in ("rps", "p50_ms", "p99_ms", "cpu_us"):
                vals = [fnum(r[field]) for r in mine if fnum(r[field]) is not None]
                m[f"{kind}_{field}"] = statistics.median(vals) if vals else None
            m[f"{kind}_errors"] = sum(int(r["errors"]) for r in runs if r["target"] == key and r["kind"] == kind)
        ir = idle_rows.get(key)
        m["rss"] = fnum(ir["bytes_per_conn"]) if ir else None
        m["rss2"] = fnum(ir.get("bytes_per_conn_second_half")) if ir else None
        med[key] = m

    L = [f"# Weir TLS benchmark — {meta.get('date', '')}", ""]
    L.append(f"- Machine: {meta.get('nproc')} CPUs, {meta.get('cpu_model')}; kernel {meta.get('kernel')}; "
             f"load average before the TLS rounds {meta.get('loadavg')}, after {meta.get('loadavg_end')}"
             " (the machine is shared: other builds and tests may have been running)")
    L.append(f"- Versions: {meta.get('weir_version')}; {meta.get('haproxy_version')}; {meta.get('nginx_version')}; "
             f"{meta.get('wrk_version')}; {meta.get('openssl_version')}")
    L.append(f"- Certificate: ECDSA P-256, self-signed, generated for the run (`openssl req -x509 -newkey ec "
             f"-pkeyopt ec_paramgen_curve:P-256`); the same files for all three proxies (HAProxy: certificate "
             f"and key in one PEM). Each proxy keeps its TLS defaults (ciphers, session resumption: HAProxy "
             f"tickets + its session cache, nginx tickets, Weir tickets + a session cache), except that nginx "
             f"1.22, which leaves TLS 1.3 off by default, gets `ssl_protocols {meta.get('nginx_protocols')}` "
             f"so that all three speak the versions Weir and HAProxy 2.6 speak by default.")
    L.append(f"- Load: `wrk -t1 -c{meta.get('conns')} -d{meta.get('duration')} --latency https://…`, "
             f"{meta.get('rounds')} interleaved rounds (median shown; the order of the proxies rotates every "
             f"round), warm-up {meta.get('warmup')} per proxy. *Keep-alive*: as the plain rounds, over TLS. "
             f"*New connections*: the same with `-H \"Connection: close\"`: every response closes the "
             f"connection and wrk opens a new one, so new connections/s = req/s and CPU per connection = CPU "
             f"per request. When wrk reconnects it offers the session of the slot's previous connection "
             f"(its `SSL_clear` keeps it), so the round is a mix of full and resumed handshakes that depends "
             f"on how each proxy resumes by default: *resumes* shows whether a second connection is resumed "
             f"and how many of 10 are when each offers the previous one's session, as wrk does.")
    L.append(f"- Idle TLS connections: {meta.get('idle_conns')} connections opened one after another, each "
             "completing the handshake and one `GET /` before the next opens, then left idle; RSS growth of "
             "the proxy process (nginx: master + worker) after 1 s, per connection (as the plain idle test). "
             "Each proxy's test starts after 3 s without traffic. "
             "*2nd half*: the growth from the half-way mark (read after 1 s too) to the end, per connection "
             "of the second half: the marginal cost, after memory left free by the load rounds has been "
             "reused.")
    L.append("- Every proxy: 1 worker/thread, 90/10 split over the same two local nginx backends as the plain "
             "rounds (plain HTTP upstream, keep-alive). Nothing pinned. CPU is utime+stime of the proxy "
             "process (all threads) around each wrk run, divided by the requests wrk completed.")
    L.append("")
    L.append("| proxy | keep-alive req/s | p99 ms | CPU µs/req | new conn/s | p99 ms | CPU µs/conn | "
             "RSS B/idle TLS conn | 2nd half | negotiated | resumes | canary share | errors (ka/new) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|")
    for key, name in TLS_TARGETS:
        st = status.get(key, "")
        if st and st != "ok":
            L.append(f"| {name} | {st} | | | | | | | | | | | |")
            continue
        m = med[key]
        inf = info_rows.get(key, {})
        neg = f"{inf.get('version', '?')} {inf.get('cipher', '?')}"
        if inf.get("group") not in (None, "", "None"):
            neg += f" {inf['group']}"
        resumes = {"True": "yes", "False": "no"}.get(inf.get("resumed"), "?")
        if inf.get("chain") not in (None, "", "None"):
            resumes += f", {inf['chain']} chained"
        share = canary_share(split_rows.get(key))
        rss = fmt(m["rss"], 0)
        ir = idle_rows.get(key)
        if ir and ir["still_open"] != ir["requested"]:
            rss += f" ({ir['still_open']}/{ir['requested']} open)"
        L.append(f"| {name} | {fmt(m['ka_rps'], 0)} | {fmt(m['ka_p99_ms'], 3)} | {fmt(m['ka_cpu_us'], 2)} | "
                 f"{fmt(m['new_rps'], 0)} | {fmt(m['new_p99_ms'], 3)} | {fmt(m['new_cpu_us'], 1)} | {rss} | "
                 f"{fmt(fnum(ir.get('bytes_per_conn_second_half')) if ir else None, 0)} | "
                 f"{neg} | {resumes} | {share} | {m['ka_errors']}/{m['new_errors']} |")
    L.append("")
    if hs:
        h0, h1 = hs[0], hs[-1]
        def d(k):
            a, b = fnum(h0.get(k)), fnum(h1.get(k))
            return "n/a" if a is None or b is None else f"{int(b - a):,}"
        L.append(f"Weir's own count of handshakes during the load rounds (`weir_tls_handshakes_total`): "
                 f"{d('full')} full, {d('resumed')} resumed, {d('failed')} failed, {d('timeout')} timed out.")
        L.append("")

    # How much of its one core each proxy used (req/s x CPU s/req, per run, median): a proxy
    # well below 1 core at lower throughput is waiting on something, not out of CPU.
    # Next to it, what wrk used and what the machine had left (idle, and taken by
    # the hypervisor): when wrk is at a full core or nothing is idle, the round's
    # throughput is the client's or the machine's, not the proxy's.
    def cores(r, field):
        if field == "proxy":
            a, b = fnum(r["rps"]), fnum(r["cpu_us"])
        elif field == "client":
            a, b = fnum(r["rps"]), fnum(r.get("client_cpu_us"))
        elif field == "backends":
            a, b = fnum(r["rps"]), fnum(r.get("backend_cpu_us"))
        else:
            return fnum(r.get(field))
        return None if a is None or b is None else a * b / 1e6

    busy = []
    for key, name in TLS_TARGETS:
        parts = []
        for kind, label in (("ka", "keep-alive"), ("new", "new connections")):
            mine = [r for r in runs if r["target"] == key and r["kind"] == kind and r["ok"] == "1"]
            cells = []
            for field, what in (("proxy", "proxy"), ("client", "wrk"), ("backends", "backends"), ("idle_cores", "idle"),
                                ("steal_cores", "stolen")):
                vals = [v for v in (cores(r, field) for r in mine) if v is not None]
                if vals:
                    cells.append(f"{what} {statistics.median(vals):.2f}")
            if cells:
                parts.append(f"{label}: " + ", ".join(cells))
        if parts:
            busy.append(f"- {name} — " + "; ".join(parts))
    if busy:
        L.append("Cores used during the runs (median over rounds; req/s × CPU per request for the proxy and "
                 "for wrk, which does the client side of every handshake, and for the two nginx backends; *idle* and "
                 "*stolen* for the whole machine, from /proc/stat). Each proxy has one worker on a 2-core machine: "
                 "when proxy + wrk + backends add up to about 2 and nothing is idle, the machine is the limit, and "
                 "a proxy that needs less CPU per request gains throughput only by its share of the total.")
        L.append("")
        L.extend(busy)
        L.append("")

    w, h, n = med["weir_tls"], med["haproxy_tls"], med["nginx_tls"]
    weir_ok = status.get("weir_tls", "skipped") == "ok"

    def ratio(a, b):
        return a / b if a is not None and b not in (None, 0) else None

    def rx(a, b):
        v = ratio(a, b)
        return "n/a" if v is None else f"{v:.2f}x"

    L.append("## Ratios")
    L.append("")
    if weir_ok:
        for other, om in (("HAProxy", h), ("nginx", n)):
            L.append(f"- Weir/{other}: keep-alive req/s {rx(w['ka_rps'], om['ka_rps'])}, "
                     f"CPU/request {rx(w['ka_cpu_us'], om['ka_cpu_us'])}, "
                     f"new conn/s {rx(w['new_rps'], om['new_rps'])}, "
                     f"CPU/new connection {rx(w['new_cpu_us'], om['new_cpu_us'])}, "
                     f"RSS/idle TLS conn {rx(w['rss'], om['rss'])} (2nd half {rx(w['rss2'], om['rss2'])})")
    else:
        L.append(f"- n/a: Weir was not measured ({status.get('weir_tls', 'skipped')})")
    L.append("")

    def best(field, higher_better):
        return best_of((h, n), field, higher_better)

    # Paired ratios: in each round, Weir against the better peer of that same
    # round. The machine's speed drifts between rounds (shared host: see
    # *stolen*), so medians taken over different rounds can compare a fast
    # minute with a slow one; a ratio within a round cancels the drift.
    def paired(kind_field, higher_better, weir="weir_tls", others=("haproxy_tls", "nginx_tls")):
        kind, _, field = kind_field.partition("_")
        out = []
        for r in sorted({row["round"] for row in runs}, key=int):
            vals = {row["target"]: fnum(row[field]) for row in runs
                    if row["round"] == r and row["kind"] == kind and row["ok"] == "1"}
            wv = vals.get(weir)
            peers = [vals[k] for k in others if vals.get(k) is not None]
            if wv is None or not peers:
                continue
            b = max(peers) if higher_better else min(peers)
            if b:
                out.append(wv / b)
        return out

    L.append("## Goals")
    L.append("")
    L.append("*Weir/best*: the ratio of the medians above. *Paired*: the median over rounds of Weir / the "
             "better peer of the same round (drift between rounds cancels), with each round's ratio; load "
             "goals are judged on it, memory (one measurement each) on the ratio.")
    L.append("")
    L.append("| goal | Weir | best of HAProxy/nginx | Weir/best | paired (per round) | goal | met |")
    L.append("|---|---:|---:|---:|---|---|---|")
    all_met = True
    goals = [
        ("TLS keep-alive throughput (req/s)", "ka_rps", True, 1.10, ">= 1.10x best", 0),
        ("TLS keep-alive CPU per request (µs)", "ka_cpu_us", False, 0.90, "<= 0.90x best", 2),
        ("TLS new connections per second", "new_rps", True, 1.10, ">= 1.10x best", 0),
        ("memory per idle TLS connection (B)", "rss", False, 1.00, "<= best", 0),
        ("memory per idle TLS connection, 2nd half (B)", "rss2", False, 1.00, "<= best", 0),
    ]
    for label, field, hb, factor, goal, digits in goals:
        b = best(field, hb)
        wv = w[field] if weir_ok else None
        rounds = paired(field, hb) if weir_ok and field.startswith(("ka_", "new_")) else []
        judged = statistics.median(rounds) if rounds else ratio(wv, b)
        if judged is None:
            met = "n/a"
            all_met = False
        else:
            ok = judged >= factor if hb else judged <= factor
            met = "yes" if ok else "**no**"
            all_met &= ok
        cell = "n/a" if not rounds else (f"{statistics.median(rounds):.2f}x (" +
                                         ", ".join(f"{x:.2f}" for x in rounds) + ")")
        L.append(f"| {label} | {fmt(wv, digits)} | {fmt(b, digits)} | {rx(wv, b)} | {cell} | {goal} | {met} |")
    L.append("")
    L.append(f"All TLS goals met: {'yes' if all_met else 'no'}")
    L.append("")
    L.extend(upstream_section(runs, status, split_rows, meta, paired,
                              read_tsv(os.path.join(rdir, "tls_weir_upstream_handshakes.tsv"))
                              if os.path.exists(os.path.join(rdir, "tls_weir_upstream_handshakes.tsv")) else []))
    L.append("<details><summary>Per-round raw results</summary>")
    L.append("")
    L.append("| round | kind | target | req/s | p50 ms | p99 ms | CPU µs/req | wrk CPU µs/req | idle cores | "
             "stolen cores | requests | errors |")
    L.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        L.append(f"| {r['round']} | {KIND_LABEL.get(r['kind'], r['kind'])} | {r['target']} | "
                 f"{fmt(fnum(r['rps']), 0)} | {fmt(fnum(r['p50_ms']), 3)} | {fmt(fnum(r['p99_ms']), 3)} | "
                 f"{fmt(fnum(r['cpu_us']), 2)} | {fmt(fnum(r.get('client_cpu_us')), 2)} | "
                 f"{fmt(fnum(r.get('idle_cores')), 2)} | {fmt(fnum(r.get('steal_cores')), 2)} | "
                 f"{r['requests']} | {r['errors']} |")
    L.append("")
    if idle_rows:
        L.append("| idle TLS test | opened | still open | errors | RSS before KiB | RSS half-way KiB | "
                 "RSS after KiB | B/conn | B/conn 2nd half |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, _ in TLS_TARGETS:
            r = idle_rows.get(key)
            if r:
                L.append(f"| {key} | {r['opened']} | {r['still_open']} | {r['errors']} | {r['rss_before_kib']} | "
                         f"{r.get('rss_half_kib')} | {r['rss_after_kib']} | {r['bytes_per_conn']} | "
                         f"{r.get('bytes_per_conn_second_half')} |")
        L.append("")
    L.append("</details>")
    L.append("")
    write_report(L, out_md, rdir, "tls_all_met", all_met)


# The tunnel rounds' targets and goals (see bench/README.md "Tunnel rounds").
TUNNEL_TARGETS = [("direct_tunnel", "direct (no proxy)"), ("weir_tunnel", "Weir"),
                  ("haproxy_tunnel", "HAProxy"), ("nginx_tunnel", "nginx")]
TUNNEL_MIN_DIRECT_RATIO = 0.8     # Weir's both-ways throughput vs direct, at least
TUNNEL_MAX_IDLE_RATIO = 2.0       # Weir's RSS per idle tunnel vs per idle keep-alive connection, at most


def tunnel_report(rdir, out_md):
    meta = {}
    with open(os.path.join(rdir, "tunnel_meta.tsv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    runs = read_tsv(os.path.join(rdir, "tunnel_runs.tsv"))
    status = {r["target"]: r["status"] for r in read_tsv(os.path.join(rdir, "tunnel_status.tsv"))}
    tun_idle = {r["target"]: r for r in read_tsv(os.path.join(rdir, "tunnel_idle.tsv"))}
    ka_idle = {r["target"]: r for r in read_tsv(os.path.join(rdir, "idle.tsv"))}
    nbytes = int(meta.get("bytes", "0") or 0)
    gib_moved = 2 * nbytes / (1 << 30)

    def med(key, field):
        vals = [fnum(r[field]) for r in runs if r["target"] == key and r["ok"] == "1"]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    def paired(a_key, b_key, field="both_mib_s"):
        """Median over rounds of a/b within the same round."""
        by_round = {}
        for r in runs:
            if r["ok"] == "1" and fnum(r[field]) is not None:
                by_round.setdefault(r["round"], {})[r["target"]] = fnum(r[field])
        rs = [d[a_key] / d[b_key] for d in by_round.values() if a_key in d and d.get(b_key)]
        return (statistics.median(rs) if rs else None), rs

    m = {}
    for key, _ in TUNNEL_TARGETS:
        m[key] = {f: med(key, f) for f in ("up_mib_s", "down_mib_s", "both_mib_s", "cpu_s", "backend_cpu_s")}
        m[key]["rounds"] = sum(1 for r in runs if r["target"] == key and r["ok"] == "1")
        m[key]["failed_rounds"] = sum(1 for r in runs if r["target"] == key and r["ok"] != "1")

    L = []
    L.append(f"# Weir tunnel benchmark — {meta.get('date', '')}")
    L.append("")
    L.append(f"- Machine: {meta.get('nproc')} CPUs, {meta.get('cpu_model')}; kernel {meta.get('kernel')}; "
             f"load average {meta.get('loadavg')} before, {meta.get('loadavg_end')} after")
    L.append(f"- Versions: {meta.get('weir_version')}; {meta.get('haproxy_version')}; {meta.get('nginx_version')}")
    L.append(f"- Throughput: one HTTP/1.1 `Upgrade: websocket` tunnel per run, {nbytes / 1048576:.0f} MiB each way "
             f"at the same time (one client thread, non-blocking, 256 KiB reads/writes; the backend is one epoll "
             f"thread), {meta.get('rounds')} interleaved rounds, median shown. *Both ways*: all bytes moved "
             f"(2 × {nbytes / 1048576:.0f} MiB) over the time until both directions were done.")
    L.append("- Every proxy: 1 worker/thread, default buffers, one backend "
             "(`weir_tunnel_tool backend`), everything on 127.0.0.1. Nothing pinned: the client, "
             "the proxy and the backend share the machine's CPUs.")
    L.append("")
    L.append("## Throughput through one tunnel")
    L.append("")
    L.append("| target | up MiB/s | down MiB/s | both ways MiB/s | × direct | proxy CPU s/GiB moved | rounds |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    direct = m["direct_tunnel"]["both_mib_s"]
    for key, name in TUNNEL_TARGETS:
        st = status.get(key, "skipped")
        x = m[key]
        if st != "ok" and x["rounds"] == 0:
            L.append(f"| {name} | {st} | | | | | |")
            continue
        cpu = x["cpu_s"] / gib_moved if x["cpu_s"] is not None and gib_moved else None
        rounds = f"{x['rounds']}" + (f" ({x['failed_rounds']} failed)" if x["failed_rounds"] else "")
        L.append(f"| {name} | {fmt(x['up_mib_s'], 0)} | {fmt(x['down_mib_s'], 0)} | {fmt(x['both_mib_s'], 0)} | "
                 f"{fmt(ratio(x['both_mib_s'], direct)) if key != 'direct_tunnel' else '—'} | "
                 f"{fmt(cpu, 3) if key != 'direct_tunnel' else '—'} | {rounds} |")
    L.append("")
    w = m["weir_tunnel"]["both_mib_s"]
    all_met = True
    goals = []
    if status.get("weir_tunnel") == "skipped":
        goals.append("- Weir not measured (skipped).")
    elif m["weir_tunnel"]["rounds"] == 0:
        all_met = False
        goals.append(f"- Throughput, Weir vs direct: **no measurement** — {status.get('weir_tunnel')}; "
                     f"goal ≥ {TUNNEL_MIN_DIRECT_RATIO}× — **NOT met**")
    else:
        pr, rs = paired("weir_tunnel", "direct_tunnel")
        met = pr is not None and pr >= TUNNEL_MIN_DIRECT_RATIO
        all_met &= met
        goals.append(f"- Throughput, Weir vs direct (both ways): **{fmt(pr)}×** (median of the per-round ratios "
                     f"{', '.join(fmt(v) for v in rs) or 'n/a'}; ratio of the medians {fmt(ratio(w, direct))}×), "
                     f"goal ≥ {TUNNEL_MIN_DIRECT_RATIO}× — **{'met' if met else 'NOT met'}**")
        for other, oname in (("haproxy_tunnel", "HAProxy"), ("nginx_tunnel", "nginx")):
            po, _ = paired("weir_tunnel", other)
            goals.append(f"- Weir vs {oname} (both ways): {fmt(ratio(w, m[other]['both_mib_s']))}× "
                         f"(paired {fmt(po)}×); up {fmt(ratio(m['weir_tunnel']['up_mib_s'], m[other]['up_mib_s']))}×, "
                         f"down {fmt(ratio(m['weir_tunnel']['down_mib_s'], m[other]['down_mib_s']))}×")
    L.extend(goals)
    L.append("")
    L.append("How the two directions share the time varies from run to run (who the scheduler runs first); "
             "*both ways* is the stable figure. Every byte is checked against the pattern at both ends.")
    L.append("")

    L.append("## Memory per idle tunnel")
    L.append("")
    L.append(f"Fresh instances of each proxy; after one warm-up tunnel (or request), VmRSS, then "
             f"{meta.get('idle')} tunnels opened one after another (handshake, `101` checked), 1 s idle, VmRSS "
             f"again; at the end every tunnel must still echo a byte. Next to it, on other fresh instances, the same "
             f"number of idle keep-alive connections after one `GET /` each (the plain rounds' idle test). "
             f"RSS counts neither direction's socket buffers: those are kernel memory (a tunnel holds two sockets "
             f"in the proxy, a keep-alive connection one, plus the shared upstream connection).")
    L.append("")
    L.append("| proxy | KiB per idle tunnel | tunnels open | KiB per idle keep-alive conn | conns open | "
             "tunnel / keep-alive |")
    L.append("|---|---:|---:|---:|---:|---:|")
    per = {}
    for proxy, name in (("weir", "Weir"), ("haproxy", "HAProxy"), ("nginx", "nginx")):
        t_key, k_key = f"{proxy}_tmem", f"{proxy}_kmem"
        tr, kr = tun_idle.get(t_key), ka_idle.get(k_key)
        t_st, k_st = status.get(t_key, "skipped"), status.get(k_key, "skipped")
        tv = fnum(tr["bytes_per_conn"]) / 1024 if tr and fnum(tr["bytes_per_conn"]) is not None else None
        kv = fnum(kr["bytes_per_conn"]) / 1024 if kr and fnum(kr["bytes_per_conn"]) is not None else None
        if tr is None or (tr and tr["still_open"] != tr["requested"]):
            tv = None
        per[proxy] = (tv, kv)
        t_cell = fmt(tv, 2) if tv is not None else (t_st if t_st != "ok" else "failed")
        k_cell = fmt(kv, 2) if kv is not None else (k_st if k_st != "ok" else "failed")
        t_open = f"{tr['still_open']}/{tr['requested']}" if tr else "—"
        k_open = f"{kr['still_open']}/{kr['requested']}" if kr else "—"
        L.append(f"| {name} | {t_cell} | {t_open} | {k_cell} | {k_open} | {fmt(ratio(tv, kv))} |")
    L.append("")
    if status.get("weir_tmem") != "skipped" and int(meta.get("idle", "0") or 0) > 0 and per["weir"][0] is None:
        all_met = False
        L.append(f"- Weir: **no measurement** of idle tunnels — {status.get('weir_tmem')}; "
                 f"goal ≤ {TUNNEL_MAX_IDLE_RATIO}× an idle keep-alive connection — **NOT met**")
        L.append("")
    elif status.get("weir_tmem") != "skipped" and int(meta.get("idle", "0") or 0) > 0:
        tv, kv = per["weir"]
        met = tv is not None and kv is not None and tv <= TUNNEL_MAX_IDLE_RATIO * max(kv, 0.0)
        all_met &= met
        L.append(f"- Weir: an idle tunnel costs {fmt(tv)} KiB, an idle keep-alive connection {fmt(kv)} KiB: "
                 f"**{fmt(ratio(tv, kv))}×**, goal ≤ {TUNNEL_MAX_IDLE_RATIO}× (plus the kernel's memory for "
                 f"the second socket) — **{'met' if met else 'NOT met'}**")
        L.append("")
    L.append("RSS per connection is an order of magnitude, not a figure to the byte (allocator reuse, "
             "pools sized at start: see *How to read it*).")
    L.append("")
    L.append("<details><summary>Per-round raw results</summary>")
    L.append("")
    L.append("| round | target | up MiB/s | down MiB/s | both ways MiB/s | s | proxy CPU s | backend CPU s |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        if r["ok"] != "1":
            L.append(f"| {r['round']} | {r['target']} | failed | | | | | |")
            continue
        L.append(f"| {r['round']} | {r['target']} | {fmt(fnum(r['up_mib_s']), 0)} | {fmt(fnum(r['down_mib_s']), 0)} | "
                 f"{fmt(fnum(r['both_mib_s']), 0)} | {fmt(fnum(r['elapsed_s']), 3)} | {fmt(fnum(r['cpu_s']), 2)} | "
                 f"{fmt(fnum(r['backend_cpu_s']), 2)} |")
    L.append("")
    L.append("| idle test | opened | still open | errors | RSS before KiB | RSS after KiB | B/conn |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for rows in (tun_idle, ka_idle):
        for key, r in rows.items():
            L.append(idle_row(key, r))
    L.append("")
    L.append("`*_tmem`: idle tunnels; `*_kmem`: idle keep-alive connections.")
    L.append("")
    L.append("</details>")
    L.append("")
    write_report(L, out_md, rdir, "tunnel_all_met", all_met)


# HTTP/2 rounds (see bench/README.md "HTTP/2 rounds"): the goals are against HAProxy.
H2_KINDS = [("tls", "TLS h2"), ("h2c", "h2c")]
H2_PROXIES = [("weir", "Weir"), ("haproxy", "HAProxy"), ("nginx", "nginx")]
H2_RPS_MIN_RATIO = 1.10     # Weir's req/s vs HAProxy's, at least
H2_CPU_MAX_RATIO = 0.90     # Weir's CPU per request vs HAProxy's, at most
H2_IDLE_MAX_RATIO = 1.00    # Weir's RSS per idle h2 connection vs HAProxy's, at most


def md_cell(text):
    """Text (an error message) that cannot break a markdown table row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


H2UP_KIND = ("h2up", "h2 upstream")   # h2c client, HTTP/2 cleartext to h2c backends


def h2_target(proxy, kind):
    """The run.sh target name of a proxy's listener of one kind."""
    return {"tls": f"{proxy}_h2", "h2c": f"{proxy}_h2c", "h2up": f"{proxy}_h2up"}[kind]


H2UP_UPSTREAM = {"weir": "pools `protocol: h2`", "haproxy": "`server … proto h2`",
                 "nginx": "`grpc_pass grpc://…`"}


def h2up_section(m, status, answers, paired, meta):
    """The report's "HTTP/2 to the upstream" section: the h2up runs of every proxy, their
    answers check and the ratios (of the medians, and paired per round)."""
    L = ["## HTTP/2 to the upstream (h2c in, h2c out)", ""]
    L.append(f"The same `h2load -c{meta.get('clients')} -m{meta.get('streams')} -D {meta.get('duration_s')}` over "
             "h2c (prior knowledge) to a third instance of each proxy (1 worker/thread, one plain listener), which "
             "speaks HTTP/2 cleartext with prior knowledge to two more nginx backends (`listen … http2`, the same "
             "`200 stable\\n` / `200 canary\\n` answers), 90/10 split: Weir pools with `protocol: h2` (shared "
             "connections, up to 100 streams each), HAProxy `server … proto h2` with `http-reuse always`, nginx "
             "`grpc_pass grpc://` to an `upstream` with `keepalive 64` (nginx's only HTTP/2 upstream; it sends "
             "one request per upstream connection at a time, so the 160 concurrent streams need 160 upstream "
             "connections, of which 64 are kept idle between requests — the same `keepalive 64` as its HTTP/1.1 "
             "upstreams in the other runs). Interleaved with the TLS h2 and h2c runs in every round; the same "
             "validity checks. Before the rounds, 1000 `GET /` on one h2c connection through each "
             "(`nghttp -s -m 1000`) must all be answered 200 with a 7-byte `stable`/`canary` body. *Backends*: "
             "CPU of the two h2c nginx backends per request.")
    L.append("")
    L.append("| proxy | upstream | req/s | CPU µs/req | backends CPU µs/req | h2load CPU µs/req | "
             "answers (200 / 7-byte body / canary share) | valid runs |")
    L.append("|---|---|---:|---:|---:|---:|---|---|")
    for proxy, name in H2_PROXIES:
        t = h2_target(proxy, "h2up")
        x, st = m[t], status.get(t, "skipped")
        if x["valid"] == 0:
            why = st if st != "ok" else ("invalid: " + (x["invalid"][0] if x["invalid"] else "no run"))
            cells = [md_cell(why), "", "", ""]
        else:
            cells = [fmt(x["rps"], 0), fmt(x["cpu_us"], 2), fmt(x["backend_cpu_us"], 2), fmt(x["client_cpu_us"], 2)]
        a = answers.get(t)
        if a:
            n, cv, sv = int(a["requests"]), int(a["canary"]), int(a["stable"])
            share = f"{100.0 * cv / (sv + cv):.1f}%" if sv + cv else "n/a"
            ans = f"{a['status_200']}/{n}, {a['bodies_7b']}/{n}, {share}"
            if a["ok"] != "1":
                ans = f"**invalid**: {md_cell(a['reason'])} ({ans})"
        else:
            ans = "n/a"
        L.append(f"| {name} | {H2UP_UPSTREAM[proxy]} | " + " | ".join(cells) + f" | {ans} | {x['valid']}/{x['runs']} |")
    L.append("")

    def rx(a, b):
        return "n/a" if a is None or not b else f"{a / b:.2f}x"

    def pr(field, other):
        rounds = paired("h2up", field, other)
        if not rounds:
            return "paired n/a"
        return f"paired {statistics.median(rounds):.2f}x (" + ", ".join(f"{v:.2f}" for v in rounds) + ")"

    w = m[h2_target("weir", "h2up")]
    for other, oname in (("haproxy", "HAProxy"), ("nginx", "nginx")):
        o = m[h2_target(other, "h2up")]
        if w["valid"] and o["valid"]:
            L.append(f"- Weir/{oname}: req/s {rx(w['rps'], o['rps'])} ({pr('rps', other)}), CPU/request "
                     f"{rx(w['cpu_us'], o['cpu_us'])} ({pr('cpu_us', other)})")
        else:
            L.append(f"- Weir/{oname}: n/a (no valid run of " + ("Weir" if not w["valid"] else oname) + ")")
    h, n = m[h2_target("haproxy", "h2up")], m[h2_target("nginx", "h2up")]
    L.append(f"- HAProxy/nginx: req/s {rx(h['rps'], n['rps'])}, CPU/request {rx(h['cpu_us'], n['cpu_us'])}")
    L.append("- Each proxy, HTTP/2 upstream vs its HTTP/1.1 upstream (the h2c column of the first table, same "
             "client): " + "; ".join(
                 f"{name} req/s {rx(m[h2_target(p, 'h2up')]['rps'], m[h2_target(p, 'h2c')]['rps'])}, CPU/request "
                 f"{rx(m[h2_target(p, 'h2up')]['cpu_us'], m[h2_target(p, 'h2c')]['cpu_us'])}"
                 for p, name in H2_PROXIES))
    L.append("")
    return L


def h2_report(rdir, out_md):
    meta = {}
    with open(os.path.join(rdir, "h2_meta.tsv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    runs = read_tsv(os.path.join(rdir, "h2_runs.tsv"))
    status = {r["target"]: r["status"] for r in read_tsv(os.path.join(rdir, "h2_status.tsv"))}
    checks = {r["target"]: r for r in read_tsv(os.path.join(rdir, "h2_check.tsv"))}
    idle_rows = {r["target"]: r for r in read_tsv(os.path.join(rdir, "h2_idle.tsv"))}
    up_path = os.path.join(rdir, "h2up_answers.tsv")
    answers = {r["target"]: r for r in read_tsv(up_path)} if os.path.exists(up_path) else {}
    h2up = meta.get("h2up") == "1"
    ok_mark, no_mark = "✓", "✗"

    def med(target, field):
        vals = [fnum(r[field]) for r in runs if r["target"] == target and r["ok"] == "1"]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def ratio(a, b):
        return a / b if a is not None and b not in (None, 0) else None

    def rx(a, b):
        v = ratio(a, b)
        return "n/a" if v is None else f"{v:.2f}x"

    def invalid_reasons(target):
        return [r["reason"] for r in runs if r["target"] == target and r["ok"] != "1"]

    def idle_kib(proxy, field="bytes_per_conn"):
        r = idle_rows.get(f"{proxy}_h2m")
        if not r or r["still_open"] != r["requested"] or r["opened"] != r["requested"]:
            return None
        v = fnum(r.get(field))
        return None if v is None else v / 1024

    def idle_cell(proxy):
        r = idle_rows.get(f"{proxy}_h2m")
        st = status.get(f"{proxy}_h2m", "skipped")
        if r is None:
            return st if st != "ok" else "n/a", "n/a"
        v = idle_kib(proxy)
        if v is None:
            why = r.get("first_error") if r.get("first_error") not in (None, "", "-") else "connections lost"
            return f"invalid: {r['still_open']}/{r['requested']} open ({why})", "n/a"
        return fmt(v, 2), fmt(idle_kib(proxy, "bytes_per_conn_second_half"), 2)

    m = {}
    for proxy, _ in H2_PROXIES:
        for kind, _ in H2_KINDS + [H2UP_KIND]:
            t = h2_target(proxy, kind)
            m[t] = {"rps": med(t, "rps"), "cpu_us": med(t, "cpu_us"), "client_cpu_us": med(t, "client_cpu_us"),
                    "backend_cpu_us": med(t, "backend_cpu_us"),
                    "valid": sum(1 for r in runs if r["target"] == t and r["ok"] == "1"),
                    "runs": sum(1 for r in runs if r["target"] == t), "invalid": invalid_reasons(t)}

    L = [f"# Weir HTTP/2 benchmark — {meta.get('date', '')}", ""]
    L.append(f"- Machine: {meta.get('nproc')} CPUs, {meta.get('cpu_model')}; kernel {meta.get('kernel')}; "
             f"load average before the HTTP/2 rounds {meta.get('loadavg')}, after {meta.get('loadavg_end')} "
             "(the machine is shared: other builds and tests may have been running)")
    L.append(f"- Versions: {meta.get('weir_version')}; {meta.get('haproxy_version')}; {meta.get('nginx_version')}; "
             f"{meta.get('h2load_version')}; {meta.get('openssl_version')}")
    L.append(f"- Load: `h2load -c{meta.get('clients')} -m{meta.get('streams')} -D {meta.get('duration_s')}` "
             f"(one client thread, {meta.get('clients')} connections × {meta.get('streams')} concurrent streams, "
             f"`GET /`), {meta.get('rounds')} interleaved rounds (median shown; the proxies' order rotates every "
             f"round), after a {meta.get('warmup_s')} s check run per proxy and listener that must pass the same "
             "checks. *TLS h2*: `https://`, h2 negotiated by ALPN; *h2c*: `http://`, HTTP/2 with prior knowledge on "
             "a plain listener. A run counts only if h2load reports the expected protocol (`Application protocol: "
             "h2` / `h2c`), 0 failed, errored and timed-out requests, only 2xx answers and every connection "
             "completing requests; otherwise it is *invalid* and its numbers are not used.")
    L.append("- Every proxy: 1 worker/thread, one instance with both listeners, the same ECDSA P-256 certificate as "
             "the TLS rounds, HTTP/1.1 with keep-alive to the same two nginx backends (90/10 split). Weir: "
             "`http2: true` on a TLS listener and on a plain one; HAProxy: `bind … ssl crt … alpn h2,http/1.1` "
             "and `bind … proto h2`; nginx: `listen … ssl http2` and `listen … http2`. h2 settings are each "
             "proxy's defaults. CPU is utime+stime of the proxy process (all threads; nginx: master + worker) "
             "around each run, divided by the requests h2load completed.")
    L.append(f"- Idle h2 connections: fresh instances; one short h2 run through each (100 requests), 2 s of quiet, "
             f"VmRSS, then {meta.get('idle_conns')} TLS connections opened one after another, each negotiating h2, "
             "sending the preface and SETTINGS, reading and acknowledging the server's SETTINGS and reading the ACK "
             "of its own before the next opens (so the proxy has accepted and answered every one), no request; "
             "VmRSS 1 s after the last: (after − before) / connections. *2nd half*: the growth from the half-way "
             "mark to the end, per connection. Every connection must still be open (no GOAWAY) at the end. These "
             "instances wait 300 s for a first request (Weir `header_timeout`/`idle_timeout`, HAProxy "
             "`timeout http-request`/`http-keep-alive`/`client`, nginx `client_header_timeout`/`keepalive_timeout`) "
             "so that none closes a connection while the others are opened.")
    L.append("")
    L.append("| proxy | TLS h2 req/s | CPU µs/req | h2c req/s | CPU µs/req | KiB/idle h2 conn | 2nd half | "
             "negotiated | valid runs (TLS/h2c) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for proxy, name in H2_PROXIES:
        cells = []
        for kind, _ in H2_KINDS:
            t = h2_target(proxy, kind)
            st = status.get(t, "skipped")
            x = m[t]
            if st != "ok" and x["valid"] == 0:
                cells += [st, ""]
            elif x["valid"] == 0:
                cells += ["invalid: " + (x["invalid"][0] if x["invalid"] else "no run"), ""]
            else:
                cells += [fmt(x["rps"], 0), fmt(x["cpu_us"], 2)]
        kib, kib2 = idle_cell(proxy)
        chk = checks.get(h2_target(proxy, "tls"), {})
        neg = f"{chk.get('protocol', '?')} {chk.get('tls_version', '')} {chk.get('cipher', '')}".strip()
        valid = ", ".join(f"{m[h2_target(proxy, k)]['valid']}/{m[h2_target(proxy, k)]['runs']}" for k, _ in H2_KINDS)
        L.append(f"| {name} | " + " | ".join(md_cell(c) for c in cells) +
                 f" | {md_cell(kib)} | {kib2} | {neg} | {valid} |")
    L.append("")
    for proxy, name in H2_PROXIES:
        for kind, label in H2_KINDS + ([H2UP_KIND] if h2up else []):
            t = h2_target(proxy, kind)
            if m[t]["invalid"]:
                L.append(f"- {name} {label}: {len(m[t]['invalid'])} invalid run(s): " +
                         "; ".join(sorted(set(m[t]["invalid"]))))
            elif status.get(t, "skipped") not in ("ok", "skipped"):
                L.append(f"- {name} {label}: {status.get(t)} — no rounds run")
    L.append("")

    def paired(kind, field, other="haproxy"):
        """Per round: Weir / other (same kind), both valid."""
        out = []
        w_t, o_t = h2_target("weir", kind), h2_target(other, kind)
        for rnd in sorted({r["round"] for r in runs}, key=int):
            vals = {r["target"]: fnum(r[field]) for r in runs if r["round"] == rnd and r["ok"] == "1"}
            if vals.get(w_t) is not None and vals.get(o_t):
                out.append(vals[w_t] / vals[o_t])
        return out

    weir_measured = any(status.get(t, "skipped") != "skipped"
                        for t in [h2_target("weir", k) for k, _ in H2_KINDS] + ["weir_h2m"])
    load_rounds = int(meta.get("rounds", "0") or 0) > 0
    L.append("## Ratios")
    L.append("")
    if weir_measured:
        for other, oname in (("haproxy", "HAProxy"), ("nginx", "nginx")):
            parts = []
            for kind, label in H2_KINDS:
                w, o = m[h2_target("weir", kind)], m[h2_target(other, kind)]
                parts.append(f"{label} req/s {rx(w['rps'], o['rps'])}, CPU/request {rx(w['cpu_us'], o['cpu_us'])}")
            parts.append(f"RSS/idle h2 conn {rx(idle_kib('weir'), idle_kib(other))}")
            L.append(f"- Weir/{oname}: " + "; ".join(parts))
    else:
        L.append("- n/a: Weir was not measured (skipped)")
    L.append("- HAProxy/nginx: " + "; ".join(
        f"{label} req/s {rx(m[h2_target('haproxy', k)]['rps'], m[h2_target('nginx', k)]['rps'])}, CPU/request "
        f"{rx(m[h2_target('haproxy', k)]['cpu_us'], m[h2_target('nginx', k)]['cpu_us'])}" for k, label in H2_KINDS))
    L.append("")
    if h2up:
        L.extend(h2up_section(m, status, answers, paired, meta))

    L.append("## Goals")
    L.append("")
    L.append("Weir against HAProxy (the product goals). *Paired*: the median over rounds of Weir / HAProxy in "
             "the same round (drift between rounds cancels), with each round's ratio; load goals are judged on "
             "it, memory (one measurement each) on the ratio. A goal whose Weir runs include an invalid one is "
             "not met.")
    L.append("")
    L.append("| goal | Weir | HAProxy | Weir/HAProxy | paired (per round) | goal | met |")
    L.append("|---|---:|---:|---:|---|---|:---:|")
    all_met = True
    if not weir_measured:
        L.append("| (Weir skipped) | | | | | | n/a |")
        all_met = False
    else:
        if not load_rounds:
            L.append("| req/s and CPU per request | | | | | | n/a (no load rounds) |")
        for kind, label in (H2_KINDS if load_rounds else []):
            w_t, h_t = h2_target("weir", kind), h2_target("haproxy", kind)
            for field, flabel, hb, factor, digits in (
                    ("rps", "req/s", True, H2_RPS_MIN_RATIO, 0),
                    ("cpu_us", "CPU per request (µs)", False, H2_CPU_MAX_RATIO, 2)):
                w, h = m[w_t], m[h_t]
                rounds = paired(kind, field)
                judged = statistics.median(rounds) if rounds else ratio(w[field], h[field])
                goal = f"≥ {factor:.2f}× HAProxy" if hb else f"≤ {factor:.2f}× HAProxy"
                if w["invalid"] or status.get(w_t) != "ok" or judged is None:
                    why = "invalid runs" if w["invalid"] else (status.get(w_t) if status.get(w_t) != "ok"
                                                                else "no measurement")
                    met = f"{no_mark} ({md_cell(why)})"
                    all_met = False
                else:
                    ok = judged >= factor if hb else judged <= factor
                    met = ok_mark if ok else no_mark
                    all_met &= ok
                cell = "n/a" if not rounds else (f"{statistics.median(rounds):.2f}x (" +
                                                 ", ".join(f"{x:.2f}" for x in rounds) + ")")
                wv = w[field] if not w["invalid"] else None
                L.append(f"| {label} {flabel} | {fmt(wv, digits)} | {fmt(h[field], digits)} | "
                         f"{rx(wv, h[field])} | {cell} | {goal} | {met} |")
        if int(meta.get("idle_conns", "0") or 0) > 0:
            wv, hv = idle_kib("weir"), idle_kib("haproxy")
            if wv is None or hv is None:
                met = f"{no_mark} (" + ("no Weir measurement" if wv is None else "no HAProxy measurement") + ")"
                all_met = False
            else:
                ok = wv <= H2_IDLE_MAX_RATIO * hv
                met = ok_mark if ok else no_mark
                all_met &= ok
            L.append(f"| memory per idle h2 connection (KiB) | {fmt(wv, 2)} | {fmt(hv, 2)} | {rx(wv, hv)} | — | "
                     f"≤ HAProxy | {met} |")
    L.append("")
    L.append(f"All HTTP/2 goals met: {'yes' if all_met else 'no'}")
    L.append("")

    # Who used the CPU (as in the TLS report): on 2 cores h2load's one thread, the proxy
    # and the backends share them, so throughput is the machine's as much as the proxy's.
    def cores(r, field):
        if field in ("cpu_us", "client_cpu_us", "backend_cpu_us"):
            a, b = fnum(r["rps"]), fnum(r.get(field))
            return None if a is None or b is None else a * b / 1e6
        return fnum(r.get(field))

    busy = []
    for proxy, name in H2_PROXIES:
        parts = []
        for kind, label in H2_KINDS + ([H2UP_KIND] if h2up else []):
            mine = [r for r in runs if r["target"] == h2_target(proxy, kind) and r["ok"] == "1"]
            cells = []
            for field, what in (("cpu_us", "proxy"), ("client_cpu_us", "h2load"), ("backend_cpu_us", "backends"),
                                ("idle_cores", "idle"), ("steal_cores", "stolen")):
                vals = [v for v in (cores(r, field) for r in mine) if v is not None]
                if vals:
                    cells.append(f"{what} {statistics.median(vals):.2f}")
            if cells:
                parts.append(f"{label}: " + ", ".join(cells))
        if parts:
            busy.append(f"- {name} — " + "; ".join(parts))
    if busy:
        L.append("Cores used during the runs (median over valid rounds; req/s × CPU per request for the proxy, "
                 "for h2load and for the two nginx backends; *idle* and *stolen* for the whole machine, from "
                 "/proc/stat). When h2load is at a full core or nothing is idle, the run's throughput is the "
                 "client's or the machine's, not the proxy's; CPU per request is the steadier figure.")
        L.append("")
        L.extend(busy)
        L.append("")

    L.append("<details><summary>Per-round raw results</summary>")
    L.append("")
    L.append("| round | kind | target | req/s | CPU µs/req | h2load CPU µs/req | idle cores | stolen cores | "
             "requests | protocol | valid |")
    L.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in runs:
        valid = "yes" if r["ok"] == "1" else f"**invalid**: {md_cell(r['reason'])}"
        L.append(f"| {r['round']} | {r['kind']} | {r['target']} | {fmt(fnum(r['rps']), 0)} | "
                 f"{fmt(fnum(r['cpu_us']), 2)} | {fmt(fnum(r.get('client_cpu_us')), 2)} | "
                 f"{fmt(fnum(r.get('idle_cores')), 2)} | {fmt(fnum(r.get('steal_cores')), 2)} | {r['requests']} | "
                 f"{r['protocol']} | {valid} |")
    L.append("")
    if checks:
        L.append("| check run | protocol | TLS | cipher | req/s | result |")
        L.append("|---|---|---|---|---:|---|")
        for t, r in checks.items():
            L.append(f"| {t} | {r['protocol']} | {r['tls_version']} | {r['cipher']} | {fmt(fnum(r['rps']), 0)} | "
                     f"{'ok' if r['ok'] == '1' else '**invalid**: ' + md_cell(r['reason'])} |")
        L.append("")
    if idle_rows:
        L.append("| idle h2 test | opened | still open | errors | RSS before KiB | RSS half-way KiB | RSS after KiB | "
                 "B/conn | B/conn 2nd half | proxy fds before → after | first error |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for key, r in idle_rows.items():
            L.append(f"| {key} | {r['opened']} | {r['still_open']} | {r['errors']} | {r['rss_before_kib']} | "
                     f"{r.get('rss_half_kib')} | {r['rss_after_kib']} | {r['bytes_per_conn']} | "
                     f"{r.get('bytes_per_conn_second_half')} | {r.get('fds_before')} → {r.get('fds_after')} | "
                     f"{md_cell(r.get('first_error')) if r.get('first_error') not in (None, '', '-') else '—'} |")
        L.append("")
    L.append("</details>")
    L.append("")
    write_report(L, out_md, rdir, "h2_all_met", all_met)


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    if cmd == "ports":
        print(" ".join(map(str, free_ports(int(argv[2])))))
    elif cmd == "probe":
        sys.exit(0 if probe(int(argv[2]), float(argv[3]) if len(argv) > 3 else 2.0,
                            len(argv) > 4 and argv[4] == "tls") else 1)
    elif cmd == "split":
        split(int(argv[2]), int(argv[3]), len(argv) > 4 and argv[4] == "tls")
    elif cmd == "tls-idle":
        idle(int(argv[2]), int(argv[3]), float(argv[4]), [int(p) for p in argv[5:]], tls=True)
    elif cmd == "tls-info":
        tls_info(int(argv[2]))
    elif cmd == "weir-handshakes":
        weir_handshakes(int(argv[2]), len(argv) > 3 and argv[3] == "upstream")
    elif cmd == "tls-report":
        tls_report(argv[2], argv[3])
    elif cmd == "idle":
        idle(int(argv[2]), int(argv[3]), float(argv[4]), [int(p) for p in argv[5:]])
    elif cmd == "burst":
        burst(int(argv[2]), int(argv[3]), float(argv[4]), float(argv[5]), [int(p) for p in argv[6:]])
    elif cmd == "rollout-start":
        sys.exit(rollout_start(int(argv[2]), argv[3]))
    elif cmd == "rollout-state":
        sys.exit(rollout_state(int(argv[2]), argv[3]))
    elif cmd == "report":
        report(argv[2], argv[3])
    elif cmd == "tunnel-report":
        tunnel_report(argv[2], argv[3])
    elif cmd == "h2-idle":
        h2_idle(int(argv[2]), int(argv[3]), float(argv[4]), [int(p) for p in argv[5:]])
    elif cmd == "h2-answers":
        h2_answers(argv[2], int(argv[3]), int(argv[4]) if len(argv) > 4 else 0)
    elif cmd == "h2load-parse":
        h2load_parse(argv[2], argv[3], int(argv[4]) if len(argv) > 4 else 0)
    elif cmd == "h2-report":
        h2_report(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
