"""Wait until every HOST:PORT accepts a TCP connection, or until --timeout seconds have passed.

    python3 tcp_probe.py --timeout 30 10.203.0.10:5432 10.203.0.20:80

Prints one JSON object {"HOST:PORT": "open" | "<last error>"} and exits 0 when all are open, 1 otherwise.
Run inside a test host, so that it probes from that host's network namespace.
Only the standard library, so it runs under any Python 3.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("endpoints", nargs="+", help="HOST:PORT")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    status = {endpoint: "not tried" for endpoint in args.endpoints}
    while True:
        for endpoint, state in status.items():
            if state == "open":
                continue
            host, _, port = endpoint.rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=0.5).close()
                status[endpoint] = "open"
            except OSError as exc:
                status[endpoint] = str(exc)
        if all(state == "open" for state in status.values()) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    print(json.dumps(status), flush=True)
    sys.exit(0 if all(state == "open" for state in status.values()) else 1)


if __name__ == "__main__":
    main()
