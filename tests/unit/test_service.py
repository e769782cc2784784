import threading

from discovery.service import run_scan
from tests.builders import make_report


class FakeScanner:
    """A scanner that yields prepared reports, then does what `then` says."""
    kind = "host"

    def __init__(self, reports, then=None, warn=None):
        self.reports, self.then, self.warn = reports, then, warn

    def targets(self):
        return ("fake",)

    def scan(self, ctx):
        for n, report in enumerate(self.reports, 1):
            ctx.check_cancelled()
            if self.warn:
                ctx.warn(self.warn)
            yield report
            ctx.report(n, len(self.reports), f"host {n}")
        if self.then:
            raise self.then


def test_run_scan_completed_counts_and_progress(store):
    seen = []
    result = run_scan(store, FakeScanner([make_report(), make_report()], warn="dpkg-query not found"),
                      progress=lambda done, total, msg: seen.append((done, total)))
    assert result.status == "completed" and len(result.host_ids) == 2
    assert result.counts["services"] == 2 and result.counts["software"] == 2
    assert seen == [(1, 2), (2, 2)]
    (scan,) = store.list_scans()
    assert scan["status"] == "completed" and scan["host_count"] == 2 and scan["finished_at"]
    assert scan["warnings"] == ["dpkg-query not found"] * 2


def test_run_scan_ctrl_c_keeps_finished_hosts_and_marks_interrupted(store):
    result = run_scan(store, FakeScanner([make_report(), make_report()], then=KeyboardInterrupt()))
    assert result.status == "interrupted"
    (scan,) = store.list_scans()
    assert scan["status"] == "interrupted" and scan["host_count"] == 2


def test_run_scan_cancel_event_stops_before_next_host(store):
    cancel = threading.Event()
    reports = [make_report(), make_report(), make_report()]

    def progress(done, total, message):
        if done == 1:
            cancel.set()

    result = run_scan(store, FakeScanner(reports), progress=progress, cancel=cancel)
    assert result.status == "interrupted" and len(result.host_ids) == 1
    assert store.list_scans()[0]["host_count"] == 1


def test_run_scan_scanner_crash_is_failed_with_message_and_keeps_hosts(store):
    result = run_scan(store, FakeScanner([make_report()], then=RuntimeError("psutil exploded")))
    assert result.status == "failed" and "psutil exploded" in result.error
    (scan,) = store.list_scans()
    assert scan["status"] == "failed" and scan["error"] == result.error and scan["host_count"] == 1


def test_run_scan_tells_each_warning_as_it_happens(store):
    """The GUI's live log hears a warning when the scanner raises it, not only when the scan ends."""
    from discovery.records.model import utc_now
    from discovery.service import run_scan
    from tests.builders import make_report

    heard: list[tuple[str, int]] = []
    stored_before: list[int] = []

    class Scanner:
        kind = "host"

        def targets(self):
            return ("app01",)

        def scan(self, ctx):
            ctx.warn("first")
            stored_before.append(len(heard))
            yield make_report(hostname="app01", observed_at=utc_now())
            ctx.warn("second")

    result = run_scan(store, Scanner(), on_warning=lambda message: heard.append((message, len(store.hosts()))))
    assert heard == [("first", 0), ("second", 1)] and stored_before == [1]
    assert result.warnings == ["first", "second"]


def test_a_connection_seen_from_both_ends_counts_once_as_in_the_inventory(store):
    from discovery.inventory.build import build_inventory
    both_ends = (("127.0.0.1", 45000, "127.0.0.1", 5432, "outbound", "psql"),
                 ("127.0.0.1", 5432, "127.0.0.1", 45000, "inbound", "postgres"),
                 ("10.9.0.250", 46000, "10.9.0.9", 443, "outbound", "curl"))
    result = run_scan(store, FakeScanner([make_report(connections=both_ends)]))
    assert result.counts["connections"] == 2
    assert len(build_inventory(store)["connections"]) == 2


def test_counted_says_one_thing_in_the_singular():
    from discovery.records.model import counted
    assert [counted(n, "host") for n in (0, 1, 2, 1200)] == ["0 hosts", "1 host", "2 hosts", "1,200 hosts"]
    assert counted(1, "process", "processes") == "1 process" and counted(3, "process", "processes") == "3 processes"
