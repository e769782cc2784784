"""A small HL7 v2 receiver over MLLP: frames <VT>message<FS><CR>, answers each message with an ACK.

    python3 mllp_server.py --host 10.203.0.30 --port 2575 [--app PACS --facility TEST]

Every framed message gets one ACK: MSA|AA|<control id> when it starts with an MSH segment,
MSA|AR|<control id or empty> otherwise. A connection that sends anything outside a frame (a byte other
than <VT> where a frame should start) is closed, as HAPI's MinLLPReader does: it is not speaking MLLP.
Only the standard library, so it runs under any Python 3.
"""

from __future__ import annotations

import argparse
import signal
import socketserver
import sys
import time

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
MAX_FRAME = 1 << 20  # a frame longer than this is dropped, and the connection closed


def split_segments(message: str) -> list[str]:
    """Return the message's segments; HL7 separates them by CR, some senders use LF or CRLF."""
    return [s for s in message.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]


def build_ack(message: str, app: str, facility: str, now: float | None = None) -> str:
    """Return the HL7 v2 ACK for one message (segments separated by CR, with a trailing CR)."""
    segments = split_segments(message)
    msh = segments[0] if segments else ""
    timestamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now))
    if not msh.startswith("MSH") or len(msh) < 8:
        header = f"MSH|^~\\&|{app}|{facility}|||{timestamp}||ACK|{int(time.time() * 1000)}|P|2.5"
        return f"{header}\rMSA|AR||message does not start with an MSH segment\r"
    sep = msh[3]
    fields = msh.split(sep)  # fields[n - 1] is MSH-n, because MSH-1 is the separator itself

    def field(n: int) -> str:
        return fields[n - 1] if len(fields) >= n else ""

    encoding = field(2) or "^~\\&"
    component = encoding[0]
    trigger = field(9).split(component)[1] if component in field(9) else ""
    control_id = field(10)
    version = field(12) or "2.5"
    message_type = f"ACK{component}{trigger}{component}ACK" if trigger else "ACK"
    header = sep.join(["MSH", encoding, app, facility, field(3), field(4), timestamp, "", message_type,
                       f"ACK{control_id}", field(11) or "P", version])
    return f"{header}\r{sep.join(['MSA', 'AA', control_id])}\r"


class MllpHandler(socketserver.BaseRequestHandler):
    """One client connection: read frames, answer each with an ACK, until the client closes."""

    def handle(self) -> None:
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        log(f"connection from {peer}")
        buffer = b""
        while True:
            try:
                data = self.request.recv(65536)
            except OSError as exc:
                log(f"{peer}: {exc}")
                return
            if not data:
                log(f"{peer} closed")
                return
            buffer += data
            while buffer:
                buffer = buffer.lstrip(b"\r\n")  # some senders end frames with <FS><CR><LF>
                if buffer and not buffer.startswith(START_BLOCK):
                    log(f"{peer}: {buffer[:16]!r} is not the start of an MLLP frame, closing")
                    return
                end = buffer.find(END_BLOCK)
                if end < 0:
                    if len(buffer) > MAX_FRAME:
                        log(f"{peer}: frame longer than {MAX_FRAME} bytes, closing")
                        return
                    break
                message = buffer[1:end].decode("latin-1")
                buffer = buffer[end + len(END_BLOCK):]
                ack = build_ack(message, self.server.app, self.server.facility)
                msh = split_segments(message)[:1]
                log(f"{peer}: received {msh[0][:80] if msh else '(empty message)'!r}; answered "
                    f"{split_segments(ack)[1]!r}")
                self.request.sendall(START_BLOCK + ack.encode("latin-1") + END_BLOCK)


class MllpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: str, facility: str):
        self.app = app
        self.facility = facility
        super().__init__(address, MllpHandler)


def log(text: str) -> None:
    print(f"mllp_server: {text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=2575)
    parser.add_argument("--app", default="PACS", help="MSH-3 of the ACKs (our application)")
    parser.add_argument("--facility", default="TEST", help="MSH-4 of the ACKs (our facility)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with MllpServer((args.host, args.port), args.app, args.facility) as server:
        log(f"listening on {args.host}:{args.port}")
        server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
