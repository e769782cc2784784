"""Render the assessment report's first printed page into docs/report-page1.png (the README shows it).

Writes the report of a store (by default a small demo hospital estate written into a temporary store and
analysed: the estate the report's tests use; or --db STORE for your own), prints it to PDF with headless
Chromium (Debian's chromium, installed by scripts/setup.sh --test) exactly as "Print to PDF" would, and renders
that PDF's first page with Qt's PDF module. --keep DIR also keeps report.html and report.pdf there.

Run: .venv/bin/python scripts/report_screenshot.py [--db STORE] [--out docs/report-page1.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WIDTH = 1000  # pixels across the first page's image (A4's height follows)


def demo_store(folder: Path) -> Path:
    """Write the demo hospital estate into a new store in `folder` and return its path."""
    from discovery.storage.store import Store
    from tests.unit.test_report import fill_clinical_estate

    path = folder / "demo-estate.db"
    with Store(path) as store:
        fill_clinical_estate(store)
    return path


def print_report(store_path: Path, folder: Path) -> tuple[Path, Path]:
    """Write the report of `store_path` and print it to PDF in `folder`; return (html, pdf)."""
    from discovery.service import export_inventory
    from discovery.storage.store import Store
    from exports.report import ReportExporter
    from tests.chromium import run_chromium

    html, pdf = folder / "report.html", folder / "report.pdf"
    with Store(store_path, create=False) as store:
        export_inventory(store, ReportExporter(), html)
    result = run_chromium(html, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    if result.returncode != 0 or not pdf.exists():
        raise RuntimeError(f"chromium could not print {html}: {result.stderr[-1000:]}")
    return html, pdf


def render_first_page(pdf: Path, out: Path, width: int = WIDTH) -> Path:
    """Render the first page of `pdf` on white into the PNG `out`, `width` pixels across; return `out`."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
    from PySide6.QtPdf import QPdfDocument

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (Qt needs one to render)
    document = QPdfDocument()
    document.load(str(pdf))
    if document.pageCount() < 1:
        raise RuntimeError(f"{pdf} has no page")
    points = document.pagePointSize(0)
    size = QSize(width, round(width * points.height() / points.width()))
    page = document.render(0, size)
    image = QImage(size, QImage.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.drawImage(0, 0, page)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out)):
        raise RuntimeError(f"cannot write {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="the store to report on (default: the demo estate)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report-page1.png", help="the PNG to write")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="also keep report.html and report.pdf in DIR")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="estatemap-report-") as tmp:
        folder = Path(tmp)
        html, pdf = print_report(args.db or demo_store(folder), folder)
        print(render_first_page(pdf, args.out))
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for path in (html, pdf):
                shutil.copy2(path, args.keep / path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
