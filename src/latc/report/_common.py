"""Glue shared by the section builders: analysis tables with their captions, safe figure calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._format import display_table
from ._inputs import ReportInputs
from ._model import ReportFigure, ReportTable, Section

__all__ = ["add_analysis_table", "add_figure", "add_table", "caption_of", "flag", "months_since", "rows_text"]


def rows_text(info: dict[str, Any] | None) -> str:
    """"Rows with other patients: …" — the row blocks whose patients are not the table's n, with why."""
    blocks = (info or {}).get("row_populations") or []
    if not blocks:
        return ""
    return ("Rows with a different n: " + "; ".join(f"{b['rows']} n = {int(b['n']):,} ({b['reason']})" for b in blocks)
            + ".")


def caption_of(info: dict[str, Any] | None, *, coding: bool = True) -> str:
    """"Population (n = …). Rows with a different n: …. Method. Coding: …. Note." from a results.json
    table entry: every n the rows show that is not the population's is stated with its reason, and a
    model table names its reference levels, indicator coding and event definition."""
    from latc.analysis import coding_text

    if not info:
        return ""
    parts = []
    if info.get("population"):
        parts.append(f"Population: {info['population']}" + (f" (n = {info['n']:,})" if info.get("n") is not None else "") + ".")
    if info.get("row_populations"):
        parts.append(rows_text(info))
    if info.get("method"):
        parts.append(f"Method: {info['method']}.")
    if coding and info.get("coding"):
        parts.append(coding_text(info["coding"]) + (f" (also in analysis/{info['coding_file']})" if info.get("coding_file") else ""))
    if info.get("note"):
        parts.append(str(info["note"]))
    return " ".join(parts)


def add_table(sec: Section, key: str, title: str, data: pd.DataFrame | None, *, caption: str = "",
              source: str = "", why_empty: str = "no rows", **display: Any) -> ReportTable | None:
    """Add a table to ``sec`` (or a note saying why there is none)."""
    if data is None or len(data) == 0:
        sec.note(title, why_empty if data is not None else why_empty)
        return None
    t = ReportTable(key=key, title=title, data=data.reset_index(drop=True), display=display_table(data, **display),
                    caption=caption, source=source)
    sec.tables.append(t)
    return t


def with_reference_rows(df: pd.DataFrame, coding: dict[str, Any] | None, *, block: Sequence[str] = (),
                        estimate: str = "exp_coef") -> tuple[pd.DataFrame, np.ndarray]:
    """Model rows (``term`` = ``factor[level]``) with a ``factor: <reference> (reference)`` row
    before each factor's first level — as a paper prints a categorical covariate. Returns the frame
    and a mask of the inserted rows (their estimate is 1 by definition)."""
    refs = {t["term"]: t.get("reference") for t in (coding or {}).get("terms", []) if t.get("type") == "factor"}
    if "term" not in df or not refs or not len(df):
        return df, np.zeros(len(df), bool)
    rows, flags, seen = [], [], set()
    for r in df.to_dict("records"):
        term = str(r.get("term", ""))
        factor = term.split("[", 1)[0] if "[" in term else None
        key = tuple(str(r.get(b)) for b in block) + (factor,)
        if factor in refs and refs[factor] is not None and key not in seen:
            seen.add(key)
            ref = {c: r.get(c) for c in block}
            ref.update({"term": f"{factor}: {refs[factor]} (reference)", estimate: 1.0})
            rows.append(ref)
            flags.append(True)
        rows.append(r)
        flags.append(False)
    return pd.DataFrame(rows, columns=list(df.columns)), np.array(flags, bool)


def add_analysis_table(sec: Section, inp: ReportInputs, section: str, name: str, *, title: str | None = None,
                       where: Callable[[pd.DataFrame], pd.Series] | None = None, key: str | None = None,
                       reference_rows: Sequence[str] | None = None, **display: Any) -> ReportTable | None:
    """Add ``analysis/<section>/<name>.csv`` (optionally filtered) with its results.json caption.

    ``reference_rows`` (the columns that delimit one model, e.g. endpoint and factor) inserts a
    ``factor: <reference> (reference)`` row before each categorical term's levels.
    """
    info = inp.table_info(section, name)
    df = inp.table(section, name)
    title = title or (info or {}).get("title") or name
    if df is None:
        sec.note(title, inp.why_not(section, name))
        return None
    if where is not None and len(df):
        df = df[where(df)]
    ref_mask = None
    if reference_rows is not None:
        df, ref_mask = with_reference_rows(df.reset_index(drop=True), (info or {}).get("coding"), block=reference_rows)
    t = add_table(sec, key or f"{section}_{name}", title, df, caption=caption_of(info),
                  source=f"analysis/{section}/{name}.csv", why_empty="no rows for this population", **display)
    if t is not None and ref_mask is not None and ref_mask.any():
        from ._format import HEADERS

        col = (display.get("rename") or {}).get("exp_coef", HEADERS["exp_coef"])
        if col in t.display:
            t.display.loc[ref_mask, col] = "1 (reference)"
    return t


def add_figure(sec: Section, key: str, title: str, build: Callable[[], Any],
               caption: str | Callable[[Any], str] = "") -> ReportFigure | None:
    """Build a figure with ``latc.plot``; a figure that cannot be drawn becomes a note, never a traceback.
    ``caption`` may be a function of the drawn figure (its counts, e.g. the lines a sample drew)."""
    from latc.plot import no_data_figure

    try:
        fig = build()
    except Exception as exc:  # a figure that fails must not sink the report: say why
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        fig = no_data_figure(f"the figure could not be drawn ({reason})", title=title)
    if fig is None:
        return None
    if callable(caption):
        caption = caption(fig)
    f = ReportFigure(key=key, title=title, figure=fig, caption=caption)
    sec.figures.append(f)
    if f.no_data:
        sec.notes.append(f"{title}: {f.no_data}")
    return f


def flag(s: pd.Series) -> pd.Series:
    """A yes/no column (boolean, 0/1, "True"/"False") as a boolean Series with missing → False."""
    if pd.api.types.is_bool_dtype(s):
        return s.fillna(False).astype(bool)
    if pd.api.types.is_numeric_dtype(s):
        return s.fillna(0).astype(float).astype(bool)
    return s.astype("str").str.lower().isin(["true", "1", "yes"]).fillna(False).astype(bool)


def months_since(dates: pd.Series, zero: pd.Series) -> pd.Series:
    """Months (days / 30.4375) between two date columns."""
    return (pd.to_datetime(dates) - pd.to_datetime(zero)).dt.days / 30.4375
