"""The query log as a data manager works it: stable ids, the patient's center, root causes first.

* **query_id** — ``Q`` + 12 hex digits of a BLAKE2b hash of what the problem is about: form, the
  row's key in the dictionary (``patient_id`` + ``lab_date`` + ``test`` …, not the row number, which
  moves when a center re-exports), field and rule. Re-validating a corrected export gives an
  unchanged problem the same id, so a capture system (or a spreadsheet) can track it. A key that
  holds a masked identifier is never hashed (a hash of an 18-digit id can be brute-forced); the
  source and row number stand in for it. Identical ids in one run (exact duplicate rows) get
  ``-2``, ``-3`` … in row order.
* **status** — ``open`` for every problem found now; :func:`carry_status` adds the problems of the
  previous validation in the same folder that are gone as ``resolved`` (and keeps ``first_seen``).
* **center** — a ``center_match`` query belongs to the *patient's* center (from ``patients``), the
  one that must correct it; the row's own center is in the message.
* **root causes** — when two or more date-order queries of one patient follow from the same
  value of a once-per-patient form (``patients.diagnosis_date`` after the treatment start, the
  operation and the visits), a warning ``date_order_root`` is raised on that value and the
  consequences carry its id in ``root_query_id``; the log lists the root first, then its
  consequences.
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import pandas as pd

from latc.dictionary import Dictionary
from latc.validate._privacy import MASK, looks_like_identifier, non_pseudonymous

ROW = "_row"
#: columns of queries.csv (validate/_log.QUERY_COLUMNS plus the tracking columns)
TRACKING_COLUMNS = ["query_id", "status", "root_query_id", "first_seen"]


def _hash(text: pd.Series) -> pd.Series:
    return text.map(lambda t: "Q" + hashlib.blake2b(t.encode("utf-8"), digest_size=6).hexdigest())


def _row_keys(q: pd.DataFrame, positions: np.ndarray, raw: dict[str, pd.DataFrame], dictionary: Dictionary) -> pd.Series:
    """Per query, the text identifying its row: the form's key values (row number when masked)."""
    keys = pd.Series("", index=q.index, dtype="object")
    for form, idx in q.groupby("form", sort=False).indices.items():
        t = raw.get(form)
        pos = positions[idx]
        has = pos >= 0
        if t is None or not has.any():
            continue
        f = dictionary.forms.get(form)
        cols = [c for c in (f.key if f is not None else ["patient_id"]) if c in t.columns]
        take = pos[has]
        if cols:
            part = t[cols].iloc[take].astype("str").fillna("")
            text = part[cols[0]]
            for c in cols[1:]:  # "|".join of the row's key values (all text: astype/fillna above)
                text = text + "|" + part[c]
            secret = np.zeros(len(take), dtype=bool)
            for c in cols:
                col = t[c].iloc[take].astype("str")
                secret |= looks_like_identifier(col)
                if c == "patient_id":
                    secret |= non_pseudonymous(col)
            text = text.where(~secret, "row " + t[ROW].iloc[take].astype(str))
        else:
            text = "row " + t[ROW].iloc[take].astype(str)
        keys.iloc[idx[has]] = text.to_numpy()
    return keys


def assign_query_ids(q: pd.DataFrame, positions: np.ndarray, raw: dict[str, pd.DataFrame],
                     dictionary: Dictionary) -> pd.Series:
    """The stable id of each query (module docstring)."""
    if not len(q):
        return pd.Series([], dtype="str")
    keys = _row_keys(q, positions, raw, dictionary)
    where = keys.where(keys != "", q["source"].fillna("") + ":" + q["row"].astype("str").fillna(""))
    base = _hash(q["form"].astype(str) + "\x1f" + where.astype(str) + "\x1f" + q["field"].fillna("").astype(str)
                 + "\x1f" + q["rule"].astype(str))
    n = base.groupby(base).cumcount()
    return base.where(n == 0, base + "-" + (n + 1).astype(str))


def patient_centers(raw: dict[str, pd.DataFrame]) -> pd.Series:
    """patient_id → center_id from the ``patients`` form (first row of each patient)."""
    p = raw.get("patients")
    if p is None or not {"patient_id", "center_id"} <= set(p.columns):
        return pd.Series(dtype="str")
    return p.dropna(subset=["patient_id", "center_id"]).drop_duplicates("patient_id").set_index("patient_id")["center_id"]


