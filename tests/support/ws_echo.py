#!/usr/bin/python3
"""A WebSocket echo backend for the tunnel tests (Debian python3-websockets).

    ws_echo.py SERVER_ID [LIFETIME_SECONDS]

Listens on 127.0.0.1, port chosen by the OS, and prints "port N" on stdout
once it accepts connections. Every message is echoed back as it came (text as
text, binary as binary), except the text message "whoami", which is answered
with SERVER_ID, so a test can tell which backend a tunnel reached. Each
accepted connection is reported on stdout as "open N" and its end as
"closed N CODE" (N counts from 1).

The process exits by itself after LIFETIME_SECONDS (default 120) or as soon
as its stdin closes (the test that started it went away), whichever is first.
"""
import asyncio
import os
import sys
import threading

import websockets


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    server_id = sys.argv[1]
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    counter = {"n": 0}

    async def handler(ws):
        counter["n"] += 1
        n = counter["n"]
        say("open %d" % n)
        try:
            async for message in ws:
                if message == "whoami":
                    await ws.send(server_id)
                else:
                    await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            say("closed %d %s" % (n, ws.close_code))

    async def run():
        stop = asyncio.get_running_loop().create_future()

        def stdin_watch(loop):
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result("stdin closed"))

        threading.Thread(target=stdin_watch, args=(asyncio.get_running_loop(),), daemon=True).start()
        # No keepalive pings (a tunnel must be allowed to sit idle), messages up
        # to 64 MiB, and no compression: the bytes on the wire are the payload.
        async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None, max_size=64 << 20,
                                    compression=None, close_timeout=2) as server:
            port = server.sockets[0].getsockname()[1]
            say("port %d" % port)
            try:
                await asyncio.wait_for(stop, lifetime)
            except asyncio.TimeoutError:
                pass

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
