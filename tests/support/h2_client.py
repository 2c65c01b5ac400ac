#!/usr/bin/python3
"""An HTTP/2 client for the integration tests, frame by frame (Debian
python3-hpack and python3-hyperframe, which python3-h2 brings).

    h2_client.py MODE --port N [--tls] [options]

Speaks HTTP/2 with prior knowledge on a plain connection (h2c) or over TLS
with ALPN "h2" (--tls; the certificate is not verified). It writes its own
frames, so it can also behave badly on purpose. It prints one JSON object on
stdout when it is done and exits 0 (2 for bad arguments; an exception is
reported as {"error": ...} with exit 1).

Modes:
  settings            the handshake only: the server's SETTINGS
  request             one stream per --path, all opened at once, read to their end
                      (from stream id --first-stream-id; with --wait-close, then
                      until the server closes)
  sequential          each --path in turn on one connection (with --wait-file,
                      the second and later ones once that file exists)
  graceful            --path on stream 1, then waits for a GOAWAY; once it came,
                      opens --late-path on a new stream (past the GOAWAY's last
                      stream id) and reads until the server closes
  idle                optionally one --path first, then silence until the
                      server closes (or --wait seconds)
  zero-window         SETTINGS_INITIAL_WINDOW_SIZE 0, one --path, never a
                      WINDOW_UPDATE; reads until the server closes (or --wait)
  slow-body           one --method (POST) stream to --path: HEADERS first, the
                      --data body in a DATA frame --body-delay seconds later
  cancel              one stream to --path; once --wait-file exists (or after
                      --wait seconds), RST_STREAM(CANCEL) on it, then reads
                      for a second more
  rapid-reset         --streams HEADERS each followed at once by RST_STREAM(CANCEL)
  continuation-flood  a HEADERS without END_HEADERS and then --frames
                      CONTINUATION frames of one --field-bytes field each
  hpack-bomb          one header of --value-bytes entered into the dynamic table,
                      then referenced --refs times by a one-byte index
  settings-flood      --frames empty SETTINGS frames
  ping-flood          --frames PING frames

The JSON object (fields present in every mode):
  alpn             the protocol TLS selected (null on plain)
  handshake        true once the server's SETTINGS arrived
  server_settings  the server's first SETTINGS, by name (unknown ids as numbers)
  goaways          every GOAWAY received: {error_code, last_stream_id, debug, t}
  closed           true if the server closed (EOF or reset) before the deadline
  close_reason     "eof", "reset" or null
  closed_t         seconds since the start when it closed (null if it did not)
  streams          by id: {status, headers [[n, v]...], trailers, interim,
                   body_bytes, body_sha256, body (first 4 KiB, latin-1),
                   ended, reset_code, opened_t, ended_t}
  sent             counts of frames written by kind, and send_error if a write failed
  ping_acks, settings_acks  acknowledgements received
Mode-specific fields are described with each mode below.
"""
import argparse
import hashlib
import json
import os
import select
import socket
import ssl
import sys
import time

from hpack import Decoder, Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTING_NAMES = {
    1: "HEADER_TABLE_SIZE",
    2: "ENABLE_PUSH",
    3: "MAX_CONCURRENT_STREAMS",
    4: "INITIAL_WINDOW_SIZE",
    5: "MAX_FRAME_SIZE",
    6: "MAX_HEADER_LIST_SIZE",
    8: "ENABLE_CONNECT_PROTOCOL",
}
CANCEL = 0x8
BODY_KEEP = 4096


