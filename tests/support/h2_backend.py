#!/usr/bin/python3
"""A scriptable h2c backend for the HTTP/2 upstream tests (Debian python3-h2).

    h2_backend.py --name NAME [--log FILE] [mode options]

Listens on 127.0.0.1 on a port of the kernel's choosing, prints that port as
the first line of stdout, and speaks HTTP/2 with prior knowledge (h2c), one
thread, one selector, until SIGTERM or SIGINT.

Every request is answered 200 with the body "NAME METHOD PATH" (then a
newline and the request body, if there was one), once its request has ended,
with these response fields:
  x-backend          NAME
  x-seen-authority   the request's :authority     x-seen-te    its te
  x-seen-xff         its x-forwarded-for          x-seen-via   its via
  x-seen-xfp         its x-forwarded-proto        x-seen-host  its host
  x-seen-body-bytes  how many request body bytes arrived
  x-seen-NAME        for each NAME listed in the request's x-echo field
                     (comma separated), that field's values joined by ", "
  trailer x-trailer  the value of the request's x-want-trailer, if it sent one
(a field the request did not carry is left out). A request with x-delay-ms: N
is answered N ms after it ended, whatever --delay-ms says.

Modes:
  --max-streams N          SETTINGS_MAX_CONCURRENT_STREAMS N; a stream beyond it
                           is logged ("over_limit") and refused (REFUSED_STREAM)
  --refuse-first N         the first N streams (over all connections) are reset
                           with REFUSED_STREAM as soon as their headers arrive
  --goaway-after N         once a connection carried N streams: GOAWAY(NO_ERROR)
                           naming the Nth as last stream id; later streams are
                           ignored; the connection is closed when the N are done
  --reset-first N          the first N streams (over all connections) are reset
                           with RST_STREAM(INTERNAL_ERROR) once their request
                           ended, before any response
  --reset-after-headers    answer with the response head and a little body
                           ("partial"), then RST_STREAM(INTERNAL_ERROR)
  --blackhole              after the preface and the SETTINGS exchange, send
                           nothing more: no response, no PING ack, no WINDOW_UPDATE
  --delay-ms N             answer each request N ms after it ended

Log (--log FILE, else stderr): one JSON object per line, flushed at once, with
"ev" and "conn" (the connection's number, from 1) and "t" (seconds since start):
  accept                                      a connection was accepted
  stream     stream, method, path, open       request headers (open: streams of
                                              the connection under way, this one included)
  refused    stream, why                      reset with REFUSED_STREAM
  answered   stream                           the response was sent in full
  reset_sent stream, code                     the backend reset a stream
  rst_received stream, code                   the peer reset a stream (CANCEL is 8)
  data_after_end stream, bytes                request body for a stream already
                                              answered, refused or reset (or ignored)
  ping       data                             a PING arrived (acked unless blackhole)
  goaway_sent last_stream_id
  goaway_received code, last_stream_id
  ignored    stream                           a stream after our GOAWAY
  close      by ("peer" or "backend"), streams, max_concurrent, error
                                              the connection ended
"""
import argparse
import json
import selectors
import signal
import socket
import sys
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

START = time.monotonic()


class H2Connection(h2.connection.H2Connection):
    """python3-h2's connection, except that a GOAWAY received does not stop it
    from answering the streams it already has (RFC 9113 §6.8 lets them finish;
    the library would refuse to send anything more)."""

    def _receive_goaway_frame(self, frame):
        ev = h2.events.ConnectionTerminated()
        ev.error_code = h2.errors._error_code_from_int(frame.error_code)
        ev.last_stream_id = frame.last_stream_id
        ev.additional_data = frame.additional_data if frame.additional_data else None
        return [], [ev]


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else sys.stderr

    def __call__(self, ev, **fields):
        rec = {"ev": ev, "t": round(time.monotonic() - START, 4)}
        rec.update(fields)
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()


class Backend:
    def __init__(self, o):
        self.o = o
        self.log = Log(o.log)
        self.sel = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(512)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.conns = 0
        self.refused_total = 0
        self.reset_total = 0
        self.timers = []  # (when, conn, stream id)
        self.stop = False

    def port(self):
        return self.listener.getsockname()[1]

    def run(self):
        while not self.stop:
            timeout = None
            if self.timers:
                timeout = max(0.0, min(t[0] for t in self.timers) - time.monotonic())
            for key, _ in self.sel.select(timeout if timeout is not None else 0.5):
                if key.data is None:
                    self.accept()
                else:
                    key.data.readable()
            now = time.monotonic()
            due = [t for t in self.timers if t[0] <= now]
            self.timers = [t for t in self.timers if t[0] > now]
            for _, c, sid in due:
                if not c.closed:
                    c.answer(sid)
                    c.flush()
                    c.maybe_close_after_goaway()

    def accept(self):
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        self.conns += 1
        Conn(self, sock, self.conns)


