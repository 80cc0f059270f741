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

Each parameter is a :class:`TteParameter`: a list of named event sources and a list of censoring
sources (:class:`EventSource` / :class:`CensorSource`, after admiralonco's ``event_source()`` /
``censor_source()``), defined below one per rule with the rule they implement (``.rule``), and read by
one generic derivation, :func:`derive_param_tte` (earliest event, else latest censoring date). A
statistician defines another endpoint from the same sources::

    OS_LAST_VISIT = TteParameter("OSFU", "Overall survival censored at the last follow-up visit",
                                 events=(DEATH,), censors=(ALIVE_AT_LAST_CONTACT, NO_FOLLOW_UP_AFTER_TIME_ZERO))
    tte, problems = derive_param_tte(tables, data_cut, [OS_PARAM, OS_LAST_VISIT])

:func:`describe_parameters` lists the sources of parameters as a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from latc.derive._tte_data import DATASETS, PROBLEM_COLUMNS, RECURRENCE_TYPES
from latc.derive._tte_param import (
    DAYS_PER_MONTH,
    PARAMETER_TIME_ZEROS,
    TIME_ZEROS,
    TTE_COLUMNS,
    CensorSource,
    EventSource,
    SourceContext,
    TteParameter,
    check_time_zero,
    derive_param_tte,
    describe_parameters,
    recurrence_types_tuple,
)

__all__ = [
    "DATASETS",
    "DAYS_PER_MONTH",
    "PARAMETERS",
    "PARAMETER_TIME_ZEROS",
    "PROBLEM_COLUMNS",
    "RECURRENCE_TYPES",
    "TIME_ZEROS",
    "TTE_COLUMNS",
    # the generic derivation (admiralonco event_source / censor_source / derive_param_tte)
    "CensorSource",
    "EventSource",
    "SourceContext",
    "TteParameter",
    "derive_param_tte",
    "describe_parameters",
    # event sources
    "DEATH",
    "DEATH_CAUSE_NOT_RECORDED",
    "DEATH_FROM_OTHER_CAUSE",
    "DEATH_FROM_THYROID_CANCER",
    "DEATH_WITHOUT_PROGRESSION",
    "DEATH_WITHOUT_RECURRENCE",
    "PROGRESSION_AFTER_SURGERY",
    "PROGRESSION_BEFORE_SURGERY",
    "PROGRESSION_NEVER_OPERATED",
    "PROGRESSION_PRECLUDING_SURGERY",
    "RECURRENCE_AFTER_SURGERY",
    "UNRESECTABLE_AT_SURGERY",
    # censoring sources
    "ALIVE_AT_DIAGNOSIS",
    "ALIVE_AT_END_OF_TREATMENT",
    "ALIVE_AT_ENROLLMENT",
    "ALIVE_AT_LAST_CONTACT",
    "ALIVE_AT_OTHER_RECORD",
    "ALIVE_AT_RECURRENCE_DIAGNOSIS",
    "ALIVE_AT_START_OF_TREATMENT",
    "ALIVE_AT_SURGERY",
    "ALIVE_AT_TREATMENT_DECISION",
    "ALIVE_AT_TUMOUR_ASSESSMENT",
    "EVENT_FREE_AT_LAST_VISIT",
    "EVENT_FREE_AT_SURGERY",
    "EVENT_FREE_AT_TUMOUR_ASSESSMENT",
    "LAST_DISEASE_ASSESSMENT",
    "LAST_KNOWN_ALIVE",
    "NO_ASSESSMENT_AFTER_TIME_ZERO",
    "NO_FOLLOW_UP_AFTER_TIME_ZERO",
    # parameters
    "DSS_PARAM",
    "EFS_PARAM",
    "EFS_PRECLUDING_PARAM",
    "OS_PARAM",
    "RFSSTR_PARAM",
    "RFS_PARAM",
    "TTP_PARAM",
    "standard_parameters",
    # the derivations
    "derive_tte",
    "landmark",
]

#: Parameter codes and labels, in the order of the output.
PARAMETERS: dict[str, str] = {
    "OS": "Overall survival",
    "DSS": "Disease-specific survival (death from thyroid cancer)",
    "EFS": "Event-free survival",
    "TTP": "Time to recurrence or progression (death competing)",
    "RFS": "Recurrence-free survival after R0/R1 surgery",
    "RFSSTR": "Recurrence-free survival after R0/R1 surgery (structural recurrence only)",
}

_FU_RECURRENCE = "follow_up.recurrence_date"
_TREATMENT_STOP = "treatments.stop_date"
_FDA_2018 = ("FDA Guidance for Industry, Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics "
             "(December 2018)")
