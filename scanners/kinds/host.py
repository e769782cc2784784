"""`estatemap scan host` and the GUI's This host tab: this machine through psutil, optionally watched."""

from __future__ import annotations

from discovery.scanning.sampling import watch_settings
from discovery.scanning.scan_kinds import ScannerKind, watch_options

DOC = """Inventory this machine: hardware, OS, installed software, processes, listening services,
established connections and databases.

Run it as root (or Administrator) to see every process and socket; without, it records what
it can and says what it could not. With --watch, connections are sampled for that long (every
--every) and each one keeps when it was first and last seen and how many samples saw it;
Ctrl-C during a watch keeps what was sampled so far.

Example: estatemap scan host --watch 1h --every 5m
"""


def build(opts: dict):
    from scanners.local_host import LocalHostScanner
    return LocalHostScanner(**watch_settings(opts["watch"], opts["every"]))


def stored(opts: dict) -> dict:
    return watch_settings(opts["watch"], opts["every"])  # seconds, whichever face started it


def remaining(plan) -> dict:
    """Run it again (a new scan) with the same watch."""
    return {"watch": plan.options.get("watch"), "every": plan.options.get("every")}


KIND = ScannerKind(
    name="host", label="This host", doc=DOC, options=watch_options(), build=build, stored=stored, resume="rerun",
    remaining=remaining,
    intro="Inventory this machine: hardware, OS, installed software, processes, listening services, connections "
          "and databases. Run Estate Mapper as root (or Administrator) to see every process and socket. With a "
          "watch, connections are sampled until the watch ends or you cancel; what was sampled is kept.")
