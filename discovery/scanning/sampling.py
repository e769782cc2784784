"""Observation over time: sample a host's connections repeatedly and keep, per dependency, when it was
first and last seen and how many samples saw it — in bounded memory.

One snapshot misses the nightly batch job and the hourly feed. A client opens a new connection (a new
ephemeral port) each time, so samples are aggregated per *dependency*, not per socket: an outbound
connection by (protocol, process, remote address, remote port), an inbound one by (protocol, local
address, local port, remote address).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from datetime import datetime

from discovery.records.model import Connection, EstateError, ScanContext, utc_now

DEFAULT_MAX_ENTRIES = 50_000
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


DEFAULT_EVERY = 300.0  # seconds between samples when only the watch is given (or the watch, if shorter)


def parse_duration(value: str | float) -> float:
    """Return seconds for `90`, `30s`, `5m`, `1h`, `2d`, or for a number of seconds; raises EstateError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 < value < float("inf"):
            raise EstateError(f"{value!r} is not a duration in seconds")
        return float(value)
    m = _DURATION.match(value if isinstance(value, str) else "")
    if not m or float(m[1]) <= 0:
        raise EstateError(f"{value!r} is not a duration (examples: 30s, 5m, 1h)")
    return float(m[1]) * _UNIT_SECONDS[m[2].lower()]


def watch_settings(watch: str | float | None, every: str | float | None) -> dict:
    """Return {"watch", "every"} in seconds from a watch and a sampling interval; raises EstateError.

    Each is text ("1h") or seconds; no watch (None, 0 or blank) means a single snapshot. The one set of
    rules for every face that offers a watch (scan host, scan ssh, collect, the desktop application): an
    interval needs a watch, defaults to the shorter of the watch and 5 minutes, and is never longer.
    """
    if watch in (None, 0, "") or (isinstance(watch, str) and not watch.strip()):
        if every not in (None, 0, ""):
            raise EstateError("a sampling interval needs a watch duration (for example: watch 1h, sample every 5m)")
        return {"watch": None, "every": None}
    seconds = parse_duration(watch)
    interval = parse_duration(every) if every not in (None, 0, "") else min(seconds, DEFAULT_EVERY)
    if interval > seconds:
        raise EstateError("the sampling interval must not be longer than the watch")
    return {"watch": seconds, "every": interval}


def dependency_key(c: Connection) -> tuple:
    """Return what identifies the dependency a connection is evidence of, whatever ephemeral port it used."""
    if c.direction == "inbound":
        return ("in", c.protocol, c.local_address, c.local_port, c.remote_address)
    return ("out", c.protocol, c.process, c.remote_address, c.remote_port)


class ConnectionSampler:
    """Aggregates connection snapshots; at most `max_entries` distinct dependencies are kept."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES):
        self.max_entries = max_entries
        self.samples_taken = 0
        self.dropped = 0  # dependencies not kept because the table was full
        self._seen: dict[tuple, Connection] = {}

    def add(self, connections: Iterable[Connection], at: datetime) -> None:
        """Record one sample taken at `at`."""
        self.samples_taken += 1
        in_this_sample = set()
        for c in connections:
            key = dependency_key(c)
            if key in in_this_sample:
                continue  # several sockets of one dependency in one sample count once
            in_this_sample.add(key)
            old = self._seen.get(key)
            if old is None:
                if len(self._seen) >= self.max_entries:
                    self.dropped += 1
                    continue
                self._seen[key] = dataclasses.replace(c, first_seen=at, last_seen=at, samples=1)
            else:  # keep the newest socket's details, the first sighting and the count
                self._seen[key] = dataclasses.replace(c, first_seen=old.first_seen, last_seen=at,
                                                      samples=old.samples + 1)

    def connections(self) -> tuple[Connection, ...]:
        return tuple(self._seen.values())


def watch_connections(take_sample: Callable[[], Iterable[Connection]], ctx: ScanContext, *, duration: float,
                      every: float, first: Iterable[Connection] = (), max_entries: int = DEFAULT_MAX_ENTRIES,
                      now: Callable[[], datetime] = utc_now) -> ConnectionSampler:
    """Sample connections every `every` seconds for `duration` seconds (the `first` sample is given).

    Stops early, keeping what it has, when the scan is cancelled or on Ctrl-C (KeyboardInterrupt is
    re-raised by the caller's next check, not lost: `ctx.cancel()` is called).
    """
    if every <= 0 or duration < every:
        raise EstateError("the sampling interval must be positive and no longer than the watch")
    sampler = ConnectionSampler(max_entries)
    sampler.add(first, now())
    total = int(duration // every) + 1
    ctx.report(1, total, "sample 1")
    try:
        for n in range(2, total + 1):
            if ctx.wait_cancelled(every):
                break
            sampler.add(take_sample(), now())
            ctx.report(n, total, f"sample {n}: {len(sampler.connections())} dependencies so far")
    except KeyboardInterrupt:
        ctx.cancel()
    if sampler.dropped:
        ctx.warn(f"watch: {sampler.dropped} connections were not kept: more than {max_entries} distinct dependencies")
    return sampler
