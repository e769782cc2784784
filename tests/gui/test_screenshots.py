"""The README's screenshots come from scripts/screenshots.py: it must keep rendering every main view."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PySide6.QtGui import QImage

from discovery.storage.store import Store
from tests.gui.conftest import fill_estate

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"


def load_script():
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def distinct_colours(image: QImage, step: int = 7) -> int:
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


def test_screenshots_render_every_main_view(qapp, tmp_path):
    store = tmp_path / "demo.db"
    with Store(store) as s:
        fill_estate(s)
    files = load_script().render(store, tmp_path / "docs")
    assert [f.name for f in files] == ["overview.png", "inventory.png", "graph.png", "findings.png", "move-groups.png", "scans.png",
                                       "scan-dialog.png"]
    for path in files:
        image = QImage(str(path))
        assert not image.isNull() and image.width() >= 600 and image.height() >= 500, path
        assert distinct_colours(image) > 8, f"{path.name} looks blank"
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == sorted(f.name for f in files)
