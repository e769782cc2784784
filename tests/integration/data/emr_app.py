"""A stand-in for a clinical application: holds one open connection each to PostgreSQL, Redis and a web server.

    python3 emr_app.py --postgres 10.203.0.10:5432 --redis 10.203.0.10:6379 --http 10.203.0.20:80

It logs in to PostgreSQL (trust authentication, user postgres, database emr, application_name emr_app),
then keeps all three connections busy with a small request every --interval seconds so no server closes
them as idle. It does not reconnect: if a connection breaks it says so and exits with status 1.
It names itself "emr_app" (the kernel's comm, which psutil reports as the process name).
Only the standard library, so it runs under any Python 3.
"""

from __future__ import annotations

import argparse
import ctypes
import signal
import socket
import struct
import sys
import time

PR_SET_NAME = 15
CONNECT_TIMEOUT = 10.0
IO_TIMEOUT = 10.0


def log(text: str) -> None:
    print(f"emr_app: {text}", flush=True)


def set_process_name(name: str) -> None:
    """Set the kernel's name for this process (what ps -o comm and psutil.Process.name() show)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError) as exc:
        log(f"could not set the process name: {exc}")


def parse_endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        data += chunk
    return data


class PostgresSession:
    """A PostgreSQL protocol 3.0 session with trust authentication; enough to log in and run `select 1`."""

    def __init__(self, endpoint: tuple[str, int], user: str, database: str):
        self.sock = socket.create_connection(endpoint, timeout=CONNECT_TIMEOUT)
        self.sock.settimeout(IO_TIMEOUT)
        params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in
                          (("user", user), ("database", database), ("application_name", "emr_app"))) + b"\0"
        self.sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        self.read_until_ready()

    def read_message(self) -> tuple[bytes, bytes]:
        kind = recv_exactly(self.sock, 1)
        (length,) = struct.unpack("!i", recv_exactly(self.sock, 4))
        return kind, recv_exactly(self.sock, length - 4)

    def read_until_ready(self) -> None:
        while True:
            kind, body = self.read_message()
            if kind == b"E":
                raise ConnectionError(f"PostgreSQL error: {body.decode(errors='replace')}")
            if kind == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                raise ConnectionError("PostgreSQL asked for a password; the test database uses trust")
            if kind == b"Z":
                return

    def heartbeat(self) -> None:
        query = b"select 1\0"
        self.sock.sendall(b"Q" + struct.pack("!i", 4 + len(query)) + query)
        self.read_until_ready()


class RedisSession:
    def __init__(self, endpoint: tuple[str, int]):
        self.sock = socket.create_connection(endpoint, timeout=CONNECT_TIMEOUT)
        self.sock.settimeout(IO_TIMEOUT)
        self.heartbeat()

    def heartbeat(self) -> None:
        self.sock.sendall(b"PING\r\n")
        reply = recv_exactly(self.sock, 7)
        if reply != b"+PONG\r\n":
            raise ConnectionError(f"Redis answered {reply!r} to PING")


class HttpSession:
    """One keep-alive HTTP/1.1 connection that GETs / again and again."""

    def __init__(self, endpoint: tuple[str, int]):
        self.host = endpoint[0]
        self.sock = socket.create_connection(endpoint, timeout=CONNECT_TIMEOUT)
        self.sock.settimeout(IO_TIMEOUT)
        self.buffer = b""
        self.heartbeat()

    def heartbeat(self) -> None:
        self.sock.sendall(f"GET / HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: emr_app/1.0\r\n"
                          "Connection: keep-alive\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("web server closed the connection")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 200"):
            raise ConnectionError(f"web server answered {lines[0]!r}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("web server closed the connection")
            self.buffer += chunk
        self.buffer = self.buffer[length:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="HOST:PORT of PostgreSQL")
    parser.add_argument("--redis", required=True, help="HOST:PORT of Redis")
    parser.add_argument("--http", required=True, help="HOST:PORT of the web server")
    parser.add_argument("--database", default="emr")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--interval", type=float, default=20.0, help="seconds between keep-alive requests")
    args = parser.parse_args()
    set_process_name("emr_app")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    sessions = {}
    try:
        sessions["postgresql"] = PostgresSession(parse_endpoint(args.postgres), args.user, args.database)
        sessions["redis"] = RedisSession(parse_endpoint(args.redis))
        sessions["http"] = HttpSession(parse_endpoint(args.http))
    except (OSError, ConnectionError) as exc:
        log(f"could not connect: {exc}")
        sys.exit(1)
    for name, session in sessions.items():
        local, remote = session.sock.getsockname(), session.sock.getpeername()
        log(f"connected {name} {local[0]}:{local[1]} -> {remote[0]}:{remote[1]}")
    log("ready")
    while True:
        time.sleep(args.interval)
        for name, session in sessions.items():
            try:
                session.heartbeat()
            except (OSError, ConnectionError) as exc:
                log(f"{name} connection broke: {exc}")
                sys.exit(1)


if __name__ == "__main__":
    main()
