"""The study records the time-to-event endpoints are built from (:mod:`latc.derive.tte`).

The study tables are read once per call into :class:`TteData`: one row per patient (``patients``)
and a few *source datasets* — long tables of dated records that the event and censoring sources of
:mod:`latc.derive._tte_param` filter and pick from, the way admiralonco's ``event_source()`` /
``censor_source()`` read ``source_datasets``. Every dataset row is one dated record of one patient:

* ``patient`` — the patient's row position in ``TteData.patients`` (0 … n−1);
* ``source`` — categorical ``form.field`` the date comes from (ADaM SRCDOM.SRCVAR). The order of
  the categories is the tie order: when two records of one source fall on the same day, the first
  category wins (e.g. a follow-up recurrence before a RECIST PD of the same day);
* ``day`` — the date as float days since 1970-01-01 (calendar days, never missing);
* the columns of :data:`DATASETS` that the filters read.

Records of patients absent from ``patients`` and records without a date are left out (the first
become ``unknown_patient`` problems, unreadable dates ``invalid_date`` problems). Data problems met
while reading never raise: they become problem records (:data:`PROBLEM_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

PROBLEM_COLUMNS = ["patient_id", "field", "value", "rule", "message"]

#: Recurrence types of the follow-up form (``follow_up.recurrence_type``).
RECURRENCE_TYPES: tuple[str, ...] = ("structural", "biochemical")

#: The tumour-response tables, in tie order: the RECIST ``tumour`` table derived from the lesion
#: measurements, then the investigator-recorded ``timepoint_responses`` form.
RESPONSE_TABLES = ("tumour", "timepoint_responses")

#: Overall responses that make a tumour assessment an adequate disease assessment (censoring).
EVALUABLE_RESPONSES = frozenset({"CR", "PR", "SD", "NON-CR/NON-PD", "NON_CR_NON_PD", "PD"})

#: ``form.field`` of each source dataset's dates, in tie order (the categories of ``source``).
DATASET_SOURCES: dict[str, tuple[str, ...]] = {
    "deaths": ("follow_up.death_date",),
    "progression": ("follow_up.recurrence_date", "tumour.assessment_date", "timepoint_responses.assessment_date",
                    "treatments.stop_date"),
    "visits": ("follow_up.visit_date",),
    "operations": ("surgery.surgery_date",),
    "treatment_starts": ("treatments.start_date",),
    "treatment_stops": ("treatments.stop_date",),
    "tumour_assessments": ("tumour.assessment_date", "timepoint_responses.assessment_date"),
    "other_records": ("adjuvant.start_date", "labs.lab_date"),
    "patient_dates": ("patients.enrollment_date", "patients.treatment_decision_date", "patients.diagnosis_date"),
}

#: The source datasets an event or censoring source can read (``dataset=``), with their columns
#: beyond ``patient, source, day``. ``time_zero`` is built per parameter from its start date.
DATASETS: dict[str, str] = {
    "deaths": "one row per patient who died with a death date: the earliest date of the follow-up rows with "
              "vital status dead (``cause_of_death``: the cause recorded with it, lower-case, missing when none)",
    "progression": "every record of progression or recurrence: follow-up visits with ``recurrence`` (date = "
                   "``recurrence_date``, else the visit date; ``recurrence_type``), RECIST PD of ``tumour`` / "
                   "``timepoint_responses`` and treatment courses stopped for progression (date = stop date); "
                   "``index_surgery_day`` = the patient's first curative operation on or before the data cut (NaN "
                   "when none)",
    "visits": "follow-up visits (``alive``: vital status alive)",
    "operations": "operations (``resection_status`` R0/R1/R2 upper-case, ``surgical_intent`` lower-case)",
    "treatment_starts": "treatment course starts",
    "treatment_stops": "treatment course stops (``reason_stopped``, lower-case)",
    "tumour_assessments": "tumour assessments of ``tumour`` and ``timepoint_responses`` (``overall_response`` "
                          "upper-case; ``evaluable``: CR, PR, SD, NON-CR/NON-PD or PD)",
    "other_records": "other dated records that need a living patient: adjuvant course starts, lab samples",
    "patient_dates": "the patient's enrollment, treatment-decision and diagnosis dates",
    "time_zero": "the parameter's time zero (one row per patient; ``source`` = the start date's form.field)",
}

_EPOCH = np.datetime64("1970-01-01", "ns")
_DAY_NS = np.timedelta64(1, "D").astype("timedelta64[ns]").astype(np.int64)


# ------------------------------------------------------------------------------------------------
# small helpers


class Problems:
    """Collects problem records (vectorised: one DataFrame per rule)."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, patient_id: Any, field: Any, value: Any, rule: str, message: Any) -> None:
        """One record per element of ``patient_id``; other arguments are scalars or aligned arrays."""
        pid = np.asarray(patient_id, dtype=object).ravel()
        n = len(pid)
        if not n:
            return

        def column(x: Any) -> np.ndarray:
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


