"""PID 1 of a test host's PID namespace: reaps orphaned children until SIGTERM, SIGINT or SIGKILL.

Started by tests/integration/network.py as
    ip netns exec NS unshare --pid --fork --mount-proc --uts --ipc --mount -- python3 host_init.py NAME
Only the standard library, so it runs under any Python 3.
"""

from __future__ import annotations

import os
import signal
import sys


def reap(_signum=None, _frame=None) -> None:
    """Collect every child that has exited, so none stays a zombie."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main() -> None:
    # PID 1 gets no default signal actions: without handlers SIGTERM and SIGINT would be ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    signal.signal(signal.SIGCHLD, reap)
    print(f"host_init: pid {os.getpid()} for host {sys.argv[1] if len(sys.argv) > 1 else '?'}", flush=True)
    while True:
        signal.pause()
        reap()


if __name__ == "__main__":
    main()
