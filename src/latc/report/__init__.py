"""The study report (``latc report``): HTML, PDF, XLSX and figures from a results folder.

```python
from latc.report import build_report
r = build_report("out/demo", "out/demo/report")   # report.html, report.pdf, tables.xlsx, figures/
```

Sections (one Jinja partial each, ``templates/sections/``): summary, participants (STROBE flow),
baseline, data quality, imaging / biochemical / pathological response, surgery, safety, survival,
comparison with upfront surgery, recurrence risk, biomarkers (only with omics outputs), methods,
STROBE checklist, analyses not computed. ``write_validation_summary`` is the short validation
page of the pipeline's early stages (kept for ``latc validate``-only runs).
"""

from ._build import MAX_HTML_ROWS, ReportResult, build_report, build_sections, write_pdf
from ._pdf import ENGINES as PDF_ENGINES
from ._pdf import PdfEngineError, find_chromium
from ._inputs import ReportInputError, ReportInputs, find_inputs
from ._strobe import STROBE_ITEMS, flow_counts
from ._quality import completeness
from .summary import validation_overview, write_validation_summary

__all__ = [
    "MAX_HTML_ROWS",
    "PDF_ENGINES",
    "PdfEngineError",
    "ReportInputError",
    "ReportInputs",
    "ReportResult",
    "STROBE_ITEMS",
    "build_report",
    "build_sections",
    "completeness",
    "find_chromium",
    "find_inputs",
    "flow_counts",
    "validation_overview",
    "write_pdf",
    "write_validation_summary",
]
