"""Every export format, declared once: what `estatemap export --format` accepts and the export dialog offers.

Adding a format is a module in exports/ whose class has `format` and `write(inventory, path)`, plus one
line here. Exporters are imported only when used, so listing the formats loads neither openpyxl nor networkx.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportFormat:
    name: str          # the --format value, and the exporter's `format`
    label: str         # as the export dialog lists it
    extension: str     # the file name suffix suggested for it, without the dot
    file_type: str     # the save dialog's name for such files
    exporter: str      # "module:Class", imported by load()

    @property
    def file_filter(self) -> str:
        """Return the save dialog's filter: "Excel workbook (*.xlsx);;All files (*)"."""
        return f"{self.file_type} (*.{self.extension});;All files (*)"

    def load(self):
        """Return a new exporter for this format (its module is imported now)."""
        module, name = self.exporter.split(":")
        return getattr(importlib.import_module(module), name)()


# In the order they are offered; Excel first: it is what assessment teams open.
FORMATS = (
    ExportFormat(name="xlsx", label="Excel workbook (.xlsx)", extension="xlsx", file_type="Excel workbook",
                 exporter="exports.xlsx:XlsxExporter"),
    ExportFormat(name="json", label="JSON (.json)", extension="json", file_type="JSON",
                 exporter="exports.json:JsonExporter"),
    ExportFormat(name="csv", label="CSV tables, zipped (.zip)", extension="zip", file_type="Zip of CSV files",
                 exporter="exports.csv:CsvExporter"),
    ExportFormat(name="graphml", label="GraphML graph for yEd (.graphml)", extension="graphml", file_type="GraphML",
                 exporter="exports.graphml:GraphmlExporter"),
    ExportFormat(name="gexf", label="GEXF graph for Gephi (.gexf)", extension="gexf", file_type="GEXF",
                 exporter="exports.graphml:GexfExporter"),
    ExportFormat(name="azure-migrate", label="Azure Migrate import (.csv)", extension="csv", file_type="CSV",
                 exporter="exports.migration_templates:AzureMigrateExporter"),
    ExportFormat(name="aws-migration-hub", label="AWS Migration Hub import (.csv)", extension="csv", file_type="CSV",
                 exporter="exports.migration_templates:AwsMigrationHubExporter"),
    # The assessment report (also: estatemap report): one self-contained HTML page, printable to PDF.
    ExportFormat(name="report", label="Assessment report (.html)", extension="html", file_type="HTML page",
                 exporter="exports.report:ReportExporter"),
)
BY_NAME = {f.name: f for f in FORMATS}


def load_exporter(name: str):
    """Return a new exporter for format `name` (one of FORMATS); raises KeyError for another name."""
    return BY_NAME[name].load()
