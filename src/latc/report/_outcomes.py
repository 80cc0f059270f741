"""Outcome sections: survival (neoadjuvant cohort), comparison with upfront surgery, recurrence risk.

Nothing is estimated here. Every number and every curve comes from ``latc analyze``
(``analysis/<section>/<table>.csv``, each table's columns declared in ``latc.analysis.SCHEMAS`` and
checked when read): the Kaplan–Meier curves from ``survival/km_curves`` and
``comparative/km_curves``, the cumulative incidence curves from ``competing/cif_curves``, medians,
log-rank p and hazard ratios from their tables. A figure is the analysis's own estimate, drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import latc.plot as P
from latc.stats import CIFResult, KMResult

from ._common import add_analysis_table, add_figure
from ._inputs import ReportInputs
from ._model import Section

__all__ = ["comparative_frame", "comparative_section", "prognostic_section", "survival_section", "weight_dependence"]

REC_LABEL = "Recurrence-free probability"


def _params(inp: ReportInputs) -> dict[str, Any]:
    return inp.results.get("parameters", {}) or {}


def _rows(df: pd.DataFrame | None, **where: Any) -> pd.DataFrame | None:
    """The rows of an analysis table whose columns equal ``where`` (None when none)."""
    if df is None or not len(df):
        return None
    m = pd.Series(True, index=df.index)
    for k, v in where.items():
        m &= df[k].astype("str").eq(str(v))
    return df[m] if m.any() else None


def _hr_tuple(df: pd.DataFrame | None, estimate: str, **where: Any) -> tuple[float, float, float] | None:
    """``(estimate, lower, upper)`` of the first estimable row of an analysis table matching ``where``;
    ``estimate`` names the table's ratio column (``hr`` in hazard_ratios, ``exp_coef`` in cox)."""
    r = _rows(df, **where)
    if r is None:
        return None
    r = r[pd.to_numeric(r[estimate], errors="coerce").notna()]
    if not len(r):
        return None
    x = r.iloc[0]
    return float(x[estimate]), float(x["lower"]), float(x["upper"])


def km_curve(inp: ReportInputs, section: str, **where: Any) -> KMResult | None:
    """The Kaplan–Meier estimate the analysis wrote (``<section>/km_curves`` with its
    ``km_medians`` rows), selected by tag columns (``endpoint``, ``factor`` / ``weighting``)."""
    curves = _rows(inp.table(section, "km_curves"), **where)
    if curves is None:
        return None
    info = inp.table_info(section, "km_curves") or {}
    par = info.get("parameters") or {}
    return KMResult.from_table(curves, _rows(inp.table(section, "km_medians"), **where),
                               conf_type=par.get("conf_type", "log"), conf_level=par.get("conf_level", 0.95),
                               robust=str(where.get("weighting", "")).startswith("iptw"))


def cif_curve(inp: ReportInputs) -> CIFResult | None:
    """The cumulative incidence curves the analysis wrote (``competing/cif_curves``), with the
    unstratified Gray's tests of ``competing/gray_test``."""
    curves = inp.table("competing", "cif_curves")
    if curves is None or not len(curves):
        return None
    tests = _rows(inp.table("competing", "gray_test"), strata="none")
    par = (inp.table_info("competing", "cif_curves") or {}).get("parameters") or {}
    return CIFResult.from_table(curves, tests=tests, conf_level=par.get("conf_level", 0.95))


