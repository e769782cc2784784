"""The design's nevers (DESIGN.md, "Data flow"), each a test that fails when the rule is broken.

- discovery/ imports none of scanners/, exports/, gui/ (nor main, the collector, Qt or openpyxl);
- scanners/ import only discovery/ of the project, and never Qt;
- exports/ never import scanners/ or gui/, nor talk to nmap, psutil or SSH themselves;
- gui/ never imports scanners/, nmap, psutil or an SSH or database client.

Checked twice: statically, every import statement in every module (lazy ones inside functions too), and
dynamically, what importing every module of a package actually loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("discovery", "scanners", "exports", "gui", "main", "collector")
TALKERS = ("nmap", "psutil", "asyncssh", "psycopg")  # what reaches the network or the machine
FORBIDDEN = {
    "discovery": ("scanners", "exports", "gui", "main", "collector", "PySide6", "shiboken6", "openpyxl"),
    "scanners": ("exports", "gui", "main", "collector", "PySide6", "shiboken6"),
    "exports": ("scanners", "gui", "main", "collector", "PySide6", "shiboken6", *TALKERS),
    "gui": ("scanners", "main", "collector", *TALKERS),
}


def imports_of(path: Path, package: str) -> list[tuple[int, str]]:
    """Return (line, module) for every import in the file, lazy ones included; relative ones within `package`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "" if node.level == 0 else f"{package}.{node.module or ''}"))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(package_dir: Path, forbidden: tuple[str, ...]) -> list[str]:
    """Return "path:line: module" for each import in the package that the rule forbids."""
    return [f"{path.relative_to(package_dir.parent)}:{line}: {module}"
            for path in sorted(package_dir.rglob("*.py"))
            for line, module in imports_of(path, package_dir.name)
            if module.split(".")[0] in forbidden]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_what_the_design_allows(package):
    assert violations(ROOT / package, FORBIDDEN[package]) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_importing_every_module_of_a_package_loads_nothing_it_must_not(package):
    """What importing a package's modules really loads (through other modules too), in a fresh interpreter."""
    code = (f"import importlib, pkgutil, sys, {package}\n"
            f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
            f"    importlib.import_module(m.name)\n"
            f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({FORBIDDEN[package]!r})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_check_sees_lazy_relative_and_importlib_imports(tmp_path):
    package = tmp_path / "scanners"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sneaky.py").write_text(
        "import importlib\nfrom . import fine\n\n"
        "def later():\n    from exports.files import atomic_output\n    import gui.app as app\n"
        "    return importlib.import_module('PySide6.QtCore')\n")
    assert violations(package, FORBIDDEN["scanners"]) == [
        "scanners/sneaky.py:5: exports.files", "scanners/sneaky.py:6: gui.app", "scanners/sneaky.py:7: PySide6.QtCore"]


def test_the_service_functions_annotations_resolve():
    """`from __future__ import annotations` hides a missing import until something reads the hints."""
    import discovery.service as service
    for name in ("run_scan", "export_inventory", "analyze", "plan_resume"):
        typing.get_type_hints(getattr(service, name))


def test_the_graph_model_is_plain_python_without_qt():
    """gui/graph_model.py derives what the graph shows on a worker thread and in tests without a window."""
    code = ("import sys, gui.graph_model; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
