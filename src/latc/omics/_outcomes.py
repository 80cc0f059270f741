"""Outcomes for the omics commands: the per-patient ``subject`` table written by `latc derive`.

Every omics command relates sample features to the patient's response and recurrence-free
survival (RFS). Those come from one place, the analysis dataset ``subject`` of `latc derive` /
`latc run` (``OUT/derived/subject.parquet``; columns and rules in ``docs/derivations/datasets.md``
and ``OUT/derived/metadata.csv``). :func:`find_subject` locates it and :func:`load_outcomes` reads
it and checks the outcome columns; the defaults are derive's own names:

============== ====================== ==========================================================
option         default                meaning (derive's rule)
============== ====================== ==========================================================
response       ``objective_response`` best overall response CR or PR (RECIST 1.1); also ``mpr``,
                                      ``pcr``, ``confirmed_objective_response`` or any 0/1 column
time           ``rfs_time_months``    RFS time (months; ``rfs_time_days`` in days)
event          ``rfs_event``          1 = recurrence or death, 0 = censored
============== ====================== ==========================================================

Where the subject table comes from (first that applies):

1. ``subject`` given (``--subject``): a ``.parquet``/``.csv`` file, or a `latc derive` / `latc run`
   output folder (its ``derived/subject.parquet``) or a ``derived`` folder;
2. the study argument is a `latc derive` / `latc run` output folder: its ``derived/subject.parquet``;
3. a ``derived/subject.parquet`` beside the study folder (``latc derive S/study --out S``).

Otherwise there is no subject table and the outcome analyses are skipped, with a message saying
why and how to get one. The synthetic truth (``truth_patients.csv`` of `latc synth`) is **never**
used unless named explicitly with ``--subject`` (a demonstration; the note says so).

For embeddings (cells, spots), :func:`annotate_outcomes` adds the patient's ``cohort`` and
``response`` to an AnnData's ``obs``, with the cohort from the study's validated patients form
(:func:`cohort_from_study`) when the subject table has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from latc.omics._manifest import OmicsInputError

if TYPE_CHECKING:  # anndata is imported by the commands that build an AnnData, not by this module
    from anndata import AnnData

__all__ = ["DEFAULT_RESPONSE", "DEFAULT_TIME", "DEFAULT_EVENT", "Outcomes", "find_subject", "load_outcomes",
           "binary_values", "study_data_root", "NO_SUBJECT_HINT", "annotate_outcomes", "cohort_from_study"]

DEFAULT_RESPONSE = "objective_response"
DEFAULT_TIME = "rfs_time_months"
DEFAULT_EVENT = "rfs_event"

NO_SUBJECT_HINT = ("run `latc derive STUDY --out DERIVED` (or `latc run`) and pass `--subject DERIVED`, "
                   "or give a `latc derive`/`latc run` output folder as STUDY")

_TRUE = {"1", "1.0", "true", "yes", "y", "responder", "cr", "pr"}
_FALSE = {"0", "0.0", "false", "no", "n", "non_responder", "non-responder", "sd", "pd"}
_MISSING = {"", "na", "nan", "<na>", "none", "ne", "not_evaluable"}


def _subject_in_folder(folder: Path) -> Path | None:
    for cand in (folder / "derived" / "subject.parquet", folder / "subject.parquet",
                 folder / "derived" / "subject.csv", folder / "subject.csv"):
        if cand.is_file():
            return cand
    return None


def find_subject(study: str | Path | None = None, subject: str | Path | None = None) -> tuple[Path | None, str]:
    """The subject table to use and how it was found (see the module docstring).

    Returns ``(path or None, how)``; raises :class:`OmicsInputError` when ``subject`` is given but
    is neither a table nor a folder holding ``derived/subject.parquet``.
    """
    if subject is not None:
        p = Path(subject)
        if p.is_file():
            return p, ""
        if p.is_dir():
            found = _subject_in_folder(p)
            if found is None:
                raise OmicsInputError(f"subject table not found: {p} holds no derived/subject.parquet "
                                      "(a `latc derive` or `latc run` output folder) or subject.parquet")
            return found, ""
        raise OmicsInputError(f"subject table not found: {p} does not exist")
    if study is None:
        return None, ""
    s = Path(study)
    if s.is_dir() and (s / "derived" / "subject.parquet").is_file():
        return s / "derived" / "subject.parquet", "STUDY is a `latc derive`/`latc run` output"
    base = s if s.is_dir() else s.parent
    beside = base.parent / "derived" / "subject.parquet"
    if beside.is_file():
        return beside, "found beside the study folder"
    return None, ""


def study_data_root(study: str | Path, _depth: int = 0) -> Path | None:
    """The original study folder of a `latc run` / `latc derive` / `latc validate` output (its run
    record ``manifest.json`` → ``input.path``, followed when that is itself an output folder), which
    the manifest's ``file_ref`` paths are relative to; None when there is no record or the recorded
    folder does not exist (any more, or relative to another working folder)."""
    p = Path(study)
    m = p / "manifest.json"
    if not (p.is_dir() and m.is_file()) or _depth > 3:
        return None
    try:
        src = Path(json.loads(m.read_text(encoding="utf-8"))["input"]["path"])
    except (ValueError, KeyError, TypeError, OSError):
        return None
    if src.is_dir() and is_output_folder(src):
        return study_data_root(src, _depth + 1)
    if src.is_dir():
        return src
    return src.parent if src.is_file() else None


def is_output_folder(study: str | Path) -> bool:
    """A `latc derive` / `latc run` / `latc validate` output (validated tables, no raw study)."""
    p = Path(study)
    return p.is_dir() and ((p / "derived").is_dir() or (p / "validation" / "clean").is_dir() or (p / "clean").is_dir())


def binary_values(s: pd.Series) -> pd.Series:
    """A response column as nullable booleans: booleans, 0/1, yes/no, true/false,
    responder/non_responder, or a RECIST response (CR/PR = True, SD/PD = False, NE = missing).
    Raises :class:`OmicsInputError` on any other value."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean")
    if pd.api.types.is_numeric_dtype(s.dtype):
        v = pd.to_numeric(s, errors="coerce")
        bad = v.notna() & ~v.isin([0, 1])
        if bad.any():
            raise OmicsInputError(f"response column {s.name!r} is not binary: value {v[bad].iloc[0]!r} (expected 0/1)")
        return v.map({1: True, 0: False}).astype("boolean")
    txt = s.astype("object").where(s.notna(), "").astype(str).str.strip().str.lower()
    bad = ~txt.isin(_TRUE | _FALSE | _MISSING)
    if bad.any():
        raise OmicsInputError(f"response column {s.name!r} is not binary: value {s[bad].iloc[0]!r} "
                              "(expected 0/1, yes/no, true/false, responder/non_responder or CR/PR/SD/PD/NE)")
    return txt.map(lambda x: True if x in _TRUE else (False if x in _FALSE else pd.NA)).astype("boolean")