def survival_section(inp: ReportInputs) -> Section:
    sec = Section("survival", "Survival of the neoadjuvant cohort")
    par = _params(inp)
    conf_type = par.get("conf_type", "log")
    landmarks = par.get("landmarks_months", [12, 24, 36, 60])
    if inp.table("survival", "km_curves") is not None:
        fits = {k: v for k, v in (("Overall survival", km_curve(inp, "survival", endpoint="OS", factor="overall")),
                                  ("Event-free survival", km_curve(inp, "survival", endpoint="EFS", factor="overall")))
                if v is not None}
        if fits:
            add_figure(sec, "km_os_efs", "Overall and event-free survival (neoadjuvant cohort)",
                       lambda: P.km_plot(fits, landmarks=landmarks, median_lines=True),
                       f"Kaplan–Meier estimates from the treatment decision with 95 % CIs ({conf_type} transform, as R "
                       "survfit), censoring marks and numbers at risk; dotted lines at the landmark times.")
        else:
            sec.note("Survival curves", "no neoadjuvant patient with an OS time in the analysis set")
        lr = inp.table("survival", "logrank")
        by_hist = km_curve(inp, "survival", endpoint="OS", factor="histology_group")
        if by_hist is not None:
            lr_os = _rows(lr, endpoint="OS", factor="histology_group")
            add_figure(sec, "km_os_histology", "Overall survival by histology group (neoadjuvant cohort)",
                       lambda: P.km_plot(by_hist, logrank=lr_os), "Log-rank p from analysis/survival/logrank.csv.")
        by_mpr = km_curve(inp, "survival", endpoint="RFS", factor="mpr")
        if by_mpr is not None:
            lr_m = _rows(lr, endpoint="RFS", factor="mpr")
            hr = _hr_tuple(inp.table("survival", "cox"), "exp_coef", endpoint="RFS", factor="mpr")
            add_figure(sec, "km_rfs_mpr", "Recurrence-free survival by major pathological response",
                       lambda: P.km_plot(by_mpr, logrank=lr_m, cox=hr, labels={"yes": "MPR", "no": "no MPR"},
                                         xlabel="Months since surgery"),
                       "Neoadjuvant patients with an R0/R1 operation and a graded specimen; time zero = operation. "
                       "HR (MPR vs no MPR) and log-rank p from the analysis.")
    else:
        sec.note("Survival curves", inp.why_not("survival", "km_curves"))
    add_analysis_table(sec, inp, "survival", "follow_up", title="Median follow-up (reverse Kaplan–Meier) by cohort",
                       columns=["cohort", "n", "median", "lower", "upper"], key="followup",
                       rename={"median": "Median follow-up, months (95% CI)"})
    only = "neoadjuvant cohort only"
    add_analysis_table(sec, inp, "survival", "km_medians",
                       title=f"Median survival (months) with 95 % CIs by histology group, response and pathological "
                             f"response — {only}",
                       columns=["endpoint", "factor", "group", "n", "events", "median", "note"])
    times = ", ".join(f"{x:g}" for x in landmarks[:-1]) + f" and {landmarks[-1]:g}" if len(landmarks) > 1 else f"{landmarks[0]:g}"
    add_analysis_table(sec, inp, "survival", "km_landmarks",
                       title=f"Landmark survival at {times} months (5-year = 60 months) by histology group, response and "
                             f"pathological response — {only}",
                       columns=["endpoint", "factor", "group", "time", "n_risk", "survival"], rename={"time": "Months"})
    add_analysis_table(sec, inp, "survival", "cox", title=f"Cox hazard ratios by histology group, response and pathological response — {only}",
                       columns=["endpoint", "factor", "term", "exp_coef", "p", "n", "events"],
                       reference_rows=["endpoint", "factor"])
    for k, v in [(nc["table"], nc["reason"]) for nc in inp.section("survival").get("not_computed", [])]:
        sec.notes.append(f"{k}: not computed — {v}")
    return sec


def comparative_frame(inp: ReportInputs) -> tuple[pd.DataFrame | None, str | None]:
    """The analysis's per-patient comparative data (``analysis/comparative/patient_data.csv``:
    cohort, propensity score, IPTW/ATO weights, matched pairs, endpoints).

    The curves therefore use exactly the analysis's propensity model and weights, with nothing
    re-estimated. Returns ``(frame, None)``, ``(frame, reason)`` when the propensity model was not
    estimable (endpoints only), or ``(None, reason)``.
    """
    frame = inp.table("comparative", "patient_data")
    if frame is None or not len(frame):
        return None, inp.why_not("comparative", "patient_data")
    frame = frame.astype({"cohort": "str"})
    if frame["ps"].isna().all():
        return frame, inp.why_not("comparative", "propensity_score")
    return frame, None


