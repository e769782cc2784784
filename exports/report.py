"""The assessment report: one self-contained HTML file for people who will not open a workbook or the application.

Inline SVG charts, an A4 print stylesheet (Print to PDF gives one section a page), no script, and nothing fetched
from anywhere: a Content-Security-Policy in the page forbids every fetch, so a report opened from a mail
attachment cannot call out. Templates are Jinja2 with autoescaping on; every text reaches the page cleaned of
control and bidi characters (discovery.records.cell_text.clean_text) and escaped.
"""

from __future__ import annotations

import functools
from pathlib import Path

from discovery import __version__
from discovery.files.atomic_files import atomic_output
from discovery.records.cell_text import clean_text
from discovery.records.model import SEVERITIES, counted
from exports.report_charts import clip
from exports.report_data import NOT_COMPUTED, build_report


class ReportExporter:
    format = "report"

    def write(self, inventory: dict, path: Path) -> None:
        """Write the assessment report of `inventory` to `path` atomically; raises EstateError if it cannot."""
        page = render_report(inventory)
        with atomic_output(path, encoding="utf-8", newline="\n") as out:
            out.write(page)


def render_report(inventory: dict) -> str:
    """Return the assessment report of `inventory` (the JSON export's dict) as one HTML page."""
    return _environment().get_template("report.html.j2").render(
        r=build_report(inventory), severities=SEVERITIES, not_computed=NOT_COMPUTED, version=__version__)


def _finalize(value):
    """Every value printed by a template: None as "", text cleaned of control and bidi characters."""
    from markupsafe import Markup

    if value is None:
        return ""
    if isinstance(value, Markup):  # a macro's output: its own values were cleaned and escaped already
        return value
    return clean_text(value) if isinstance(value, str) else value


@functools.cache
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("exports", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, finalize=_finalize, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["clip"] = lambda value, limit=80: clip(value, limit)
    env.filters["counted"] = lambda n, noun, plural=None: counted(n or 0, noun, plural)
    return env
