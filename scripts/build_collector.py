"""Build dist/estatemap-collector.pyz: the offline collector as one file that needs only Python 3.11+ and psutil.

    python3 scripts/build_collector.py [--out PATH]

The archive holds only the modules the collector imports (MODULES) and is built with the standard
library's zipapp. The build refuses to finish if one of them imports a third-party package other
than psutil, so a change elsewhere cannot quietly break the collector on a bare machine.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
import tempfile
import zipapp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "dist" / "estatemap-collector.pyz"

# What the collector runs: LocalHostScanner and what it needs, the bundle writer, atomic file output.
MODULES = (
    "discovery/__init__.py", "discovery/quiet.py", "discovery/terminal.py",
    "discovery/records/__init__.py", "discovery/records/model.py", "discovery/records/redact.py",
    "discovery/scanning/__init__.py", "discovery/scanning/sampling.py",
    "discovery/files/__init__.py", "discovery/files/bundle.py", "discovery/files/atomic_files.py",
    "scanners/__init__.py", "scanners/host_facts.py", "scanners/local_host.py", "scanners/platform_software.py",
    "scanners/bundle_collector.py",
    "collector/__init__.py", "collector/__main__.py",
)
DATA = ("discovery/data/redaction.json",)  # read by discovery/records/redact.py through importlib.resources
ALLOWED_THIRD_PARTY = {"psutil"}
LOCAL_PACKAGES = {"discovery", "scanners", "collector"}

# The archive's entry point: a clear message on an old Python before any module that needs 3.11 loads.
ENTRY_POINT = '''\
import sys
if sys.version_info < (3, 11):
    sys.exit("estatemap-collector needs Python 3.11 or newer; this is Python %d.%d" % sys.version_info[:2])
from collector.__main__ import main
sys.exit(main())
'''


def check_imports(root: Path = ROOT) -> list[str]:
    """Return what is wrong with the collector's imports: third-party packages, modules left out of MODULES."""
    included = {m.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for m in MODULES}

    def is_module(dotted: str) -> bool:
        path = root / dotted.replace(".", "/")
        return path.with_suffix(".py").exists() or (path / "__init__.py").exists()

    problems = []
    for module in MODULES:
        for node in ast.walk(ast.parse((root / module).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module in included:  # `from scanners import platform_software` names a module too
                    names += [f"{node.module}.{a.name}" for a in node.names if is_module(f"{node.module}.{a.name}")]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in LOCAL_PACKAGES:
                    if name not in included:
                        problems.append(f"{module} imports {name}, which is not in the collector")
                elif top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY and top != "__future__":
                    problems.append(f"{module} imports {top}, which is neither the standard library nor psutil")
    return problems


def build(out: Path = DEFAULT_OUT) -> Path:
    """Build the collector archive at `out`; raise SystemExit naming the problem if a module imports too much."""
    problems = check_imports()
    if problems:
        raise SystemExit("cannot build the collector:\n  " + "\n  ".join(problems))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        for module in MODULES + DATA:
            target = staging / module
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / module, target)
        (staging / "__main__.py").write_text(ENTRY_POINT, encoding="utf-8")
        zipapp.create_archive(staging, out, interpreter="/usr/bin/env python3", compressed=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"archive to write (default: {DEFAULT_OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    out = build(args.out)
    print(f"Wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {len(MODULES)} modules). "
          f"Run it with: python3 {out.name} --out HOST.estate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
