"""The outcome of validation: query log, clean tables, quarantine, eligibility — and writing them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Group
from rich.table import Table

QUARANTINE_README = """\
Quarantined rows
================

Each <form>.csv here holds the rows of that form that validation rejected, exactly as read (every
original column, including _row = the row number in the source file, header = row 1), plus:

  quarantine_reason   the rules that rejected the row, separated by ';'
  quarantine_message  the matching messages from queries.csv, separated by ' | '

One exception to "exactly as read": a value (or column name) a spreadsheet would run as a formula
(it starts with = + - @, a tab, a carriage return or a full-width = + - @, and is not a plain number
such as -5) is written with a leading ' so it opens as text; drop that one ' to get the value as
read (docs/spreadsheet_safety.md).

A row is quarantined when it has at least one error-severity query, or when its patient's row in
patients is quarantined (rule parent_quarantined: the patient's other rows are kept here, not lost).
Rows with warnings only stay in the clean tables.  Correct the source and validate again; nothing
in this folder is used by later stages.
"""


@dataclass
class ValidationResult:
    """What :func:`latc.validate.validate_study` returns.

    ``queries``: the query log (``form,row,patient_id,center_id,field,value,rule,severity,message,source``);
    ``clean``: typed tables per form without error rows (CONTRACTS.md "Clean tables");
    ``quarantine``: the rejected raw rows per form with ``quarantine_reason`` / ``quarantine_message``;
    ``eligibility``: one row per patient with each criterion;
    ``rows_read``: rows per form in the input; ``data_cut``: the data-cut date used.
    """

    queries: pd.DataFrame
    clean: dict[str, pd.DataFrame]
    quarantine: dict[str, pd.DataFrame]
    eligibility: pd.DataFrame
    rows_read: dict[str, int] = field(default_factory=dict)
    data_cut: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    #: rows per form dated after the data cut: valid, kept in clean, left out by ``latc derive``
    rows_after_data_cut: dict[str, int] = field(default_factory=dict)

    # -- tables ------------------------------------------------------------------------------------
    def by_form(self) -> pd.DataFrame:
        """Rows read / clean / quarantined and queries (errors, warnings) per form."""
        q = self.queries
        forms = list(self.rows_read) or sorted(set(self.clean) | set(self.quarantine))
        sev = q.groupby(["form", "severity"]).size() if len(q) else pd.Series(dtype="int64")
        rows = []
        for f in forms:
            rows.append({
                "form": f, "rows_read": self.rows_read.get(f, len(self.clean.get(f, ())) + len(self.quarantine.get(f, ()))),
                "clean": len(self.clean.get(f, ())), "quarantined": len(self.quarantine.get(f, ())),
                "errors": int(sev.get((f, "error"), 0)), "warnings": int(sev.get((f, "warning"), 0)),
            })
        return pd.DataFrame(rows)

    def by_rule(self) -> pd.DataFrame:
        q = self.queries
        if not len(q):
            return pd.DataFrame(columns=["rule", "severity", "queries"])
        return (q.groupby(["rule", "severity"]).size().rename("queries").reset_index()
                .sort_values(["queries", "rule"], ascending=[False, True], kind="stable").reset_index(drop=True))

    def by_center(self) -> pd.DataFrame:
        q = self.queries
        if not len(q):
            return pd.DataFrame(columns=["center_id", "error", "warning"])
        t = q.assign(center_id=q["center_id"].fillna("(none)")).groupby(["center_id", "severity"]).size().unstack(fill_value=0)
        for s in ("error", "warning"):
            if s not in t.columns:
                t[s] = 0
        return t[["error", "warning"]].reset_index()

    def counts(self) -> dict[str, Any]:
        """Counts for the manifest and the HTML summary (plain JSON types)."""
        q = self.queries
        bf = self.by_form()
        elig = self.eligibility
        pts = self.clean.get("patients")
        return {
            "data_cut": self.data_cut,
            "rows_after_data_cut": {k: int(v) for k, v in self.rows_after_data_cut.items()},
            "rows_read": int(bf["rows_read"].sum()) if len(bf) else 0,
            "rows_clean": int(bf["clean"].sum()) if len(bf) else 0,
            "rows_quarantined": int(bf["quarantined"].sum()) if len(bf) else 0,
            "queries": int(len(q)),
            "queries_error": int((q["severity"] == "error").sum()) if len(q) else 0,
            "queries_warning": int((q["severity"] == "warning").sum()) if len(q) else 0,
            "patients_read": int(self.rows_read.get("patients", 0)),
            "patients_clean": int(len(pts)) if pts is not None else 0,
            "patients_eligible": int(elig["eligible"].sum()) if len(elig) else 0,
            "by_form": {r["form"]: {k: int(r[k]) for k in ("rows_read", "clean", "quarantined", "errors", "warnings")}
                        for r in bf.to_dict("records")},
            "by_rule": {f"{r['rule']}:{r['severity']}": int(r["queries"]) for r in self.by_rule().to_dict("records")},
            "by_center": {str(r["center_id"]): {"error": int(r["error"]), "warning": int(r["warning"])}
                          for r in self.by_center().to_dict("records")},
            "eligibility_by_cohort": ({str(k): {"patients": int(v["patients"]), "eligible": int(v["eligible"])}
                                       for k, v in elig.groupby("cohort")["eligible"].agg(patients="size", eligible="sum")
                                       .to_dict("index").items()} if len(elig) else {}),
        }

    def summary_table(self) -> Group:
        """A rich renderable that fits one screen: by form, by rule and severity, by center."""
        t1 = Table(title="Validation by form", title_justify="left")
        for c in ("form", "read", "clean", "quarantined", "errors", "warnings"):
            t1.add_column(c, justify="left" if c == "form" else "right")
        for r in self.by_form().to_dict("records"):
            if r["rows_read"] or r["errors"] or r["warnings"]:
                t1.add_row(r["form"], *(f"{r[k]:,}" for k in ("rows_read", "clean", "quarantined", "errors", "warnings")))
        t2 = Table(title="Queries by rule", title_justify="left")
        for c in ("rule", "severity", "queries"):
            t2.add_column(c, justify="right" if c == "queries" else "left")
        for r in self.by_rule().head(15).to_dict("records"):
            t2.add_row(r["rule"], r["severity"], f"{r['queries']:,}")
        t3 = Table(title="Queries by center", title_justify="left")
        for c in ("center", "errors", "warnings"):
            t3.add_column(c, justify="left" if c == "center" else "right")
        bc = self.by_center()
        for r in bc.sort_values("error", ascending=False).head(12).to_dict("records"):
            t3.add_row(str(r["center_id"]), f"{r['error']:,}", f"{r['warning']:,}")
        if len(bc) > 12:
            t3.add_row(f"… {len(bc) - 12} more", "", "")
        from rich.columns import Columns
        return Group(t1, Columns([t2, t3]))


#: queries.csv column order: the tracking id and status first (validate/_queries.py)
QUERY_FILE_COLUMNS = ["query_id", "status", "form", "row", "patient_id", "center_id", "field", "value", "rule",
                      "severity", "message", "source", "root_query_id", "first_seen"]


def _tracked_queries(queries: pd.DataFrame, previous_file: Path) -> pd.DataFrame:
    """This run's queries with ``status``/``first_seen`` carried from the previous ``queries.csv``
    in the folder (problems gone since are kept as ``resolved``)."""
    from latc.io._spreadsheet import restore_formulas
    from latc.validate._queries import carry_status

    previous = None
    if previous_file.is_file():
        try:
            previous = restore_formulas(pd.read_csv(previous_file, dtype=str, keep_default_na=False, na_values=[""]))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError):
            previous = None  # an old or damaged log: start a new one
    tracked = carry_status(queries, previous)
    return tracked.reindex(columns=QUERY_FILE_COLUMNS + [c for c in tracked.columns if c not in QUERY_FILE_COLUMNS])


def _write_center_queries(queries: pd.DataFrame, folder: Path, neutralise) -> None:
    """``queries_by_center/<center>.csv``: each center's open and resolved queries, for the site to
    act on (queries with no valid center id in ``_no_center.csv``)."""
    import re

    from latc.dictionary import load_dictionary

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    pattern = re.compile(load_dictionary().patterns["center_id_pattern"])
    center = queries["center_id"].astype("str")
    valid = center.map(lambda c: bool(isinstance(c, str) and pattern.fullmatch(c))).astype(bool)
    for c, g in queries[valid.to_numpy()].groupby(center[valid], sort=True):
        neutralise(g).to_csv(folder / f"{c}.csv", index=False)
    rest = queries[~valid.to_numpy()]
    if len(rest):
        neutralise(rest).to_csv(folder / "_no_center.csv", index=False)


def write_validation(result: ValidationResult, out_dir: str | Path) -> Path:
    """Write ``queries.csv`` (and ``queries_by_center/<center>.csv``), ``quarantine/<form>.csv``
    (+ README.txt), ``clean/<form>.parquet`` and ``.csv``, ``eligibility.csv`` and ``summary.json``
    under ``out_dir``; returns ``out_dir``.

    Every CSV is spreadsheet-safe (:func:`latc.io._spreadsheet.neutralise_formulas`: a formula-leading
    text cell gets a leading ``'``); the parquet files keep the values exactly."""
    from latc.dictionary import load_dictionary
    from latc.io import to_canonical_text
    from latc.io._csv import write_csv_table  # pyarrow-assembled CSV, the same canonical text as the readers expect
    from latc._paths import safe_filename
    from latc.io._spreadsheet import neutralise_formulas  # every CSV here is opened by people in spreadsheets

    forms = load_dictionary().forms
    out = Path(out_dir)
    (out / "clean").mkdir(parents=True, exist_ok=True)
    qdir = out / "quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    for old in qdir.glob("*.csv"):  # a re-run must not leave stale quarantine files behind
        old.unlink()
    queries = _tracked_queries(result.queries, out / "queries.csv")
    neutralise_formulas(queries).to_csv(out / "queries.csv", index=False)
    _write_center_queries(queries, out / "queries_by_center", neutralise_formulas)
    (qdir / "README.txt").write_text(QUARANTINE_README, encoding="utf-8")
    for form, t in result.quarantine.items():
        if len(t):
            # a table of no dictionary form is named by data (an unknown REDCap instrument): a safe name
            name = form if form in forms else "unknown_" + safe_filename(form)
            neutralise_formulas(t).to_csv(qdir / f"{name}.csv", index=False)
    for form, t in result.clean.items():
        t.to_parquet(out / "clean" / f"{form}.parquet", index=False)
        write_csv_table(neutralise_formulas(to_canonical_text(t, forms.get(form))), out / "clean" / f"{form}.csv")
    neutralise_formulas(result.eligibility).to_csv(out / "eligibility.csv", index=False)
    (out / "summary.json").write_text(json.dumps(result.counts(), indent=2), encoding="utf-8")
    return out
