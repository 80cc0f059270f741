"""Time-to-event endpoints: the ``tte`` analysis dataset (one row per patient × parameter).

Structure after CDISC ADaM ADTTE (ADaM Basic Data Structure for Time-to-Event Analyses v1.0):
``paramcd``/``param``, a start date, ``adt`` (the date of the event or of censoring), ``cnsr``
(0 = event, 1 = censored) and event / censoring descriptions with the source ``form.field``.
Event and censoring conventions after the FDA Guidance for Industry *Clinical Trial Endpoints for the
Approval of Cancer Drugs and Biologics* (December 2018): OS counts death from any cause and censors
at the last date the patient was known alive; progression-type endpoints censor at the last adequate
disease assessment; events after the data cut-off are not counted (censored at the cut).
Full rules, choices and references: ``docs/derivations/tte.md``.

Parameters (``paramcd``):

* ``OS`` — death from any cause. Censored at the last date known alive (latest dated record that
  shows the patient alive: follow-up visit with vital status alive, treatment start/stop unless
  stopped for death, operation, tumour assessment, adjuvant start, lab sample, recurrence diagnosis,
  the patient's own diagnosis / decision / enrollment dates) or at the data cut, whichever first.
* ``DSS`` — death from thyroid cancer (``cause_of_death == 'thyroid_cancer'``); a death from any
  other or an unrecorded cause is censored on the day of death (``event_type`` 2 = competing
  death; 1 = thyroid-cancer death; 0 = alive and censored). Censoring otherwise as OS.
* ``EFS`` — first of: progression before surgery (RECIST PD at a tumour assessment, a treatment
  course stopped for progression, or a follow-up recurrence/progression dated on or before the
  first curative operation — *precluding surgery* when no curative operation followed), an
  operation leaving macroscopic tumour (R2: unresectable at surgery), recurrence after surgery, or
  death (the neoadjuvant-trial convention: CheckMate 816, Forde et al. NEJM 2022;386:1973;
  KEYNOTE-671, Wakelee et al. NEJM 2023;389:491). Censored at the last disease assessment
  (follow-up visit alive, evaluable tumour assessment, operation) or the data cut, whichever first.
* ``TTP`` — time to recurrence or progression, the cause-specific endpoint of the cohort
  comparison: the first progression (RECIST PD, a treatment course stopped for progression, a
  follow-up recurrence/progression) at any time — before surgery, after an R0/R1 operation
  (recurrence) or after an R2 one (progression of the residual tumour) — is the event
  (``event_type`` 1); an R2 operation is *not* an event (the patient stays at risk of progression);
  death without a prior recurrence/progression is a competing event (``event`` 0, ``event_type``
  2, censored for the cause-specific hazard; FDA 2018 guidance: time to progression does not count
  deaths). Censored at the last disease assessment (as EFS) or the data cut.
* ``RFS`` — only patients whose first curative operation was R0/R1; from that operation to
  recurrence (types ``recurrence_types``; a RECIST PD after surgery counts as structural) or death
  (``event_type`` 1 recurrence / 2 death without recurrence; a recurrence and a death on the same day
  count as recurrence). ``RFSSTR`` is the same with structural recurrences only.

Time zero (``time_zero``): ``decision`` (``patients.treatment_decision_date``, the default — the
date both cohorts share, so the guarantee time from decision to surgery counts in both arms and no
immortal time is created: Suissa, *Am J Epidemiol* 2008;167:492; Lévesque et al., *BMJ*
2010;340:b5087), ``diagnosis`` (``patients.diagnosis_date``) or ``treatment_start`` (first
neoadjuvant dose; neoadjuvant cohort only, for within-cohort analyses). RFS always starts at the
operation (``time_zero_name == 'surgery'``).

Records dated after the data cut are ignored, except that they show the patient alive / event-free
up to the cut. Data problems never raise: they give a problem record (``patient_id, field, value,
rule, message``) and, where no valid time exists, a missing ``time_days``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DAYS_PER_MONTH",
    "PARAMETERS",
    "PROBLEM_COLUMNS",
    "RECURRENCE_TYPES",
    "TIME_ZEROS",
    "TTE_COLUMNS",
    "derive_tte",
    "landmark",
]

PROBLEM_COLUMNS = ["patient_id", "field", "value", "rule", "message"]

#: Days per month for ``time_months`` (365.25 / 12, the usual convention of ADaM time-to-event data).
DAYS_PER_MONTH = 30.4375

#: Recurrence types of the follow-up form (``follow_up.recurrence_type``).
RECURRENCE_TYPES: tuple[str, ...] = ("structural", "biochemical")

#: ``time_zero`` → (form, field) of the start date.
TIME_ZEROS: dict[str, tuple[str, str]] = {
    "decision": ("patients", "treatment_decision_date"),
    "diagnosis": ("patients", "diagnosis_date"),
    "treatment_start": ("treatments", "start_date"),
}

#: Parameter codes and labels, in the order of the output.
PARAMETERS: dict[str, str] = {
    "OS": "Overall survival",
    "DSS": "Disease-specific survival (death from thyroid cancer)",
    "EFS": "Event-free survival",
    "TTP": "Time to recurrence or progression (death competing)",
    "RFS": "Recurrence-free survival after R0/R1 surgery",
    "RFSSTR": "Recurrence-free survival after R0/R1 surgery (structural recurrence only)",
}

TTE_COLUMNS = [
    "patient_id",
    "center_id",
    "cohort",
    "paramcd",
    "param",
    "time_zero_name",
    "start_date",
    "adt",
    "time_days",
    "time_months",
    "event",
    "cnsr",
    "event_type",
    "event_description",
    "censor_description",
    "source",
    "censored_at_time_zero",
]

_EPOCH = np.datetime64("1970-01-01", "ns")
_DAY_NS = np.timedelta64(1, "D").astype("timedelta64[ns]").astype(np.int64)
_RESPONSE_TABLES = ("tumour", "timepoint_responses")
_EVALUABLE = {"CR", "PR", "SD", "NON-CR/NON-PD", "NON_CR_NON_PD", "PD"}


# ------------------------------------------------------------------------------------------------
# small helpers


class _Problems:
    """Collects problem records (vectorised: one DataFrame per rule)."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, patient_id, field, value, rule: str, message) -> None:
        """One record per element of ``patient_id``; other arguments are scalars or aligned arrays."""
        pid = np.asarray(patient_id, dtype=object).ravel()
        n = len(pid)
        if not n:
            return

        def column(x) -> np.ndarray:
            if isinstance(x, str):
                return np.full(n, x, dtype=object)
            return pd.Series(np.asarray(x, dtype=object).ravel()).astype("str").to_numpy(dtype=object)

        self.parts.append(pd.DataFrame({"patient_id": column(pid), "field": column(field), "value": column(value),
                                        "rule": rule, "message": column(message)}))

    def frame(self) -> pd.DataFrame:
        parts = [p for p in self.parts if len(p)]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in PROBLEM_COLUMNS})
        out = pd.concat(parts, ignore_index=True)[PROBLEM_COLUMNS]
        return out.astype("str")