def _from_truth(t: pd.DataFrame) -> pd.DataFrame:
    """The synthetic truth (``truth_patients.csv``) in derive's column names: response outcomes for
    the neoadjuvant cohort only; RFS proxy = recurrence or end of follow-up (months)."""
    neo = t["cohort"].astype(str).eq("neoadjuvant")
    out = pd.DataFrame({"patient_id": t["patient_id"].astype(str), "cohort": t["cohort"].astype(str)})
    for src, dst in (("objective_response_latent", "objective_response"), ("mpr", "mpr"), ("pcr", "pcr")):
        if src in t:
            v = pd.to_numeric(t[src], errors="coerce").where(neo)
            out[dst] = v.map({1: True, 0: False}).astype("boolean")
    if {"tr_day", "end_day", "recurrence_observed"} <= set(t.columns):
        ev = pd.to_numeric(t["recurrence_observed"], errors="coerce").fillna(0).astype(int)
        day = pd.to_numeric(t["tr_day"], errors="coerce").where(ev == 1, pd.to_numeric(t["end_day"], errors="coerce"))
        out["rfs_time_days"] = day
        out["rfs_time_months"] = day / 30.4375
        out["rfs_event"] = ev
    return out


def _split(columns: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        return [c.strip() for c in columns.split(",") if c.strip()]
    return [str(c) for c in columns]


@dataclass
class Outcomes:
    """The subject table and the outcome columns an omics command uses.

    ``table``: one row per ``patient_id`` (str) or None; ``responses``: the binary response
    columns found (the first drives group comparisons, all are screened in association tables);
    ``time``/``event``: the RFS columns (None when absent); ``skipped``: why an outcome analysis is
    not run; ``notes``: what the user should know (source, synthetic truth).
    """

    table: pd.DataFrame | None = None
    source: str | None = None
    how: str = ""
    responses: list[str] = field(default_factory=list)
    time: str | None = None
    event: str | None = None
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False

    @property
    def response(self) -> str | None:
        """The primary response column (the first of ``responses``)."""
        return self.responses[0] if self.responses else None

    @property
    def has_rfs(self) -> bool:
        return self.time is not None and self.event is not None

    def responders(self, column: str | None = None) -> pd.Series | None:
        """Boolean response per ``patient_id`` (missing dropped), or None without a response column."""
        col = column or self.response
        if self.table is None or col is None:
            return None
        s = self.table.drop_duplicates("patient_id").set_index("patient_id")[col]
        return binary_values(s).dropna().astype(bool)

    def response_labels(self, column: str | None = None) -> pd.Series | None:
        """``responder`` / ``non_responder`` per patient (missing where unknown)."""
        r = self.responders(column)
        return None if r is None else r.map({True: "responder", False: "non_responder"})

    def frame(self) -> pd.DataFrame | None:
        """``patient_id`` + the outcome columns in use (responses as nullable booleans)."""
        if self.table is None:
            return None
        t = self.table.drop_duplicates("patient_id")
        out = pd.DataFrame({"patient_id": t["patient_id"].astype(str).to_numpy()})
        for c in self.responses:
            out[c] = binary_values(t[c]).to_numpy()
        if self.has_rfs:
            out[self.time] = pd.to_numeric(t[self.time], errors="coerce").astype("float64").to_numpy()
            out[self.event] = pd.to_numeric(t[self.event].astype("object"), errors="coerce").astype("float64").to_numpy()
        if "cohort" in t:
            out["cohort"] = t["cohort"].astype("object").to_numpy()
        return out

    def patient_columns(self, patient_ids: pd.Series, cohort: pd.Series | None = None) -> pd.DataFrame:
        """Per-row ``cohort`` and ``response`` for ``patient_ids`` (e.g. ``adata.obs["patient_id"]``):
        cohort from the subject table, else from ``cohort`` (patient_id → cohort, e.g. the validated
        patients form); response = ``responder``/``non_responder`` from the primary response column
        (missing for patients without a response, e.g. the upfront-surgery cohort)."""
        pid = pd.Series(np.asarray(patient_ids, dtype=object), index=getattr(patient_ids, "index", None)).astype(str)
        out = pd.DataFrame(index=pid.index)
        coh = None
        if self.table is not None and "cohort" in self.table:
            coh = self.table.drop_duplicates("patient_id").set_index("patient_id")["cohort"].astype("object")
        elif cohort is not None:
            coh = cohort.astype("object")
        if coh is not None:
            coh.index = coh.index.astype(str)
            out["cohort"] = pd.Categorical(pid.map(coh).where(lambda v: v.notna(), None))
        lab = self.response_labels()
        if lab is not None:
            lab.index = lab.index.astype(str)
            out["response"] = pd.Categorical(pid.map(lab), categories=["non_responder", "responder"])
        return out

    def record(self) -> dict:
        """What run.json records about the outcomes."""
        src = self.source
        if src and Path(src).exists():
            src = str(Path(src).resolve())
        return {"subject": src, "found": self.how or None, "synthetic_truth": self.synthetic,
                "n_patients": None if self.table is None else int(self.table["patient_id"].nunique()),
                "response_columns": self.responses, "time_column": self.time, "event_column": self.event,
                "skipped": self.skipped, "notes": self.notes}

    def message(self) -> str:
        """One line for the terminal: where the outcomes come from, or why they are skipped."""
        if self.table is None:
            return "; ".join(self.skipped)
        parts = [f"outcomes from {self.source} ({self.table['patient_id'].nunique():,} patients"
                 + (f"; {self.how}" if self.how and self.how != "argument" else "") + ")"]
        used = list(self.responses) + ([f"{self.time}/{self.event}"] if self.has_rfs else [])
        if used:
            parts.append("columns " + ", ".join(used))
        parts += self.skipped + self.notes
        return "; ".join(parts)


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if path.suffix.lower() in (".tsv", ".txt") else ",")
    except Exception as exc:  # noqa: BLE001 - an unreadable input: one line
        raise OmicsInputError(f"subject table {path}: cannot read ({type(exc).__name__}: {exc})") from None