def _days(df: pd.DataFrame, name: str, problems: Problems, form: str) -> np.ndarray:
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


def to_dates(days: np.ndarray) -> pd.Series:
    """Float days since 1970 (NaN = missing) → ``datetime64[ns]`` Series."""
    out = np.full(len(days), np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    ok = ~np.isnan(days)
    out[ok] = _EPOCH + (days[ok].astype(np.int64) * _DAY_NS).astype("timedelta64[ns]")
    return pd.Series(out)


def date_text(days: np.ndarray) -> pd.Series:
    return to_dates(days).dt.strftime("%Y-%m-%d").fillna("")


def as_day(value: Any) -> float:
    """A date (text, ``date``, ``Timestamp``) as float days since 1970; ``ValueError`` when it is none."""
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError("data_cut must be a date (YYYY-MM-DD)")
    return float(np.floor(ts.to_datetime64().astype("datetime64[ns]").astype(np.int64) / _DAY_NS))


# ------------------------------------------------------------------------------------------------
# the study records, one clean long array set per form (patient codes 0..n-1, days as floats)


class _Records:
    """Everything the endpoints need from the study tables, as numpy arrays (read once per call)."""

    def __init__(self, tables: Any, problems: Problems) -> None:
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
        empty = pd.DataFrame({"patient_id": pd.Series(dtype="str")})
        self._read_treatments(_table(tables, "treatments"), empty)
        self._read_surgery(_table(tables, "surgery"), empty)
        self._read_follow_up(_table(tables, "follow_up"), empty)
        self._read_assessments(tables)
        self._read_other(tables)

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

    def _read_treatments(self, tx: pd.DataFrame | None, empty: pd.DataFrame) -> None:
        p = self.problems
        tx = empty if tx is None else tx
        self.tx_code = self.code(tx, "treatments")
        self.tx_start = _days(tx, "start_date", p, "treatments")
        self.tx_stop = _days(tx, "stop_date", p, "treatments")
        self.tx_reason = _text(tx, "reason_stopped").to_numpy(dtype=object)

    def _read_surgery(self, sx: pd.DataFrame | None, empty: pd.DataFrame) -> None:
        p = self.problems
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

    def _read_follow_up(self, fu: pd.DataFrame | None, empty: pd.DataFrame) -> None:
        p = self.problems
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
            p.add(_col(fu, "patient_id")[no_date], "recurrence_date", date_text(self.fu_visit[no_date]),
                  "recurrence_date_missing", "recurrence recorded without a recurrence_date: the visit date "
                  "(shown) is used as the date of recurrence / progression")
        self.fu_rec_day = np.where(self.fu_rec, np.where(np.isnan(rec_day), self.fu_visit, rec_day), np.nan)
        self.fu_rec_type = _text(fu, "recurrence_type")
        no_type = self.fu_rec & self.fu_rec_type.isna().to_numpy() & (self.fu_code >= 0)
        if no_type.any():
            p.add(_col(fu, "patient_id")[no_type], "recurrence_type", "", "recurrence_type_missing",
                  "recurrence without a type: it counts only when both structural and biochemical "
                  "recurrences are events (not in RFSSTR)")

    def _read_assessments(self, tables: Any) -> None:
        """Tumour assessments: RECIST-derived ``tumour`` and/or investigator ``timepoint_responses``."""
        codes, days, resp, src = [], [], [], []
        for name in RESPONSE_TABLES:
            t = _table(tables, name)
            if t is None or not len(t):
                continue
            codes.append(self.code(t, name))
            days.append(_days(t, "assessment_date", self.problems, name))
            resp.append(_col(t, "overall_response").astype("str").str.strip().str.upper().to_numpy(dtype=object))
            src.append(np.full(len(t), f"{name}.assessment_date", dtype=object))
        self.ta_code = np.concatenate(codes) if codes else np.empty(0, np.int64)
        self.ta_day = np.concatenate(days) if days else np.empty(0)
        self.ta_resp = np.concatenate(resp) if resp else np.empty(0, dtype=object)
        self.ta_src = np.concatenate(src) if src else np.empty(0, dtype=object)
        self.ta_pd = self.ta_resp == "PD"
        self.ta_evaluable = pd.Series(self.ta_resp).isin(EVALUABLE_RESPONSES).to_numpy()

    def _read_other(self, tables: Any) -> None:
        """Other dated records that show the patient alive (last-known-alive date for OS / DSS)."""
        self.other_alive: list[tuple[np.ndarray, np.ndarray, str]] = []
        for form, field in (("adjuvant", "start_date"), ("labs", "lab_date")):
            t = _table(tables, form)
            if t is None or not len(t) or field not in t.columns:
                continue
            self.other_alive.append((self.code(t, form), _days(t, field, self.problems, form), f"{form}.{field}"))


# ------------------------------------------------------------------------------------------------
# per-patient facts (first dose, index operation, death) and their problems


def _first_dose(rec: _Records, problems: Problems) -> np.ndarray:
    """First treatment start per patient (NaN when none); an upfront patient with courses → problem."""
    n = rec.n
    ok = (rec.tx_code >= 0) & ~np.isnan(rec.tx_start)
    first = np.full(n, np.inf)
    np.minimum.at(first, rec.tx_code[ok], rec.tx_start[ok])
    first[np.isinf(first)] = np.nan
    has_tx = np.zeros(n, dtype=bool)
    has_tx[rec.tx_code[rec.tx_code >= 0]] = True
    upfront = (rec.cohort == "upfront_surgery") & has_tx
    if upfront.any():
        pid = rec.patients["patient_id"].to_numpy()
        problems.add(pid[upfront], "cohort", rec.cohort[upfront], "treatment_in_upfront_cohort",
                     "upfront-surgery patient with neoadjuvant treatment rows: check the cohort or the treatments; "
                     "the rows are used as records (progression, alive dates) but not as a time zero")
    return first


def _index_operation(rec: _Records, cut: float) -> tuple[np.ndarray, np.ndarray]:
    """First curative operation on or before the cut (earliest date, then lowest ``surgery_id``): its
    day and resection status per patient (the index operation of ``latc.derive.surgery``)."""
    curative = (rec.sx_intent == "curative") & (rec.sx_day <= cut)
    op = pd.DataFrame({"code": rec.sx_code, "day": rec.sx_day, "id": rec.sx_id, "status": rec.sx_status})
    op = op.loc[curative & (rec.sx_code >= 0)].sort_values(["code", "day", "id"], kind="mergesort")
    op = op.drop_duplicates("code", keep="first")
    day = np.full(rec.n, np.nan)
    status = np.full(rec.n, None, dtype=object)
    day[op["code"].to_numpy()] = op["day"].to_numpy()
    status[op["code"].to_numpy()] = op["status"].to_numpy()
    return day, status


def _deaths(rec: _Records, problems: Problems) -> tuple[np.ndarray, np.ndarray]:
    """Earliest death date of the dead visits and its cause; conflicts and missing dates → problems."""
    n = rec.n
    pid = rec.patients["patient_id"].to_numpy()
    dead_rows = rec.fu_dead & (rec.fu_code >= 0)
    dd = pd.DataFrame({"code": rec.fu_code[dead_rows], "day": rec.fu_death[dead_rows], "cause": rec.fu_cause[dead_rows]})
    dated = dd.dropna(subset=["day"]).sort_values(["code", "day"], kind="mergesort")
    n_dates = dated.groupby("code")["day"].nunique()
    conflict = n_dates.index[n_dates.to_numpy() > 1].to_numpy()
    if len(conflict):
        first = dated.drop_duplicates("code")
        problems.add(pid[conflict], "death_date", date_text(first.set_index("code").loc[conflict, "day"].to_numpy()),
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
        problems.add(pid[rec.fu_code[death_on_alive]], "death_date", date_text(rec.fu_death[death_on_alive]),
                     "death_date_on_alive_visit", "a death date on a visit with vital status alive is ignored")
    return death_day, death_cause


def _check_follow_up(rec: _Records, problems: Problems) -> None:
    has_fu = np.zeros(rec.n, dtype=bool)
    has_fu[rec.fu_code[rec.fu_code >= 0]] = True
    if (~has_fu).any():
        problems.add(rec.patients["patient_id"].to_numpy()[~has_fu], "follow_up", "", "no_follow_up",
                     "no follow-up record: OS/DSS/EFS are censored at the latest dated record (time 0 when there is none "
                     "after time zero; see censored_at_time_zero)")


# ------------------------------------------------------------------------------------------------
# source datasets


def source_dataset(name: str, parts: list[tuple[np.ndarray, np.ndarray, str, dict[str, Any]]],
                   categories: tuple[str, ...] | None = None) -> pd.DataFrame:
    """A source dataset from ``(patient code, day, form.field, extra columns)`` parts, in tie order.

    Rows of unknown patients (code −1) and without a day are dropped.
    """
    order = list(DATASET_SOURCES[name] if categories is None else categories)
    frames = []
    for code, day, source, extra in parts:
        code = np.asarray(code, dtype=np.int64)
        day = np.asarray(day, dtype=float)
        ok = (code >= 0) & ~np.isnan(day)
        cols = {"patient": code[ok], "source": np.full(int(ok.sum()), order.index(source), dtype=np.int8),
                "day": day[ok]}
        cols.update({k: np.asarray(v)[ok] if np.ndim(v) else v for k, v in extra.items()})
        frames.append(pd.DataFrame(cols))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"patient": np.empty(0, np.int64),
                                                                          "source": np.empty(0, np.int8),
                                                                          "day": np.empty(0)})
    out["source"] = pd.Categorical.from_codes(out["source"].to_numpy(dtype=np.int8), categories=order)
    return out