def route_center_match(q: pd.DataFrame, positions: np.ndarray, raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``center_match`` queries go to the patient's center (module docstring)."""
    hit = (q["rule"] == "center_match").to_numpy()
    if not hit.any():
        return q
    centers = patient_centers(raw)
    q = q.copy()
    for form, idx in q[hit].groupby("form", sort=False).indices.items():
        rows = np.flatnonzero(hit)[idx]
        t = raw[form]
        pid = t["patient_id"].iloc[positions[rows]].astype("str")
        theirs = pid.map(centers).astype("str").to_numpy()
        ok = pd.notna(theirs) & ~looks_like_identifier(pd.Series(theirs, dtype="str"))
        q.iloc[rows[ok], q.columns.get_loc("center_id")] = theirs[ok]
    return q


def _cause_row(t: pd.DataFrame, pid: str, fld: str) -> int | None:
    """Position of the patient's row in the cause form that the date-order rule compared: the
    only row of a one-row form, the earliest date of a repeating one (``check_date_order``)."""
    at = np.flatnonzero((t["patient_id"].astype("str") == pid).fillna(False).to_numpy())
    if not len(at):
        return None
    if len(at) == 1:
        return int(at[0])
    when = pd.to_datetime(t[fld].iloc[at], errors="coerce", format="ISO8601")
    return int(at[int(np.nanargmin(when.to_numpy(dtype="datetime64[ns]").astype("float64")))]) if when.notna().any() else int(at[0])


def add_cascade_roots(q: pd.DataFrame, raw: dict[str, pd.DataFrame], sources: dict[str, str]) -> pd.DataFrame:
    """Group the date-order queries that follow from one value under their root cause.

    The queries a wrong date causes (``_cause`` = ``form.field``: later dates of the patient found
    earlier than it) get ``root_query_id``: the query already open on that very cell when there is
    one (an ``after_death`` or ``future_date`` error, say — one root per cell, never two), else a new
    ``date_order_root`` warning on it when it explains two or more queries."""
    q = q.copy()
    q["root_query_id"] = pd.Series(pd.NA, index=q.index, dtype="str")
    cause = q["_cause"].astype("str")
    grp = q[cause.notna() & q["patient_id"].notna() & (q["patient_id"] != MASK)]
    if not len(grp):
        return q
    on_cell = q[q["rule"] != "date_order"].dropna(subset=["row"])
    on_cell = on_cell.assign(_k=on_cell["form"].astype("str") + "\x1f" + on_cell["row"].astype("int64").astype("str")
                             + "\x1f" + on_cell["field"].astype("str"))
    errors_first = on_cell.assign(_e=on_cell["severity"] != "error").sort_values("_e", kind="stable")
    existing = errors_first.drop_duplicates("_k").set_index("_k")["query_id"]
    roots = []
    for (pid, c), g in grp.groupby(["patient_id", "_cause"], sort=True):
        form, fld = str(c).split(".", 1)
        fld, _, where = fld.partition("@")
        t = raw.get(form)
        if t is None or fld not in t.columns:
            continue
        at = int(where) if where.isdigit() and int(where) < len(t) else _cause_row(t, pid, fld)
        if at is None:
            continue
        row = int(t[ROW].iloc[at])
        rid = existing.get(f"{form}\x1f{row}\x1f{fld}")
        if rid is None:
            if len(g) < 2:
                continue
            value = t[fld].iloc[at]
            forms = sorted(set(g["form"]))
            src = sources.get(form) or f"{form}.csv"
            msg = (f"{src} row {row}, field {fld}: {value} is later than {len(g)} dates of this patient in "
                   f"{', '.join(forms)} — probably this date is wrong; correct it first, the {len(g)} queries "
                   f"grouped under this one (root_query_id) may then resolve (rule date_order_root)")
            n_rows = int((t["patient_id"].astype("str") == pid).fillna(False).sum())
            cell = f"{fld}@{row}" if n_rows > 1 else fld  # which of a repeating form's rows
            rid = "Q" + hashlib.blake2b(f"{form}\x1f{pid}\x1f{cell}\x1fdate_order_root".encode(), digest_size=6).hexdigest()
            roots.append({"form": form, "row": row, "patient_id": pid, "center_id": t["center_id"].iloc[at] if "center_id" in t else pd.NA,
                          "field": fld, "value": value, "rule": "date_order_root", "severity": "warning", "message": msg,
                          "source": src, "query_id": rid, "_pos": at, "_cause": None, "root_query_id": pd.NA})
        q.loc[g.index, "root_query_id"] = rid
    if roots:
        q = pd.concat([q, pd.DataFrame(roots)], ignore_index=True)
    return q


def order_queries(q: pd.DataFrame) -> pd.DataFrame:
    """Center, then patient (file-level queries first); within a patient, each root cause followed by
    the queries it explains (roots in form, row order), then the patient's other queries by form,
    row, field, rule."""
    if not len(q):
        return q
    rooted = q["root_query_id"].notna()
    is_root = q["query_id"].isin(set(q.loc[rooted, "root_query_id"].astype("str")))
    group = q["root_query_id"].where(rooted, q["query_id"])
    first = q.drop_duplicates("query_id").set_index("query_id")
    out = q.assign(_c=q["center_id"].fillna(""), _p=q["patient_id"].fillna(""), _u=~(rooted | is_root),
                   _gf=group.map(first["form"]).fillna(""), _gr=group.map(first["row"]).astype("Float64"),
                   _g=group.where(rooted | is_root, ""), _r=~is_root)
    out = out.sort_values(["_c", "_p", "_u", "_gf", "_gr", "_g", "_r", "form", "row", "field", "rule"], kind="stable",
                          na_position="first")
    return out.drop(columns=["_c", "_p", "_u", "_gf", "_gr", "_g", "_r"]).reset_index(drop=True)


def carry_status(current: pd.DataFrame, previous: pd.DataFrame | None, today: date | None = None) -> pd.DataFrame:
    """``status``/``first_seen`` for this run's queries, plus the previous run's problems now gone
    (``resolved``). ``previous``: the ``queries.csv`` of the last validation in the same folder."""
    today_s = (today or date.today()).isoformat()
    cur = current.copy()
    cur["status"] = "open"
    cur["first_seen"] = today_s
    if previous is None or "query_id" not in previous.columns or not len(previous):
        return cur
    prev = previous.drop_duplicates("query_id").set_index("query_id")
    if "first_seen" in prev.columns:
        seen = cur["query_id"].map(prev["first_seen"])
        cur["first_seen"] = seen.where(seen.notna() & (seen != ""), today_s)
    gone = prev[~prev.index.isin(cur["query_id"])].reset_index()  # the log keeps resolved problems
    if len(gone):
        gone = gone.reindex(columns=cur.columns)
        gone["status"] = "resolved"
        cur = pd.concat([cur, gone], ignore_index=True)
    return cur
