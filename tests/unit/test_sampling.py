import threading
from datetime import timedelta

import pytest

from discovery.records.model import Connection, EstateError, ScanContext
from discovery.scanning.sampling import ConnectionSampler, parse_duration, watch_connections
from tests.builders import T0


def conn(local_port, remote_port=5432, direction="outbound", process="psql", remote="10.0.0.9"):
    return Connection(protocol="tcp", local_address="10.0.0.1", local_port=local_port, remote_address=remote,
                      remote_port=remote_port, direction=direction, process=process, source="local", observed_at=T0)


@pytest.mark.parametrize("text, seconds", [("90", 90), ("30s", 30), ("5m", 300), ("1h", 3600), ("1.5h", 5400),
                                           ("2d", 172800)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "5 minutes", "1w", "h"])
def test_parse_duration_refuses(text):
    with pytest.raises(EstateError):
        parse_duration(text)


def test_sampler_aggregates_new_ephemeral_ports_into_one_dependency():
    sampler = ConnectionSampler()
    sampler.add([conn(40001)], T0)
    sampler.add([conn(40002), conn(40003)], T0 + timedelta(minutes=5))  # two sockets, one sample
    sampler.add([], T0 + timedelta(minutes=10))
    sampler.add([conn(40009)], T0 + timedelta(minutes=15))
    (dep,) = sampler.connections()
    assert (dep.first_seen, dep.last_seen, dep.samples) == (T0, T0 + timedelta(minutes=15), 3)
    assert dep.local_port == 40009 and sampler.samples_taken == 4


def test_sampler_memory_is_bounded():
    sampler = ConnectionSampler(max_entries=10)
    sampler.add([conn(40000 + i, remote_port=1000 + i) for i in range(25)], T0)
    assert len(sampler.connections()) == 10 and sampler.dropped == 15


def test_watch_takes_the_planned_samples_and_stops_on_cancel():
    calls = []
    ctx = ScanContext()
    sampler = watch_connections(lambda: calls.append(1) or [conn(41000 + len(calls))], ctx, duration=0.2,
                                every=0.05, first=[conn(41000)])
    assert len(calls) == 4 and sampler.samples_taken == 5 and sampler.connections()[0].samples == 5

    cancel = threading.Event()
    ctx = ScanContext(cancel=cancel, progress=lambda done, total, msg: done == 2 and cancel.set())
    sampler = watch_connections(lambda: [conn(42000)], ctx, duration=60, every=0.01, first=[conn(42001)])
    assert sampler.samples_taken == 2  # stopped at once, what was seen is kept


def test_watch_refuses_an_interval_longer_than_the_watch():
    with pytest.raises(EstateError, match="sampling interval must be positive and no longer than the watch"):
        watch_connections(lambda: [], ScanContext(), duration=60, every=300)
