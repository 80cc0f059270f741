"""Writing the analysis results: ``OUT/analysis/<section>/<table>.csv`` + one ``results.json``.

``results.json`` describes every table — section, title, method, parameters (caliper, estimand,
ties, conf_type, robust, …), population, n, file — and the reason for every section or table that
was not computed, so the report (and a statistician in R) can consume the CSVs without guessing.
Text cells a spreadsheet would run as a formula get a leading ``'`` (docs/spreadsheet_safety.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from latc.io._spreadsheet import neutralise_formulas

from ._results import AnalysisResults, _plain

__all__ = ["analyze_path", "write_results"]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def write_results(results: AnalysisResults, out_dir: str | Path) -> Path:
    """Write every table as CSV under ``out_dir/<section>/`` and the ``results.json`` index; returns its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = {}
    for name, sec in results.sections.items():
        tables = []
        if sec.tables:
            (out / name).mkdir(exist_ok=True)
        for tname, t in sec.tables.items():
            path = out / name / f"{tname}.csv"
            neutralise_formulas(t.data).to_csv(path, index=False, date_format="%Y-%m-%d")
            tables.append({**t.describe(), "file": f"{name}/{tname}.csv"})
        sections[name] = {"title": sec.title, "computed": not sec.skipped, "reason": sec.reason,
                          "seconds": round(sec.seconds, 3), "tables": tables,
                          "not_computed": [{"table": k, "reason": v} for k, v in sec.skipped_tables.items()]}
    index = {"latc_analysis": 1, "parameters": _plain(results.parameters), "inputs": _plain(results.inputs),
             "sections": sections}
    path = out / "results.json"
    path.write_text(json.dumps(_json_safe(index), indent=1, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    return path


def analyze_path(derived: str | Path, out: str | Path, options: Any = None) -> tuple[AnalysisResults, Path]:
    """``latc analyze``: run the plan on a derived folder and write ``out/analysis``; returns (results, results.json)."""
    from ._plan import run_analysis

    results = run_analysis(derived, options)
    return results, write_results(results, Path(out) / "analysis")
