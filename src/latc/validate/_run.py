"""``validate_study``: every check, then the split into clean tables and quarantine."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from latc.dictionary import Dictionary, load_dictionary
from latc.io import ROW, Study
from latc.validate._crossform import (
    check_after_death,
    check_date_order,
    check_duplicates,
    check_future_dates,
    check_references,
    rows_after_cut,
)
from latc.validate._eligibility import evaluate_eligibility
from latc.validate._fields import check_form, prepare_forms
from latc.validate._log import QueryLog, finalize
from latc.validate._plausibility import check_plausibility
from latc.validate._queries import add_cascade_roots, assign_query_ids, order_queries, route_center_match
from latc.validate._privacy import MASK, non_pseudonymous
from latc.validate._result import ValidationResult
from latc.validate._schema import CLEAN_DTYPES, isin

#: read issues that validation re-derives itself (one query per column, its own severity)
_REDERIVED = {"missing_column", "unknown_column"}


def _raw_table(study: Study, name: str, fields: list[str]) -> pd.DataFrame:
    t = study.tables.get(name)
    if t is None:
        t = pd.DataFrame({f: pd.Series([], dtype="str") for f in fields})
    t = t.reset_index(drop=True)
    if ROW not in t.columns:
        t = t.assign(**{ROW: np.arange(len(t), dtype=np.int64) + 2})
    return t


def _read_issues(study: Study, raw: dict[str, pd.DataFrame], log: QueryLog) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The reader's issues as queries; returns the columns it reported missing / unknown per form."""
    issues = getattr(study, "read_issues", None) or []
    missing: dict[str, set[str]] = {}
    unknown: dict[str, set[str]] = {}
    keep = []
    for i in issues:
        form, rule, fld = i.get("form"), i.get("rule"), i.get("field")
        if rule == "missing_column" and fld:
            missing.setdefault(form, set()).add(fld)
            continue
        if rule == "unknown_column" and fld:
            unknown.setdefault(form, set()).add(fld)
        keep.append(i)
    if keep:
        df = pd.DataFrame(keep, columns=["form", "row", "field", "value", "rule", "severity", "message"])
        pos = np.full(len(df), -1, dtype=np.int64)
        rows = pd.to_numeric(df["row"], errors="coerce")
        for form, idx in df.groupby("form", sort=False).indices.items():
            t = raw.get(form)
            if t is None or not len(t):
                continue
            lookup = pd.Series(np.arange(len(t)), index=t[ROW].to_numpy())
            lookup = lookup[~lookup.index.duplicated()]
            found = rows.iloc[idx].map(lookup)
            pos[idx] = found.fillna(-1).astype("int64").to_numpy()
        severity = df["severity"].where(df["severity"].isin(["error", "warning"]), "warning")
        log.add_prebuilt(pd.DataFrame({
            "form": df["form"].astype("str"), "pos": pos, "field": df["field"].astype("str"),
            "value": df["value"].astype("str"), "rule": df["rule"].astype("str"), "severity": severity.astype("str"),
            "detail": df["message"].astype("str"), "show_value": False, "message": df["message"].astype("str"),
            "row_hint": rows.fillna(-1).astype("int64"),
        }))
    return missing, unknown


def raw_pid_at(tables: dict[str, pd.DataFrame], queries: pd.DataFrame, positions: np.ndarray) -> pd.Series:
    """The raw ``patient_id`` of each query's row (unmasked: for joins, never written)."""
    out = pd.Series(pd.NA, index=queries.index, dtype="str")
    for form, idx in queries.groupby("form", sort=False).indices.items():
        t = tables.get(form)
        if t is None or "patient_id" not in t.columns:
            continue
        pos = positions[idx]
        ok = pos >= 0
        out.iloc[idx[ok]] = t["patient_id"].astype("str").iloc[pos[ok]].to_numpy()
    return out