class Req:
    def __init__(self, headers):
        self.headers = headers  # [(name, value)] as str
        self.body = bytearray()
        self.ended = False
        self.done = False  # answered, reset or refused

    def get(self, name):
        vals = [v for n, v in self.headers if n == name]
        return ", ".join(vals) if vals else None


class Conn:
    def __init__(self, backend, sock, num):
        self.b = backend
        self.o = backend.o
        self.sock = sock
        self.num = num
        self.closed = False
        self.muted = False  # blackhole: nothing more is written
        self.streams = {}
        self.pending = {}  # stream id -> [body bytes not sent yet, trailers or None]
        self.stream_count = 0
        self.open = 0
        self.max_open = 0
        self.goaway_last = None
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = H2Connection(config=cfg)
        adv = {}
        if self.o.max_streams:
            adv[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = self.o.max_streams
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=adv)
        self.h2.initiate_connection()
        # The limit is advertised; the library must not enforce it itself (a
        # client may open streams before it has read our SETTINGS): we count.
        self.h2.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2 ** 31 - 1})
        self.out = bytearray()
        self.b.sel.register(sock, selectors.EVENT_READ, self)
        self.b.log("accept", conn=num)
        self.flush()

    def log(self, ev, **f):
        self.b.log(ev, conn=self.num, **f)

    # ---------------------------------------------------------------- output

    def flush(self):
        if self.closed:
            return
        data = self.h2.data_to_send()
        if self.muted:
            return
        self.out += data
        while self.out:
            try:
                n = self.sock.send(self.out)
                del self.out[:n]
            except (BlockingIOError, InterruptedError):
                # Small answers only: wait for the socket to take the rest.
                sel = selectors.DefaultSelector()
                sel.register(self.sock, selectors.EVENT_WRITE)
                sel.select(1.0)
                sel.close()
            except OSError as e:
                self.close("peer", error=str(e))
                return

    def close(self, by, error=None):
        if self.closed:
            return
        self.closed = True
        try:
            self.b.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.log("close", by=by, streams=self.stream_count, max_concurrent=self.max_open, error=error)

    # ---------------------------------------------------------------- input

    def readable(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.close("peer", error=str(e))
            return
        if not data:
            self.close("peer")
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.log("protocol_error", error=repr(e))
            self.flush()
            self.close("backend", error=repr(e))
            return
        settings_seen = False
        for ev in events:
            self.on_event(ev)
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                settings_seen = True
        self.flush()
        if self.o.blackhole and settings_seen:
            self.muted = True
        self.maybe_close_after_goaway()

    def on_event(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.on_request(ev)
        elif isinstance(ev, h2.events.DataReceived):
            try:
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                pass
            r = self.streams.get(ev.stream_id)
            if r is not None and not r.done:
                r.body += ev.data
            else:
                self.log("data_after_end", stream=ev.stream_id, bytes=len(ev.data))
        elif isinstance(ev, h2.events.StreamEnded):
            r = self.streams.get(ev.stream_id)
            if r is not None:
                r.ended = True
                self.on_ended(ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            r = self.streams.get(ev.stream_id)
            if r is not None:
                r.headers += [(n, v) for n, v in ev.headers]
        elif isinstance(ev, h2.events.StreamReset):
            self.log("rst_received", stream=ev.stream_id, code=int(ev.error_code))
            self.pending.pop(ev.stream_id, None)
            self.finish(ev.stream_id)
        elif isinstance(ev, h2.events.WindowUpdated):
            for sid in list(self.pending) if ev.stream_id == 0 else [ev.stream_id]:
                self.pump(sid)
        elif isinstance(ev, h2.events.PingReceived):
            self.log("ping", data=ev.ping_data.hex())
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.log("goaway_received", code=int(ev.error_code), last_stream_id=ev.last_stream_id)

    def finish(self, sid):
        r = self.streams.get(sid)
        if r is not None and not r.done:
            r.done = True
            self.open -= 1

    def on_request(self, ev):
        sid = ev.stream_id
        headers = [(n, v) for n, v in ev.headers]
        if self.goaway_last is not None and sid > self.goaway_last:
            self.log("ignored", stream=sid)
            return
        r = Req(headers)
        self.streams[sid] = r
        self.stream_count += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self.log("stream", stream=sid, method=r.get(":method"), path=r.get(":path"), open=self.open)
        if self.o.max_streams and self.open > self.o.max_streams:
            self.log("over_limit", stream=sid, open=self.open)
            self.refuse(sid, "over_limit")
            return
        if self.b.refused_total < self.o.refuse_first:
            self.b.refused_total += 1
            self.refuse(sid, "refuse_first")
            return
        if self.o.goaway_after and self.stream_count == self.o.goaway_after and self.goaway_last is None:
            self.goaway_last = sid
            self.flush()
            f = GoAwayFrame(0)
            f.last_stream_id = sid
            f.error_code = 0
            self.out += f.serialize()  # written by hand: the library would refuse to answer after it
            self.log("goaway_sent", last_stream_id=sid)
            self.flush()

    def refuse(self, sid, why):
        self.finish(sid)
        self.h2.reset_stream(sid, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
        self.log("refused", stream=sid, why=why)

    def on_ended(self, sid):
        r = self.streams[sid]
        if r.done or self.o.blackhole:
            return
        if self.b.reset_total < self.o.reset_first:
            self.b.reset_total += 1
            self.finish(sid)
            self.h2.reset_stream(sid, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
            self.log("reset_sent", stream=sid, code=int(h2.errors.ErrorCodes.INTERNAL_ERROR), path=r.get(":path"))
            return
        delay = self.o.delay_ms
        if r.get("x-delay-ms"):
            delay = int(r.get("x-delay-ms"))
        if delay:
            self.b.timers.append((time.monotonic() + delay / 1000.0, self, sid))
        else:
            self.answer(sid)

    def answer(self, sid):
        r = self.streams.get(sid)
        if r is None or r.done:
            return
        try:
            fields = [(":status", "200"), ("content-type", "text/plain"), ("x-backend", self.o.name)]
            seen = [("authority", ":authority"), ("te", "te"), ("xff", "x-forwarded-for"), ("via", "via"),
                    ("xfp", "x-forwarded-proto"), ("host", "host")]
            for short, name in seen:
                v = r.get(name)
                if v is not None:
                    fields.append(("x-seen-" + short, v))
            fields.append(("x-seen-body-bytes", str(len(r.body))))
            echo = r.get("x-echo")
            if echo:
                for name in [n.strip().lower() for n in echo.split(",") if n.strip()]:
                    v = r.get(name)
                    if v is not None:
                        fields.append(("x-seen-" + name.lstrip(":"), v))
            body = ("%s %s %s" % (self.o.name, r.get(":method"), r.get(":path"))).encode()
            if r.body:
                body += b"\n" + bytes(r.body)
            if self.o.reset_after_headers:
                self.h2.send_headers(sid, fields)
                self.h2.send_data(sid, b"partial")
                self.h2.reset_stream(sid, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
                self.finish(sid)
                self.log("reset_sent", stream=sid, code=int(h2.errors.ErrorCodes.INTERNAL_ERROR))
                return
            trailer = r.get("x-want-trailer")
            self.h2.send_headers(sid, fields + [("content-length", str(len(body)))] if not trailer else fields)
            self.pending[sid] = [bytearray(body), [("x-trailer", trailer)] if trailer else None]
            self.pump(sid)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, h2.exceptions.FlowControlError) as e:
            self.pending.pop(sid, None)
            self.finish(sid)
            self.log("answer_failed", stream=sid, error=repr(e))

    def pump(self, sid):
        """Sends what the flow-control windows allow of a response body; the
        end (END_STREAM or the trailers) once all of it went."""
        p = self.pending.get(sid)
        if p is None:
            return
        data, trailers = p
        try:
            while data:
                room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size, len(data))
                if room <= 0:
                    return
                last = room == len(data) and trailers is None
                self.h2.send_data(sid, bytes(data[:room]), end_stream=last)
                del data[:room]
                if last:
                    break
            else:
                if trailers is not None:
                    self.h2.send_headers(sid, trailers, end_stream=True)
                else:
                    self.h2.send_data(sid, b"", end_stream=True)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, h2.exceptions.FlowControlError) as e:
            self.pending.pop(sid, None)
            self.finish(sid)
            self.log("answer_failed", stream=sid, error=repr(e))
            return
        self.pending.pop(sid, None)
        self.finish(sid)
        self.log("answered", stream=sid)

    def maybe_close_after_goaway(self):
        if self.closed or self.goaway_last is None:
            return
        if all(r.done for s, r in self.streams.items() if s <= self.goaway_last):
            self.flush()
            self.close("backend")


def main():
    p = argparse.ArgumentParser(description="scriptable h2c backend", epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="backend")
    p.add_argument("--log")
    p.add_argument("--max-streams", type=int, default=0)
    p.add_argument("--refuse-first", type=int, default=0)
    p.add_argument("--goaway-after", type=int, default=0)
    p.add_argument("--reset-first", type=int, default=0)
    p.add_argument("--reset-after-headers", action="store_true")
    p.add_argument("--blackhole", action="store_true")
    p.add_argument("--delay-ms", type=int, default=0)
    o = p.parse_args()
    b = Backend(o)

    def stop(*_):
        b.stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("%d\n" % b.port())
    sys.stdout.flush()
    b.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
