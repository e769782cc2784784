"""Starting the desktop application: the QApplication, the settings it remembers, the main window.

main.py calls `run_gui` with the things only it may know (the registry of scanner kinds, which builds the
scanners, the export formats and how to build an exporter), so gui/ never imports scanners/.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from discovery.records.model import EstateError
from discovery.scanning.scan_kinds import ScanKinds

ORGANIZATION, APPLICATION = "Estate Mapper", "estatemap"


def check_display() -> None:
    """Raise EstateError when no window can be shown: a Linux session without X11 or Wayland, or an X11 session
    missing a library of Qt's xcb plugin (Qt itself would abort the process with a page of advice)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise EstateError("no display to open the desktop application on (DISPLAY is not set); "
                          "use a command instead (estatemap --help)")
    if not os.environ.get("WAYLAND_DISPLAY"):
        check_xcb_plugin()


def check_xcb_plugin() -> None:
    """Raise EstateError naming the system library Qt's X11 platform plugin cannot load, if any."""
    import ctypes

    from PySide6.QtCore import QLibraryInfo

    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    if not plugin.exists():
        return
    try:
        ctypes.CDLL(str(plugin), mode=os.RTLD_LAZY)  # the loader resolves the libraries it needs, or says which
    except OSError as error:
        found = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", str(error))
        missing = found.group(1) if found else str(error)
        raise EstateError(f"the desktop application cannot open an X11 window: a system library is missing "
                          f"({missing}); install what it needs with: bash scripts/setup.sh") from None


def run_gui(*, store_path: Path | None, scan_kinds: ScanKinds, formats: Iterable, exporter_factory: Callable,
            argv: list[str] | None = None) -> int:
    """Show the main window (opening `store_path`, else the last store used) and return the exit status.
    `scan_kinds` (scanners.kinds.REGISTRY) gives the scan dialog its tabs and the Scan menu its actions."""
    check_display()
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow(scan_kinds=scan_kinds, formats=formats, exporter_factory=exporter_factory)
    window.show()
    window.open_initial_store(store_path)
    return app.exec()