def _table(tables: Any, name: str) -> pd.DataFrame | None:
    """``tables[name]`` from a mapping or a ``Study``-like object; ``None`` when absent or empty."""
    if hasattr(tables, "tables") and not isinstance(tables, Mapping):
        tables = tables.tables
    df = tables.get(name) if isinstance(tables, Mapping) else None
    if df is None or not isinstance(df, pd.DataFrame):
        return None
    return df


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(pd.NA, index=df.index, dtype=object)


def _days(df: pd.DataFrame, name: str, problems: _Problems, form: str) -> np.ndarray:
    """A date column as float days since 1970-01-01 (NaN when missing); unreadable text → problem."""
    s = _col(df, name)
    if pd.api.types.is_datetime64_any_dtype(s):
        d = s.astype("datetime64[ns]")
    else:
        d = pd.to_datetime(s.astype("str"), errors="coerce", format="%Y-%m-%d")
        bad = (s.notna() & d.isna()).to_numpy(dtype=bool)
        if bad.any():
            problems.add(_col(df, "patient_id")[bad], name, s[bad], "invalid_date",
                         f"{form}.{name} is not a date (YYYY-MM-DD); the value is ignored")
    ns = d.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    out = np.floor(ns / _DAY_NS)
    out[d.isna().to_numpy()] = np.nan
    return out


def _text(df: pd.DataFrame, name: str) -> pd.Series:
    """A code column, stripped and lower-cased (missing stays missing)."""
    return _col(df, name).astype("str").str.strip().str.lower()


def _yes(df: pd.DataFrame, name: str) -> np.ndarray:
    """A yes/no column (boolean or "1"/"0" text) as numpy bool; missing → False."""
    s = _col(df, name)
    if pd.api.types.is_bool_dtype(s):
        return s.fillna(False).to_numpy(dtype=bool)
    return s.astype("str").str.strip().str.lower().isin(["1", "true", "yes", "y"]).fillna(False).to_numpy(dtype=bool)