def weight_dependence(ws: pd.DataFrame | None) -> dict[str, Any] | None:
    """How much the primary IPTW HR depends on its largest weights, from ``weight_sensitivity``:
    the primary and the 0.99-truncated rows (or the first truncated one), and whether truncation
    moves the HR by more than 10 %. None when either row is missing."""
    if ws is None or not len(ws) or "hr" not in ws:
        return None
    ok = ws.dropna(subset=["hr"]).set_index("analysis")
    primary = [a for a in ok.index if a.startswith("primary")]
    trunc = [a for a in ok.index if a.startswith("truncated at the 0.99")] or [a for a in ok.index if a.startswith("truncated")]
    if not primary or not trunc:
        return None
    p, t = ok.loc[primary[0]], ok.loc[trunc[0]]
    return {"primary": p, "truncated": t, "truncation": trunc[0],
            "moved": bool(abs(np.log(float(t["hr"]) / float(p["hr"]))) > np.log(1.1))}


def _weight_dependence(ws: pd.DataFrame) -> str:
    """One sentence on how much the primary IPTW HR depends on its largest weights (from the table)."""
    dep = weight_dependence(ws)
    if dep is None:
        return "Weight truncation and trimming: see the table (not every variant was estimable)."
    p, t = dep["primary"], dep["truncated"]
    text = (f"Largest IPTW weight {float(p['max_weight']):.1f}; with weights {dep['truncation']} the recurrence HR is "
            f"{float(t['hr']):.2f} ({float(t['lower']):.2f}–{float(t['upper']):.2f}) against {float(p['hr']):.2f} "
            f"({float(p['lower']):.2f}–{float(p['upper']):.2f}) for the primary analysis.")
    if dep["moved"]:
        text += (" The primary estimate moves by more than 10 % under truncation: it rests on a few heavily weighted "
                 "patients (near-violation of positivity); read it together with the overlap-weighted (ATO) and "
                 "covariate-adjusted estimates.")
    return text


