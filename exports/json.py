"""JSON export: the inventory in the `estatemap/1` schema of DESIGN.md, as one UTF-8 file."""

from __future__ import annotations

import json
from pathlib import Path

from discovery.files.atomic_files import atomic_output


class JsonExporter:
    format = "json"

    def write(self, inventory: dict, path: Path) -> None:
        """Write `inventory` to `path` atomically; raises EstateError if it cannot."""
        with atomic_output(path, encoding="utf-8") as out:
            json.dump(inventory, out, indent=2, ensure_ascii=False)
            out.write("\n")
