#!/usr/bin/python3
"""A cleartext HTTP/2 server (prior knowledge, no upgrade) for Weir's health
check tests, on Debian python3-h2.

    h2c_http_backend.py STATUS_FILE

Listens on 127.0.0.1, port chosen by the OS, and prints "port N" on stdout
once it accepts connections. Every request is answered with the status
written in STATUS_FILE (re-read per request, so a test switches it at
runtime; 200 when the file is missing) and a short body, and reported on
stdout as "request METHOD PATH STATUS".

The process exits as soon as its stdin closes (the test that started it went
away) or after 300 seconds.
"""
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def status_of(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or "200")
    except FileNotFoundError:
        return 200


def serve(sock, status_file):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    fields = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                              for k, v in event.headers}
                    status = status_of(status_file)
                    say("request %s %s %d" % (fields.get(":method"), fields.get(":path"), status))
                    if status in (204, 304):  # no content, by definition
                        conn.send_headers(event.stream_id, [(":status", str(status))], end_stream=True)
                    else:
                        body = b"status %d\n" % status
                        conn.send_headers(event.stream_id,
                                          [(":status", str(status)), ("content-length", str(len(body)))])
                        conn.send_data(event.stream_id, body, end_stream=True)
            sock.sendall(conn.data_to_send())
    except Exception:  # the peer went away mid-connection: nothing to report
        return
    finally:
        sock.close()


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    status_file = sys.argv[1]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    say("port %d" % listener.getsockname()[1])

    def accept_loop():
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=serve, args=(sock, status_file), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