def _to_dates(days: np.ndarray) -> pd.Series:
    """Float days since 1970 (NaN = missing) → ``datetime64[ns]`` Series."""
    out = np.full(len(days), np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    ok = ~np.isnan(days)
    out[ok] = _EPOCH + (days[ok].astype(np.int64) * _DAY_NS).astype("timedelta64[ns]")
    return pd.Series(out)


def _date_text(days: np.ndarray) -> pd.Series:
    return _to_dates(days).dt.strftime("%Y-%m-%d").fillna("")


def _as_day(value: Any) -> float:
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError("data_cut must be a date (YYYY-MM-DD)")
    return float(np.floor(ts.to_datetime64().astype("datetime64[ns]").astype(np.int64) / _DAY_NS))


class _Kinds:
    """Interned (description, source, event, event_type); the insertion order is the priority on ties."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, int, int]] = []
        self._index: dict[tuple[str, str, int, int], int] = {}

    def __call__(self, description: str, source: str, event: int = 1, event_type: int = 1) -> int:
        key = (description, source, event, event_type)
        if key not in self._index:
            self._index[key] = len(self.items)
            self.items.append(key)
        return self._index[key]

    def column(self, k: np.ndarray, i: int) -> np.ndarray:
        values = np.array([it[i] for it in self.items] + [None], dtype=object)
        return values[np.where(k >= 0, k, len(self.items))]


class _Pool:
    """Candidate dates per patient (patient code, day) of one kind per part; picks first / last per patient."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, int]] = []

    def add(self, code: np.ndarray, day: np.ndarray, kind: int, mask: np.ndarray | None = None) -> None:
        code = np.asarray(code, dtype=np.int64)
        day = np.asarray(day, dtype=float)
        ok = (code >= 0) & ~np.isnan(day)
        if mask is not None:
            ok &= np.asarray(mask, dtype=bool)
        self.parts.append((code[ok], day[ok], int(kind)))

    def pick(self, n: int, *, last: bool, lo: float = -np.inf, hi: float = np.inf,
             strict_lo: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Per patient (0..n-1): the earliest (or latest) day within [lo, hi] (``(lo, hi]`` when
        ``strict_lo``) and its kind; on a tie the lowest kind (the first interned) wins. NaN / -1
        when the patient has no candidate."""
        fill = -np.inf if last else np.inf
        reduce = np.maximum if last else np.minimum
        best = np.full(n, fill)
        kind_out = np.full(n, -1, dtype=np.int64)
        for code, day, kind in sorted(self.parts, key=lambda part: part[2]):
            m = (day > lo if strict_lo else day >= lo) & (day <= hi)
            if not m.any():
                continue
            red = np.full(n, fill)
            reduce.at(red, code[m], day[m])
            better = red > best if last else red < best
            best = np.where(better, red, best)
            kind_out = np.where(better, kind, kind_out)
        best[kind_out < 0] = np.nan
        return best, kind_out


# ------------------------------------------------------------------------------------------------
# the study records, one clean long frame per form (patient codes 0..n-1, days as floats)


class _Records:
    """Everything the endpoints need from the study tables, as numpy arrays."""

    def __init__(self, tables: Any, problems: _Problems) -> None:
        self.problems = problems
        pts = _table(tables, "patients")
        if pts is None:
            pts = pd.DataFrame({c: pd.Series(dtype="str") for c in ("patient_id", "center_id", "cohort")})
        pid = _col(pts, "patient_id").astype("str")
        dup = pid.duplicated(keep="first").to_numpy() & pid.notna().to_numpy()
        if dup.any():
            problems.add(pid[dup], "patient_id", pid[dup], "duplicate_patient",
                         "patient listed more than once in patients; the first row is used")
        keep = ~dup & pid.notna().to_numpy()
        pts = pts.loc[keep].reset_index(drop=True)
        self.ids = pd.Index(pid[keep].to_numpy(), dtype="str")
        self.n = len(self.ids)
        self.patients = pd.DataFrame({
            "patient_id": pd.Series(self.ids.to_numpy(), dtype="str"),
            "center_id": _col(pts, "center_id").astype("str").to_numpy(),
            "cohort": _col(pts, "cohort").astype("str").str.strip().to_numpy(),
        })
        self.cohort = self.patients["cohort"].str.lower().to_numpy(dtype=object)
        self.diagnosis = _days(pts, "diagnosis_date", problems, "patients")
        self.decision = _days(pts, "treatment_decision_date", problems, "patients")
        self.enrollment = _days(pts, "enrollment_date", problems, "patients")
        self._read_forms(tables)

    def code(self, df: pd.DataFrame, form: str) -> np.ndarray:
        """Patient code of every row (-1 for a patient not in ``patients`` → problem).

        Factorised first: hashing the distinct ids only is several times faster on long tables.
        """
        pid = _col(df, "patient_id").astype("str")
        codes, uniques = pd.factorize(pid)
        lookup = self.ids.get_indexer(pd.Index(uniques, dtype="str")).astype(np.int64)
        code = np.where(codes >= 0, lookup[np.maximum(codes, 0)] if len(lookup) else -1, -1).astype(np.int64)
        unknown = code < 0
        if unknown.any():
            bad = pid[unknown].drop_duplicates()
            self.problems.add(bad, "patient_id", bad, "unknown_patient",
                              f"{form} rows of a patient not in the patients table are ignored")
        return code

    def _read_forms(self, tables: Any) -> None:
        p = self.problems
        empty = pd.DataFrame({"patient_id": pd.Series(dtype="str")})

        tx = _table(tables, "treatments")
        tx = empty if tx is None else tx
        self.tx_code = self.code(tx, "treatments")
        self.tx_start = _days(tx, "start_date", p, "treatments")
        self.tx_stop = _days(tx, "stop_date", p, "treatments")
        self.tx_reason = _text(tx, "reason_stopped").to_numpy(dtype=object)

        sx = _table(tables, "surgery")
        sx = empty if sx is None else sx
        self.sx_code = self.code(sx, "surgery")
        self.sx_day = _days(sx, "surgery_date", p, "surgery")
        self.sx_id = pd.to_numeric(_col(sx, "surgery_id"), errors="coerce").astype("float64").to_numpy(na_value=np.nan)
        self.sx_intent = _text(sx, "surgical_intent").to_numpy(dtype=object)
        self.sx_status = _col(sx, "resection_status").astype("str").str.strip().str.upper().to_numpy(dtype=object)
        unknown = ~pd.Series(self.sx_status).isin(["R0", "R1", "R2"]).to_numpy() & (self.sx_code >= 0)
        if unknown.any():
            p.add(_col(sx, "patient_id")[unknown], "resection_status", _col(sx, "resection_status")[unknown],
                  "resection_status_unknown", "surgery.resection_status is not R0, R1 or R2: the operation counts "
                  "neither for RFS nor as an R2 EFS event")

        fu = _table(tables, "follow_up")
        fu = empty if fu is None else fu
        self.fu_code = self.code(fu, "follow_up")
        self.fu_visit = _days(fu, "visit_date", p, "follow_up")
        vital = _text(fu, "vital_status")
        self.fu_alive = vital.eq("alive").fillna(False).to_numpy(dtype=bool)
        self.fu_dead = vital.eq("dead").fillna(False).to_numpy(dtype=bool)
        bad_vital = ~self.fu_alive & ~self.fu_dead & (self.fu_code >= 0)
        if bad_vital.any():
            p.add(_col(fu, "patient_id")[bad_vital], "vital_status", _col(fu, "vital_status")[bad_vital],
                  "vital_status_unknown", "follow_up.vital_status is not alive/dead: the visit shows neither "
                  "survival nor death")
        self.fu_death = _days(fu, "death_date", p, "follow_up")
        self.fu_cause = _text(fu, "cause_of_death").to_numpy(dtype=object)
        self.fu_rec = _yes(fu, "recurrence")
        rec_day = _days(fu, "recurrence_date", p, "follow_up")
        no_date = self.fu_rec & np.isnan(rec_day) & (self.fu_code >= 0)
        if no_date.any():
            p.add(_col(fu, "patient_id")[no_date], "recurrence_date", _date_text(self.fu_visit[no_date]),
                  "recurrence_date_missing", "recurrence recorded without a recurrence_date: the visit date "
                  "(shown) is used as the date of recurrence / progression")
        self.fu_rec_day = np.where(self.fu_rec, np.where(np.isnan(rec_day), self.fu_visit, rec_day), np.nan)
        self.fu_rec_type = _text(fu, "recurrence_type")
        no_type = self.fu_rec & self.fu_rec_type.isna().to_numpy() & (self.fu_code >= 0)
        if no_type.any():
            p.add(_col(fu, "patient_id")[no_type], "recurrence_type", "", "recurrence_type_missing",
                  "recurrence without a type: it counts only when both structural and biochemical "
                  "recurrences are events (not in RFSSTR)")

        # tumour assessments: RECIST-derived ``tumour`` and/or investigator ``timepoint_responses``
        codes, days, resp, src = [], [], [], []
        for name in _RESPONSE_TABLES:
            t = _table(tables, name)
            if t is None or not len(t):
                continue
            codes.append(self.code(t, name))
            days.append(_days(t, "assessment_date", p, name))
            resp.append(_col(t, "overall_response").astype("str").str.strip().str.upper().to_numpy(dtype=object))
            src.append(np.full(len(t), name, dtype=object))
        self.ta_code = np.concatenate(codes) if codes else np.empty(0, np.int64)
        self.ta_day = np.concatenate(days) if days else np.empty(0)
        self.ta_resp = np.concatenate(resp) if resp else np.empty(0, dtype=object)
        self.ta_src = np.concatenate(src) if src else np.empty(0, dtype=object)
        self.ta_pd = self.ta_resp == "PD"
        self.ta_evaluable = pd.Series(self.ta_resp).isin(_EVALUABLE).to_numpy()

        # other dated records that show the patient alive (last-known-alive date for OS / DSS)
        self.other_alive: list[tuple[np.ndarray, np.ndarray, str]] = []
        for form, field in (("adjuvant", "start_date"), ("labs", "lab_date")):
            t = _table(tables, form)
            if t is None or not len(t) or field not in t.columns:
                continue
            self.other_alive.append((self.code(t, form), _days(t, field, p, form), f"{form}.{field}"))


# ------------------------------------------------------------------------------------------------
# the derivation


def _endpoint(
    rec: _Records,
    paramcd: str,
    param: str,
    time_zero_name: str,
    start: np.ndarray,
    start_field: str,
    population: np.ndarray,
    events: _Pool,
    censors: _Pool,
    kinds: _Kinds,
    cut: float,
    cut_label: str,
    problems: _Problems,
) -> pd.DataFrame:
    """One row per patient of ``population``: the first event on or before the cut, else censoring.

    Events after the cut are not counted: they show the patient event-free until the cut, so the
    patient is censored at the cut. Otherwise the censoring date is the latest censoring candidate,
    capped at the cut.
    """
    n = rec.n
    ev_day, ev_kind = events.pick(n, last=False, hi=cut)
    late_day, _ = events.pick(n, last=False, lo=cut, strict_lo=True)
    cen_day, cen_kind = censors.pick(n, last=True)
    after = kinds("event-free at the data cut", cut_label, 0, 0)

    has_event = ev_kind >= 0
    beyond_cut = ~has_event & ((cen_day > cut) | ~np.isnan(late_day))
    cen_kind = np.where(beyond_cut, after, cen_kind)
    cen_day = np.where(beyond_cut, cut, cen_day)
    adt = np.where(has_event, ev_day, cen_day)
    k = np.where(has_event, ev_kind, cen_kind)
    event = np.where(k >= 0, kinds.column(k, 2), 0).astype(np.int64)
    event_type = np.where(k >= 0, kinds.column(k, 3), 0).astype(np.int64)
    description = kinds.column(k, 0)
    source = kinds.column(k, 1)

    time = adt - start
    idx = np.flatnonzero(population)
    pid = rec.patients["patient_id"].to_numpy()
    bad_start = population & np.isnan(start)
    if bad_start.any():
        problems.add(pid[bad_start], start_field, "", "time_zero_missing",
                     f"{paramcd}: no {start_field} (time zero '{time_zero_name}'): time left missing")
    start_after_cut = population & (start > cut)
    if start_after_cut.any():
        problems.add(pid[start_after_cut], start_field, _date_text(start[start_after_cut]), "time_zero_after_data_cut",
                     f"{paramcd}: time zero after the data cut ({_date_text(np.array([cut]))[0]}): time left missing")
    before = population & (time < 0) & ~start_after_cut
    if before.any():
        fields = pd.Series(source[before], dtype=object).astype("str").str.split(".").str[-1]
        msg = (f"{paramcd}: " + pd.Series(description[before], dtype=object).astype("str") + " dated "
               + _date_text(adt[before]) + f" is before time zero ({start_field} " + _date_text(start[before])
               + "): time left missing, not negative")
        problems.add(pid[before], fields.to_numpy(), _date_text(adt[before]).to_numpy(), "event_before_time_zero",
                     msg.to_numpy())
    time = np.where(population & ((time < 0) | np.isnan(start) | (start > cut)), np.nan, time)

    is_event = event == 1
    out = pd.DataFrame({
        "patient_id": pd.Series(rec.patients["patient_id"].to_numpy()[idx], dtype="str"),
        "center_id": pd.Series(rec.patients["center_id"].to_numpy()[idx], dtype="str"),
        "cohort": pd.Series(rec.patients["cohort"].to_numpy()[idx], dtype="str"),
        "paramcd": paramcd,
        "param": param,
        "time_zero_name": time_zero_name,
        "start_date": _to_dates(start[idx]).to_numpy(),
        "adt": _to_dates(adt[idx]).to_numpy(),
        "time_days": pd.array(time[idx], dtype="Float64").round().astype("Int64"),
        "time_months": pd.array(time[idx] / DAYS_PER_MONTH, dtype="Float64"),
        "event": pd.array(event[idx], dtype="Int64"),
        "cnsr": pd.array(1 - event[idx], dtype="Int64"),
        "event_type": pd.array(event_type[idx], dtype="Int64"),
        "event_description": pd.Series(np.where(is_event[idx], description[idx], None), dtype="str"),
        "censor_description": pd.Series(np.where(is_event[idx], None, description[idx]), dtype="str"),
        "source": pd.Series(source[idx], dtype="str"),
    })
    out["censored_at_time_zero"] = pd.array((out["cnsr"].eq(1) & out["time_days"].eq(0)).fillna(False), dtype="boolean")
    return out


def derive_tte(  # noqa: C901 - over the complexity bar; to be split (issue #15, code layout)
    tables: Mapping[str, pd.DataFrame] | Any,
    data_cut: Any,
    *,
    time_zero: str = "decision",
    recurrence_types: Sequence[str] = RECURRENCE_TYPES,
    efs_progression: str = "any",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``tte`` dataset (OS, DSS, EFS, TTP, RFS, RFSSTR; one row per patient × parameter) and problems.

    Parameters
    ----------
    tables
        The clean typed study tables (a mapping form → DataFrame, or a ``Study``): ``patients``
        (required), ``treatments``, ``surgery``, ``follow_up``, and ``tumour`` (from
        :func:`latc.derive.recist.timepoint_responses`) and/or ``timepoint_responses``; ``adjuvant``
        and ``labs`` when present extend the last-known-alive date. Pass the analysis population's
        patients (e.g. eligible ones): every patient of ``patients`` gets rows.
    data_cut
        The data cut-off date: later events are not counted (censored at the cut); later records
        only show that the patient was alive / event-free up to the cut.
    time_zero
        ``"decision"`` (default; comparable between cohorts), ``"diagnosis"`` or
        ``"treatment_start"`` (first neoadjuvant dose; neoadjuvant cohort only). RFS / RFSSTR always
        start at the R0/R1 operation.
    recurrence_types
        Follow-up recurrence types that count as events (RFS, and the recurrence component of EFS);
        default both structural and biochemical. RFSSTR always uses structural only.
    efs_progression
        ``"any"`` (default): every progression before surgery is an EFS event; ``"precluding"``: only
        progression not followed by a curative operation (CheckMate 816 wording) — a sensitivity
        analysis.

    Returns
    -------
    ``(tte, problems)``: ``tte`` has :data:`TTE_COLUMNS` — ``start_date`` (time zero), ``adt`` (the
    event or censoring date), ``time_days`` (whole days, missing when no valid time exists),
    ``time_months`` (days / 30.4375), ``event`` (1/0), ``cnsr`` (ADaM: 0 = event, 1 = censored),
    ``event_type`` (competing-risk coding: 0 censored, 1 event of interest, 2 competing death — DSS,
    TTP and RFS; OS / EFS 0/1), descriptions, ``source`` (``form.field`` of ``adt``) and
    ``censored_at_time_zero`` (censored with 0 days of follow-up). ``problems`` has
    :data:`PROBLEM_COLUMNS`. Data problems never raise; a wrong ``time_zero`` / ``efs_progression``
    / ``recurrence_types`` argument or an unreadable ``data_cut`` raises ``ValueError``.
    """
    if time_zero not in TIME_ZEROS:
        raise ValueError(f"time_zero must be one of {', '.join(TIME_ZEROS)}; got {time_zero!r}")
    if efs_progression not in ("any", "precluding"):
        raise ValueError(f"efs_progression must be 'any' or 'precluding'; got {efs_progression!r}")
    types = tuple(str(t).strip().lower() for t in ([recurrence_types] if isinstance(recurrence_types, str) else recurrence_types))
    if not types or any(t not in RECURRENCE_TYPES for t in types):
        raise ValueError(f"recurrence_types must be a non-empty subset of {RECURRENCE_TYPES}; got {recurrence_types!r}")
    cut = _as_day(data_cut)
    cut_label = "data_cut"

    problems = _Problems()
    rec = _Records(tables, problems)
    n = rec.n
    pid = rec.patients["patient_id"].to_numpy()
    neo = rec.cohort == "neoadjuvant"
    upfront = rec.cohort == "upfront_surgery"

    # --- per-patient facts ----------------------------------------------------------------------
    tx_first = _Pool()
    tx_first.add(rec.tx_code, rec.tx_start, 0)
    first_dose, _ = tx_first.pick(n, last=False)
    has_tx = np.zeros(n, dtype=bool)
    has_tx[rec.tx_code[rec.tx_code >= 0]] = True
    if (upfront & has_tx).any():
        m = upfront & has_tx
        problems.add(pid[m], "cohort", rec.cohort[m], "treatment_in_upfront_cohort",
                     "upfront-surgery patient with neoadjuvant treatment rows: check the cohort or the treatments; "
                     "the rows are used as records (progression, alive dates) but not as a time zero")

    # index operation: first curative operation on or before the cut (earliest date, lowest id)
    curative = (rec.sx_intent == "curative") & (rec.sx_day <= cut)
    op = pd.DataFrame({"code": rec.sx_code, "day": rec.sx_day, "id": rec.sx_id, "status": rec.sx_status})
    op = op.loc[curative & (rec.sx_code >= 0)].sort_values(["code", "day", "id"], kind="mergesort")
    op = op.drop_duplicates("code", keep="first")
    index_day = np.full(n, np.nan)
    index_status = np.full(n, None, dtype=object)
    index_day[op["code"].to_numpy()] = op["day"].to_numpy()
    index_status[op["code"].to_numpy()] = op["status"].to_numpy()
    r0r1 = pd.Series(index_status).isin(["R0", "R1"]).to_numpy()

    # deaths: earliest death date of the dead visits; conflicts and missing dates → problems
    dead_rows = rec.fu_dead & (rec.fu_code >= 0)
    dd = pd.DataFrame({"code": rec.fu_code[dead_rows], "day": rec.fu_death[dead_rows], "cause": rec.fu_cause[dead_rows]})
    dated = dd.dropna(subset=["day"]).sort_values(["code", "day"], kind="mergesort")
    n_dates = dated.groupby("code")["day"].nunique()
    conflict = n_dates.index[n_dates.to_numpy() > 1].to_numpy()
    if len(conflict):
        first = dated.drop_duplicates("code")
        problems.add(pid[conflict], "death_date", _date_text(first.set_index("code").loc[conflict, "day"].to_numpy()),
                     "death_date_conflict", "follow-up rows give different death dates: the earliest (shown) is used")
    first_death = dated.drop_duplicates("code", keep="first")
    death_day = np.full(n, np.nan)
    death_cause = np.full(n, None, dtype=object)
    death_day[first_death["code"].to_numpy()] = first_death["day"].to_numpy()
    death_cause[first_death["code"].to_numpy()] = first_death["cause"].to_numpy()
    undated = np.zeros(n, dtype=bool)
    undated[dd["code"].to_numpy()] = True
    undated &= np.isnan(death_day)
    if undated.any():
        problems.add(pid[undated], "death_date", "", "death_date_missing",
                     "vital status dead without a death date: not counted as a death (OS/DSS/EFS/RFS censored at "
                     "the last date known alive / last assessment); query the date")
    no_cause = ~np.isnan(death_day) & pd.isna(death_cause)
    if no_cause.any():
        problems.add(pid[no_cause], "cause_of_death", "", "cause_of_death_missing",
                     "death without a cause: DSS counts it as a death from another cause (competing)")
    death_on_alive = rec.fu_alive & ~np.isnan(rec.fu_death) & (rec.fu_code >= 0)
    if death_on_alive.any():
        problems.add(pid[rec.fu_code[death_on_alive]], "death_date", _date_text(rec.fu_death[death_on_alive]),
                     "death_date_on_alive_visit", "a death date on a visit with vital status alive is ignored")

    has_fu = np.zeros(n, dtype=bool)
    has_fu[rec.fu_code[rec.fu_code >= 0]] = True
    if (~has_fu).any():
        problems.add(pid[~has_fu], "follow_up", "", "no_follow_up",
                     "no follow-up record: OS/DSS/EFS are censored at the latest dated record (time 0 when there is none "
                     "after time zero; see censored_at_time_zero)")

    # --- time zero ------------------------------------------------------------------------------
    form, field = TIME_ZEROS[time_zero]
    if time_zero == "decision":
        start, population = rec.decision, np.ones(n, dtype=bool)
    elif time_zero == "diagnosis":
        start, population = rec.diagnosis, np.ones(n, dtype=bool)
    else:
        start, population = first_dose, neo
    start_field = f"{form}.{field}" if time_zero != "treatment_start" else "treatments.start_date (first dose)"
    start_src = {"decision": "patients.treatment_decision_date", "diagnosis": "patients.diagnosis_date",
                 "treatment_start": "treatments.start_date"}[time_zero]

    everyone = np.arange(n)

    # alive records (last date known alive), shared by OS and DSS
    def alive_pool(kinds: _Kinds, start_day: np.ndarray) -> _Pool:
        pool = _Pool()
        pool.add(rec.fu_code, rec.fu_visit, kinds("alive at last contact", "follow_up.visit_date", 0, 0), rec.fu_alive)
        pool.add(rec.fu_code, rec.fu_rec_day, kinds("alive at recurrence diagnosis", "follow_up.recurrence_date", 0, 0))
        pool.add(rec.sx_code, rec.sx_day, kinds("alive at surgery", "surgery.surgery_date", 0, 0))
        pool.add(rec.tx_code, rec.tx_stop, kinds("alive at end of treatment", "treatments.stop_date", 0, 0),
                 rec.tx_reason != "death")
        pool.add(rec.tx_code, rec.tx_start, kinds("alive at start of treatment", "treatments.start_date", 0, 0))
        for name in _RESPONSE_TABLES:
            m = rec.ta_src == name
            pool.add(rec.ta_code[m], rec.ta_day[m], kinds("alive at tumour assessment", f"{name}.assessment_date", 0, 0))
        for code, day, src in rec.other_alive:
            pool.add(code, day, kinds("alive at last dated record", src, 0, 0))
        pool.add(everyone, start_day, kinds("no follow-up after time zero", start_src, 0, 0))
        pool.add(everyone, rec.enrollment, kinds("alive at enrollment", "patients.enrollment_date", 0, 0))
        pool.add(everyone, rec.decision, kinds("alive at treatment decision", "patients.treatment_decision_date", 0, 0))
        pool.add(everyone, rec.diagnosis, kinds("alive at diagnosis", "patients.diagnosis_date", 0, 0))
        return pool

    # disease assessments (last date known event-free) for EFS / RFS
    def assessment_pool(kinds: _Kinds, start_day: np.ndarray, start_source: str) -> _Pool:
        pool = _Pool()
        pool.add(rec.fu_code, rec.fu_visit, kinds("event-free at last follow-up visit", "follow_up.visit_date", 0, 0), rec.fu_alive)
        for name in _RESPONSE_TABLES:
            m = (rec.ta_src == name) & rec.ta_evaluable
            pool.add(rec.ta_code[m], rec.ta_day[m],
                     kinds("event-free at last tumour assessment", f"{name}.assessment_date", 0, 0))
        pool.add(rec.sx_code, rec.sx_day, kinds("event-free at surgery", "surgery.surgery_date", 0, 0))
        pool.add(everyone, start_day, kinds("no disease assessment after time zero", start_source, 0, 0))
        return pool

    def recurrence_mask(allowed: tuple[str, ...]) -> np.ndarray:
        typed = rec.fu_rec_type.isin(allowed).fillna(False).to_numpy(dtype=bool)
        untyped = rec.fu_rec_type.isna().to_numpy() & (set(allowed) >= set(RECURRENCE_TYPES))
        return rec.fu_rec & (typed | untyped)

    out: list[pd.DataFrame] = []

    # --- OS ---------------------------------------------------------------------------------------
    kinds = _Kinds()
    ev = _Pool()
    ev.add(everyone, death_day, kinds("death", "follow_up.death_date", 1, 1))
    out.append(_endpoint(rec, "OS", PARAMETERS["OS"], time_zero, start, start_field, population, ev,
                         alive_pool(kinds, start), kinds, cut, cut_label, problems))

    # --- DSS --------------------------------------------------------------------------------------
    kinds = _Kinds()
    ev = _Pool()
    thyroid = death_cause == "thyroid_cancer"
    ev.add(everyone, death_day, kinds("death from thyroid cancer", "follow_up.death_date", 1, 1), thyroid)
    ev.add(everyone, death_day, kinds("death from another cause (competing event)", "follow_up.death_date", 0, 2),
           ~thyroid & ~pd.isna(death_cause))
    ev.add(everyone, death_day, kinds("death, cause not recorded (competing event)", "follow_up.death_date", 0, 2),
           pd.isna(death_cause))
    out.append(_endpoint(rec, "DSS", PARAMETERS["DSS"], time_zero, start, start_field, population, ev,
                         alive_pool(kinds, start), kinds, cut, cut_label, problems))

    # --- EFS --------------------------------------------------------------------------------------
    kinds = _Kinds()
    ev = _Pool()
    rec_ok = recurrence_mask(types)
    fu_op = index_day[np.maximum(rec.fu_code, 0)]
    ta_op = index_day[np.maximum(rec.ta_code, 0)]
    tx_op = index_day[np.maximum(rec.tx_code, 0)]
    tx_prog = rec.tx_reason == "progression"
    fu_pre = rec.fu_rec_day <= fu_op
    ta_pre = rec.ta_day <= ta_op
    tx_pre = rec.tx_stop <= tx_op
    fu_none, ta_none, tx_none = np.isnan(fu_op), np.isnan(ta_op), np.isnan(tx_op)
    precl = "progression before surgery, precluding surgery"
    ev.add(rec.fu_code, rec.fu_rec_day, kinds(precl, "follow_up.recurrence_date"), rec_ok & fu_none)
    for name in _RESPONSE_TABLES:
        m = (rec.ta_src == name) & rec.ta_pd
        ev.add(rec.ta_code, rec.ta_day, kinds(precl, f"{name}.assessment_date"), m & ta_none)
    ev.add(rec.tx_code, rec.tx_stop, kinds(precl, "treatments.stop_date"), tx_prog & tx_none)
    if efs_progression == "any":
        before = "progression before surgery"
        ev.add(rec.fu_code, rec.fu_rec_day, kinds(before, "follow_up.recurrence_date"), rec_ok & fu_pre)
        for name in _RESPONSE_TABLES:
            m = (rec.ta_src == name) & rec.ta_pd
            ev.add(rec.ta_code, rec.ta_day, kinds(before, f"{name}.assessment_date"), m & ta_pre)
        ev.add(rec.tx_code, rec.tx_stop, kinds(before, "treatments.stop_date"), tx_prog & tx_pre)
    after_sx = "recurrence after surgery"
    ev.add(rec.fu_code, rec.fu_rec_day, kinds(after_sx, "follow_up.recurrence_date"), rec_ok & (rec.fu_rec_day > fu_op))
    for name in _RESPONSE_TABLES:
        m = (rec.ta_src == name) & rec.ta_pd
        ev.add(rec.ta_code, rec.ta_day, kinds(after_sx, f"{name}.assessment_date"), m & (rec.ta_day > ta_op))
    ev.add(rec.sx_code, rec.sx_day, kinds("unresectable at surgery (R2 resection)", "surgery.surgery_date"),
           rec.sx_status == "R2")
    ev.add(everyone, death_day, kinds("death", "follow_up.death_date"))
    out.append(_endpoint(rec, "EFS", PARAMETERS["EFS"], time_zero, start, start_field, population, ev,
                         assessment_pool(kinds, start, start_src), kinds, cut, cut_label, problems))

    # --- TTP: recurrence or progression, death competing (cause-specific) ---------------------------
    kinds = _Kinds()
    ev = _Pool()
    before, after = "progression before surgery", "recurrence or progression after surgery"
    no_op = "progression, never operated"
    for label, fu_m, ta_m, tx_m in ((no_op, fu_none, ta_none, tx_none), (before, fu_pre, ta_pre, tx_pre),
                                    (after, rec.fu_rec_day > fu_op, rec.ta_day > ta_op, rec.tx_stop > tx_op)):
        ev.add(rec.fu_code, rec.fu_rec_day, kinds(label, "follow_up.recurrence_date", 1, 1), rec_ok & fu_m)
        for name in _RESPONSE_TABLES:
            m = (rec.ta_src == name) & rec.ta_pd
            ev.add(rec.ta_code, rec.ta_day, kinds(label, f"{name}.assessment_date", 1, 1), m & ta_m)
        ev.add(rec.tx_code, rec.tx_stop, kinds(label, "treatments.stop_date", 1, 1), tx_prog & tx_m)
    ev.add(everyone, death_day, kinds("death without recurrence or progression (competing event)",
                                      "follow_up.death_date", 0, 2))
    out.append(_endpoint(rec, "TTP", PARAMETERS["TTP"], time_zero, start, start_field, population, ev,
                         assessment_pool(kinds, start, start_src), kinds, cut, cut_label, problems))

    # --- RFS / RFSSTR (from the R0/R1 curative operation) -------------------------------------------
    for code_, allowed in (("RFS", types), ("RFSSTR", ("structural",))):
        kinds = _Kinds()
        ev = _Pool()
        rmask = recurrence_mask(allowed) & (rec.fu_rec_day > fu_op)
        ev.add(rec.fu_code, rec.fu_rec_day, kinds("recurrence after surgery", "follow_up.recurrence_date", 1, 1), rmask)
        for name in _RESPONSE_TABLES:
            m = (rec.ta_src == name) & rec.ta_pd & (rec.ta_day > ta_op)
            ev.add(rec.ta_code, rec.ta_day, kinds("recurrence after surgery", f"{name}.assessment_date", 1, 1), m)
        ev.add(everyone, death_day, kinds("death without recurrence", "follow_up.death_date", 1, 2))
        label = PARAMETERS[code_]
        if code_ == "RFS" and set(types) != set(RECURRENCE_TYPES):
            label = f"{label} ({' or '.join(types)} recurrence only)"
        out.append(_endpoint(rec, code_, label, "surgery", index_day, "surgery.surgery_date (first curative operation)",
                             r0r1, ev, assessment_pool(kinds, index_day, "surgery.surgery_date"), kinds, cut,
                             cut_label, problems))

    tte = pd.concat(out, ignore_index=True)[TTE_COLUMNS]
    probs = problems.frame()
    return tte, probs


def landmark(
    tte: pd.DataFrame,
    paramcd: str,
    landmark_days: float,
    status_at_landmark: pd.Series,
    *,
    time_zero: str | None = None,
) -> pd.DataFrame:
    """Landmark dataset: the patients still at risk ``landmark_days`` after time zero, time reset.

    Anderson, Cain & Gelber, *J Clin Oncol* 1983;1:710: comparing survival by a status reached
    after time zero (response, surgery, …) is biased in favour of the status (the patients had to
    live long enough to reach it — immortal time). The landmark method fixes the status at a landmark
    time L, keeps only the patients still event-free and in follow-up after L (``time_days > L``:
    an event or censoring on or before L excludes the patient) and measures time from L.

    ``status_at_landmark`` is indexed by ``patient_id`` and must use only information available at
    the landmark (e.g. "responded by day L"); patients absent from it get a missing status.
    Returns the rows of ``paramcd`` (and ``time_zero`` when given) with ``time_days`` /
    ``time_months`` counted from the landmark, ``start_date`` moved to the landmark date, plus
    ``landmark_days`` and ``status_at_landmark``. Raises ``ValueError`` when the rows mix several
    time zeros (pass ``time_zero``) or the status index repeats a patient.
    """
    rows = tte.loc[tte["paramcd"].eq(paramcd).fillna(False).to_numpy()]
    if time_zero is not None:
        rows = rows.loc[rows["time_zero_name"].eq(time_zero).fillna(False).to_numpy()]
    if rows["time_zero_name"].nunique() > 1:
        raise ValueError(f"{paramcd} rows have several time zeros ({', '.join(map(str, rows['time_zero_name'].unique()))}); pass time_zero")
    if not status_at_landmark.index.is_unique:
        raise ValueError("status_at_landmark must have one value per patient_id (its index repeats a patient)")
    days = rows["time_days"].astype("Float64")
    at_risk = (days > landmark_days).fillna(False).to_numpy(dtype=bool)
    out = rows.loc[at_risk].copy().reset_index(drop=True)
    out["start_date"] = out["start_date"] + pd.to_timedelta(landmark_days, unit="D")
    out["time_days"] = (out["time_days"].astype("Float64") - landmark_days).round().astype("Int64")
    out["time_months"] = (out["time_days"].astype("Float64") / DAYS_PER_MONTH).astype("Float64")
    out["censored_at_time_zero"] = pd.array((out["cnsr"].eq(1) & out["time_days"].eq(0)).fillna(False), dtype="boolean")
    out["landmark_days"] = landmark_days
    out["status_at_landmark"] = status_at_landmark.reindex(out["patient_id"].to_numpy()).to_numpy()
    return out
