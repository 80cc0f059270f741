"""Locate and read what a ``latc run`` / ``latc analyze`` output folder holds, for the report.

A results folder (``RESULTS``) may hold, each optional except the analysis index or the derived
datasets:

* ``analysis/results.json`` + ``analysis/<section>/<table>.csv`` — ``latc analyze`` (the index
  names every table's title, method, parameters, population and n, and why anything was not computed);
* ``derived/<name>.parquet`` — ``latc derive`` (the per-patient data the figures need);
* ``validation/`` — ``queries.csv``, ``eligibility.csv``, ``summary.json``, ``clean/<form>.parquet``;
* ``manifest.json`` — the run record: software versions, each stage's parameters, the input's
  checksum, timings (every stage updates it);
* ``omics/`` — outputs of the ``latc omics`` commands.

``RESULTS`` may also be the ``analysis`` folder itself. When the analysis was written elsewhere
(``latc analyze RUN --out NEW``), ``results.json`` ``inputs.locations`` names the derived and
validation folders and the upstream run record (relative to the analysis folder, and absolute).
Nothing is computed here; every reader returns ``None`` (or an empty table) when its file is
absent, so each report section can say why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from latc.analysis._schema import AnalysisContractError, conform, schema_of
from latc.errors import LatcError

__all__ = ["ReportInputError", "ReportInputs", "find_inputs"]

DERIVED_NAMES = ("subject", "response", "tumour", "tte", "ae", "exposure", "surgery", "complications",
                 "biochem", "labs", "problems")


#: Analysis tables produced together with another one (whose reason results.json records).
_PRODUCED_BY = {"love_plot": "balance", "weight_sensitivity": "weights_summary", "effective_sample_size": "balance", "propensity_histogram": "propensity_score",
                "km_medians": "km_landmarks", "gray_test": "cumulative_incidence", "calibration": "discrimination"}


class ReportInputError(LatcError, ValueError):
    """The results folder holds nothing a report can be built from (one line naming the folder)."""


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"{path}: not readable JSON ({type(exc).__name__})") from None


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    """A CSV output of latc, with the spreadsheet-safety prefix removed (docs/spreadsheet_safety.md):
    the report shows values as read, and tables.xlsx writes text cells as text."""
    from latc.io._spreadsheet import restore_formulas

    return restore_formulas(pd.read_csv(path, **kwargs))


def _read_table(folder: Path | None, name: str) -> pd.DataFrame | None:
    if folder is None:
        return None
    for ext, reader in ((".parquet", pd.read_parquet), (".csv", _read_csv)):
        p = folder / f"{name}{ext}"
        if p.is_file():
            try:
                return reader(p)
            except Exception as exc:  # unreadable file: the section says so
                raise ReportInputError(f"{p}: cannot be read ({type(exc).__name__})") from None
    return None


@dataclass
class ReportInputs:
    """The folders found under ``RESULTS`` and lazy, cached readers for their files."""

    root: Path
    analysis_dir: Path | None = None
    derived_dir: Path | None = None
    validation_dir: Path | None = None
    omics_dir: Path | None = None
    manifest_path: Path | None = None
    _tables: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    @cached_property
    def results(self) -> dict[str, Any]:
        """``results.json`` (``{}`` when there is no analysis)."""
        return (_read_json(self.analysis_dir / "results.json") if self.analysis_dir else None) or {}

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return (_read_json(self.manifest_path) if self.manifest_path else None) or {}

    def primary(self):
        """The primary comparison the analysis wrote to ``results.json`` (a
        :class:`latc.analysis.PrimaryEstimate`), or None when it was not computed (an analysis
        folder from before December 2026 has none either)."""
        from latc.analysis._results import PrimaryEstimate

        d = self.results.get("primary") or {}
        return PrimaryEstimate.from_dict(d) if "endpoint" in d else None

    def section(self, name: str) -> dict[str, Any]:
        """The ``results.json`` entry of an analysis section (``{}`` when absent)."""
        return self.results.get("sections", {}).get(name, {}) or {}

    def table_info(self, section: str, name: str) -> dict[str, Any] | None:
        for t in self.section(section).get("tables", []):
            if t.get("name") == name:
                return t
        return None

    def table(self, section: str, name: str) -> pd.DataFrame | None:
        """An analysis table (``analysis/<section>/<name>.csv``), or ``None`` when not produced.

        The table is checked against its declared schema (``latc.analysis.SCHEMAS``) and typed
        (:func:`latc.analysis.conform`); a table that does not conform — an edited or foreign CSV —
        is a :class:`ReportInputError` naming the file and the column."""
        key = f"analysis:{section}/{name}"
        if key not in self._tables:
            info = self.table_info(section, name)
            # only tables results.json lists: a CSV an earlier run left behind is not this analysis's
            path = self.analysis_dir / info["file"] if self.analysis_dir and info and info.get("file") else None
            df = None
            if path is not None and not path.is_file():
                raise ReportInputError(f"{path}: listed in results.json but missing (the analysis folder is "
                                       "incomplete; re-run `latc analyze`)")
            if path is not None and path.is_file():
                try:
                    df = _read_csv(path)
                except pd.errors.EmptyDataError:
                    df = pd.DataFrame(columns=schema_of(section, name).names)
                try:
                    df = conform(section, name, df, source=str(path))
                except AnalysisContractError as exc:
                    raise ReportInputError(str(exc)) from None
            self._tables[key] = df
        return self._tables[key]

    def why_not(self, section: str, name: str | None = None) -> str:
        """Why a section (or one of its tables) is absent, from results.json, else a plain reason."""
        if not self.analysis_dir:
            return "no analysis results in the folder (run `latc analyze` or `latc run`)"
        sec = self.section(section)
        if not sec:
            return f"the analysis has no '{section}' section"
        if sec.get("reason"):
            return str(sec["reason"])
        if name:
            names = {name, _PRODUCED_BY.get(name, name)}
            for nc in sec.get("not_computed", []):
                t = str(nc.get("table", ""))
                if t in names or any(t.startswith(f"{n}/") for n in names):
                    return str(nc.get("reason"))
            return f"the '{section}' section produced no '{name}' table"
        return "not computed"

    def derived(self, name: str) -> pd.DataFrame | None:
        """A derived dataset (``derived/<name>.parquet``), or ``None``."""
        key = f"derived:{name}"
        if key not in self._tables:
            self._tables[key] = _read_table(self.derived_dir, name)
        return self._tables[key]

    def clean(self, form: str, *, keep: bool = True) -> pd.DataFrame | None:
        """A validated (clean) study table, or ``None``; ``keep=False`` reads it without keeping it
        for the next caller (a table used once, e.g. for the completeness counts)."""
        key = f"clean:{form}"
        if key not in self._tables:
            table = _read_table(self.validation_dir / "clean" if self.validation_dir else None, form)
            if not keep:
                return table
            self._tables[key] = table
        return self._tables[key]

    def forget(self, keys: set[str]) -> None:
        """Let go of the tables read since ``keys`` (a snapshot of :meth:`loaded`)."""
        for k in set(self._tables) - keys:
            del self._tables[k]

    def loaded(self) -> set[str]:
        """The tables read so far (their keys)."""
        return set(self._tables)

    def validation_file(self, name: str) -> pd.DataFrame | None:
        """``validation/queries.csv`` / ``eligibility.csv`` (``None`` when absent)."""
        key = f"validation:{name}"
        if key not in self._tables:
            self._tables[key] = _read_table(self.validation_dir, name)
        return self._tables[key]

    @cached_property
    def validation_summary(self) -> dict[str, Any]:
        return (_read_json(self.validation_dir / "summary.json") if self.validation_dir else None) or {}

    @cached_property
    def derive_parameters(self) -> dict[str, Any]:
        p = (_read_json(self.derived_dir / "parameters.json") if self.derived_dir else None) or {}
        return p.get("parameters", p) if isinstance(p, dict) else {}


def _check_format(path: Path) -> None:
    """A ``results.json`` written by an older latc (format < :data:`latc.analysis.FORMAT_VERSION`:
    no declared schemas, no curve tables) cannot be read by this report: say so, and how to fix it."""
    from latc.analysis._write import FORMAT_VERSION

    found = (_read_json(path) or {}).get("latc_analysis")
    if isinstance(found, int) and found > FORMAT_VERSION:
        raise ReportInputError(f"{path}: written by a newer latc (analysis format {found}, this report reads "
                               f"{FORMAT_VERSION}); update latc or re-run `latc analyze` with this version")
    if not isinstance(found, int) or isinstance(found, bool):
        raise ReportInputError(f"{path}: \"latc_analysis\" is {found!r}, not a format number this report reads "
                               f"({FORMAT_VERSION}); re-run `latc analyze` on the derived folder")
    if found < FORMAT_VERSION:
        raise ReportInputError(f"{path}: written by an older latc (analysis format {found}, this report reads "
                               f"{FORMAT_VERSION}); re-run `latc analyze` on the derived folder")


def find_inputs(results_dir: str | Path) -> ReportInputs:
    """Find the analysis, derived, validation and omics folders of a results folder.

    Raises :class:`ReportInputError` when the folder does not exist or holds neither an analysis
    index (``results.json``) nor derived datasets (``subject.parquet``).
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise ReportInputError(f"{root}: not found (expected a `latc run` or `latc analyze` output folder)")
    analysis = next((p for p in (root / "analysis", root) if (p / "results.json").is_file()), None)
    base = root.parent if analysis == root else root
    located: dict[str, Any] = {}
    if analysis is not None:
        try:
            ins = json.loads((analysis / "results.json").read_text(encoding="utf-8")).get("inputs") or {}
        except ValueError:
            ins = {}
        located = dict(ins.get("locations") or {})
        _check_format(analysis / "results.json")
        if ins.get("source") and "derived" not in located:
            located["derived"] = {"path": ins["source"]}

    def recorded(kind: str, ok) -> Path | None:
        """A folder ``results.json`` names (relative to the analysis folder first, then absolute)."""
        where = located.get(kind) or {}
        cands = ([analysis / where["relative"]] if where.get("relative") else []) + ([Path(where["path"])] if where.get("path") else [])
        return next((c for c in cands if ok(c)), None)

    def has_subject(p: Path) -> bool:
        return (p / "subject.parquet").is_file() or (p / "subject.csv").is_file()

    def has_clean(p: Path) -> bool:
        return p.is_dir() and (p / "clean").is_dir()

    derived = next((p for p in (base / "derived", base) if has_subject(p)), None) or recorded("derived", has_subject)
    if analysis is None and derived is None:
        raise ReportInputError(f"{root}: no analysis/results.json and no derived/subject.parquet "
                               "(run `latc run STUDY --out DIR` or `latc analyze DERIVED --out DIR` first)")
    validation = (base / "validation" if (base / "validation").is_dir() else None) or recorded("validation", has_clean)
    omics = base / "omics" if (base / "omics").is_dir() and any((base / "omics").rglob("*.csv")) else None
    manifest = base / "manifest.json" if (base / "manifest.json").is_file() else recorded("run_record", Path.is_file)
    return ReportInputs(root=root, analysis_dir=analysis, derived_dir=derived, validation_dir=validation,
                        omics_dir=omics, manifest_path=manifest)
