"""Outcome sections: survival (neoadjuvant cohort), comparison with upfront surgery, recurrence risk.

Estimates, tests and CIs shown in tables come from ``latc analyze`` (``analysis/*.csv``). The
curves need per-patient data, so the figures re-estimate them with the same ``latc.stats``
functions and parameters (conf_type, time zero, and the analysis's own per-patient propensity scores
and IPTW weights from ``comparative/patient_data.csv``) — the HRs printed in the panels are
read from the analysis tables, so the figure and the table cannot disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import latc.plot as P
from latc.stats import StatsInputError, cumulative_incidence, kaplan_meier, logrank

from ._common import add_analysis_table, add_figure, add_table, flag
from ._inputs import ReportInputs
from ._model import Section

__all__ = ["comparative_frame", "comparative_section", "prognostic_section", "survival_section", "weight_dependence"]

REC_LABEL = "Recurrence-free probability"


def _params(inp: ReportInputs) -> dict[str, Any]:
    return inp.results.get("parameters", {}) or {}


def _hr_tuple(df: pd.DataFrame | None, **where: Any) -> tuple[float, float, float] | None:
    if df is None or not len(df):
        return None
    m = pd.Series(True, index=df.index)
    for k, v in where.items():
        m &= df[k].astype("str").eq(str(v))
    r = df[m]
    est = "hr" if "hr" in r else "exp_coef"
    r = r[pd.to_numeric(r[est], errors="coerce").notna()]
    if not len(r):
        return None
    x = r.iloc[0]
    return float(x[est]), float(x["lower"]), float(x["upper"])


def _quiet(fn: Any) -> Any:
    """``fn()``, or ``None`` when the statistic is undefined for these data (e.g. a log-rank test without events)."""
    try:
        return fn()
    except StatsInputError:
        return None


def _km(df: pd.DataFrame, time: str, event: str, group: str | None, conf_type: str, **kw: Any):
    d = df[df[time].notna() & df[event].notna()].copy()
    d[time] = d[time].astype(float)
    d[event] = d[event].astype(float)
    if not len(d):
        return None
    return kaplan_meier(d, time, event, group=group, conf_type=conf_type, **kw)


def _followup(df: pd.DataFrame, conf_type: str) -> pd.DataFrame:
    """Median follow-up by cohort with the reverse Kaplan–Meier method (censoring as the event)."""
    d = df[df["time_months"].notna()].assign(censored=lambda x: 1 - x["event"].astype(float),
                                             time_months=lambda x: x["time_months"].astype(float))
    if not len(d):
        return pd.DataFrame()
    km = kaplan_meier(d, "time_months", "censored", group="cohort", conf_type=conf_type)
    m = pd.DataFrame(km.medians)
    keep = [c for c in ("group", "n", "median", "lower", "upper") if c in m.columns]
    return m[keep].rename(columns={"group": "cohort"})


def survival_section(inp: ReportInputs) -> Section:
    sec = Section("survival", "Survival of the neoadjuvant cohort")
    par = _params(inp)
    conf_type = par.get("conf_type", "log")
    landmarks = par.get("landmarks_months", [12, 24, 36, 60])
    subj, tte = inp.derived("subject"), inp.derived("tte")
    if subj is not None and tte is not None and "analysis_set" in subj:
        a = subj[flag(subj["analysis_set"]).to_numpy()]
        neo_ids = a.loc[a["cohort"].astype("str").eq("neoadjuvant"), "patient_id"]
        t = tte[tte["patient_id"].isin(neo_ids)].merge(a[["patient_id", "histology_group", "mpr"]], on="patient_id", how="left")
        os_, efs = t[t["paramcd"].eq("OS")], t[t["paramcd"].eq("EFS")]
        if len(os_):
            def os_efs():
                fits = {k: v for k, v in (("Overall survival", _km(os_, "time_months", "event", None, conf_type)),
                                          ("Event-free survival", _km(efs, "time_months", "event", None, conf_type)))
                        if v is not None}
                return P.km_plot(fits, landmarks=landmarks, median_lines=True)
            add_figure(sec, "km_os_efs", "Overall and event-free survival (neoadjuvant cohort)", os_efs,
                       f"Kaplan–Meier estimates from the treatment decision with 95 % CIs ({conf_type} transform, as R "
                       "survfit), censoring marks and numbers at risk; dotted lines at the landmark times.")
            lr = inp.table("survival", "logrank")
            g = os_[os_["histology_group"].notna()].copy()
            order = [h for h in ("DTC", "PDTC", "ATC", "MTC") if h in set(g["histology_group"])]
            order += sorted(set(g["histology_group"]) - set(order))
            g["histology_group"] = pd.Categorical(g["histology_group"], categories=order)
            if g["histology_group"].nunique() > 1:
                lr_os = lr[lr["endpoint"].eq("OS") & lr["factor"].eq("histology_group")] if lr is not None else None
                add_figure(sec, "km_os_histology", "Overall survival by histology group (neoadjuvant cohort)",
                           lambda: P.km_plot(_km(g, "time_months", "event", "histology_group", conf_type),
                                             logrank=lr_os if lr_os is not None and len(lr_os) else None),
                           "Log-rank p from analysis/survival/logrank.csv.")
        else:
            sec.note("Survival curves", "no neoadjuvant patient in the analysis set")
        rfs = t[t["paramcd"].eq("RFS") & t["mpr"].notna()].copy()
        if len(rfs) and rfs["mpr"].nunique() > 1:
            rfs["mpr"] = np.where(flag(rfs["mpr"]).to_numpy(), "MPR", "no MPR")
            lr = inp.table("survival", "logrank")
            lr_m = lr[lr["endpoint"].eq("RFS") & lr["factor"].eq("mpr")] if lr is not None else None
            hr = _hr_tuple(inp.table("survival", "cox"), endpoint="RFS", factor="mpr")
            add_figure(sec, "km_rfs_mpr", "Recurrence-free survival by major pathological response",
                       lambda: P.km_plot(_km(rfs, "time_months", "event", "mpr", conf_type),
                                         logrank=lr_m if lr_m is not None and len(lr_m) else None, cox=hr,
                                         xlabel="Months since surgery"),
                       "Neoadjuvant patients with an R0/R1 operation and a graded specimen; time zero = operation. "
                       "HR (MPR vs no MPR) and log-rank p from the analysis.")
        fu = tte[tte["paramcd"].eq("OS") & tte["patient_id"].isin(a["patient_id"])]
        try:
            add_table(sec, "followup", "Median follow-up (reverse Kaplan–Meier) by cohort", _followup(fu, conf_type),
                      rename={"median": "Median follow-up, months (95% CI)"}, caption="Months from the treatment decision; censoring treated as the event (Schemper & Smith 1996).")
        except Exception as exc:  # degenerate follow-up (e.g. nobody censored)
            sec.note("Median follow-up", str(exc).splitlines()[0])
    else:
        sec.note("Survival curves", "no derived subject/tte datasets")
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
    sec.paragraphs.append(
        "Treatment was chosen because of the tumour (confounding by indication): the cohorts are compared from a "
        "common time zero (the treatment decision) after propensity-score matching and weighting, with balance "
        "diagnostics, center stratification, competing risks, sensitivity analyses and E-values.")
    par = _params(inp)
    conf_type = par.get("conf_type", "log")
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
        d = frame[frame["os_time"].notna()]
        if len(d):
            lr = _quiet(lambda: logrank(d.assign(os_time=d["os_time"].astype(float), os_event=d["os_event"].astype(float)),
                                        "os_time", "os_event", "cohort")) if d["cohort"].nunique() > 1 else None
            add_figure(sec, "km_os_cohort", "Overall survival by cohort (unadjusted)",
                       lambda: P.km_plot(_km(d, "os_time", "os_event", "cohort", conf_type), logrank=lr,
                                         cox=_hr_tuple(hrs, endpoint="overall_survival", analysis="naive")),
                       "Kaplan–Meier from the treatment decision; log-rank p (R survdiff) and the unadjusted Cox HR "
                       "(neoadjuvant vs upfront surgery).")
        if why is None:
            r = frame[frame["rec_time"].notna()]
            add_figure(sec, "km_recurrence_iptw", "Adjusted recurrence-free curves (IPTW, ATE)",
                       lambda: P.km_plot(_km(r, "rec_time", "rec_event", "cohort", conf_type, weights="w_ate"),
                                         cox=_hr_tuple(hrs, endpoint="recurrence", analysis="iptw_ate"),
                                         ylabel=REC_LABEL),
                       "Stabilized inverse-probability-of-treatment weighted Kaplan–Meier with robust sandwich CIs; "
                       "HR = primary analysis (weighted Cox, strata(center), robust SE). Numbers at risk are unweighted.")
        rr = frame[frame["rec_time"].notna()].copy()
        if len(rr):
            def cif():
                rr["rec_time"] = rr["rec_time"].astype(float)
                ci = cumulative_incidence(rr, "rec_time", "rec_type", group="cohort")
                return P.cif_plot(ci, cause_labels={1: "Recurrence or progression", 2: "Death without recurrence"},
                                  xlabel="Months since treatment decision")
            add_figure(sec, "cif_recurrence", "Cumulative incidence of recurrence with death as a competing risk", cif,
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