_NEOADJUVANT_EFS = ("neoadjuvant EFS: CheckMate 816, Forde et al. N Engl J Med 2022;386:1973; KEYNOTE-671, "
                    "Wakelee et al. N Engl J Med 2023;389:491")
_PROGRESSION = ("progression = RECIST 1.1 PD at a tumour assessment (Eisenhauer et al. Eur J Cancer 2009;45:228, "
                "tumour / timepoint_responses), a treatment course stopped for progression, or a follow-up "
                "recurrence/progression (follow_up.recurrence: 'new recurrence or progression diagnosed at this "
                "visit') of the parameter's recurrence types")


# ------------------------------------------------------------------------------------------------
# filters (dataset rows → bool mask); datasets and their columns: DATASETS


def _recurrence_counts(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    """A follow-up recurrence counts when its type is one of the parameter's recurrence types (an
    untyped one only when both types count); RECIST PD and stops for progression always count."""
    follow_up = d["source"].eq(_FU_RECURRENCE).to_numpy(dtype=bool)
    rtype = d["recurrence_type"]
    typed = rtype.isin(ctx.recurrence_types).fillna(False).to_numpy(dtype=bool)
    untyped = rtype.isna().to_numpy(dtype=bool) & (set(ctx.recurrence_types) >= set(RECURRENCE_TYPES))
    return ~follow_up | typed | untyped


def _never_operated(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    """No curative operation on or before the data cut."""
    return d["index_surgery_day"].isna().to_numpy(dtype=bool) & _recurrence_counts(d, ctx)


def _before_surgery(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    """Dated on or before the first curative operation."""
    return (d["day"] <= d["index_surgery_day"]).to_numpy(dtype=bool) & _recurrence_counts(d, ctx)


def _after_surgery(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    """Dated after the first curative operation (a record on its day is persistent disease)."""
    return (d["day"] > d["index_surgery_day"]).to_numpy(dtype=bool) & _recurrence_counts(d, ctx)


def _recurrence_after_surgery(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    """After the first curative operation, from follow-up or a tumour assessment (not a treatment stop)."""
    return _after_surgery(d, ctx) & d["source"].ne(_TREATMENT_STOP).to_numpy(dtype=bool)


def _thyroid_cancer(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["cause_of_death"].eq("thyroid_cancer").fillna(False).to_numpy(dtype=bool)


def _other_cause(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return ~_thyroid_cancer(d, ctx) & d["cause_of_death"].notna().to_numpy(dtype=bool)


def _no_cause(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["cause_of_death"].isna().to_numpy(dtype=bool)


def _alive(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["alive"].to_numpy(dtype=bool)


def _from_follow_up(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["source"].eq(_FU_RECURRENCE).to_numpy(dtype=bool)


def _not_stopped_for_death(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["reason_stopped"].ne("death").fillna(True).to_numpy(dtype=bool)


def _evaluable(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["evaluable"].to_numpy(dtype=bool)


def _r2(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["resection_status"].eq("R2").fillna(False).to_numpy(dtype=bool)


def _enrollment(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["source"].eq("patients.enrollment_date").to_numpy(dtype=bool)


def _decision(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["source"].eq("patients.treatment_decision_date").to_numpy(dtype=bool)


def _diagnosis(d: pd.DataFrame, ctx: SourceContext) -> np.ndarray:
    return d["source"].eq("patients.diagnosis_date").to_numpy(dtype=bool)


def _r0_r1_index_operation(patients: pd.DataFrame) -> np.ndarray:
    """Population of RFS: the first curative operation was R0 or R1."""
    return patients["index_resection_status"].isin(["R0", "R1"]).to_numpy(dtype=bool)


# ------------------------------------------------------------------------------------------------
# event sources

DEATH = EventSource(
    "death", "death", "deaths",
    rule=f"death from any cause, the earliest death date of the follow-up rows with vital status dead — OS "
         f"({_FDA_2018}: overall survival) and EFS ({_NEOADJUVANT_EFS})")

DEATH_FROM_THYROID_CANCER = EventSource(
    "death_from_thyroid_cancer", "death from thyroid cancer", "deaths", _thyroid_cancer,
    rule="protocol (disease-specific survival): follow_up.cause_of_death == 'thyroid_cancer'")

DEATH_FROM_OTHER_CAUSE = EventSource(
    "death_from_other_cause", "death from another cause (competing event)", "deaths", _other_cause,
    censor=1, event_type=2,
    rule="a death from another recorded cause competes with thyroid-cancer death: censored on the day of death "
         "for the cause-specific hazard, event_type 2 for the cumulative incidence (Putter, Fiocco & Geskus, "
         "Stat Med 2007;26:2389)")

DEATH_CAUSE_NOT_RECORDED = EventSource(
    "death_cause_not_recorded", "death, cause not recorded (competing event)", "deaths", _no_cause,
    censor=1, event_type=2,
    rule="platform choice: a death without a recorded cause counts as competing (problem cause_of_death_missing); "
         "a sensitivity analysis may count it as thyroid cancer")

PROGRESSION_PRECLUDING_SURGERY = EventSource(
    "progression_precluding_surgery", "progression before surgery, precluding surgery", "progression",
    _never_operated,
    rule=f"{_NEOADJUVANT_EFS}: 'progression precluding surgery' — a progression not followed by a curative "
         f"operation by the data cut; {_PROGRESSION}")

PROGRESSION_BEFORE_SURGERY = EventSource(
    "progression_before_surgery", "progression before surgery", "progression", _before_surgery,
    rule=f"progression dated on or before the first curative operation (progressed during neoadjuvant therapy, "
         f"operated afterwards): an EFS event by default (efs_progression='any'), left out by the CheckMate 816 "
         f"wording (efs_progression='precluding'); a TTP event; {_PROGRESSION}")

RECURRENCE_AFTER_SURGERY = EventSource(
    "recurrence_after_surgery", "recurrence after surgery", "progression", _recurrence_after_surgery,
    rule="a follow-up recurrence of the parameter's recurrence types, or RECIST 1.1 PD (counted as structural), "
         "dated after the first curative operation — a recurrence on the day of the operation is persistent "
         f"disease, not an event ({_NEOADJUVANT_EFS}; protocol RFS after R0/R1 surgery)")

UNRESECTABLE_AT_SURGERY = EventSource(
    "unresectable_at_surgery", "unresectable at surgery (R2 resection)", "operations", _r2,
    rule=f"{_NEOADJUVANT_EFS}: tumour unresectable at surgery — any operation with resection_status R2 "
         "(macroscopic residual tumour, UICC R classification)")

PROGRESSION_NEVER_OPERATED = replace(
    PROGRESSION_PRECLUDING_SURGERY, name="progression_never_operated", description="progression, never operated",
    rule=f"TTP: a progression with no curative operation by the data cut ({_FDA_2018}: time to progression); "
         f"{_PROGRESSION}")

PROGRESSION_AFTER_SURGERY = EventSource(
    "progression_after_surgery", "recurrence or progression after surgery", "progression", _after_surgery,
    rule="TTP: progression or recurrence dated after the first curative operation — a recurrence after an R0/R1 "
         "operation, progression of the residual tumour after an R2 one (an R2 operation is not itself an event); "
         f"{_PROGRESSION}")

DEATH_WITHOUT_PROGRESSION = EventSource(
    "death_without_progression", "death without recurrence or progression (competing event)", "deaths",
    censor=1, event_type=2,
    rule=f"{_FDA_2018}: time to progression does not count deaths — a death without a prior recurrence or "
         "progression is a competing event (censored for the cause-specific hazard, event_type 2)")

DEATH_WITHOUT_RECURRENCE = EventSource(
    "death_without_recurrence", "death without recurrence", "deaths", event_type=2,
    rule="protocol RFS: death from any cause without a prior recurrence is an RFS event (event_type 2, the "
         "competing event of the cumulative incidence of recurrence); a recurrence and a death on the same day "
         "count as recurrence")

# ------------------------------------------------------------------------------------------------
# censoring sources: last date known alive (OS, DSS)

_ALIVE = (f"{_FDA_2018}: overall survival is censored at the last date the patient was known alive; a dated "
          "record that needs a living patient")

ALIVE_AT_LAST_CONTACT = CensorSource(
    "alive_at_last_contact", "alive at last contact", "visits", _alive,
    rule=f"{_ALIVE}: a follow-up visit with vital status alive")

ALIVE_AT_RECURRENCE_DIAGNOSIS = CensorSource(
    "alive_at_recurrence_diagnosis", "alive at recurrence diagnosis", "progression", _from_follow_up,
    rule=f"{_ALIVE}: the diagnosis of a recurrence / progression on the follow-up form (any type)")

ALIVE_AT_SURGERY = CensorSource(
    "alive_at_surgery", "alive at surgery", "operations", rule=f"{_ALIVE}: an operation")

ALIVE_AT_END_OF_TREATMENT = CensorSource(
    "alive_at_end_of_treatment", "alive at end of treatment", "treatment_stops", _not_stopped_for_death,
    rule=f"{_ALIVE}: a treatment course stop, unless stopped for death")

ALIVE_AT_START_OF_TREATMENT = CensorSource(
    "alive_at_start_of_treatment", "alive at start of treatment", "treatment_starts",
    rule=f"{_ALIVE}: a treatment course start")

ALIVE_AT_TUMOUR_ASSESSMENT = CensorSource(
    "alive_at_tumour_assessment", "alive at tumour assessment", "tumour_assessments",
    rule=f"{_ALIVE}: a tumour assessment (any response)")

ALIVE_AT_OTHER_RECORD = CensorSource(
    "alive_at_other_record", "alive at last dated record", "other_records",
    rule=f"{_ALIVE}: an adjuvant course start or a lab sample")

NO_FOLLOW_UP_AFTER_TIME_ZERO = CensorSource(
    "no_follow_up_after_time_zero", "no follow-up after time zero", "time_zero",
    rule="no record after time zero: censored at time zero (time_days 0, censored_at_time_zero; problem "
         "no_follow_up when the patient has no follow-up row)")

ALIVE_AT_ENROLLMENT = CensorSource(
    "alive_at_enrollment", "alive at enrollment", "patient_dates", _enrollment,
    rule=f"{_ALIVE}: the enrollment date")

ALIVE_AT_TREATMENT_DECISION = CensorSource(
    "alive_at_treatment_decision", "alive at treatment decision", "patient_dates", _decision,
    rule=f"{_ALIVE}: the multidisciplinary treatment decision date")

ALIVE_AT_DIAGNOSIS = CensorSource(
    "alive_at_diagnosis", "alive at diagnosis", "patient_dates", _diagnosis,
    rule=f"{_ALIVE}: the diagnosis date")

#: The last date known alive (OS, DSS): the latest of these records, in tie order.
LAST_KNOWN_ALIVE: tuple[CensorSource, ...] = (
    ALIVE_AT_LAST_CONTACT, ALIVE_AT_RECURRENCE_DIAGNOSIS, ALIVE_AT_SURGERY, ALIVE_AT_END_OF_TREATMENT,
    ALIVE_AT_START_OF_TREATMENT, ALIVE_AT_TUMOUR_ASSESSMENT, ALIVE_AT_OTHER_RECORD, NO_FOLLOW_UP_AFTER_TIME_ZERO,
    ALIVE_AT_ENROLLMENT, ALIVE_AT_TREATMENT_DECISION, ALIVE_AT_DIAGNOSIS,
)

# ------------------------------------------------------------------------------------------------
# censoring sources: last disease assessment (EFS, TTP, RFS)

_ASSESSED = (f"{_FDA_2018}: progression-type endpoints are censored at the last adequate disease assessment; a "
             "lab sample or a treatment date is not one")

EVENT_FREE_AT_LAST_VISIT = CensorSource(
    "event_free_at_last_visit", "event-free at last follow-up visit", "visits", _alive,
    rule=f"{_ASSESSED}: a follow-up visit with the patient alive (clinical assessment with Tg and, when done, "
         "imaging: ATA 2015 follow-up, Haugen et al. Thyroid 2016;26:1)")

EVENT_FREE_AT_TUMOUR_ASSESSMENT = CensorSource(
    "event_free_at_tumour_assessment", "event-free at last tumour assessment", "tumour_assessments", _evaluable,
    rule=f"{_ASSESSED}: an evaluable RECIST 1.1 assessment (CR, PR, SD, NON-CR/NON-PD, or a PD that is not "
         "itself an event of the parameter)")

EVENT_FREE_AT_SURGERY = CensorSource(
    "event_free_at_surgery", "event-free at surgery", "operations",
    rule=f"{_ASSESSED}: an operation (the surgeon's and the pathologist's assessment)")

NO_ASSESSMENT_AFTER_TIME_ZERO = CensorSource(
    "no_assessment_after_time_zero", "no disease assessment after time zero", "time_zero",
    rule="no disease assessment after time zero: censored at time zero (time_days 0, censored_at_time_zero)")

#: The last disease assessment (EFS, TTP, RFS): the latest of these records, in tie order.
LAST_DISEASE_ASSESSMENT: tuple[CensorSource, ...] = (
    EVENT_FREE_AT_LAST_VISIT, EVENT_FREE_AT_TUMOUR_ASSESSMENT, EVENT_FREE_AT_SURGERY, NO_ASSESSMENT_AFTER_TIME_ZERO,
)

# ------------------------------------------------------------------------------------------------
# parameters

OS_PARAM = TteParameter(
    "OS", PARAMETERS["OS"], events=(DEATH,), censors=LAST_KNOWN_ALIVE,
    rule=f"{_FDA_2018}: death from any cause, censored at the last date known alive")

DSS_PARAM = TteParameter(
    "DSS", PARAMETERS["DSS"],
    events=(DEATH_FROM_THYROID_CANCER, DEATH_FROM_OTHER_CAUSE, DEATH_CAUSE_NOT_RECORDED), censors=LAST_KNOWN_ALIVE,
    rule="protocol: death from thyroid cancer; other deaths competing (event_type 2)")

EFS_PARAM = TteParameter(
    "EFS", PARAMETERS["EFS"],
    events=(PROGRESSION_PRECLUDING_SURGERY, PROGRESSION_BEFORE_SURGERY, RECURRENCE_AFTER_SURGERY,
            UNRESECTABLE_AT_SURGERY, DEATH),
    censors=LAST_DISEASE_ASSESSMENT, rule=_NEOADJUVANT_EFS)

#: EFS with the CheckMate 816 wording: only progression *precluding* surgery (sensitivity analysis).
EFS_PRECLUDING_PARAM = replace(
    EFS_PARAM, events=tuple(s for s in EFS_PARAM.events if s is not PROGRESSION_BEFORE_SURGERY),
    rule=f"{_NEOADJUVANT_EFS}; 'progression precluding surgery' only (efs_progression='precluding')")

TTP_PARAM = TteParameter(
    "TTP", PARAMETERS["TTP"],
    events=(PROGRESSION_NEVER_OPERATED, PROGRESSION_BEFORE_SURGERY, PROGRESSION_AFTER_SURGERY,
            DEATH_WITHOUT_PROGRESSION),
    censors=LAST_DISEASE_ASSESSMENT,
    rule=f"{_FDA_2018}: time to progression; an R2 operation is not an event, death competes")

RFS_PARAM = TteParameter(
    "RFS", PARAMETERS["RFS"], events=(RECURRENCE_AFTER_SURGERY, DEATH_WITHOUT_RECURRENCE),
    censors=LAST_DISEASE_ASSESSMENT, time_zero="surgery", population=_r0_r1_index_operation,
    rule="protocol: from the first curative operation, when it was R0/R1, to recurrence or death")

RFSSTR_PARAM = replace(
    RFS_PARAM, paramcd="RFSSTR", param=PARAMETERS["RFSSTR"], recurrence_types=("structural",),
    rule="RFS with structural recurrences only (a biochemical-only recurrence — ATA 2015 biochemical incomplete "
         "response — is not an event)")


def standard_parameters(
    *,
    recurrence_types: Sequence[str] = RECURRENCE_TYPES,
    efs_progression: str = "any",
) -> tuple[TteParameter, ...]:
    """The parameters of :func:`derive_tte` in output order: OS, DSS, EFS (``EFS_PRECLUDING_PARAM``
    when ``efs_progression == "precluding"``), TTP, RFS (its label names ``recurrence_types`` when
    they are not both types), RFSSTR."""
    if efs_progression not in ("any", "precluding"):
        raise ValueError(f"efs_progression must be 'any' or 'precluding'; got {efs_progression!r}")
    types = recurrence_types_tuple(recurrence_types)
    rfs = RFS_PARAM
    if set(types) != set(RECURRENCE_TYPES):
        rfs = replace(RFS_PARAM, param=f"{RFS_PARAM.param} ({' or '.join(types)} recurrence only)")
    efs = EFS_PARAM if efs_progression == "any" else EFS_PRECLUDING_PARAM
    return (OS_PARAM, DSS_PARAM, efs, TTP_PARAM, rfs, RFSSTR_PARAM)


def derive_tte(
    tables: Mapping[str, pd.DataFrame] | Any,
    data_cut: Any,
    *,
    time_zero: str = "decision",
    recurrence_types: Sequence[str] = RECURRENCE_TYPES,
    efs_progression: str = "any",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``tte`` dataset (OS, DSS, EFS, TTP, RFS, RFSSTR; one row per patient × parameter) and problems.

    :func:`derive_param_tte` on :func:`standard_parameters` (the sources of each parameter: the
    module docstring, ``describe_parameters(standard_parameters())`` and ``docs/derivations/tte.md``).

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
    check_time_zero(time_zero)
    parameters = standard_parameters(recurrence_types=recurrence_types, efs_progression=efs_progression)
    return derive_param_tte(tables, data_cut, parameters, time_zero=time_zero, recurrence_types=recurrence_types)


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
