"""Collecting queries while the checks run, and turning them into the query log.

Checks add *parts* (one small DataFrame per check and field, positions into the raw table); the
row number, ids, source file and the final message are attached once at the end, vectorised.
Messages read ``<source> row <row>, field <field>: <value> <detail> (rule <rule>)``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import numpy as np
import pandas as pd

from latc.validate._privacy import MASK, looks_like_identifier, mask_identifier_parts, mask_values_in, non_pseudonymous
from latc.validate._schema import regex_mask

QUERY_COLUMNS = ["form", "row", "patient_id", "center_id", "field", "value", "rule", "severity", "message", "source"]
#: value shown in messages up to this many characters
_SHOW_CHARS = 60
_PLAIN_RE = r"^[A-Za-z0-9_.:+\-]+$"


class QueryLog:
    """Accumulates queries as vectorised parts."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, form: str, pos: np.ndarray | Iterable[int], field: str, rule: str, severity: str,
            detail: str | pd.Series | np.ndarray, value: pd.Series | np.ndarray | str | None = None,
            show_value: bool = True, cause: str | None = None) -> None:
        """Add one query per position ``pos`` (0-based position in the raw table of ``form``).

        ``value`` and ``detail`` are scalars or aligned with ``pos``; ``show_value`` puts the value
        in front of the detail in the message; ``cause``: ``"<form>.<field>"`` when the problem
        follows from another form's value of the same patient (a date_order against
        ``patients.diagnosis_date``), so consequences of one wrong value can be grouped.
        """
        pos = np.asarray(list(pos) if not isinstance(pos, np.ndarray) else pos, dtype=np.int64)
        if not len(pos):
            return
        val = value.to_numpy(dtype=object, na_value=None) if isinstance(value, pd.Series) else value
        det = detail.to_numpy(dtype=object) if isinstance(detail, pd.Series) else detail
        self._parts.append(pd.DataFrame({
            "form": form, "pos": pos, "field": field,
            "value": pd.Series(val if val is not None else [None] * len(pos), dtype="str") if not isinstance(val, str) else val,
            "rule": rule, "severity": severity, "detail": det, "show_value": show_value, "message": None,
            "cause": cause,
        }))

    def add_form(self, form: str, field: str, rule: str, severity: str, detail: str) -> None:
        """A query about a whole column or form (no row)."""
        self._parts.append(pd.DataFrame({
            "form": [form], "pos": [-1], "field": [field], "value": [None], "rule": [rule],
            "severity": [severity], "detail": [detail], "show_value": [False], "message": [None],
        }))

    def __len__(self) -> int:
        """Number of parts added (0: no query at all)."""
        return len(self._parts)

    def add_prebuilt(self, frame: pd.DataFrame) -> None:
        """Queries whose message is already written (e.g. the reader's issues); needs ``pos``."""
        if len(frame):
            self._parts.append(frame)

    def raw(self) -> pd.DataFrame:
        cols = ["form", "pos", "field", "value", "rule", "severity", "detail", "show_value", "message", "row_hint", "cause"]
        if not self._parts:
            return _empty_raw().copy()
        parts = [p.reindex(columns=cols) for p in self._parts]
        out = pd.concat(parts, ignore_index=True)
        out["pos"] = out["pos"].astype("int64")
        out["row_hint"] = pd.to_numeric(out["row_hint"], errors="coerce").fillna(-1).astype("int64")
        out["show_value"] = out["show_value"].fillna(False).astype(bool)
        for c in ("form", "field", "value", "rule", "severity", "detail", "message", "cause"):
            out[c] = out[c].astype("str")
        return out


@lru_cache(maxsize=1)
def _empty_raw() -> pd.DataFrame:
    """The raw log without queries (built once; callers get a copy)."""
    cols = ["form", "pos", "field", "value", "rule", "severity", "detail", "show_value", "message", "row_hint", "cause"]
    return pd.DataFrame({c: pd.Series([], dtype="str") for c in cols}).astype(
        {"pos": "int64", "show_value": "bool", "row_hint": "int64"})


def _display(value: pd.Series) -> pd.Series:
    short = value.str.slice(0, _SHOW_CHARS)
    short = short.where(value.str.len() <= _SHOW_CHARS, short + "…")
    plain = pd.Series(regex_mask(short, _PLAIN_RE), index=short.index)
    return short.where(plain, "'" + short.str.replace("'", "\\'", regex=False) + "'")


