"""Clinical sections: imaging, biochemical and pathological response, downstaging, surgery, safety.

Numbers come from the analysis tables (``analysis/<section>/*.csv``); figures are drawn by
``latc.plot`` from the per-patient derived datasets (the only glue here is selecting the
population — response set, operated set — and binning % viable tumour for display).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

import latc.plot as P

from ._common import add_analysis_table, add_figure, add_table, flag, months_since
from ._inputs import ReportInputs
from ._model import Section

__all__ = ["biochemical_section", "imaging_section", "pathology_section", "safety_section", "surgery_section"]

VIABLE_BINS = [-0.001, 0.0, 10.0, 50.0, 90.0, 100.0]
VIABLE_LABELS = ["0 % (pCR)", "1–10 %", "11–50 %", "51–90 %", "91–100 %"]


def _neoadjuvant(subj: pd.DataFrame | None, population: str = "response_set") -> pd.DataFrame | None:
    if subj is None or "cohort" not in subj:
        return None
    keep = subj["cohort"].astype("str").eq("neoadjuvant").fillna(False)
    if population in subj:
        keep &= flag(subj[population])
    return subj[keep.to_numpy()]


#: the date that places a row of a validated (clean) form in time, for the data cut
_CUT_DATES = {"treatments": "start_date", "surgery": "surgery_date", "follow_up": "visit_date"}


def _at_data_cut(tables: dict[str, pd.DataFrame | None], cut: str | None) -> dict[str, pd.DataFrame | None]:
    """The validated tables as ``latc derive`` saw them at its data cut: rows dated after the cut
    left out, a treatment stopping after it runs to the cut, a recurrence after it not yet known.
    (The clean tables are not cut — validation keeps every record — so without this a swimmer
    lane would show recurrences and operations after the data cut.)"""
    if not cut:
        return tables
    try:
        day = pd.Timestamp(cut)
    except (TypeError, ValueError):
        return tables
    out: dict[str, pd.DataFrame | None] = {}
    for name, df in tables.items():
        if df is not None and _CUT_DATES.get(name) in df:
            df = df[~(pd.to_datetime(df[_CUT_DATES[name]], errors="coerce") > day).to_numpy()].copy()
            if name == "treatments" and "stop_date" in df:
                stop = pd.to_datetime(df["stop_date"], errors="coerce")
                df["stop_date"] = stop.where(~(stop > day), day)
            if name == "follow_up" and "recurrence_date" in df:
                rec = pd.to_datetime(df["recurrence_date"], errors="coerce")
                df["recurrence_date"] = rec.where(~(rec > day))
        out[name] = df
    return out


#: Individual lines drawn at most in a spider or trajectory plot: above it, a seeded random sample
#: of this many patients (issue 17: 100,000 patients' lines took 13 s and 1.4 GB to draw, and are
#: one undistinguishable mass); the caption says so, and medians and counts use every patient.
MAX_LINES = 2000


def _sampled(fig: Any, *, medians: bool = False) -> str:
    """The caption's words when the figure drew only a sample of its patients' lines."""
    drawn, n = getattr(fig, "lines_drawn", None), getattr(fig, "n_patients", None)
    if drawn is None or n is None or drawn >= n:
        return ""
    return (f" (drawn for a random {drawn:,} of the {n:,} patients, seeded: the same on every run"
            + ("; the medians use every patient)" if medians else ")"))


def imaging_section(inp: ReportInputs) -> Section:
    sec = Section("imaging", "Imaging response (RECIST 1.1)")
    subj = inp.derived("subject")
    rs = _neoadjuvant(subj)
    if rs is None:
        sec.note("Imaging response", "no derived subject dataset")
        return sec
    if len(rs) == 0:
        sec.note("Imaging response", "no neoadjuvant patient received a dose (empty response set)")
    ann = "histology_group" if "histology_group" in rs and rs["histology_group"].notna().any() else None
    if len(rs):
        add_figure(sec, "waterfall", "Waterfall plot: best change in the sum of target lesions",
                   lambda: P.waterfall_plot(rs, annotate=ann, annotate_label="Histology"),
                   "One bar per patient of the response set, coloured by best overall response; dashed lines at +20 % "
                   "(progression) and −30 % (partial response), RECIST 1.1 §4.3.1.")
        tum = inp.derived("tumour")
        if tum is not None and len(tum):
            t = tum[tum["patient_id"].isin(rs["patient_id"])]
            add_figure(sec, "spider", "Spider plot: change in the sum of target lesions over time",
                       lambda: P.spider_plot(t, rs[["patient_id", "best_overall_response"]], max_lines=MAX_LINES),
                       lambda fig: "One line per patient from the baseline scan" + _sampled(fig)
                       + ", coloured by best overall response.")
        else:
            sec.note("Spider plot", "no derived tumour dataset (target-lesion sums)")
        tte = inp.derived("tte")
        tables = _at_data_cut({f: inp.clean(f) for f in ("treatments", "surgery", "follow_up")},
                              inp.derive_parameters.get("data_cut"))
        if tte is not None and all(v is not None for v in tables.values()):
            def swimmer():
                lanes, courses, events = P.swimmer_data(tables, tte, tum, patients=rs["patient_id"])
                return P.swimmer_plot(lanes, courses, events, max_lanes=40)
            add_figure(sec, "swimmer", "Swimmer plot: each patient's course", swimmer,
                       "Lanes from the treatment decision to death or last contact (longest 40 shown): treatment courses "
                       "by agent class, first response, progression, surgery, recurrence and death.")
        else:
            sec.note("Swimmer plot", "needs the validated treatments, surgery and follow-up tables and derived/tte")
    orr = inp.table("response", "objective_response")
    if orr is not None and len(orr):
        bars = orr[orr["outcome"].isin(["objective_response", "disease_control"]) & orr["by"].eq("histology_group")].copy()
        if len(bars):
            for c in ("rate", "lower", "upper"):
                bars[c] = bars[c].astype(float) * 100
            bars["outcome"] = bars["outcome"].map({"objective_response": "Objective response",
                                                   "disease_control": "Disease control"})
            add_figure(sec, "orr_by_histology", "Objective response and disease control by histology",
                       lambda: P.grouped_bar(bars, "level", "outcome", "rate", lower="lower", upper="upper",
                                             ylabel="Patients (%)", xlabel="Histology group"),
                       "Rates with exact (Clopper–Pearson) 95 % CIs; unconfirmed best overall response.")
    add_analysis_table(sec, inp, "response", "objective_response", title="Response rates with exact 95 % CIs by histology and regimen",
                       columns=["outcome", "by", "level", "responders", "n", "rate", "not_evaluable", "note"])
    add_analysis_table(sec, inp, "response", "best_overall_response", title="Best overall response (RECIST 1.1)")
    return sec


def biochemical_section(inp: ReportInputs) -> Section:
    sec = Section("biochemical", "Biochemical response")
    labs, subj = inp.derived("labs"), inp.derived("subject")
    if labs is None or subj is None or not len(labs):
        sec.note("Marker trajectories", "no derived labs dataset")
    else:
        base = subj[["patient_id", "cohort", "treatment_decision_date"]]
        # only the two markers drawn, and the columns the plot reads (2.8 M lab rows at 100,000 patients)
        cols = [c for c in ("patient_id", "lab_date", "test", "value", "unit", "tg_interpretable") if c in labs]
        l = labs.loc[labs["test"].astype("str").isin(["tg", "calcitonin"]), cols].merge(base, on="patient_id", how="inner")
        l["time_months"] = months_since(l["lab_date"], l["treatment_decision_date"])
        tg = l[l["test"].astype("str").eq("tg") & (flag(l["tg_interpretable"]) if "tg_interpretable" in l else True)]
        add_figure(sec, "trajectory_tg", "Thyroglobulin trajectories (TgAb-negative samples)",
                   lambda: P.trajectory_plot(tg, marker="tg", max_lines=MAX_LINES),
                   lambda fig: "Tg is interpretable only when Tg antibodies are negative (ATA 2015); per-patient lines"
                   + _sampled(fig, medians=True) + " and cohort medians per 3-month window, log axis.")
        ct = l[l["test"].astype("str").eq("calcitonin")]
        add_figure(sec, "trajectory_calcitonin", "Calcitonin trajectories (MTC)",
                   lambda: P.trajectory_plot(ct, marker="calcitonin", max_lines=MAX_LINES),
                   lambda fig: "Medullary thyroid cancer: per-patient calcitonin" + _sampled(fig, medians=True)
                   + " and cohort medians, log axis.")
    add_analysis_table(sec, inp, "response", "biochemical_response", title="Biochemical response with exact 95 % CIs",
                       columns=["outcome", "by", "level", "responders", "n", "rate", "not_evaluable", "note"])
    return sec


def pathology_section(inp: ReportInputs) -> Section:
    sec = Section("pathology", "Pathological response and downstaging")
    add_analysis_table(sec, inp, "response", "pathological_response", title="Pathological complete (pCR) and major (MPR) response",
                       columns=["outcome", "by", "level", "responders", "n", "rate", "not_evaluable", "note"])
    neo = _neoadjuvant(inp.derived("subject"), "analysis_set")
    if neo is None:
        return sec
    if "viable_tumor_pct" in neo:
        v = neo[neo["viable_tumor_pct"].notna()].copy()
        v["viable_tumour"] = pd.cut(v["viable_tumor_pct"].astype(float), VIABLE_BINS, labels=VIABLE_LABELS).astype("str")
        v["histology_group"] = v["histology_group"].astype("str").fillna("unknown") if "histology_group" in v else "all"
        add_figure(sec, "viable_tumour", "Distribution of % viable tumour in the resected specimen",
                   lambda: P.stacked_bar(v, "viable_tumour", group="histology_group", order=VIABLE_LABELS,
                                         legend_title="Viable tumour", ylabel="Patients (%)"),
                   "Neoadjuvant patients with a graded specimen; pCR = no viable tumour, MPR = ≤ 10 % viable tumour.")
    if {"ct", "pathological_t"} <= set(neo.columns):
        st = neo[["patient_id", "ct", "pathological_t"]].dropna()
        add_figure(sec, "downstaging_sankey", "Downstaging: clinical T (baseline) → ypT (surgery)",
                   lambda: P.sankey_plot(st, "ct", "pathological_t"),
                   "AJCC 8th edition T categories; ribbons proportional to patients, coloured downstaged / unchanged / upstaged.")
        if len(st):
            tab = P.shift_table(st, "ct", "pathological_t")
            add_table(sec, "downstaging_shift", "Shift table: cT (rows) × ypT (columns)", tab.reset_index().rename(columns={tab.index.name or "index": "cT"}),
                      caption=f"Downstaged {tab.attrs.get('downstaged', '?')}, unchanged {tab.attrs.get('unchanged', '?')}, "
                              f"upstaged {tab.attrs.get('upstaged', '?')} patients.")
    return sec


def surgery_section(inp: ReportInputs) -> Section:
    sec = Section("surgery", "Surgery: resection, organ preservation and complications")
    subj = inp.derived("subject")
    if subj is not None and "operated_set" in subj:
        op = subj[flag(subj["operated_set"]).to_numpy()].copy()
        if len(op):
            op["resection"] = op["resection_status"].astype("str").fillna("unknown")
            add_figure(sec, "resection_status", "Resection status by cohort",
                       lambda: P.stacked_bar(op, "resection", group="cohort", order=["R0", "R1", "R2", "unknown"],
                                             legend_title="Resection", ylabel="Operated patients (%)"),
                       "R0 = microscopically complete; R1 = microscopic residual; R2 = macroscopic residual tumour.")
            op["clavien_dindo"] = op["max_clavien_dindo"].astype("str").fillna("none")
            order = ["none", "I", "II", "IIIa", "IIIb", "IVa", "IVb", "V"]
            add_figure(sec, "clavien_dindo", "Worst complication (Clavien–Dindo grade) by cohort",
                       lambda: P.stacked_bar(op, "clavien_dindo", group="cohort",
                                             order=[o for o in order if o in set(op["clavien_dindo"])],
                                             legend_title="Clavien–Dindo", ylabel="Operated patients (%)"),
                       "Highest Clavien–Dindo grade per patient (Dindo et al., Ann Surg 2004); none = no complication.")
        else:
            sec.note("Surgery figures", "no patient with a curative operation")
    add_analysis_table(sec, inp, "surgery", "outcomes", title="Resection status and complications by cohort",
                       columns=["label", "cohort", "responders", "n", "rate", "note"], rename={"responders": "Patients"})
    add_analysis_table(sec, inp, "surgery", "organ_preservation", title="Organ preservation vs the baseline surgical plan",
                       columns=["outcome", "denominator", "cohort", "responders", "n", "rate", "note"], rename={"responders": "Patients"})
    return sec


def safety_section(inp: ReportInputs) -> Section:
    sec = Section("safety", "Safety of neoadjuvant therapy")
    add_analysis_table(sec, inp, "safety", "ae_overview", title="Adverse event overview (safety set)",
                       columns=["category", "safety_set", "n_patients", "pct_patients"], percent=(),
                       rename={"n_patients": "Patients", "pct_patients": "% (95% CI)"})
    t = inp.table("safety", "ae_by_term")
    info = inp.table_info("safety", "ae_by_term")
    if t is not None:
        d = t.copy()
        for k in ("any_grade", "grade_3_plus"):
            d[f"{k}_text"] = (d[f"n_{k}"].astype("Int64").astype("str") + " ("
                              + d[f"pct_{k}"].astype(float).map(lambda x: f"{x:.1f}") + " %)")
        from ._common import caption_of
        from ._format import display_table
        from ._model import ReportTable
        disp = display_table(d, columns=["ctcae_term", "ki_toxicity_group", "any_grade_text", "grade_3_plus_text"],
                             rename={"any_grade_text": "Any grade, n (%)", "grade_3_plus_text": "Grade ≥ 3, n (%)"})
        if len(d):
            sec.tables.append(ReportTable("safety_ae_by_term", "Adverse events by CTCAE v5 term: any grade and grade ≥ 3",
                                          t, disp, caption_of(info), source="analysis/safety/ae_by_term.csv"))
        else:
            sec.note("Adverse events by term", "no treatment-emergent adverse event")
    else:
        sec.note("Adverse events by term", inp.why_not("safety", "ae_by_term"))
    ex = inp.derived("exposure")
    if ex is not None and len(ex):
        cols = [c for c in ("dose_reduced", "interrupted", "discontinued_for_toxicity") if c in ex]
        g = ex.assign(**{c: flag(ex[c]) for c in cols}).groupby(ex["agent_class"].astype("str").fillna("unknown"))
        dm = g["patient_id"].nunique().rename("patients").to_frame()
        for c in cols:
            dm[c] = g.apply(lambda x, c=c: x.loc[x[c], "patient_id"].nunique(), include_groups=False)
        dm = dm.reset_index().rename(columns={"agent_class": "regimen (agent class)"})
        for c in cols:
            dm[c] = dm[c].astype(int).astype("str") + " (" + (100 * dm[c] / dm["patients"].clip(lower=1)).map(lambda x: f"{x:.0f}") + " %)"
        add_table(sec, "dose_modifications", "Dose modifications by regimen", dm,
                  caption="Patients with at least one course with a dose reduction, interruption or discontinuation for "
                          "toxicity (derived/exposure), n (% of patients on the regimen).")
    else:
        sec.note("Dose modifications", "no derived exposure dataset (no neoadjuvant treatment recorded)")
    return sec