def load_outcomes(study: str | Path | None = None, subject: str | Path | pd.DataFrame | None = None, *,
                  response: str | list[str] | None = None, time: str | None = None,
                  event: str | None = None) -> Outcomes:
    """Find (:func:`find_subject`) and read the subject table and check the outcome columns.

    ``response`` (comma-separated or a list), ``time`` and ``event`` name subject columns; None
    means derive's defaults (:data:`DEFAULT_RESPONSE`, :data:`DEFAULT_TIME`,
    :data:`DEFAULT_EVENT`). A column named explicitly that the table lacks is an
    :class:`OmicsInputError` listing the table's columns; a default column that is absent only skips
    that analysis (``skipped`` says so). No subject table → ``table`` None and ``skipped`` explains.
    """
    explicit_r, explicit_t, explicit_e = response is not None, time is not None, event is not None
    responses = _split(response) if explicit_r else [DEFAULT_RESPONSE]
    time = time if explicit_t else DEFAULT_TIME
    event = event if explicit_e else DEFAULT_EVENT
    o = Outcomes()
    if isinstance(subject, pd.DataFrame):
        t, o.source, o.how = subject.copy(), "subject table (DataFrame)", "argument"
    else:
        path, how = find_subject(study, subject)
        if path is None:
            o.skipped.append("no subject table: response and RFS analyses skipped (" + NO_SUBJECT_HINT + "; "
                             "the synthetic truth file is never used as a fallback)")
            return o
        t, o.source, o.how = _read(path), str(path), how
    if "patient_id" not in t.columns:
        raise OmicsInputError(f"subject table {o.source}: no patient_id column")
    if "objective_response_latent" in t.columns and "tr_day" in t.columns:
        # latc synth's truth_patients.csv named explicitly: a demonstration, never a default
        t = _from_truth(t)
        o.synthetic = True
        o.notes.append("synthetic truth (truth_patients.csv) used as outcomes: for demonstrations only; "
                       "a real analysis uses `latc derive`'s subject table")
    t = t.copy()
    t["patient_id"] = t["patient_id"].astype(str)
    if t["patient_id"].duplicated().any():
        dup = t.loc[t["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise OmicsInputError(f"subject table {o.source}: more than one row for patient {dup}")
    cols = list(map(str, t.columns))
    shown = ", ".join(cols[:15]) + (" …" if len(cols) > 15 else "")

    def missing(c: str, option: str) -> None:
        raise OmicsInputError(f"subject table {o.source} has no column {c!r} ({option}); columns: {shown}")

    for c in responses:
        if c not in t.columns:
            if explicit_r:
                missing(c, "--response-column")
            o.skipped.append(f"response analyses skipped: the subject table has no {c!r} column (name one with --response-column)")
            continue
        binary_values(t[c].rename(c))  # fails early, naming the column and the value
        o.responses.append(c)
    if explicit_t and time not in t.columns:
        missing(time, "--time-column")
    if explicit_e and event not in t.columns:
        missing(event, "--event-column")
    if time in t.columns and event in t.columns:
        o.time, o.event = time, event
    else:
        absent = [c for c in (time, event) if c not in t.columns]
        o.skipped.append(f"RFS analyses skipped: the subject table has no {', '.join(map(repr, absent))} column "
                         "(name them with --time-column/--event-column)")
    o.table = t
    return o


def annotate_outcomes(adata: AnnData, outcomes: Outcomes | None, *, cohort: pd.Series | None = None) -> AnnData:
    """Add ``obs["cohort"]`` and ``obs["response"]`` (``responder``/``non_responder``, missing for
    patients without one) from the subject table, in place, so an embedding can be coloured by
    them; ``cohort`` (patient_id → cohort, e.g. the validated patients form) is used when the subject
    table has none. ``uns["latc_outcomes"]`` records the source and columns."""
    o = outcomes or Outcomes()
    for c in ("cohort", "response"):
        if c in adata.obs:
            if cohort is None and c == "cohort":
                cohort = adata.obs[["patient_id", "cohort"]].drop_duplicates("patient_id").set_index("patient_id")["cohort"]
            del adata.obs[c]
    cols = o.patient_columns(adata.obs["patient_id"], cohort)
    for c in cols.columns:
        adata.obs[c] = cols[c].to_numpy()
        if not isinstance(adata.obs[c].dtype, pd.CategoricalDtype):
            adata.obs[c] = adata.obs[c].astype("category")
    adata.uns["latc_outcomes"] = json.dumps(o.record(), default=str)  # JSON text: h5ad cannot store None
    return adata


def cohort_from_study(study: str | Path) -> pd.Series | None:
    """patient_id → cohort from the study's validated patients form (None when it has none)."""
    from latc.omics._manifest import validated_form

    try:
        p = validated_form(Path(study), "patients")
    except (OmicsInputError, OSError, ValueError):
        return None
    if p is None or not {"patient_id", "cohort"} <= set(p.columns):
        return None
    return p.drop_duplicates("patient_id").set_index("patient_id")["cohort"].astype("object")
