"""The assessment report in a real browser: headless Chromium prints it to an A4 PDF of several pages and takes a
PNG of it, with nothing fetched and nothing on the page's console; a control page shows that a fetch and a script
error would have been caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.chromium import pdf_page_count, run_chromium
from tests.unit.test_cli import ROOT, run
from tests.unit.test_report import estate_db, figures_of, json_waves  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def report_html(estate_db, tmp_path):  # noqa: F811
    path = tmp_path / "report.html"
    code, _, err = run("report", "--db", str(estate_db[0]), "--out", str(path))
    assert code == 0, err
    return path


def test_report_prints_to_a_pdf_of_several_a4_pages_without_fetching_anything(report_html, tmp_path):
    pdf = tmp_path / "report.pdf"
    result = run_chromium(report_html, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert result.returncode == 0, result.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert pdf_page_count(data) >= 7  # the summary, then one page or more for each of the seven sections
    assert b"/MediaBox [0 0 594.95996 841.91998]" in data or b"/MediaBox [0 0 595" in data  # A4 in points
    assert result.page_requests == []
    assert result.console == []  # no script error, no refused or failed load


def test_report_renders_to_a_png(report_html, tmp_path):
    png = tmp_path / "report.png"
    result = run_chromium(report_html, f"--screenshot={png}", window=(900, 1200))
    assert result.returncode == 0, result.stderr[-2000:]
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (900, 1200)
    assert result.page_requests == [] and result.console == []


def test_the_page_chromium_renders_states_the_json_exports_numbers(report_html, estate_db, tmp_path):  # noqa: F811
    """The figures are read from the DOM Chromium built, not from the file: what a reader sees equals the export."""
    result = run_chromium(report_html, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.page_requests == [] and result.console == []
    code, _, err = run("export", "--db", str(estate_db[0]), "-f", "json", "-o", str(tmp_path / "estate.json"))
    assert code == 0, err
    exported = json.loads((tmp_path / "estate.json").read_text())
    figures = figures_of(result.stdout)
    assert figures["hosts"] == len(exported["hosts"]) > 0
    assert figures["services"] == len(exported["services"])
    assert figures["dependencies"] == len(exported["dependencies"])
    assert figures["findings"] == len(exported["findings"]) > 0
    assert figures["groups"] == len(exported["groups"])
    assert figures["waves"] == json_waves(exported) >= 2
    assert figures["blind_spots"] == len(exported["coverage_summary"]["blind_spots"]) >= 1
    deep = round(exported["coverage_summary"]["deep_share"] * 100)
    assert f'data-figure="deep_share">{deep}%<' in result.stdout


def test_the_checks_catch_a_fetch_and_a_script_error(tmp_path):
    """The control: a page that fetches an image and throws is caught by both checks the report passes."""
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><p>control</p><img src="http://fetched.example/x.png">'
                    '<script>throw new Error("control error")</script>')
    result = run_chromium(page, f"--print-to-pdf={tmp_path / 'control.pdf'}", "--no-pdf-header-footer")
    assert result.returncode == 0, result.stderr[-2000:]
    assert any("fetched.example" in r for r in result.page_requests)
    assert any("Uncaught Error: control error" in line for line in result.console)


def test_report_screenshot_script_writes_the_first_printed_page(tmp_path):
    """scripts/report_screenshot.py (docs/report-page1.png): the demo estate's report, printed, its first page."""

    out = tmp_path / "page1.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "report_screenshot.py"), "--out", str(out),
                           "--keep", str(tmp_path)], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 1000 and abs(height / width - 297 / 210) < 0.01  # an A4 page
    assert pdf_page_count((tmp_path / "report.pdf").read_bytes()) >= 7
