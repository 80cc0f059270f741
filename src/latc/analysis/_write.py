"""Writing the analysis results: ``OUT/analysis/<section>/<table>.csv`` + one ``results.json``.

``results.json`` describes every table — section, title, method, parameters (caliper, estimand,
ties, conf_type, robust, …), population, n, file — and the reason for every section or table that
was not computed, so the report (and a statistician in R) can consume the CSVs without guessing.
Text cells a spreadsheet would run as a formula get a leading ``'`` (docs/spreadsheet_safety.md).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from latc._progress import Step

from ._results import AnalysisResults, _plain
from ._schema import check_table, schema_of

#: ``results.json`` ``latc_analysis``: 2 = every table has a declared schema (``schema`` in its entry)
#: and the curve tables (``km_curves``, ``cif_curves``) are written
FORMAT_VERSION = 2

__all__ = ["FORMAT_VERSION", "analyze_path", "coding_frame", "input_locations", "write_results"]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def coding_frame(c: dict[str, Any]) -> pd.DataFrame:
    """A model table's coding (``ResultTable.coding``) as rows: one per term, event and stratum."""
    rows = []
    for t in c.get("terms", []):
        rows.append({"term": t.get("term"), "type": t.get("type", ""), "coding": t.get("coding", ""),
                     "reference": t.get("reference"), "levels": "; ".join(t.get("levels", [])) or None,
                     "indicators": "; ".join(t.get("indicators", [])) or None, "centering": t.get("centering"),
                     "scale": t.get("scale"), "source": t.get("source", "")})
    for name, text in (c.get("events") or {}).items():
        rows.append({"term": name, "type": "event", "coding": text})
    if c.get("strata"):
        rows.append({"term": "strata", "type": "strata", "coding": c["strata"]})
    for note in c.get("notes", []):
        rows.append({"term": "note", "type": "note", "coding": note})
    rows.append({"term": "contrasts", "type": "contrasts", "coding": c.get("contrasts", "")})
    cols = ["term", "type", "coding", "reference", "levels", "indicators", "centering", "scale", "source"]
    return pd.DataFrame(rows).reindex(columns=cols)


def _listed_files(index_path: Path) -> set[str]:
    try:
        old = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    out = set()
    for sec in (old.get("sections") or {}).values():
        for t in sec.get("tables", []):
            out.update(x for x in (t.get("file"), t.get("coding_file")) if x)
    return out


