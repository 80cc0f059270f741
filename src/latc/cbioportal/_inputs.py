"""What the export reads: a `latc run` (or `latc derive`) output folder and omics output folders.

The run folder gives the analysis datasets (``derived/*.parquet`` with ``metadata.csv`` and
``parameters.json``, written by `latc derive`) and the validated study tables
(``validation/clean/*.parquet``, written by `latc validate`). Only ``derived/subject.parquet`` is
required; a missing optional table leaves its file out of the export and says so in the notes.

An omics folder is recognised by its ``run.json`` (``command``: ``latc omics bulk run``, ``latc omics
sc run``, ``latc omics flow run``, ``latc omics spatial run``; docs/omics/journey.md) and read
through its documented tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from latc.cbioportal._writer import CbioportalExportError

__all__ = ["RunInputs", "OmicsInput", "load_run", "load_omics", "OMICS_KINDS"]

#: derived datasets the export uses (subject is required)
DERIVED = ("subject", "tumour", "response", "labs", "complications", "surgery")
#: validated study forms the export uses
CLEAN = ("treatments", "adjuvant", "surgery", "follow_up", "biospecimens", "diagnosis")
#: omics command → kind
OMICS_KINDS = {"latc omics bulk run": "bulk", "latc omics sc run": "sc", "latc omics flow run": "flow",
               "latc omics spatial run": "spatial"}

#: subject columns the clinical files need (a derive output always has them)
SUBJECT_REQUIRED = ("patient_id", "center_id", "cohort", "treatment_decision_date", "histology")


@dataclass
class RunInputs:
    """The tables of one run folder: ``derived`` and ``clean`` by name, the data cut, the column
    metadata of the derived datasets, and the files read (for the checksum)."""

    run_dir: Path
    derived: dict[str, pd.DataFrame]
    clean: dict[str, pd.DataFrame]
    data_cut: date | None
    metadata: pd.DataFrame | None
    files: list[Path] = field(default_factory=list)

    @property
    def subject(self) -> pd.DataFrame:
        return self.derived["subject"]

    def label(self, dataset: str, column: str, default: str) -> str:
        """The derived column's label from ``metadata.csv`` (``default`` when absent)."""
        m = self.metadata
        if m is None or not {"dataset", "variable", "label"} <= set(m.columns):
            return default
        hit = m[(m["dataset"] == dataset) & (m["variable"] == column)]
        if hit.empty or pd.isna(hit["label"].iloc[0]) or not str(hit["label"].iloc[0]).strip():
            return default
        return str(hit["label"].iloc[0])


@dataclass
class OmicsInput:
    """One omics output folder: its kind (bulk / sc / flow / spatial) and folder."""

    kind: str
    folder: Path
    run: dict[str, Any]


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise CbioportalExportError(f"{path}: not a readable Parquet table ({type(exc).__name__})") from None


def _derived_folder(run_dir: Path) -> Path:
    for cand in (run_dir / "derived", run_dir):
        if (cand / "subject.parquet").is_file():
            return cand
    raise CbioportalExportError(f"{run_dir / 'derived' / 'subject.parquet'}: not found — RUN_DIR must be a "
                                "`latc run` or `latc derive` output folder")


def _clean_folder(run_dir: Path, derived: Path) -> Path | None:
    for cand in (run_dir / "validation" / "clean", run_dir / "clean", derived.parent / "validation" / "clean"):
        if cand.is_dir():
            return cand
    return None


def _data_cut(derived: Path) -> date | None:
    p = derived / "parameters.json"
    if not p.is_file():
        return None
    try:
        value = json.loads(p.read_text(encoding="utf-8")).get("parameters", {}).get("data_cut")
        return date.fromisoformat(value) if value else None
    except (ValueError, AttributeError):
        raise CbioportalExportError(f"{p}: parameters.data_cut is not a date YYYY-MM-DD") from None


def load_run(run_dir: str | Path) -> RunInputs:
    """The tables of a `latc run` / `latc derive` output folder (module docstring)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CbioportalExportError(f"{run_dir}: no such folder (RUN_DIR is a `latc run` output folder)")
    dfolder = _derived_folder(run_dir)
    derived: dict[str, pd.DataFrame] = {}
    files: list[Path] = []
    for name in DERIVED:
        p = dfolder / f"{name}.parquet"
        if p.is_file():
            derived[name] = _read_parquet(p)
            files.append(p)
    subject = derived["subject"]
    missing = [c for c in SUBJECT_REQUIRED if c not in subject.columns]
    if missing:
        raise CbioportalExportError(f"{dfolder / 'subject.parquet'}: no column(s) {', '.join(missing)}")
    if subject["patient_id"].isna().any() or subject["patient_id"].duplicated().any():
        raise CbioportalExportError(f"{dfolder / 'subject.parquet'}: field patient_id is missing or repeated")
    clean: dict[str, pd.DataFrame] = {}
    cfolder = _clean_folder(run_dir, dfolder)
    if cfolder is not None:
        for name in CLEAN:
            p = cfolder / f"{name}.parquet"
            if p.is_file():
                clean[name] = _read_parquet(p)
                files.append(p)
    meta = None
    mp = dfolder / "metadata.csv"
    if mp.is_file():
        meta = pd.read_csv(mp, dtype=str, keep_default_na=False)
        files.append(mp)
    if (dfolder / "parameters.json").is_file():
        files.append(dfolder / "parameters.json")
    return RunInputs(run_dir=run_dir, derived=derived, clean=clean, data_cut=_data_cut(dfolder), metadata=meta,
                     files=files)


def load_omics(folder: str | Path) -> OmicsInput:
    """An omics output folder, recognised by the ``command`` of its ``run.json``."""
    folder = Path(folder)
    rj = folder / "run.json"
    if not rj.is_file():
        raise CbioportalExportError(f"{rj}: not found — --omics takes a `latc omics bulk|sc|flow|spatial run` "
                                    "output folder")
    try:
        run = json.loads(rj.read_text(encoding="utf-8"))
    except ValueError:
        raise CbioportalExportError(f"{rj}: not valid JSON") from None
    command = str(run.get("command", "")) if isinstance(run, dict) else ""
    kind = OMICS_KINDS.get(command)
    if kind is None:
        raise CbioportalExportError(f"{rj}: field command is {command!r}; --omics takes the output of "
                                    f"{', '.join(OMICS_KINDS)}")
    return OmicsInput(kind=kind, folder=folder, run=run)