def _datasets(rec: _Records, index_day: np.ndarray, death_day: np.ndarray, death_cause: np.ndarray) -> dict[str, pd.DataFrame]:
    everyone = np.arange(rec.n)
    ta = [(rec.ta_code, rec.ta_day, f"{name}.assessment_date", rec.ta_src == f"{name}.assessment_date")
          for name in RESPONSE_TABLES]
    tx_prog = rec.tx_reason == "progression"
    progression = [(rec.fu_code, np.where(rec.fu_rec, rec.fu_rec_day, np.nan), "follow_up.recurrence_date",
                    {"recurrence_type": rec.fu_rec_type.to_numpy(dtype=object)})]
    progression += [(code, np.where(m & rec.ta_pd, day, np.nan), src, {"recurrence_type": None})
                    for code, day, src, m in ta]
    progression.append((rec.tx_code, np.where(tx_prog, rec.tx_stop, np.nan), "treatments.stop_date", {"recurrence_type": None}))
    prog = source_dataset("progression", progression)
    prog["index_surgery_day"] = index_day[prog["patient"].to_numpy()]
    return {
        "deaths": source_dataset("deaths", [(everyone, death_day, "follow_up.death_date", {"cause_of_death": death_cause})]),
        "progression": prog,
        "visits": source_dataset("visits", [(rec.fu_code, rec.fu_visit, "follow_up.visit_date", {"alive": rec.fu_alive})]),
        "operations": source_dataset("operations", [(rec.sx_code, rec.sx_day, "surgery.surgery_date",
                                                     {"resection_status": rec.sx_status, "surgical_intent": rec.sx_intent})]),
        "treatment_starts": source_dataset("treatment_starts", [(rec.tx_code, rec.tx_start, "treatments.start_date", {})]),
        "treatment_stops": source_dataset("treatment_stops", [(rec.tx_code, rec.tx_stop, "treatments.stop_date",
                                                               {"reason_stopped": rec.tx_reason})]),
        "tumour_assessments": source_dataset("tumour_assessments", [
            (code, np.where(m, day, np.nan), src,
             {"overall_response": rec.ta_resp, "evaluable": rec.ta_evaluable}) for code, day, src, m in ta]),
        "other_records": source_dataset("other_records", [(code, day, src, {}) for code, day, src in rec.other_alive]),
        "patient_dates": source_dataset("patient_dates", [
            (everyone, rec.enrollment, "patients.enrollment_date", {}),
            (everyone, rec.decision, "patients.treatment_decision_date", {}),
            (everyone, rec.diagnosis, "patients.diagnosis_date", {})]),
    }