def finalize(raw_queries: pd.DataFrame, tables: dict[str, pd.DataFrame], sources: dict[str, str],
             row_col: str = "_row") -> pd.DataFrame:
    """The query log: row numbers, ids and source attached, identifiers masked, messages written."""
    q = raw_queries
    if not len(q):
        out = pd.DataFrame({c: pd.Series([], dtype="Int64" if c == "row" else "str") for c in QUERY_COLUMNS})
        out["_pos"] = pd.Series([], dtype="int64")
        out["_cause"] = pd.Series([], dtype="str")
        return out
    n = len(q)
    row = np.full(n, -1, dtype=np.int64)
    pid = pd.Series(pd.NA, index=q.index, dtype="str")
    cid = pd.Series(pd.NA, index=q.index, dtype="str")
    for form, idx in q.groupby("form", sort=False).indices.items():
        t = tables.get(form)
        if t is None:
            continue
        pos = q["pos"].to_numpy()[idx]
        has = pos >= 0
        if not has.any():
            continue
        take = idx[has]
        row[take] = t[row_col].to_numpy()[pos[has]]
        for col, target in (("patient_id", pid), ("center_id", cid)):
            if col in t.columns:
                target.iloc[take] = t[col].to_numpy(dtype=object, na_value=None)[pos[has]]
    if "row_hint" in q.columns:
        hint = q["row_hint"].to_numpy()
        row = np.where((row < 0) & (hint > 0), hint, row)
    # never echo identifiers: values, ids and the messages that repeat them are masked
    value = q["value"].copy()
    masked = looks_like_identifier(value)
    secret_value = value.where(masked)
    value[masked] = MASK
    secret_ids = []
    for ids in (pid, cid):
        hit = looks_like_identifier(ids)
        secret_ids.append(ids.where(hit))
        ids[hit] = MASK
    # a patient_id that is not a pseudonym may be a name or a hospital number: never echo it
    not_pseudonym = non_pseudonymous(pid)
    if not_pseudonym.any():
        same = not_pseudonym & (q["field"] == "patient_id").to_numpy() & (value == pid).fillna(False).to_numpy()
        secret_value = secret_value.where(~same, value)
        value[same] = MASK
        secret_ids.append(pid.where(not_pseudonym))
        pid[not_pseudonym] = MASK
    names = {f: sources.get(f) or f"{f}.csv" for f in q["form"].unique()}
    source = q["form"].map(names).astype("str")
    row_s = pd.Series(row, index=q.index)
    has_row = row_s >= 0
    shown = _display(value)
    show = q["show_value"].to_numpy() & value.notna().to_numpy()
    lead = pd.Series("", index=q.index, dtype="str").where(~show, shown + " ")
    where = source + pd.Series(np.where(has_row, " row " + row_s.astype(str), ""), index=q.index, dtype="str")
    where = where + np.where(has_row, ", field ", ", column ") + q["field"].fillna("")
    detail = mask_identifier_parts(q["detail"].fillna(""))
    message = where + ": " + lead + detail + " (rule " + q["rule"] + ")"
    prebuilt = q["message"].notna()
    if prebuilt.any():  # the reader's messages: "<source> row <n>: <text>" — mask the text part
        head = q["message"].str.extract(r"^([^:]*:)(.*)$", expand=True)
        text = mask_identifier_parts(head[1].fillna(q["message"]))
        message = message.where(~prebuilt, head[0].fillna("") + text)
    for secret in [secret_value, *secret_ids]:
        message = mask_values_in(message, secret)
    out = pd.DataFrame({
        "form": q["form"], "row": pd.array(np.where(has_row, row, 0), dtype="Int64"),
        "patient_id": pid, "center_id": cid, "field": q["field"], "value": value,
        "rule": q["rule"], "severity": q["severity"], "message": message, "source": source,
    })
    out.loc[~has_row.to_numpy(), "row"] = pd.NA
    out["_pos"] = q["pos"].to_numpy()
    out["_cause"] = q["cause"].to_numpy() if "cause" in q.columns else None
    out = out.sort_values(["form", "row", "field", "rule"], kind="stable", na_position="first").reset_index(drop=True)
    return out