def hpack_int(value, prefix_bits, first_byte_flags):
    """An HPACK integer (RFC 7541 §5.1) with `first_byte_flags` in the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = bytearray([first_byte_flags | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(s):
    """A string literal without Huffman coding."""
    b = s.encode("latin-1") if isinstance(s, str) else s
    return hpack_int(len(b), 7, 0x00) + b


def literal_new_name(name, value, indexing):
    """A literal field with a new name: with incremental indexing (0x40) or without (0x00)."""
    return bytes([0x40 if indexing else 0x00]) + hpack_string(name) + hpack_string(value)


def literal_indexed_name(index, value):
    """A literal field without indexing whose name is static-table entry `index`."""
    return hpack_int(index, 4, 0x00) + hpack_string(value)


class Stream:
    def __init__(self, sid, t):
        self.sid = sid
        self.status = None
        self.headers = None
        self.trailers = None
        self.interim = []
        self.body_bytes = 0
        self.sha = hashlib.sha256()
        self.body = bytearray()
        self.ended = False
        self.reset_code = None
        self.opened_t = t
        self.ended_t = None

    def finished(self):
        return self.ended or self.reset_code is not None

    def report(self):
        return {
            "status": self.status,
            "headers": self.headers,
            "trailers": self.trailers,
            "interim": self.interim,
            "body_bytes": self.body_bytes,
            "body_sha256": self.sha.hexdigest(),
            "body": self.body.decode("latin-1"),
            "ended": self.ended,
            "reset_code": self.reset_code,
            "opened_t": self.opened_t,
            "ended_t": self.ended_t,
        }


class Conn:
    def __init__(self, opts, settings=None, auto_window=True):
        self.opts = opts
        self.start = time.monotonic()
        self.auto_window = auto_window
        raw = socket.create_connection(("127.0.0.1", opts.port), timeout=opts.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.alpn = None
        if opts.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname=opts.server_name)
            self.alpn = raw.selected_alpn_protocol()
        raw.setblocking(False)
        self.sock = raw
        self.inbuf = bytearray()
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.block = None  # (stream id, bytearray, end_stream) of a header block in progress
        self.streams = {}
        self.next_sid = 1
        self.server_settings = None
        self.settings_acks = 0
        self.ping_acks = 0
        self.goaways = []
        self.closed = False
        self.close_reason = None
        self.closed_t = None
        self.sent = {}
        self.send_error = None
        self.settings = settings if settings is not None else {2: 0}  # ENABLE_PUSH 0
        self.unflushed = bytearray()
        self.bytes_written = 0

    def t(self):
        return round(time.monotonic() - self.start, 4)

    # ------------------------------------------------------------ writing

    def queue(self, frame_or_bytes, kind=None):
        data = frame_or_bytes if isinstance(frame_or_bytes, (bytes, bytearray)) else frame_or_bytes.serialize()
        if kind is None:
            kind = type(frame_or_bytes).__name__ if not isinstance(frame_or_bytes, (bytes, bytearray)) else "raw"
        self.sent[kind] = self.sent.get(kind, 0) + 1
        self.unflushed += data

    def flush(self, deadline=None):
        """Writes what is queued, reading whatever arrives meanwhile (a server
        that writes while the client writes must not deadlock either side)."""
        deadline = deadline or (time.monotonic() + self.opts.timeout)
        while self.unflushed and not self.send_error:
            if time.monotonic() > deadline:
                self.send_error = "write timed out"
                break
            try:
                n = self.sock.send(self.unflushed[:65536])
                del self.unflushed[:n]
                self.bytes_written += n
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                r, w, _ = select.select([self.sock], [self.sock], [], 0.05)
                if r:
                    self.read_some(0)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError) as e:
                # The server may have closed after writing a GOAWAY: what it
                # wrote is still read (read_some notes the close).
                self.send_error = type(e).__name__
                self.unflushed.clear()
        return not self.send_error

    def send(self, frame, kind=None):
        self.queue(frame, kind)
        return self.flush()

    def handshake(self):
        self.queue(PREFACE, "preface")
        f = SettingsFrame(0)
        f.settings = dict(self.settings)
        self.queue(f)
        self.flush()
        return self.run_until(lambda: self.server_settings is not None, self.opts.timeout)

    def headers_block(self, method, path, extra=(), authority=None, scheme=None):
        fields = [(":method", method), (":scheme", scheme or ("https" if self.opts.tls else "http")),
                  (":authority", authority or self.opts.authority), (":path", path)]
        fields += list(extra)
        return self.encoder.encode(fields)

    def open_stream(self, method="GET", path="/", extra=(), body=None, authority=None):
        sid = self.next_sid
        self.next_sid += 2
        self.streams[sid] = Stream(sid, self.t())
        f = HeadersFrame(sid)
        f.data = self.headers_block(method, path, extra, authority)
        f.flags.add("END_HEADERS")
        if not body:
            f.flags.add("END_STREAM")
        self.queue(f)
        if body:
            d = DataFrame(sid)
            d.data = body
            d.flags.add("END_STREAM")
            self.queue(d)
        self.flush()
        return sid

    # ------------------------------------------------------------ reading

    def mark_closed(self, reason):
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self.closed_t = self.t()

    def read_some(self, timeout):
        """Waits up to `timeout` for bytes, reads and handles them; False once closed."""
        if self.closed:
            return False
        pending = self.opts.tls and self.sock.pending() > 0
        if not pending:
            r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
            if not r:
                return True
        try:
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return True
        except ssl.SSLZeroReturnError:
            data = b""
        except ConnectionResetError:
            self.mark_closed("reset")
            return False
        except (ssl.SSLError, OSError) as e:
            self.mark_closed("reset" if "RESET" in str(e).upper() else "eof")
            return False
        if not data:
            self.mark_closed("eof")
            return False
        self.inbuf += data
        self.handle_frames()
        return True

    def handle_frames(self):
        while len(self.inbuf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(bytes(self.inbuf[:9])))
            if len(self.inbuf) < 9 + length:
                return
            frame.parse_body(memoryview(bytes(self.inbuf[9:9 + length])))
            del self.inbuf[:9 + length]
            self.on_frame(frame)
        if self.unflushed:
            self.flush()

    def stream(self, sid):
        s = self.streams.get(sid)
        if s is None:
            s = self.streams[sid] = Stream(sid, self.t())
        return s

    def on_frame(self, f):
        if isinstance(f, SettingsFrame):
            if "ACK" in f.flags:
                self.settings_acks += 1
                return
            if self.server_settings is None:
                self.server_settings = {}
                for k, v in f.settings.items():
                    self.server_settings[SETTING_NAMES.get(k, str(k))] = v
            ack = SettingsFrame(0)
            ack.flags.add("ACK")
            self.queue(ack, "SettingsAck")
        elif isinstance(f, PingFrame):
            if "ACK" in f.flags:
                self.ping_acks += 1
                return
            ack = PingFrame(0)
            ack.opaque_data = f.opaque_data
            ack.flags.add("ACK")
            self.queue(ack, "PingAck")
        elif isinstance(f, GoAwayFrame):
            self.goaways.append({
                "error_code": f.error_code,
                "last_stream_id": f.last_stream_id,
                "debug": bytes(f.additional_data).decode("latin-1"),
                "t": self.t(),
            })
        elif isinstance(f, RstStreamFrame):
            s = self.stream(f.stream_id)
            s.reset_code = f.error_code
            s.ended_t = self.t()
        elif isinstance(f, HeadersFrame):
            self.block = (f.stream_id, bytearray(f.data), "END_STREAM" in f.flags)
            if "END_HEADERS" in f.flags:
                self.end_block()
        elif isinstance(f, ContinuationFrame):
            if self.block is not None:
                self.block[1].extend(f.data)
                if "END_HEADERS" in f.flags:
                    self.end_block()
        elif isinstance(f, DataFrame):
            s = self.stream(f.stream_id)
            data = bytes(f.data)
            s.body_bytes += len(data)
            s.sha.update(data)
            if len(s.body) < BODY_KEEP:
                s.body += data[:BODY_KEEP - len(s.body)]
            if self.auto_window and f.flow_controlled_length > 0:
                for sid in (0, f.stream_id):
                    if sid and "END_STREAM" in f.flags:
                        continue
                    w = WindowUpdateFrame(sid)
                    w.window_increment = f.flow_controlled_length
                    self.queue(w)
            if "END_STREAM" in f.flags:
                s.ended = True
                s.ended_t = self.t()

    def end_block(self):
        sid, data, end_stream = self.block
        self.block = None
        fields = [[n if isinstance(n, str) else n.decode("latin-1"), v if isinstance(v, str) else v.decode("latin-1")]
                  for n, v in self.decoder.decode(bytes(data), raw=False)]
        s = self.stream(sid)
        status = next((v for n, v in fields if n == ":status"), None)
        if s.status is None and status is not None:
            code = int(status)
            if 100 <= code < 200:
                s.interim.append(code)
            else:
                s.status = code
                s.headers = fields
        else:
            s.trailers = fields
        if end_stream:
            s.ended = True
            s.ended_t = self.t()

    def run_until(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not self.read_some(min(left, 0.2)):
                return pred()
        return True

    def drain(self):
        """Reads whatever has already arrived, without waiting."""
        while self.read_some(0):
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r and not (self.opts.tls and self.sock.pending()):
                break

    def wait_closed(self, timeout):
        return self.run_until(lambda: self.closed, timeout)

    def report(self, **extra):
        out = {
            "alpn": self.alpn,
            "handshake": self.server_settings is not None,
            "server_settings": self.server_settings,
            "goaways": self.goaways,
            "closed": self.closed,
            "close_reason": self.close_reason,
            "closed_t": self.closed_t,
            "streams": {str(k): v.report() for k, v in self.streams.items()},
            "sent": dict(self.sent, send_error=self.send_error),
            "ping_acks": self.ping_acks,
            "settings_acks": self.settings_acks,
        }
        out.update(extra)
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_headers(items):
    out = []
    for h in items or []:
        name, _, value = h.partition(":")
        out.append((name.strip().lower(), value.strip()))
    return out


# ---------------------------------------------------------------- modes

def mode_settings(o):
    c = Conn(o)
    c.handshake()
    c.run_until(lambda: c.settings_acks > 0, 2)
    return c.report()


def mode_request(o):
    c = Conn(o)
    if not c.handshake():
        return c.report()
    paths = o.path or ["/"]
    body = o.data.encode() if o.data else None
    c.next_sid = o.first_stream_id
    sids = [c.open_stream(o.method, p, parse_headers(o.header), body) for p in paths]
    c.run_until(lambda: all(c.streams[s].finished() for s in sids), o.timeout)
    if o.wait_close:
        c.wait_closed(o.timeout)
    return c.report()


def mode_sequential(o):
    """Each --path in turn on the one connection, the next once the previous
    stream ended and (with --wait-file) once that file exists."""
    c = Conn(o)
    if not c.handshake():
        return c.report()
    for i, path in enumerate(o.path or ["/"]):
        if i > 0 and o.wait_file:
            deadline = time.monotonic() + o.timeout
            while not os.path.exists(o.wait_file) and time.monotonic() < deadline and not c.closed:
                c.read_some(0.05)
        if c.closed:
            break
        sid = c.open_stream(o.method, path, parse_headers(o.header))
        c.run_until(lambda: c.streams[sid].finished(), o.timeout)
    return c.report()


def mode_graceful(o):
    """Stream 1 is opened; the test then stops the server gracefully. Once a
    GOAWAY arrives, a late stream is opened past its last stream id; the
    connection is read until the server closes it."""
    c = Conn(o)
    if not c.handshake():
        return c.report()
    first = c.open_stream("GET", (o.path or ["/"])[0])
    c.run_until(lambda: bool(c.goaways), o.timeout)
    late = None
    first_done_at_goaway = c.streams[first].finished()
    if c.goaways and not c.closed:
        late = c.next_sid
        c.open_stream("GET", o.late_path)
    c.wait_closed(o.timeout)
    return c.report(first_stream=first, late_stream=late, first_done_at_goaway=first_done_at_goaway)


def mode_idle(o):
    c = Conn(o)
    if not c.handshake():
        return c.report()
    idle_from = c.t()
    if o.path:
        sid = c.open_stream("GET", o.path[0])
        c.run_until(lambda: c.streams[sid].finished(), o.timeout)
        idle_from = c.t()
    c.run_until(lambda: c.closed, o.wait)
    return c.report(idle_from=idle_from)


def mode_zero_window(o):
    c = Conn(o, settings={2: 0, 4: 0}, auto_window=False)
    if not c.handshake():
        return c.report()
    sid = c.open_stream("GET", (o.path or ["/"])[0])
    c.run_until(lambda: c.streams[sid].status is not None, o.timeout)
    headers_t = c.t()
    c.run_until(lambda: c.closed, o.wait)
    return c.report(headers_t=headers_t)


def mode_slow_body(o):
    c = Conn(o)
    if not c.handshake():
        return c.report()
    sid = c.next_sid
    c.next_sid += 2
    c.streams[sid] = Stream(sid, c.t())
    h = HeadersFrame(sid)
    h.data = c.headers_block(o.method, (o.path or ["/"])[0], parse_headers(o.header))
    h.flags.add("END_HEADERS")
    c.send(h)
    deadline = time.monotonic() + o.body_delay
    while time.monotonic() < deadline and not c.closed and not c.streams[sid].finished():
        c.read_some(max(0.0, min(0.05, deadline - time.monotonic())))
    body_sent_t = None
    if not c.streams[sid].finished() and not c.closed:
        d = DataFrame(sid)
        d.data = o.data.encode()
        d.flags.add("END_STREAM")
        c.send(d)
        body_sent_t = c.t()
    c.run_until(lambda: c.streams[sid].finished(), o.timeout)
    return c.report(body_sent_t=body_sent_t)


def mode_cancel(o):
    c = Conn(o)
    if not c.handshake():
        return c.report()
    sid = c.open_stream(o.method, (o.path or ["/"])[0], parse_headers(o.header))
    deadline = time.monotonic() + o.wait
    while time.monotonic() < deadline and not c.closed and not c.streams[sid].finished():
        if o.wait_file and os.path.exists(o.wait_file):
            break
        c.read_some(0.05)
    cancelled = False
    if not c.streams[sid].finished() and not c.closed:
        r = RstStreamFrame(sid)
        r.error_code = CANCEL
        c.send(r)
        cancelled = True
    end = time.monotonic() + 1.0
    while time.monotonic() < end and not c.closed:
        c.read_some(0.05)
    return c.report(cancelled=cancelled, stream_id=sid)


def mode_rapid_reset(o):
    """--streams pairs of HEADERS (END_STREAM) and RST_STREAM(CANCEL), written in
    batches of --batch pairs as fast as the socket takes them; stops early once
    the server said GOAWAY or went away (between batches). Reports
    streams_reset (pairs queued), streams_written (pairs the socket took whole)
    and answered (streams that got a response head)."""
    c = Conn(o)
    if not c.handshake():
        return c.report(streams_reset=0)
    fields = [(":method", "GET"), (":scheme", "https" if o.tls else "http"), (":authority", o.authority),
              (":path", (o.path or ["/"])[0])]
    reset = 0
    ends = []  # where each pair ends in the byte stream written
    while reset < o.streams and not c.goaways and not c.closed and not c.send_error:
        for _ in range(min(o.batch, o.streams - reset)):
            sid = c.next_sid
            c.next_sid += 2
            h = HeadersFrame(sid)
            h.data = c.encoder.encode(fields)
            h.flags.add("END_HEADERS")
            h.flags.add("END_STREAM")
            c.queue(h)
            r = RstStreamFrame(sid)
            r.error_code = CANCEL
            c.queue(r)
            reset += 1
            ends.append(c.bytes_written + len(c.unflushed))
        c.flush()
        c.drain()
    c.wait_closed(o.timeout)
    answered = sum(1 for s in c.streams.values() if s.status is not None)
    written = sum(1 for e in ends if e <= c.bytes_written)
    out = c.report(streams_reset=reset, streams_written=written, answered=answered)
    del out["streams"]  # thousands of them: the counts say enough
    return out


def mode_continuation_flood(o):
    c = Conn(o)
    if not c.handshake():
        return c.report(continuations=0)
    sid = c.next_sid
    c.next_sid += 2
    h = HeadersFrame(sid)
    h.data = c.headers_block("GET", (o.path or ["/"])[0])  # no END_HEADERS: the block goes on
    c.queue(h)
    sent = 0
    while sent < o.frames and not c.goaways and not c.closed and not c.send_error:
        for _ in range(min(100, o.frames - sent)):
            f = ContinuationFrame(sid)
            f.data = literal_new_name("x-flood-%d" % sent, "v" * o.field_bytes, indexing=False)
            c.queue(f)
            sent += 1
        c.flush()
        c.drain()
    c.wait_closed(o.timeout)
    return c.report(continuations=sent)


def mode_hpack_bomb(o):
    """One HEADERS frame (CONTINUATIONs only if it is larger than 16 KiB):
    the pseudo-headers from the static table, then x-bomb: <value-bytes>
    entered into the dynamic table (index 62), then --refs one-byte references
    to it. Decoded, the list is refs * (6 + value-bytes + 32) bytes."""
    c = Conn(o)
    if not c.handshake():
        return c.report(block_bytes=0, decoded_bytes=0)
    block = bytearray()
    block += b"\x82"  # :method GET
    block += b"\x87" if o.tls else b"\x86"  # :scheme https / http
    block += b"\x84"  # :path /
    block += literal_indexed_name(1, o.authority)  # :authority
    block += literal_new_name("x-bomb", "a" * o.value_bytes, indexing=True)
    block += b"\xbe" * o.refs  # indexed field 62: the entry just added
    sid = c.next_sid
    c.next_sid += 2
    c.streams[sid] = Stream(sid, c.t())
    chunks = [bytes(block[i:i + 16384]) for i in range(0, len(block), 16384)]
    for i, chunk in enumerate(chunks):
        f = HeadersFrame(sid) if i == 0 else ContinuationFrame(sid)
        f.data = chunk
        if i == 0:
            f.flags.add("END_STREAM")
        if i == len(chunks) - 1:
            f.flags.add("END_HEADERS")
        c.queue(f)
    c.flush()
    c.wait_closed(o.timeout)
    return c.report(block_bytes=len(block), decoded_bytes=(o.refs + 1) * (6 + o.value_bytes + 32))


def mode_control_flood(o, kind):
    c = Conn(o)
    if not c.handshake():
        return c.report(flood_frames=0)
    sent = 0
    while sent < o.frames and not c.goaways and not c.closed and not c.send_error:
        for _ in range(min(50, o.frames - sent)):
            if kind == "settings":
                f = SettingsFrame(0)
            else:
                f = PingFrame(0)
                f.opaque_data = sent.to_bytes(8, "big")
            c.queue(f)
            sent += 1
        c.flush()
        c.drain()
    c.wait_closed(o.timeout)
    return c.report(flood_frames=sent)


MODES = {
    "settings": mode_settings,
    "request": mode_request,
    "sequential": mode_sequential,
    "graceful": mode_graceful,
    "idle": mode_idle,
    "zero-window": mode_zero_window,
    "slow-body": mode_slow_body,
    "cancel": mode_cancel,
    "rapid-reset": mode_rapid_reset,
    "continuation-flood": mode_continuation_flood,
    "hpack-bomb": mode_hpack_bomb,
    "settings-flood": lambda o: mode_control_flood(o, "settings"),
    "ping-flood": lambda o: mode_control_flood(o, "ping"),
}


def main():
    p = argparse.ArgumentParser(description="HTTP/2 test client", epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--server-name", default="weir.test")
    p.add_argument("--authority", default="test.local")
    p.add_argument("--timeout", type=float, default=20.0, help="bound on each wait, seconds")
    p.add_argument("--path", action="append", help="request target (request: one stream each)")
    p.add_argument("--late-path", default="/late")
    p.add_argument("--wait-file", help="sequential: each request after the first waits for this file")
    p.add_argument("--method", default="GET")
    p.add_argument("--header", action="append", help='"name: value", repeatable (same name twice: two fields)')
    p.add_argument("--data", default="", help="request body (request mode)")
    p.add_argument("--wait", type=float, default=10.0, help="idle / zero-window: how long to wait for the close")
    p.add_argument("--body-delay", type=float, default=1.0, help="slow-body: seconds between HEADERS and DATA")
    p.add_argument("--streams", type=int, default=5000)
    p.add_argument("--batch", type=int, default=50, help="rapid-reset: pairs written before reading")
    p.add_argument("--first-stream-id", type=int, default=1, help="request: the first stream's id (odd)")
    p.add_argument("--wait-close", action="store_true", help="request: then wait until the server closes")
    p.add_argument("--frames", type=int, default=10000)
    p.add_argument("--field-bytes", type=int, default=8)
    p.add_argument("--value-bytes", type=int, default=4000)
    p.add_argument("--refs", type=int, default=1000)
    o = p.parse_args()
    try:
        result = MODES[o.mode](o)
        code = 0
    except Exception as e:  # reported to the test, which shows it
        result = {"error": "%s: %s" % (type(e).__name__, e)}
        code = 1
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