@dataclass(frozen=True)
class TteData:
    """The study as the time-to-event sources see it (built once per call by :func:`read_tte_data`).

    ``patients``: one row per patient of the ``patients`` table (duplicates dropped), in its order —
    ``patient_id, center_id, cohort`` and, as float days since 1970 (NaN = none),
    ``diagnosis_day, treatment_decision_day, enrollment_day, first_dose_day`` (first treatment
    start), ``index_surgery_day`` / ``index_resection_status`` (first curative operation on or before
    the data cut), ``death_day`` / ``cause_of_death``. ``datasets``: the source datasets of
    :data:`DATASETS` (all but ``time_zero``).
    """

    patients: pd.DataFrame
    datasets: dict[str, pd.DataFrame]
    cut: float

    @property
    def n(self) -> int:
        return len(self.patients)


def read_tte_data(tables: Any, cut: float, problems: Problems) -> TteData:
    """Read the study tables (mapping form → DataFrame, or a ``Study``) into :class:`TteData`."""
    rec = _Records(tables, problems)
    first_dose = _first_dose(rec, problems)
    index_day, index_status = _index_operation(rec, cut)
    death_day, death_cause = _deaths(rec, problems)
    _check_follow_up(rec, problems)
    patients = rec.patients.assign(
        diagnosis_day=rec.diagnosis, treatment_decision_day=rec.decision,
        enrollment_day=rec.enrollment, first_dose_day=first_dose, index_surgery_day=index_day,
        index_resection_status=index_status, death_day=death_day, cause_of_death=death_cause)
    return TteData(patients=patients, datasets=_datasets(rec, index_day, death_day, death_cause), cut=cut)
