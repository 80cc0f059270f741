"""SAP section "Survival within the neoadjuvant cohort".

Kaplan–Meier (R ``survfit``; CI transform ``conf_type``, default R's ``log``; medians by R's rule),
survival at the landmarks (12, 24, 36 and 60 months), log-rank test (``survdiff``), Cox model (``coxph``, Efron ties) and its
proportional-hazards check (``cox.zph``, KM transform) — by:

* **histology group** (baseline; OS and EFS from the treatment decision);
* **objective response** (RECIST 1.1) — a status reached *after* time zero, so compared with the
  **landmark method** at ``response_landmark_months`` (default 9) from the decision: patients alive
  and event-free at the landmark, responders = objective response documented by the landmark
  (Anderson, Cain & Gelber 1983), time counted from the landmark;
* **pathological response** (MPR, pCR) — RFS from the R0/R1 index operation, the moment the
  pathological response becomes known, so no immortal time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from latc.stats import StatsInputError, cox, cox_zph, kaplan_meier, logrank

from ._coding import coding
from ._context import (Context, annotate_medians, attempt, check_events, concat, front, landmarks_text,
                       note_missing, row_populations)
from ._data import MONTH_DAYS, _flag, need
from ._frames import as_categorical, landmark_rows
from ._results import ResultTable, SectionResult, SectionSkipped

POP = "neoadjuvant cohort of the analysis set"
#: factor → words for titles and row labels
FACTORS = {"histology_group": "histology group", "response_by_landmark": "objective response at the landmark",
           "mpr": "major pathological response", "pcr": "pathological complete response"}


def _dropped(df: pd.DataFrame, time: str, factor: str, endpoint: str) -> str:
    """Why rows of ``df`` are not analysed: no time / no group (counts)."""
    parts = []
    no_time = int(df[time].isna().sum())
    no_factor = int((df[time].notna() & df[factor].isna()).sum())
    if no_time:
        parts.append(f"{no_time} without a {endpoint.split(' ')[0]} time")
    if no_factor:
        parts.append(f"{no_factor} without a {FACTORS.get(factor, factor)}")
    return " and ".join(parts) + " left out" if parts else ""


def _by_factor(ctx: Context, df: pd.DataFrame, time: str, event: str, factor: str, endpoint: str,
               acc: dict[str, list], failed: dict[str, str], *, population: str, event_key: str) -> None:
    """KM, log-rank, Cox and cox.zph of ``endpoint`` by ``factor``; results appended to ``acc``.

    ``population`` says who ``df`` is (for the row-block explanation of the table captions);
    ``event_key`` names the event definition (``_coding.EVENTS``).
    """
    o = ctx.options
    d = df[df[time].notna() & df[event].notna() & df[factor].notna()].copy()
    d[time] = d[time].astype(float)
    d[event] = d[event].astype(float)
    key = f"{endpoint} by {factor}"
    tag = {"endpoint": endpoint, "factor": factor}
    dropped = _dropped(df, time, factor, endpoint)
    try:
        if d[factor].nunique() < 2:
            raise SectionSkipped(f"{key}: a single {factor} group")
        km = kaplan_meier(d, time, event, group=factor, conf_type=o.conf_type, conf_level=o.conf_level,
                          landmarks=list(o.landmarks_months))
        acc["blocks"].append((f"{endpoint} by {FACTORS.get(factor, factor)}", len(d),
                              population + (f"; {dropped}" if dropped else "")))
        acc["landmarks"].append(note_missing(km.landmarks.assign(**tag), "survival",
                                             "no patient of the group followed to this time"))
        acc["medians"].append(annotate_medians(km.medians).assign(**tag))
        acc["curves"].append(km.table.assign(**tag))
        check_events(d, event, o.min_events, key)
        lr = logrank(d, time, event, factor)
        acc["logrank"].append(lr.to_frame().assign(**tag))
        fit = cox(d, time, event, [factor], ties=o.ties, conf_level=o.conf_level)
        sm = fit.summary.reset_index().rename(columns={"index": "term"})
        acc["cox"].append(sm.assign(**tag, n=fit.n, events=fit.events))
        acc["coding"].append(coding([factor], d, events=[event_key]))
        z = cox_zph(fit).reset_index().rename(columns={"index": "term"})
        acc["zph"].append(z.assign(**tag))
    except (SectionSkipped, StatsInputError) as exc:
        failed[key] = str(exc).splitlines()[0]


def _overall(ctx: Context, df: pd.DataFrame, time: str, event: str, endpoint: str, acc: dict[str, list],
             failed: dict[str, str]) -> None:
    """KM of ``endpoint`` for the whole neoadjuvant cohort (factor ``overall``, group ``all``):
    curve, median and landmarks appended to ``acc``."""
    o = ctx.options
    d = df[df[time].notna() & df[event].notna()].copy()
    if not len(d):
        failed[f"{endpoint} overall"] = f"no patient with a {endpoint} time"
        return
    d[time] = d[time].astype(float)
    d[event] = d[event].astype(float)
    tag = {"endpoint": endpoint, "factor": "overall"}
    km = kaplan_meier(d, time, event, conf_type=o.conf_type, conf_level=o.conf_level,
                      landmarks=list(o.landmarks_months))
    acc["landmarks"].append(note_missing(km.landmarks.assign(**tag), "survival",
                                         "no patient followed to this time"))
    acc["medians"].append(annotate_medians(km.medians).assign(**tag))
    acc["curves"].append(km.table.assign(**tag))


def follow_up(s: pd.DataFrame, options: Any) -> pd.DataFrame:
    """Median follow-up by cohort with the reverse Kaplan–Meier method (Schemper & Smith 1996):
    the OS time with censoring as the event, from the treatment decision (months)."""
    d = s[s["os_time_months"].notna() & s["os_event"].notna()]
    d = pd.DataFrame({"cohort": d["cohort"].astype("str"), "time": d["os_time_months"].astype(float),
                      "censored": 1.0 - d["os_event"].astype(float)})
    km = kaplan_meier(d, "time", "censored", group="cohort", conf_type=options.conf_type,
                      conf_level=options.conf_level)
    m = km.medians.rename(columns={"group": "cohort", "events": "censored"})
    return m[["cohort", "n", "censored", "median", "lower", "upper"]]


def _merge_coding(parts: list[dict[str, Any]]) -> dict[str, Any]:
    if not parts:
        return {}
    terms: dict[str, dict] = {}
    events: dict[str, str] = {}
    for c in parts:
        for t in c.get("terms", []):
            terms.setdefault(t["term"], t)
        events.update(c.get("events", {}))
    return {"terms": list(terms.values()), "contrasts": parts[0]["contrasts"], "events": events}


def run(ctx: Context, sec: SectionResult) -> None:
    o = ctx.options
    s = ctx.data.analysis_set
    need(s, ["cohort", "histology_group", "os_time_months", "os_event", "efs_time_months", "efs_event"])
    neo = s[s["cohort"].eq("neoadjuvant").fillna(False).to_numpy(bool)].copy()
    if not len(neo):
        raise SectionSkipped("no neoadjuvant patient in the analysis set")
    neo["histology_group"] = as_categorical(neo["histology_group"], "DTC", ["DTC", "PDTC", "ATC", "MTC"])
    acc: dict[str, list] = {k: [] for k in ("landmarks", "medians", "curves", "logrank", "cox", "zph", "blocks",
                                            "coding")}
    failed: dict[str, str] = {}
    populations: dict[str, Any] = {}
    n = len(neo)

    # the whole cohort, then by histology group (baseline): OS and EFS from the decision
    for ep, t, e in (("OS", "os_time_months", "os_event"), ("EFS", "efs_time_months", "efs_event")):
        _overall(ctx, neo, t, e, ep, acc, failed)
    for ep, t, e in (("OS", "os_time_months", "os_event"), ("EFS", "efs_time_months", "efs_event")):
        _by_factor(ctx, neo, t, e, "histology_group", ep, acc, failed,
                   population="neoadjuvant cohort, from the treatment decision", event_key=ep)
    populations["histology_group"] = f"{POP}; time zero = treatment decision"

    # by objective response, landmark
    L = o.response_landmark_months
    if {"objective_response", "best_overall_response_date", "treatment_decision_date"} <= set(neo.columns):
        by_l = ((neo["best_overall_response_date"] - neo["treatment_decision_date"]).dt.days.astype("Float64") / MONTH_DAYS) <= L
        resp = neo["objective_response"].astype("boolean").fillna(False) & by_l.fillna(False)
        neo["response_by_landmark"] = np.where(resp.to_numpy(bool), "responder", "non-responder")
        for ep, t, e in (("OS", "os_time_months", "os_event"), ("EFS", "efs_time_months", "efs_event")):
            lm = landmark_rows(neo[neo[t].notna()], t, L)
            _by_factor(ctx, lm, t, e, "response_by_landmark", f"{ep} (landmark {L:g} months)", acc, failed,
                       population=(f"neoadjuvant patients alive{' and event-free' if ep == 'EFS' else ''} and in "
                                   f"follow-up at {L:g} months from the decision (landmark method), time from the landmark"),
                       event_key=f"{ep} landmark")
        populations["response_by_landmark"] = (f"{POP} alive and event-free at {L:g} months from the decision "
                                               "(landmark method); time from the landmark")
    else:
        failed["objective response (landmark)"] = "derived/subject lacks objective_response or its date"

    # by pathological response: RFS from the index operation (R0/R1)
    if {"r0r1_set", "rfs_time_months", "rfs_event", "mpr", "pcr"} <= set(neo.columns):
        r = neo[_flag(neo["r0r1_set"]) & neo["pathological_response"].notna().to_numpy(bool)].copy()
        for f in ("mpr", "pcr"):
            r[f] = np.where(r[f].astype("boolean").fillna(False).to_numpy(bool), "yes", "no")
            _by_factor(ctx, r, "rfs_time_months", "rfs_event", f, "RFS", acc, failed,
                       population="neoadjuvant patients with an R0/R1 index operation and a graded specimen, from the "
                                  "operation", event_key="RFS")
        populations["mpr/pcr"] = f"{POP} with an R0/R1 index operation and a graded specimen; time zero = operation"
    sec.skipped_tables.update(failed)
    par = {"conf_type": o.conf_type, "conf_level": o.conf_level, "landmarks_months": list(o.landmarks_months),
           "ties": o.ties, "response_landmark_months": L, "time_unit": "months", "populations": populations}
    blocks = row_populations(acc["blocks"], n)
    cod = _merge_coding(acc["coding"])
    times = landmarks_text(o.landmarks_months)
    what = "by histology group, response and pathological response — neoadjuvant cohort only"
    if acc["landmarks"]:
        sec.add(ResultTable("km_landmarks", f"Survival at {times} of the whole cohort and {what}",
                            front(concat(acc["landmarks"]), ["endpoint", "factor"]),
                            f"Kaplan-Meier (R survfit, conf.type = '{o.conf_type}', Greenwood variance); summary(fit, times)",
                            par, POP, n, row_populations=blocks))
        sec.add(ResultTable("km_medians", f"Median survival of the whole cohort and {what}",
                            front(concat(acc["medians"]), ["endpoint", "factor"]),
                            f"Kaplan-Meier median with CI (R print(survfit), conf.type = '{o.conf_type}')", par, POP, n,
                            row_populations=blocks))
    if acc["curves"]:
        sec.add(ResultTable("km_curves", f"Kaplan-Meier curves of the whole cohort and {what}",
                            front(concat(acc["curves"]), ["endpoint", "factor"]),
                            f"Kaplan-Meier (R summary(survfit, censored = TRUE)), conf.type = '{o.conf_type}', "
                            "Greenwood variance; one row per distinct time and group (the figures' data)",
                            par, POP, n, row_populations=blocks))

    def follow_up_table() -> ResultTable:
        fu = follow_up(s, o)
        return ResultTable("follow_up", "Median follow-up by cohort (reverse Kaplan-Meier)", fu,
                           f"reverse Kaplan-Meier (Schemper & Smith 1996): OS time with censoring as the event, "
                           f"R survfit(Surv(os_time, 1 - os_status) ~ cohort), conf.type = '{o.conf_type}'",
                           {"conf_type": o.conf_type, "conf_level": o.conf_level, "time_unit": "months",
                            "time_zero": "treatment decision"}, "analysis set (both cohorts)", len(s))

    attempt(sec, "follow_up", follow_up_table)
    if acc["logrank"]:
        sec.add(ResultTable("logrank", f"Log-rank tests {what}", front(concat(acc["logrank"]), ["endpoint", "factor"]),
                            "log-rank test (R survdiff, rho = 0)", par, POP, n, row_populations=blocks))
    if acc["cox"]:
        sec.add(ResultTable("cox", f"Cox hazard ratios {what}", front(concat(acc["cox"]), ["endpoint", "factor", "term"]),
                            f"Cox proportional hazards (R coxph, ties = '{o.ties}'), Wald CI", par, POP, n,
                            coding=cod, row_populations=blocks))
        sec.add(ResultTable("ph_check", f"Proportional hazards checks {what}",
                            front(concat(acc["zph"]), ["endpoint", "factor", "term"]),
                            "R survival >= 3.0 cox.zph score test, transform = 'km'", {**par, "transform": "km"}, POP, n,
                            coding=cod, row_populations=blocks))
