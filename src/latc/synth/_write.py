"""Write a synthetic study to disk.

Folder layout (``OUT`` is the ``--out`` folder)::

    OUT/study/               the study as the readers take it (csv: one <form>.csv per form;
                             redcap: the REDCap export + data dictionary) — ``latc validate OUT/study``
    OUT/study.xlsx           instead of OUT/study/ with ``--format xlsx``
    OUT/truth.json           the data-generating model, true effects, planted rates (not study input)
    OUT/truth_patients.csv   latent per-patient variables (true propensity, potential outcomes, ...)
    OUT/injected_errors.csv  only with ``--inject-errors N``: the list of injected errors
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latc.dictionary import load_dictionary
from latc.io import to_canonical_text, write_study
from latc.synth._errors import inject_errors as _inject
from latc.synth._study import synthesize
from latc.synth._util import stream

FORMATS = ("csv", "xlsx", "redcap")


@dataclass
class SynthResult:
    """Where a synthetic study was written and what it holds."""

    out: Path
    study_path: Path
    truth_path: Path
    latent_path: Path
    errors_path: Path | None
    counts: dict[str, int]
    cohorts: dict[str, int]
    n_errors: int = 0
    seconds: float = 0.0
    truth: dict = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """A short rich-printable summary: rows per form, patients per cohort, paths."""
        c = self.cohorts
        lines = [
            f"[bold green]synthetic study[/] {c.get('neoadjuvant', 0)} neoadjuvant + {c.get('upfront_surgery', 0)} "
            f"upfront-surgery patients, {c.get('screen_failures', 0)} screen failures, "
            f"{self.truth.get('n_centers', '?')} centers (seed {self.truth.get('seed', '?')}) in {self.seconds:.1f} s",
            "rows: " + ", ".join(f"{k} {v:,}" for k, v in self.counts.items()),
            f"study  → {self.study_path}",
            f"truth  → {self.truth_path} (+ {self.latent_path.name})",
        ]
        if self.errors_path is not None:
            lines.append(f"errors → {self.errors_path} ({self.n_errors} injected)")
        return "\n".join(lines)


def _json_default(o):
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean_nan(o):
    if isinstance(o, float) and np.isnan(o):
        return None
    if isinstance(o, dict):
        return {k: _clean_nan(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_clean_nan(v) for v in o]
    return o


def redcap_rows(errors: pd.DataFrame, texts: dict[str, pd.DataFrame], study_path: Path) -> pd.DataFrame:
    """Row numbers of the injected errors in a REDCap export (the reader's ``_row`` is the line of
    the record in the export file): each listed row is found in the export as read back by
    matching every field of the form. Errors the export cannot carry (e.g. a duplicated record
    the writer merges) are dropped from the list."""
    from latc.io import ROW, read_study

    raw = read_study(study_path)
    keep, rows = [], []
    for e in errors.itertuples():
        form = e.form
        fields = [c for c in texts[form].columns]
        wanted = texts[form].iloc[int(e.row) - 2][fields]
        got = raw.tables[form]
        eq = np.ones(len(got), dtype=bool)
        for f in fields:
            col = got[f] if f in got.columns else pd.Series(pd.NA, index=got.index)
            eq &= (col.isna() & pd.isna(wanted[f])).to_numpy() | (col == wanted[f]).fillna(False).to_numpy()
        hits = got.loc[eq, ROW].to_numpy()
        if e.error_type == "duplicate_row":
            hits = hits[1:]  # the second occurrence is the duplicate
        if len(hits) >= 1:
            keep.append(e.Index)
            rows.append(int(hits[-1]) if e.error_type == "duplicate_row" else int(hits[0]))
    out = errors.loc[keep].copy()
    out["row"] = rows
    return out.reset_index(drop=True)


def write_synthetic_study(out: str | Path, n_patients: int = 600, n_centers: int = 8, seed: int = 20261125,
                          fmt: str = "csv", inject_errors: int = 0, omics: tuple[str, ...] | list[str] = (),
                          omics_scale: float = 1.0) -> SynthResult:
    """Synthesise a study and write it (layout in the module docstring); deterministic per seed.

    ``inject_errors`` realistic errors are injected into the written study (never into the truth)
    and listed in ``injected_errors.csv`` (docs/dev/CONTRACTS.md). ``omics`` names the assays
    whose data files are generated too (see :mod:`latc.synth.omics_registry`; ``"all"`` for every
    registered assay), written under ``OUT/study/omics/<assay>/`` as the manifest's ``file_ref`` says.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if inject_errors < 0:
        raise ValueError("inject_errors must be 0 or more")
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study = synthesize(n_patients=n_patients, n_centers=n_centers, seed=seed)
    d = load_dictionary()
    tables: dict[str, pd.DataFrame] = study.tables
    errors_path = out / "injected_errors.csv"
    errors = None
    if inject_errors > 0:
        texts = {name: to_canonical_text(t, d.forms[name]) for name, t in tables.items()}
        tables, errors = _inject(texts, inject_errors, stream(seed, "errors"), d)
    study_path = out / ("study.xlsx" if fmt == "xlsx" else "study")
    written = write_study(tables, study_path, fmt=fmt, dictionary=d)
    study_path = Path(written) if written else study_path
    if errors is not None and fmt == "redcap":
        errors = redcap_rows(errors, tables, study_path)
    if omics:
        from latc.synth.omics_registry import OMICS_WRITERS, omics_writer

        assays = list(OMICS_WRITERS) if "all" in omics else list(omics)
        unknown = [a for a in assays if a not in OMICS_WRITERS]
        if unknown:
            raise ValueError(f"no synthetic writer for assay(s) {', '.join(unknown)}; "
                             f"available: {', '.join(OMICS_WRITERS) or 'none'}")
        omics_dir = study_path.parent if fmt == "xlsx" else study_path
        manifest = study.tables["biospecimens"]
        study.truth.setdefault("omics", {})
        for assay in assays:
            rows = manifest[(manifest["assay"] == assay) & manifest["file_ref"].notna()]
            study.truth["omics"][assay] = omics_writer(assay)(
                rows, study.latent, study.tables, omics_dir, seed=seed, scale=omics_scale)
    truth_path = out / "truth.json"
    truth = _clean_nan(json.loads(json.dumps(study.truth, default=_json_default)))
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    latent_path = out / "truth_patients.csv"
    to_canonical_text(study.latent).to_csv(latent_path, index=False, lineterminator="\n")
    if errors is not None:
        errors.to_csv(errors_path, index=False, lineterminator="\n")
    elif errors_path.exists():
        errors_path.unlink()  # a stale list from an earlier run would mislead
    counts = {k: len(v) for k, v in tables.items()}
    cohorts = {k: v for k, v in study.truth["cohorts"].items() if isinstance(v, int)}
    return SynthResult(out=out, study_path=study_path, truth_path=truth_path, latent_path=latent_path,
                       errors_path=errors_path if errors is not None else None, counts=counts, cohorts=cohorts,
                       n_errors=0 if errors is None else len(errors), seconds=time.perf_counter() - t0, truth=truth)