def _quarantine(queries: pd.DataFrame, positions: np.ndarray, raw: dict[str, pd.DataFrame],
                forced: dict[str, tuple[str, str]]) -> dict[str, pd.DataFrame]:
    """Per form: positions rejected with their joined rules and messages."""
    err = queries.assign(_pos=positions)
    err = err[(err["severity"] == "error") & (err["_pos"] >= 0)]
    out: dict[str, pd.DataFrame] = {}
    for form, g in err.groupby("form", sort=False):
        rules = g.drop_duplicates(["_pos", "rule"]).groupby("_pos")["rule"].agg(";".join)
        msgs = g.groupby("_pos")["message"].agg(" | ".join)
        out[str(form)] = pd.DataFrame({"quarantine_reason": rules, "quarantine_message": msgs.reindex(rules.index)})
    for form, (rule, msg) in forced.items():
        pos = np.arange(len(raw[form]))
        extra = pd.DataFrame({"quarantine_reason": rule, "quarantine_message": f"{msg}"}, index=pd.Index(pos, name="_pos"))
        out[form] = _merge_reasons(out.get(form), extra)
    return out


def _merge_reasons(a: pd.DataFrame | None, b: pd.DataFrame) -> pd.DataFrame:
    if a is None or not len(a):
        return b
    j = a.merge(b, left_index=True, right_index=True, how="outer", suffixes=("", "_b"))
    for c, sep in (("quarantine_reason", ";"), ("quarantine_message", " | ")):
        x, y = j[c], j[c + "_b"]
        j[c] = x.where(y.isna(), y.where(x.isna(), x + sep + y))
    return j[["quarantine_reason", "quarantine_message"]]


def _query_log(raw_log: pd.DataFrame, tables: dict[str, pd.DataFrame], sources: dict[str, str],
               d: Dictionary | None) -> tuple[pd.DataFrame, np.ndarray]:
    """The checks' raw log → the query log (rows, ids, routing, cascade roots) and each query's
    position in its raw table."""
    queries = finalize(raw_log, tables, sources)
    queries = route_center_match(queries, queries["_pos"].to_numpy(), tables)
    queries["query_id"] = assign_query_ids(queries, queries["_pos"].to_numpy(), tables, d)
    queries = add_cascade_roots(queries, tables, sources)
    positions = queries.pop("_pos").to_numpy()
    return queries.drop(columns="_cause"), positions


@lru_cache(maxsize=1)
def _no_queries() -> pd.DataFrame:
    """The query log of a validation that found nothing: the same steps on an empty log (they read
    neither tables nor dictionary then), built once; callers get a copy."""
    return order_queries(_query_log(QueryLog().raw(), {}, {}, None)[0])