def comparative_section(inp: ReportInputs) -> Section:
    sec = Section("comparative", "Comparison with upfront surgery")
    comp = inp.section("comparative")
    if comp.get("reason") or not comp:
        sec.note("Comparison with upfront surgery", inp.why_not("comparative"))
        return sec
    federated = bool((inp.results.get("inputs") or {}).get("federated"))
    sec.paragraphs.append(
        "Treatment was chosen because of the tumour (confounding by indication): the cohorts are compared from a "
        "common time zero (the treatment decision) "
        + ("after propensity-score weighting (IPTW and overlap weights), with balance diagnostics, center "
           "stratification and competing risks — computed federated; matching, sensitivity analyses and E-values "
           "need the pooled rows and are listed as not computed."
           if federated else
           "after propensity-score matching and weighting, with balance diagnostics, center stratification, "
           "competing risks, sensitivity analyses and E-values."))
    par = _params(inp)
    frame, why = comparative_frame(inp)
    hrs = inp.table("comparative", "hazard_ratios")
    if frame is None:
        sec.note("Propensity-score and adjusted-curve figures", why or "comparative frame not available")
    else:
        if why is None:
            add_figure(sec, "ps_distribution", "Propensity-score distributions before and after IPTW",
                       lambda: P.ps_plot(frame, ps="ps", treatment="cohort", treated="neoadjuvant", weights="w_ate",
                                         weights_label="After IPTW (ATE)"),
                       "Mirrored histograms: neoadjuvant above, upfront surgery below the axis; overlap (positivity) check.")
        else:
            sec.note("Propensity-score distributions", why)
    if True:  # the curves are the analysis's (comparative/km_curves, competing/cif_curves)
        os_km = km_curve(inp, "comparative", endpoint="overall_survival", weighting="unweighted")
        if os_km is not None:
            lr = _rows(inp.table("comparative", "logrank"), endpoint="overall_survival")
            naive = _hr_tuple(hrs, "hr", endpoint="overall_survival", analysis="naive")
            add_figure(sec, "km_os_cohort", "Overall survival by cohort (unadjusted)",
                       lambda: P.km_plot(os_km, logrank=lr, cox=naive),
                       "Kaplan–Meier from the treatment decision; log-rank p (R survdiff)"
                       + (" and the unadjusted Cox HR (neoadjuvant vs upfront surgery)." if naive else "."))
        rec_km = km_curve(inp, "comparative", endpoint="recurrence", weighting="iptw_ate")
        if rec_km is not None:
            add_figure(sec, "km_recurrence_iptw", "Adjusted recurrence-free curves (IPTW, ATE)",
                       lambda: P.km_plot(rec_km, cox=_hr_tuple(hrs, "hr", endpoint="recurrence", analysis="iptw_ate"),
                                         ylabel=REC_LABEL),
                       "Stabilized inverse-probability-of-treatment weighted Kaplan–Meier with robust sandwich CIs; "
                       "HR = primary analysis (weighted Cox, strata(center), robust SE). Numbers at risk are sums of the stabilized weights.")
        cif = cif_curve(inp)
        if cif is not None:
            add_figure(sec, "cif_recurrence", "Cumulative incidence of recurrence with death as a competing risk",
                       lambda: P.cif_plot(cif, cause_labels={1: "Recurrence or progression", 2: "Death without recurrence"},
                                          xlabel="Months since treatment decision"),
                       "Aalen–Johansen estimates (R cmprsk::cuminc) with Gray's test per cause.")
    love = inp.table("comparative", "love_plot")
    if love is not None and len(love):
        for adj, label in (("iptw_ate", "After IPTW (ATE)"), ("ps_matched", "After 1:1 matching")):
            lv = love[love["adjustment"].eq(adj)]
            if len(lv):
                add_figure(sec, f"love_{adj}", f"Covariate balance (Love plot): {label.lower()}",
                           lambda lv=lv, label=label: P.love_plot(lv, sample_labels={"Adjusted": label}),
                           "Absolute standardized mean differences before (open) and after (filled); dashed line at 0.1.")
    else:
        sec.note("Love plot", inp.why_not("comparative", "love_plot"))
    forest = inp.table("subgroups", "forest")
    if forest is not None and len(forest):
        lab = forest[["subgroup", "subgroup_label"]].dropna() if "subgroup_label" in forest else forest.iloc[:0]
        labels = {str(k): str(v) for k, v in zip(lab["subgroup"], lab["subgroup_label"])}
        add_figure(sec, "forest_subgroups", "Recurrence HR (neoadjuvant vs upfront) by subgroup",
                   lambda: P.forest_plot(forest, labels=labels, favours=("neoadjuvant", "upfront surgery")),
                   "IPTW-weighted Cox per subgroup with robust CIs; interaction p per subgroup variable.")
    else:
        sec.note("Forest plot", inp.why_not("subgroups", "forest"))
    add_analysis_table(sec, inp, "comparative", "hazard_ratios",
                       title="Neoadjuvant vs upfront surgery (reference): hazard ratios by analysis",
                       columns=["endpoint", "analysis", "estimand", "hr", "p", "n", "events", "primary", "note"])
    add_analysis_table(sec, inp, "comparative", "weights_summary", title="Distribution of the weights by cohort",
                       columns=["weights", "cohort", "n", "median", "q99", "max", "ess", "share_of_weight_top1pct",
                                "n_above_10"],
                       rename={"median": "Median weight", "q99": "99th pct", "ess": "ESS",
                               "share_of_weight_top1pct": "share of top 1 %",
                               "n_above_10": "weights > 10"})
    ws = add_analysis_table(sec, inp, "comparative", "weight_sensitivity",
                            title="Recurrence HR, neoadjuvant vs upfront surgery (reference), under weight truncation "
                                  "and propensity-score trimming",
                            columns=["analysis", "population", "hr", "p", "n", "events", "excluded", "max_weight",
                                     "note"])
    if ws is not None:
        sec.paragraphs.append(_weight_dependence(inp.table("comparative", "weight_sensitivity")))
    add_analysis_table(sec, inp, "comparative", "matching", title="Propensity-score matching: sample sizes")
    add_analysis_table(sec, inp, "comparative", "effective_sample_size", title="Effective sample sizes (Kish)")
    add_analysis_table(sec, inp, "comparative", "km_landmarks",
                       title="Landmark survival by cohort at " + ", ".join(f"{x:g}" for x in par.get("landmarks_months", [])) + " months (unweighted and IPTW)",
                       columns=["endpoint", "weighting", "group", "time", "n_risk", "survival"], rename={"time": "Months"})
    add_analysis_table(sec, inp, "competing", "cumulative_incidence",
                       title="Cumulative incidence at " + ", ".join(f"{x:g}" for x in par.get("landmarks_months", [])) + " months",
                       columns=["group", "cause_label", "time", "cif"], rename={"time": "Months", "cause_label": "Cause"})
    add_analysis_table(sec, inp, "competing", "gray_test", title="Gray's test by cohort",
                       columns=["cause_label", "strata", "chisq", "df", "p"], rename={"cause_label": "Cause"})
    add_analysis_table(sec, inp, "competing", "fine_gray",
                       title="Fine–Gray subdistribution hazard ratio of recurrence, neoadjuvant vs upfront surgery (reference)",
                       columns=["model", "shr", "p", "n", "events", "competing_events"])
    add_analysis_table(sec, inp, "sensitivity", "hazard_ratios",
                       title="Sensitivity analyses of the adjusted recurrence HR, neoadjuvant vs upfront surgery (reference)",
                       columns=["analysis", "population", "hr", "p", "n", "events", "note"])
    add_analysis_table(sec, inp, "comparative", "evalues",
                       title="E-values of the comparative hazard ratios (neoadjuvant vs upfront surgery, reference)",
                       columns=["endpoint", "analysis", "hr", "evalue_point", "evalue_ci", "primary"])
    shown_with_notes = {("comparative", "hazard_ratios"), ("sensitivity", "hazard_ratios")}  # rows carry their note
    for s in ("comparative", "competing", "sensitivity", "subgroups"):
        info = inp.section(s)
        if info.get("reason"):
            sec.notes.append(f"{info.get('title', s)}: not computed — {info['reason']}")
        for nc in info.get("not_computed", []):
            if (s, str(nc["table"]).split("/")[0]) not in shown_with_notes:
                sec.notes.append(f"{s}/{nc['table']}: not computed — {nc['reason']}")
    return sec


