"""SAP section "Competing risks": recurrence or progression with death as a competing event.

Population and time zero as the comparison (``_comparative``). ``rec_type``: 1 recurrence /
progression, 2 death without prior recurrence, 0 censored (``_frames``).

* cumulative incidence of each cause by cohort (Aalen–Johansen with exact ties; R ``cmprsk::cuminc``
  variance, log-log CI) at the landmarks (12, 24, 36 and 60 months);
* Gray's test (``cuminc(...)$Tests``), unstratified and stratified by center;
* Fine–Gray subdistribution hazard ratio (``cmprsk::crr``, robust sandwich SE): unadjusted and
  adjusted for the baseline confounders and center (fixed effects; ``crr`` has no strata).
"""

from __future__ import annotations

import pandas as pd

from latc.stats import CIFResult, cumulative_incidence, fine_gray, gray_test

from ._comparative import POPULATION, comparison
from ._coding import coding
from ._context import Context, attempt, check_events, concat, note_missing
from ._results import ResultTable, SectionResult

CAUSES = {1: "recurrence or progression", 2: "death without recurrence (competing)"}


def curves_table(r: CIFResult) -> pd.DataFrame:
    """``competing/cif_curves``: the estimate's table with the cause's label and each group's last
    follow-up time (``follow_up_end``, where a figure ends the curve)."""
    t = r.table.copy()
    t.attrs = {}
    t["cause_label"] = t["cause"].map(CAUSES)
    t["follow_up_end"] = t["group"].map(r.last_time)
    return t


def gray_table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``competing/gray_test``: the unstratified and center-stratified tests, with the cause's label."""
    t = concat(parts)
    t["cause_label"] = t["cause"].map(CAUSES)
    return t


def run(ctx: Context, sec: SectionResult) -> None:
    o = ctx.options
    cmp = comparison(ctx)
    df = cmp["frame"]
    d = df[df["rec_time"].notna()].copy()
    check_events(d, "rec_event", o.min_events, "recurrence", group="neoadjuvant")
    n = len(d)
    par = {"time_unit": "months", "time_zero": "treatment decision", "causes": CAUSES, "censor_code": 0}

    def cif():
        r = cumulative_incidence(d, "rec_time", "rec_type", group="cohort", times=list(o.landmarks_months),
                                 conf_level=o.conf_level)
        t = r.timepoints.copy()
        t.attrs = {}
        t["cause_label"] = t["cause"].map(CAUSES)
        t = note_missing(t, "cif", "no patient of the group followed to this time")
        return ResultTable("cumulative_incidence", "Cumulative incidence of recurrence and of death without recurrence",
                           t, "Aalen-Johansen cumulative incidence, exact ties (R cmprsk::cuminc + timepoints), "
                           "delta-method variance, log-log CI",
                           {**par, "conf_type": "log-log", "times_months": list(o.landmarks_months)}, POPULATION, n,
                           coding=coding(["neoadjuvant"], d, events=["recurrence"]))

    attempt(sec, "cumulative_incidence", cif)

    def cif_curves():
        r = cumulative_incidence(d, "rec_time", "rec_type", group="cohort", conf_level=o.conf_level)
        t = curves_table(r)
        return ResultTable("cif_curves", "Cumulative incidence curves of recurrence and of death without recurrence",
                           t, "Aalen-Johansen cumulative incidence, exact ties (R cmprsk::cuminc), delta-method "
                           "variance, log-log CI; one row per event time, group and cause (the figures' data); "
                           "follow_up_end = the group's last follow-up time",
                           {**par, "conf_type": "log-log"}, POPULATION, n,
                           coding=coding(["neoadjuvant"], d, events=["recurrence"]))

    attempt(sec, "cif_curves", cif_curves)

    def gray():
        parts = [gray_test(d, "rec_time", "rec_type", "cohort").assign(strata="none")]
        if d["center"].nunique() > 1:
            parts.append(gray_test(d, "rec_time", "rec_type", "cohort", strata="center").assign(strata="center"))
        t = gray_table(parts)
        return ResultTable("gray_test", "Gray's test: cumulative incidence by cohort", t,
                           "Gray's K-sample test (R cmprsk::cuminc(...)$Tests, rho = 0), unstratified and stratified by center",
                           {**par, "rho": 0}, POPULATION, n, coding=coding(["neoadjuvant"], d, events=["recurrence"]))

    attempt(sec, "gray_test", gray)

    def fg():
        rows = []
        k = d["center"].nunique()
        with_center = 1 < k <= o.fine_gray_max_centers
        covs = cmp["covariates"] + (["center"] if with_center else [])
        center_note = ("fixed effects (crr has no strata)" if with_center else
                       f"not in the model ({k} center level(s); fixed effects only up to {o.fine_gray_max_centers}: "
                       "crr's sandwich variance grows with n x p^2)")
        for name, terms in (("unadjusted", ["neoadjuvant"]), ("adjusted", ["neoadjuvant"] + covs)):
            r = fine_gray(d, "rec_time", "rec_type", terms, cause=1, conf_level=o.conf_level)
            s = r.summary.loc["neoadjuvant"]
            rows.append({"model": name, "shr": float(s["shr"]), "lower": float(s["lower"]), "upper": float(s["upper"]),
                         "p": float(s["p"]), "coef": float(s["coef"]), "se": float(s["se"]), "n": int(r.n),
                         "events": int(r.events), "competing_events": int(r.competing_events),
                         "covariates": ", ".join(terms)})
        return ResultTable("fine_gray", "Fine-Gray subdistribution hazard ratio of recurrence, neoadjuvant vs upfront",
                           pd.DataFrame(rows), "Fine-Gray proportional subdistribution hazards (R cmprsk::crr), robust "
                           "sandwich SE; center as fixed effects in the adjusted model (up to fine_gray_max_centers levels)",
                           {**par, "cause": 1, "center": center_note,
                            "confounders": cmp["covariates"]}, POPULATION, n,
                           coding=coding(["neoadjuvant"] + covs, d, events=["recurrence"],
                                         notes=["unadjusted model: neoadjuvant only; adjusted: all terms listed",
                                                "cause 1 = recurrence or progression (rec_type 1), competing cause 2 = "
                                                "death without it (rec_type 2), 0 = censored"]))

    attempt(sec, "fine_gray", fg)
