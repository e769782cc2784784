"""What changed between two scans: hosts, services, software versions and dependencies that appeared,
disappeared or changed. Pure: two inventories (as build_inventory returns them for one scan each) in,
a plain dict out.
"""

from __future__ import annotations

from collections.abc import Callable

# What identifies each kind of thing, and which of its fields count as a change.
KINDS: dict[str, tuple[Callable[[dict], object], tuple[str, ...]]] = {
    "hosts": (lambda h: h["id"], ("hostname", "addresses", "macs", "os_name", "os_version", "kernel")),
    "services": (lambda s: s["id"], ("state", "name", "product", "version", "tunnel", "process")),
    "software": (lambda s: (s["host_id"], s["name"], s.get("architecture")), ("version",)),
    "databases": (lambda d: d["id"], ("version", "databases")),
    "dependencies": (lambda d: d["id"], ("target_service_id", "evidence")),
}


def _label(kind: str, row: dict) -> str:
    if kind == "hosts":
        return f"{row['id']} ({row.get('hostname') or ', '.join(row.get('addresses') or []) or 'unnamed'})"
    if kind == "services":
        product = " ".join(filter(None, (row.get("product"), row.get("version"))))
        return f"{row['id']} {row.get('name') or ''}{' ' + product if product else ''}".rstrip()
    if kind == "software":
        return f"{row['host_id']} {row['name']} {row.get('version') or ''}".rstrip()
    if kind == "databases":
        return f"{row['id']} {row.get('engine')} {row.get('version') or ''}".rstrip()
    return (f"{row['source_host_id']}{'/' + row['source_process'] if row.get('source_process') else ''} -> "
            f"{row['target_host_id']}:{row['protocol']}/{row['target_port']}")


def diff_inventories(before: dict, after: dict) -> dict:
    """Return {kind: {"appeared": [...], "disappeared": [...], "changed": [...]}} for every kind in KINDS.

    Each entry has `key` (what identifies it, as text) and `label`; a changed one also has
    `changes`: {field: [before, after]}.
    """
    result = {}
    for kind, (key_of, fields) in KINDS.items():
        old = {key_of(r): r for r in before.get(kind, [])}
        new = {key_of(r): r for r in after.get(kind, [])}
        changed = []
        for key in sorted(old.keys() & new.keys(), key=str):
            changes = {f: [old[key].get(f), new[key].get(f)] for f in fields if old[key].get(f) != new[key].get(f)}
            if changes:
                changed.append({"key": str(key), "label": _label(kind, new[key]), "changes": changes})
        result[kind] = {
            "appeared": [{"key": str(k), "label": _label(kind, new[k])} for k in sorted(new.keys() - old.keys(), key=str)],
            "disappeared": [{"key": str(k), "label": _label(kind, old[k])} for k in sorted(old.keys() - new.keys(), key=str)],
            "changed": changed,
        }
    return result


def format_diff(diff: dict) -> list[str]:
    """Return the diff as lines: `+` appeared, `-` disappeared, `~` changed (field: before -> after)."""
    lines = []
    for kind, parts in diff.items():
        entries = ([f"+ {e['label']}" for e in parts["appeared"]] + [f"- {e['label']}" for e in parts["disappeared"]]
                   + [f"~ {e['label']}: " + "; ".join(f"{f} {a!r} -> {b!r}" for f, (a, b) in e["changes"].items())
                      for e in parts["changed"]])
        if entries:
            lines.append(f"{kind}:")
            lines += [f"  {line}" for line in entries]
    return lines
