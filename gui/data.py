"""What the GUI shows, loaded from a store in one go: the inventory (the JSON export's dict) and its graph.

Loading reads the store once and closes it, so the GUI never holds the file open while a scan from the
CLI writes to it; `load_snapshot` is plain Python and runs on a worker thread (gui.workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import networkx as nx

from discovery.analyses.graph import build_graph
from discovery.analyses.wave_rules import usable_rules
from discovery.inventory.build import build_inventory
from discovery.records.model import utc_now
from discovery.storage.store import Store


@dataclass(slots=True)
class Snapshot:
    path: Path | None                 # the store it came from (None for a synthetic estate)
    inventory: dict                   # discovery.inventory.build.build_inventory's dict (DESIGN.md's JSON schema)
    graph: nx.MultiDiGraph            # discovery.analyses.graph.build_graph(inventory)
    loaded_at: datetime = field(default_factory=utc_now)
    hosts_by_id: dict[str, dict] = field(default_factory=dict)
    wave_rules: dict | None = None    # the wave rules in force (the store's); None: those of the plan shown

    def __post_init__(self):
        self.hosts_by_id = {h["id"]: h for h in self.inventory["hosts"]}
        if self.wave_rules is None:
            self.wave_rules = (self.inventory.get("wave_plan") or {}).get("rules") or {}

    def host_label(self, host_id: str) -> str:
        """Return a host's name as people say it: hostname, else first address, else its id."""
        host = self.hosts_by_id.get(host_id)
        if host is None:
            return host_id
        return host["hostname"] or (host["addresses"] or [host_id])[0]

    @property
    def last_scan(self) -> dict | None:
        scans = self.inventory["scans"]
        return scans[-1] if scans else None


def snapshot_of(inventory: dict, path: Path | None = None, *, wave_rules: dict | None = None) -> Snapshot:
    """Return a Snapshot of an inventory dict (a store's, or a synthetic estate's); `wave_rules`: the rules in
    force (default: those the inventory's wave plan used)."""
    return Snapshot(path=path, inventory=inventory, graph=build_graph(inventory), wave_rules=wave_rules)


def load_snapshot(path: str | Path) -> Snapshot:
    """Read the store at `path` into a Snapshot; raises EstateError (StoreError) if it cannot be opened."""
    path = Path(path)
    with Store(path, create=False) as store:
        inventory = build_inventory(store)
        wave_rules = usable_rules(store.wave_rules())[0].to_dict()
    return snapshot_of(inventory, path, wave_rules=wave_rules)


def save_host_annotation(path: str | Path, host_id: str, **values) -> None:
    """Store any of owner, criticality, patient_data, notes for one host; fields not given keep their values."""
    with Store(Path(path), create=False) as store:
        store.save_annotations([{"host_id": host_id, **values}])