def validate_study(study: Study, dictionary: Dictionary | None = None, data_cut: date | None = None,
                   today: date | None = None, *, queries_only: bool = False) -> ValidationResult:
    """Validate a raw study against the data dictionary and the protocol.

    Runs the single-field checks of every form, the cross-form rules of the dictionary's
    ``rules:`` section (references, center match, date order, data cut, after death, duplicates,
    plausibility), turns the reader's issues into queries and evaluates eligibility.  Rows with an
    error go to quarantine (and, when a patient's ``patients`` row is quarantined, all that
    patient's rows, rule ``parent_quarantined``); the rest become typed clean tables.

    ``data_cut``: the analysis data cut (default: today); rows dated after it are counted
    (``rows_after_data_cut``) and left for the analysis to set aside, not queried. ``today``: the
    day of validation (default: the system date); a date after it is a ``future_date`` error.
    A data problem never raises.

    ``queries_only``: compute the query log only (the same queries, same order) and leave
    ``clean``, ``quarantine``, ``eligibility`` and ``rows_after_data_cut`` empty — for
    ``latc capture``, which validates one patient's casebook on every save and reads nothing else.
    """
    d = dictionary or load_dictionary()
    cut = data_cut or date.today()
    log = QueryLog()
    raw = {name: _raw_table(study, name, form.field_names) for name, form in d.forms.items()}
    # tables of no dictionary form (e.g. rows of an unknown REDCap instrument): quarantined whole
    extras = {name: _raw_table(study, name, []) for name in study.tables if name not in d.forms}
    missing_declared, unknown_declared = _read_issues(study, {**raw, **extras}, log)
    for name, t in extras.items():
        told = {int(i["row"]) for i in study.read_issues or [] if i.get("form") == name and i.get("row") is not None}
        untold = np.flatnonzero(~t[ROW].isin(told).to_numpy())
        log.add(name, untold, "", "unknown_form", "error",
                "not a form of the data dictionary; the row is kept in quarantine, not analysed")
        if not len(t):
            log.add_form(name, "", "unknown_form", "warning", "not a form of the data dictionary; ignored")
    prepared = prepare_forms(d, {name: raw[name] for name in d.forms}, missing_declared)
    checks = {name: check_form(d, form, raw[name], log, missing_declared.get(name, set()), unknown_declared.get(name, set()),
                               prepared=prepared.get(name))
              for name, form in d.forms.items()}
    typed = {name: c.typed for name, c in checks.items()}
    check_references(d, typed, raw, log)
    check_date_order(d, typed, log)
    check_future_dates(d, typed, today or date.today(), log)
    after_cut = {} if queries_only else rows_after_cut(d, typed, cut, today or date.today())
    check_after_death(d, typed, log)
    check_duplicates(d, typed, raw, log)
    check_plausibility(d, typed, log)
    if queries_only and not len(raw["eligibility"]):
        eligibility = pd.DataFrame()  # no eligibility row: no contradiction query is possible
    else:
        eligibility = evaluate_eligibility(typed, raw["eligibility"], log, table=not queries_only)
    if len(eligibility):  # outputs never carry a non-pseudonymous id (privacy)
        eligibility.loc[non_pseudonymous(eligibility["patient_id"]), "patient_id"] = MASK

    sources = {name: study.sources.get(name) or f"{name}.csv" for name in {**raw, **extras}}
    if queries_only and not len(log) and not extras and not any(c.rejected_all for c in checks.values()):
        # nothing to number, route, quarantine or order (the usual one-record save of latc capture)
        return ValidationResult(queries=_no_queries().copy(), clean={}, quarantine={}, eligibility=eligibility,
                                rows_read={n: len(t) for n, t in raw.items()}, data_cut=cut.isoformat(),
                                sources=sources, rows_after_data_cut=after_cut)
    tables = {**raw, **extras}
    queries, positions = _query_log(log.raw(), tables, sources, d)
    forced = {n: c.rejected_all for n, c in checks.items() if c.rejected_all}
    forced.update({n: ("unknown_form", "not a form of the data dictionary") for n, t in extras.items() if len(t)})
    rejected = _quarantine(queries, positions, {**raw, **extras}, forced)

    # parent_quarantined: a patient without a clean patients row takes all their rows along
    rejected_by_query = {n: r.index.to_numpy() for n, r in rejected.items()}
    parent_log = QueryLog()
    pr = rejected.get("patients")
    pts = raw["patients"]
    if pr is not None and len(pr) and "patient_id" in pts.columns:
        ok = np.ones(len(pts), dtype=bool)
        ok[pr.index.to_numpy()] = False
        lost = pd.Index(pts["patient_id"][~ok].dropna().unique()).difference(pd.Index(pts["patient_id"][ok].dropna().unique()))
        if len(lost):
            first_row = pts[~ok].dropna(subset=["patient_id"]).drop_duplicates("patient_id").set_index("patient_id")[ROW]
            for name in d.forms:
                if name == "patients" or "patient_id" not in raw[name].columns:
                    continue
                pid = raw[name]["patient_id"]
                hit = isin(pid, lost)
                if hit.any():
                    pos = np.flatnonzero(hit)
                    msg = (f"the patient's row in {sources['patients']} (row " + pid.iloc[pos].map(first_row).astype("str")
                           + ") is quarantined")
                    extra = pd.DataFrame({"quarantine_reason": "parent_quarantined", "quarantine_message": msg.to_numpy()},
                                         index=pd.Index(pos, name="_pos"))
                    rejected[name] = _merge_reasons(rejected.get(name), extra)
                    held = pos[~np.isin(pos, rejected_by_query.get(name, []))]
                    if len(held):  # rows held only for their patient: one query each, so none is unexplained
                        parent_log.add(name, held, "patient_id", "parent_quarantined", "error",
                                       msg.iloc[np.searchsorted(pos, held)].to_numpy()
                                       + "; this row is held until that row is corrected", show_value=False)

    parents = finalize(parent_log.raw(), tables, sources)
    if len(parents):
        ppos = parents.pop("_pos").to_numpy()
        parents = parents.drop(columns="_cause")
        parents["query_id"] = assign_query_ids(parents, ppos, tables, d)
        # the root of a held row is the first error query of its patient's patients row
        prow = queries[(queries["form"] == "patients") & (queries["severity"] == "error")].drop_duplicates("patient_id")
        root = prow.set_index("row")["query_id"]
        first = pts.dropna(subset=["patient_id"]).drop_duplicates("patient_id").set_index("patient_id")[ROW]
        key = raw_pid_at(tables, parents, ppos).map(first)
        parents["root_query_id"] = key.map(root).astype("str").to_numpy()
        queries = pd.concat([queries, parents], ignore_index=True)
    queries = order_queries(queries)
    if queries_only:
        return ValidationResult(queries=queries, clean={}, quarantine={}, eligibility=eligibility,
                                rows_read={n: len(t) for n, t in {**raw, **extras}.items()}, data_cut=cut.isoformat(),
                                sources=sources, rows_after_data_cut=after_cut)

    clean: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    for name, form in d.forms.items():
        t = raw[name]
        bad = np.zeros(len(t), dtype=bool)
        rj = rejected.get(name)
        if rj is not None and len(rj):
            bad[rj.index.to_numpy()] = True
            q = t.iloc[np.sort(rj.index.to_numpy())].copy()
            q["quarantine_reason"] = rj["quarantine_reason"].reindex(q.index).to_numpy()
            q["quarantine_message"] = rj["quarantine_message"].reindex(q.index).to_numpy()
            if "patient_id" in q.columns:  # outputs never carry a non-pseudonymous id (privacy)
                q.loc[non_pseudonymous(q["patient_id"]), "patient_id"] = MASK
            quarantine[name] = q.reset_index(drop=True)
        if not len(t):  # no rows: check_form already built the empty table with the clean dtypes
            clean[name] = typed[name][form.field_names].reset_index(drop=True)
            continue
        c = typed[name].loc[~bad, form.field_names].reset_index(drop=True)
        # (the typed columns already have the clean dtypes, as a rule: only a column that differs is cast)
        cast = {f.name: CLEAN_DTYPES[f.type] for f in form.fields if c[f.name].dtype != CLEAN_DTYPES[f.type]}
        clean[name] = c.astype(cast) if cast else c
    for name, t in extras.items():
        if len(t):
            rj = rejected[name]
            q = t.copy()
            q["quarantine_reason"] = rj["quarantine_reason"].reindex(q.index).to_numpy()
            q["quarantine_message"] = rj["quarantine_message"].reindex(q.index).to_numpy()
            if "patient_id" in q.columns:
                q.loc[non_pseudonymous(q["patient_id"]), "patient_id"] = MASK
            quarantine[name] = q
    return ValidationResult(
        queries=queries, clean=clean, quarantine=quarantine, eligibility=eligibility,
        rows_read={n: len(t) for n, t in {**raw, **extras}.items()}, data_cut=cut.isoformat(), sources=sources,
        rows_after_data_cut=after_cut,
    )
