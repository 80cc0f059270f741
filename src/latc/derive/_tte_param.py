"""Time-to-event parameters as named event and censoring sources, and the one derivation that reads them.

After pharmaverse admiralonco: an endpoint is ``derive_param_tte(event_conditions = list(death_event,
pd_event), censor_conditions = list(lastalive_censor, …))`` — a list of event sources and a list of
censoring sources, each naming its source dataset, the records that count (filter) and what to write
when it decides the patient's row (EVNTDESC / CNSDTDSC, SRCDOM / SRCVAR). Here:

* :class:`EventSource` / :class:`CensorSource` — frozen: ``name``, ``description`` (written to
  ``event_description`` / ``censor_description``), ``dataset`` (one of
  :data:`latc.derive._tte_data.DATASETS`), ``filter(dataset, context) -> bool mask`` (all rows when
  None) and ``rule`` (the guideline or protocol text the source implements);
* :class:`TteParameter` — ``paramcd``, ``param``, ``events``, ``censors`` and, optionally, its own
  time zero, population and recurrence types;
* :func:`derive_param_tte` — per patient the **earliest event** on or before the data cut (ties: the
  first source of ``events``, then the first ``form.field`` of the source's dataset), else the
  **latest censoring date** (same tie order), capped at the cut. The deciding source's description
  and the record's ``form.field`` are written to the row (``source``).

Events after the data cut are not counted: they show the patient event-free until the cut, so the
patient is censored at the cut (``source == "data_cut"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from latc.derive._tte_data import (
    DATASETS,
    RECURRENCE_TYPES,
    Problems,
    TteData,
    as_day,
    date_text,
    read_tte_data,
    source_dataset,
    to_dates,
)

#: Days per month for ``time_months`` (365.25 / 12, the usual convention of ADaM time-to-event data).
DAYS_PER_MONTH = 30.4375

#: ``time_zero`` → (form, field) of the start date (the choices of :func:`derive_tte`'s ``time_zero``).
TIME_ZEROS: dict[str, tuple[str, str]] = {
    "decision": ("patients", "treatment_decision_date"),
    "diagnosis": ("patients", "diagnosis_date"),
    "treatment_start": ("treatments", "start_date"),
}

#: Time zeros a :class:`TteParameter` may fix for itself: :data:`TIME_ZEROS` and ``surgery`` (the
#: first curative operation on or before the data cut; patients without one are not in the parameter).
PARAMETER_TIME_ZEROS = (*TIME_ZEROS, "surgery")

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

#: ``source`` of a row censored at the data cut.
DATA_CUT_SOURCE = "data_cut"

Filter = Callable[[pd.DataFrame, "SourceContext"], Any]
Population = Callable[[pd.DataFrame], Any]


@dataclass(frozen=True)
class SourceContext:
    """What a source's ``filter`` may need besides its dataset: the parameter's recurrence types
    (``follow_up.recurrence_type`` values that count as events)."""

    recurrence_types: tuple[str, ...] = RECURRENCE_TYPES


@dataclass(frozen=True)
class EventSource:
    """Records that end the patient's time as an event (admiralonco ``event_source()``).

    ``dataset`` names a source dataset (:data:`DATASETS`); ``filter(dataset, context)`` returns a
    boolean mask of its rows that count (``None``: all rows); the record's ``day`` is the event date.
    When the source decides the row, ``event_description = description``, ``source`` = the record's
    ``form.field``, ``cnsr = censor`` and ``event_type = event_type``. A *competing* event (a death
    in a cause-specific endpoint) ends follow-up like an event but is censored for the cause of
    interest: ``censor=1, event_type=2``.
    """

    name: str
    description: str
    dataset: str
    filter: Filter | None = field(default=None, repr=False)
    censor: int = 0
    event_type: int = 1
    rule: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        _check_source(self)
        if self.censor not in (0, 1):
            raise ValueError(f"event source {self.name!r}: censor must be 0 (event) or 1 (competing event, censored)")
        if self.event_type not in (1, 2):
            raise ValueError(f"event source {self.name!r}: event_type must be 1 (event of interest) or 2 (competing)")


@dataclass(frozen=True)
class CensorSource:
    """Records that show the patient still event-free (admiralonco ``censor_source()``).

    The patient without an event is censored at the **latest** date of all censoring sources of the
    parameter (``censor_description = description``, ``source`` = the record's ``form.field``,
    ``cnsr = 1``, ``event_type = 0``), capped at the data cut.
    """

    name: str
    description: str
    dataset: str
    filter: Filter | None = field(default=None, repr=False)
    rule: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        _check_source(self)


def _check_source(source: EventSource | CensorSource) -> None:
    if source.dataset not in DATASETS:
        raise ValueError(f"source {source.name!r}: unknown dataset {source.dataset!r}; expected one of {', '.join(DATASETS)}")
    if source.filter is not None and not callable(source.filter):
        raise TypeError(f"source {source.name!r}: filter must be a function (dataset, context) -> mask")


@dataclass(frozen=True)
class TteParameter:
    """One time-to-event parameter: its code and label, event sources and censoring sources.

    ``time_zero``: ``None`` (the call's ``time_zero``) or one of :data:`PARAMETER_TIME_ZEROS`.
    ``population(patients) -> mask`` restricts the patients of the parameter (``TteData.patients``
    columns, e.g. ``index_resection_status``); ``recurrence_types`` overrides the call's for the
    filters of this parameter (:class:`SourceContext`).
    """

    paramcd: str
    param: str
    events: tuple[EventSource, ...]
    censors: tuple[CensorSource, ...]
    time_zero: str | None = None
    population: Population | None = field(default=None, repr=False)
    recurrence_types: tuple[str, ...] | None = None
    rule: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        object.__setattr__(self, "censors", tuple(self.censors))
        if not self.events or not all(isinstance(s, EventSource) for s in self.events):
            raise TypeError(f"{self.paramcd}: events must be one or more EventSource objects")
        if not self.censors or not all(isinstance(s, CensorSource) for s in self.censors):
            raise TypeError(f"{self.paramcd}: censors must be one or more CensorSource objects")
        if self.time_zero is not None and self.time_zero not in PARAMETER_TIME_ZEROS:
            raise ValueError(f"{self.paramcd}: time_zero must be one of {', '.join(PARAMETER_TIME_ZEROS)} or None; "
                             f"got {self.time_zero!r}")
        if self.recurrence_types is not None:
            object.__setattr__(self, "recurrence_types", recurrence_types_tuple(self.recurrence_types))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)!r}" for k in ("time_zero", "recurrence_types") if getattr(self, k) is not None)
        return (f"TteParameter({self.paramcd!r}, events=[{', '.join(s.name for s in self.events)}], "
                f"censors=[{', '.join(s.name for s in self.censors)}]{extra})")


def recurrence_types_tuple(recurrence_types: Sequence[str] | str) -> tuple[str, ...]:
    """Normalised recurrence types; ``ValueError`` unless a non-empty subset of :data:`RECURRENCE_TYPES`."""
    values = [recurrence_types] if isinstance(recurrence_types, str) else recurrence_types
    types = tuple(str(t).strip().lower() for t in values)
    if not types or any(t not in RECURRENCE_TYPES for t in types):
        raise ValueError(f"recurrence_types must be a non-empty subset of {RECURRENCE_TYPES}; got {recurrence_types!r}")
    return types


def check_time_zero(time_zero: str) -> None:
    if time_zero not in TIME_ZEROS:
        raise ValueError(f"time_zero must be one of {', '.join(TIME_ZEROS)}; got {time_zero!r}")


# ------------------------------------------------------------------------------------------------
# candidate dates per patient


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

    def add(self, code: np.ndarray, day: np.ndarray, kind: int) -> None:
        self.parts.append((np.asarray(code, dtype=np.int64), np.asarray(day, dtype=float), int(kind)))

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


def _mask(value: Any, n: int) -> np.ndarray:
    """A filter's result as a numpy bool array (missing → False)."""
    if value is None:
        return np.ones(n, dtype=bool)
    if isinstance(value, np.ndarray) and value.dtype == bool:
        out = value
    else:
        s = value if isinstance(value, pd.Series) else pd.Series(np.asarray(value))
        out = s.astype("boolean").fillna(False).to_numpy(dtype=bool)
    if len(out) != n:
        raise ValueError(f"a source filter returned {len(out)} values for {n} rows")
    return out


def _candidates(sources: Sequence[EventSource | CensorSource], datasets: Mapping[str, pd.DataFrame],
                context: SourceContext, kinds: _Kinds) -> _Pool:
    """The records of ``sources``: one pool part per source × ``form.field``, interned in that order."""
    pool = _Pool()
    for s in sources:
        d = datasets[s.dataset]
        event, event_type = (1 - s.censor, s.event_type) if isinstance(s, EventSource) else (0, 0)
        keep = _mask(None if s.filter is None else s.filter(d, context), len(d))
        codes = d["source"].cat.codes.to_numpy()
        patient = d["patient"].to_numpy(dtype=np.int64)
        day = d["day"].to_numpy(dtype=float)
        for i, src in enumerate(d["source"].cat.categories):
            m = keep & (codes == i)
            pool.add(patient[m], day[m], kinds(s.description, str(src), event, event_type))
    return pool


# ------------------------------------------------------------------------------------------------
# one parameter


@dataclass(frozen=True)
class _Start:
    """A parameter's time zero: day per patient, who is in it, and how problems / sources name it."""

    name: str
    day: np.ndarray
    population: np.ndarray
    field: str   # named in problems
    source: str  # form.field of the time-zero censoring record


def _start(data: TteData, time_zero: str) -> _Start:
    p = data.patients
    everyone = np.ones(data.n, dtype=bool)
    if time_zero == "decision":
        return _Start("decision", p["treatment_decision_day"].to_numpy(float), everyone,
                      "patients.treatment_decision_date", "patients.treatment_decision_date")
    if time_zero == "diagnosis":
        return _Start("diagnosis", p["diagnosis_day"].to_numpy(float), everyone,
                      "patients.diagnosis_date", "patients.diagnosis_date")
    if time_zero == "treatment_start":
        neo = p["cohort"].str.lower().to_numpy(dtype=object) == "neoadjuvant"
        return _Start("treatment_start", p["first_dose_day"].to_numpy(float), neo,
                      "treatments.start_date (first dose)", "treatments.start_date")
    day = p["index_surgery_day"].to_numpy(float)
    return _Start("surgery", day, ~np.isnan(day), "surgery.surgery_date (first curative operation)",
                  "surgery.surgery_date")


def _time_problems(data: TteData, paramcd: str, start: _Start, adt: np.ndarray, description: np.ndarray,
                   source: np.ndarray, problems: Problems) -> np.ndarray:
    """``adt − start`` in days; missing (with a problem) without a start, after the cut, or negative."""
    cut = data.cut
    population = start.population
    time = adt - start.day
    pid = data.patients["patient_id"].to_numpy()
    bad_start = population & np.isnan(start.day)
    if bad_start.any():
        problems.add(pid[bad_start], start.field, "", "time_zero_missing",
                     f"{paramcd}: no {start.field} (time zero '{start.name}'): time left missing")
    start_after_cut = population & (start.day > cut)
    if start_after_cut.any():
        problems.add(pid[start_after_cut], start.field, date_text(start.day[start_after_cut]), "time_zero_after_data_cut",
                     f"{paramcd}: time zero after the data cut ({date_text(np.array([cut]))[0]}): time left missing")
    before = population & (time < 0) & ~start_after_cut
    if before.any():
        fields = pd.Series(source[before], dtype=object).astype("str").str.split(".").str[-1]
        msg = (f"{paramcd}: " + pd.Series(description[before], dtype=object).astype("str") + " dated "
               + date_text(adt[before]) + f" is before time zero ({start.field} " + date_text(start.day[before])
               + "): time left missing, not negative")
        problems.add(pid[before], fields.to_numpy(), date_text(adt[before]).to_numpy(), "event_before_time_zero",
                     msg.to_numpy())
    return np.where(population & ((time < 0) | np.isnan(start.day) | (start.day > cut)), np.nan, time)


def _parameter_rows(data: TteData, parameter: TteParameter, time_zero: str, recurrence_types: tuple[str, ...],
                    problems: Problems) -> pd.DataFrame:
    """One row per patient of the parameter's population: the first event on or before the cut, else censoring.

    Events after the cut are not counted: they show the patient event-free until the cut, so the
    patient is censored at the cut. Otherwise the censoring date is the latest censoring candidate,
    capped at the cut.
    """
    n, cut = data.n, data.cut
    start = _start(data, parameter.time_zero or time_zero)
    population = start.population
    if parameter.population is not None:
        population = population & _mask(parameter.population(data.patients), n)
    context = SourceContext(parameter.recurrence_types or recurrence_types)
    datasets = {**data.datasets, "time_zero": source_dataset("time_zero", [(np.arange(n), start.day, start.source, {})],
                                                             (start.source,))}
    kinds = _Kinds()
    events = _candidates(parameter.events, datasets, context, kinds)
    censors = _candidates(parameter.censors, datasets, context, kinds)

    ev_day, ev_kind = events.pick(n, last=False, hi=cut)
    late_day, _ = events.pick(n, last=False, lo=cut, strict_lo=True)
    cen_day, cen_kind = censors.pick(n, last=True)
    at_cut = kinds("event-free at the data cut", DATA_CUT_SOURCE, 0, 0)
    has_event = ev_kind >= 0
    beyond_cut = ~has_event & ((cen_day > cut) | ~np.isnan(late_day))
    cen_kind = np.where(beyond_cut, at_cut, cen_kind)
    cen_day = np.where(beyond_cut, cut, cen_day)
    adt = np.where(has_event, ev_day, cen_day)
    k = np.where(has_event, ev_kind, cen_kind)
    event = np.where(k >= 0, kinds.column(k, 2), 0).astype(np.int64)
    event_type = np.where(k >= 0, kinds.column(k, 3), 0).astype(np.int64)
    description = kinds.column(k, 0)
    source = kinds.column(k, 1)
    time = _time_problems(data, parameter.paramcd, start, adt, description, source, problems)
    return _rows(data, parameter, start, population, adt, time, event, event_type, description, source)


def _rows(data: TteData, parameter: TteParameter, start: _Start, population: np.ndarray, adt: np.ndarray,
          time: np.ndarray, event: np.ndarray, event_type: np.ndarray, description: np.ndarray,
          source: np.ndarray) -> pd.DataFrame:
    idx = np.flatnonzero(population)
    p = data.patients
    is_event = event[idx] == 1
    event_description = description[idx].copy()
    event_description[~is_event] = None
    censor_description = description[idx].copy()
    censor_description[is_event] = None
    out = pd.DataFrame({
        "patient_id": pd.Series(p["patient_id"].to_numpy()[idx], dtype="str"),
        "center_id": pd.Series(p["center_id"].to_numpy()[idx], dtype="str"),
        "cohort": pd.Series(p["cohort"].to_numpy()[idx], dtype="str"),
        "paramcd": parameter.paramcd,
        "param": parameter.param,
        "time_zero_name": start.name,
        "start_date": to_dates(start.day[idx]).to_numpy(),
        "adt": to_dates(adt[idx]).to_numpy(),
        "time_days": pd.array(time[idx], dtype="Float64").round().astype("Int64"),
        "time_months": pd.array(time[idx] / DAYS_PER_MONTH, dtype="Float64"),
        "event": pd.array(event[idx], dtype="Int64"),
        "cnsr": pd.array(1 - event[idx], dtype="Int64"),
        "event_type": pd.array(event_type[idx], dtype="Int64"),
        "event_description": pd.Series(event_description, dtype="str"),
        "censor_description": pd.Series(censor_description, dtype="str"),
        "source": pd.Series(source[idx], dtype="str"),
    })
    out["censored_at_time_zero"] = pd.array((out["cnsr"].eq(1) & out["time_days"].eq(0)).fillna(False), dtype="boolean")
    return out


# ------------------------------------------------------------------------------------------------
# the generic derivation


def derive_param_tte(
    tables: Mapping[str, pd.DataFrame] | Any,
    data_cut: Any,
    parameters: TteParameter | Sequence[TteParameter],
    *,
    time_zero: str = "decision",
    recurrence_types: Sequence[str] = RECURRENCE_TYPES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time-to-event rows of ``parameters`` (one row per patient × parameter) and problems.

    The generic derivation behind :func:`latc.derive.tte.derive_tte` (admiralonco
    ``derive_param_tte()``): per parameter and patient, the earliest record of its event sources on
    or before ``data_cut`` decides (ties: the order of ``parameter.events``), else the latest record
    of its censoring sources, capped at the cut. ``tables`` and ``data_cut`` as ``derive_tte``;
    ``time_zero`` and ``recurrence_types`` apply to parameters that do not fix their own. Returns
    ``(tte, problems)`` with :data:`TTE_COLUMNS` and ``patient_id, field, value, rule, message``.
    """
    check_time_zero(time_zero)
    types = recurrence_types_tuple(recurrence_types)
    params = (parameters,) if isinstance(parameters, TteParameter) else tuple(parameters)
    if not params or not all(isinstance(p, TteParameter) for p in params):
        raise TypeError("parameters must be a TteParameter or a non-empty sequence of them")
    cut = as_day(data_cut)
    problems = Problems()
    data = read_tte_data(tables, cut, problems)
    out = [_parameter_rows(data, p, time_zero, types, problems) for p in params]
    return pd.concat(out, ignore_index=True)[TTE_COLUMNS], problems.frame()


def describe_parameters(parameters: TteParameter | Sequence[TteParameter]) -> pd.DataFrame:
    """The sources of ``parameters`` as a table: one row per parameter × source, in priority order.

    Columns ``paramcd, param, role`` (``event`` / ``censor``), ``priority`` (1 = first on ties),
    ``source, description, dataset, cnsr, event_type, rule`` — the table of ``docs/derivations/tte.md``.
    """
    params = (parameters,) if isinstance(parameters, TteParameter) else tuple(parameters)
    rows = []
    for p in params:
        roles: tuple[tuple[str, tuple[EventSource | CensorSource, ...]], ...] = (("event", p.events), ("censor", p.censors))
        for role, sources in roles:
            for i, s in enumerate(sources, start=1):
                rows.append({"paramcd": p.paramcd, "param": p.param, "role": role, "priority": i, "source": s.name,
                             "description": s.description, "dataset": s.dataset,
                             "cnsr": s.censor if isinstance(s, EventSource) else 1,
                             "event_type": s.event_type if isinstance(s, EventSource) else 0,
                             "rule": s.rule})
    return pd.DataFrame(rows, columns=["paramcd", "param", "role", "priority", "source", "description", "dataset",
                                       "cnsr", "event_type", "rule"])
