"""A throw-away scanner kind for tests: declared once, it must get a CLI subcommand and a GUI tab of its own.

Use it through a registry of the test's own, never by changing scanners.kinds.REGISTRY:

    kinds = ScanKinds((*REGISTRY.kinds, toy_kind.KIND))

Its scanner reports one host per target without touching anything, and keeps the options it was built from
(`scanner.options`) so a test can check what each face handed over.
"""

from __future__ import annotations

from collections.abc import Iterator

from discovery.records.model import EstateError, HostReport, ScanContext
from discovery.scanning.scan_kinds import Option, ScannerKind, number, words
from tests.builders import make_report

DOC = """Pretend to inventory hosts: one made-up host per target, nothing is contacted.

A test kind: it proves a new kind needs nothing but its declaration.

Example: estatemap scan toy web01 db01 --depth 5 --loud
"""

OPTIONS = (
    Option("targets", kind="words", required=True, metavar="TARGET", label="Targets:", help="names of made-up hosts",
           placeholder="web01 db01"),
    Option("depth", kind="int", flag="--depth", metavar="N", default=3, minimum=1, maximum=9, label="Depth:",
           help="how deep to pretend to look (default: 3)"),
    Option("loud", kind="bool", flag="--loud", help="say each host aloud in the log"),
)


class ToyScanner:
    kind = "toy"

    def __init__(self, options: dict):
        self.options = dict(options)
        self._targets = tuple(words(options["targets"]))

    def targets(self) -> tuple[str, ...]:
        return self._targets

    def scan(self, ctx: ScanContext) -> Iterator[HostReport]:
        for done, target in enumerate(self._targets, 1):
            ctx.check_cancelled()
            yield make_report(hostname=target, source="local", observed_at=ctx.started_at)
            ctx.report(done, len(self._targets), f"pretended to scan {target}")


def build(opts: dict) -> ToyScanner:
    if not words(opts["targets"]):
        raise EstateError("name at least one made-up host")
    number(opts["depth"], "depth", int)
    return ToyScanner(opts)


KIND = ScannerKind(name="toy", label="Toy", doc=DOC, options=OPTIONS, build=build)