def write_results(results: AnalysisResults, out_dir: str | Path) -> Path:
    """Write every table as CSV under ``out_dir/<section>/`` (and each model table's coding beside it,
    ``<table>_coding.csv``) and the ``results.json`` index; returns its path.

    CSVs read in R without options (docs/r.md): logical columns ``TRUE``/``FALSE``, missing ``NA``.
    Re-writing into an earlier analysis folder removes the tables the earlier run listed and this
    one did not produce, so nothing stale is left to read.
    """
    from latc.io import write_table_csv

    from ._coding import plan_coding

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    before = _listed_files(out / "results.json")
    written: set[str] = set()
    sections = {}
    for name, sec in results.sections.items():
        tables = []
        if sec.tables:
            (out / name).mkdir(exist_ok=True)
        for tname, t in sec.tables.items():
            write_table_csv(check_table(name, tname, t.data), out / name / f"{tname}.csv")
            entry = {**t.describe(), "file": f"{name}/{tname}.csv", "schema": schema_of(name, tname).describe()}
            if t.coding:
                write_table_csv(coding_frame(t.coding), out / name / f"{tname}_coding.csv")
                entry["coding_file"] = f"{name}/{tname}_coding.csv"
            written.update(x for x in (entry["file"], entry.get("coding_file")) if x)
            tables.append(entry)
        sections[name] = {"title": sec.title, "computed": not sec.skipped, "reason": sec.reason,
                          "seconds": round(sec.seconds, 3), "tables": tables,
                          "not_computed": [{"table": k, "reason": v} for k, v in sec.skipped_tables.items()]}
    for stale in sorted(before - written):
        p = out / stale
        if p.is_file() and p.resolve().is_relative_to(out.resolve()):
            p.unlink()
    try:
        primary: dict[str, Any] = results.primary().to_dict()
    except KeyError as exc:  # the comparison did not run: the reason instead of the estimate
        primary = {"reason": str(exc).strip("'\"")}
    index = {"latc_analysis": FORMAT_VERSION, "parameters": _plain(results.parameters), "inputs": _plain(results.inputs),
             "coding": plan_coding(), "primary": primary, "sections": sections}
    path = out / "results.json"
    path.write_text(json.dumps(_json_safe(index), indent=1, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    return path


def _place(path: Path | None, base: Path) -> dict[str, str] | None:
    if path is None:
        return None
    path = Path(path).resolve()
    return {"path": str(path), "relative": os.path.relpath(path, base.resolve())}


def _derived_folder(derived: Path) -> Path:
    derived = Path(derived)
    if (derived / "derived").is_dir() and not (derived / "subject.parquet").exists():
        return derived / "derived"
    return derived


def _validation_of(derived: Path) -> Path | None:
    """The validation folder a derived folder was made from: its sibling ``validation/`` (a
    ``latc run`` / ``latc derive`` output folder), else the input of the derive stage in the run record."""
    from latc.manifest import read_record, run_record_near

    def ok(p: Path) -> bool:
        return p.is_dir() and any((p / "clean").glob("*.parquet"))

    cand = derived.parent / "validation"
    if ok(cand):
        return cand
    rec_path = run_record_near(derived)
    rec = read_record(rec_path) if rec_path else None
    if rec:
        src = ((rec.get("stages") or {}).get("derive") or {}).get("input", {}).get("path")
        for p in ([Path(src)] if src else []) + [rec_path.parent / str((rec.get("outputs") or {}).get("validation", ""))]:
            if str(p) and ok(p):
                return p
    return None


def input_locations(derived: str | Path, analysis_dir: str | Path) -> dict[str, Any]:
    """Where an analysis's inputs live (``results.json`` ``inputs.locations``): the derived folder,
    the validation folder it was derived from and the upstream run record, each as an absolute path
    and relative to the analysis folder — so ``latc report`` finds the completeness data and the
    swimmer plot's tables wherever the analysis output lives."""
    from latc.manifest import run_record_near

    d = _derived_folder(Path(derived))
    base = Path(analysis_dir)
    base.mkdir(parents=True, exist_ok=True)
    return {"locations": {"derived": _place(d, base), "validation": _place(_validation_of(d), base),
                          "run_record": _place(run_record_near(d), base)}}


def analyze_path(derived: str | Path, out: str | Path, options: Any = None, *,
                 record: bool = True, progress: Step | None = None) -> tuple[AnalysisResults, Path]:
    """``latc analyze``: run the plan on a derived folder and write ``out/analysis``; returns (results, results.json).

    ``results.json`` records where the inputs are (``inputs.locations``: derived, validation, run
    record); with ``record`` the analyze stage is entered in ``out/manifest.json`` (parameters, the
    derived folder's checksum, timing), copying the upstream stages from the derived folder's run
    record when the analysis is written elsewhere (:func:`latc.manifest.record_stage`).
    ``progress`` is :func:`latc.analysis.run_analysis`'s section callback.
    """
    import time

    from ._plan import run_analysis

    t0 = time.perf_counter()
    out = Path(out)
    results = run_analysis(derived, options, progress=progress)
    from_folder = isinstance(derived, (str, Path))
    if from_folder:
        results.inputs.update(input_locations(derived, out / "analysis"))
    path = write_results(results, out / "analysis")
    if record and from_folder:
        from latc.manifest import record_stage, run_record_near

        d = _derived_folder(Path(derived))
        record_stage(out, "analyze", input_path=d, parameters=results.parameters, seconds=time.perf_counter() - t0,
                     outputs={"analysis": os.path.relpath(path, out)},
                     counts={"analysis": {"summary": results.summary(), "not_computed": results.skipped()}},
                     upstream=run_record_near(d))
    return results, path