def prognostic_section(inp: ReportInputs) -> Section:
    sec = Section("prognostic", "Recurrence risk stratification: ATA risk vs the prognostic model")
    disc = inp.table("prognostic", "discrimination")
    if disc is not None and len(disc):
        sec.paragraphs.append("Baseline model: ATA 2015 risk; extended model: ATA risk + response to neoadjuvant therapy. "
                              "Discrimination by Harrell's and Uno's C and the time-dependent AUC at the horizons.")
        m = disc[disc["metric"].isin(["harrell_c", "uno_c", "auc"]) & pd.to_numeric(disc["estimate"], errors="coerce").notna()].copy()
        if len(m):
            from ._format import CODE_LABELS

            m["model"] = m["model"].map(lambda v: CODE_LABELS.get(v, v))
            m["measure"] = m["metric"].map({"harrell_c": "Harrell's C", "uno_c": "Uno's C", "auc": "AUC"}) + \
                m["horizon"].map(lambda h: "" if pd.isna(h) else f" {h:g} mo")
            add_figure(sec, "prognostic_discrimination", "Discrimination: ATA risk vs ATA + response",
                       lambda: P.grouped_bar(m, "measure", "model", "estimate", lower="lower", upper="upper",
                                             ylabel="Estimate", xlabel=None),
                       "Error bars: 95 % CIs where estimated (infinitesimal-jackknife or bootstrap); 0.5 = no discrimination.")
    add_analysis_table(sec, inp, "prognostic", "discrimination", title="Discrimination, calibration and likelihood-ratio test",
                       columns=["model", "metric", "horizon", "estimate", "p", "note"], digits=3)
    add_analysis_table(sec, inp, "prognostic", "calibration", title="Calibration by risk group at the horizons",
                       columns=["model", "horizon", "group", "n", "events", "mean_predicted", "observed", "note"], digits=3)
    return sec
