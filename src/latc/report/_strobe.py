"""STROBE: the participant flow (item 13) and the 22-item checklist mapped to this report.

Items and wording follow the STROBE statement for cohort studies (von Elm E, Altman DG, Egger M,
et al. *Lancet* 2007;370:1453–7, Table). Each item points to the report section or output file
that addresses it, or says honestly that the manuscript must (title, discussion, funding).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from latc.plot import flow_diagram

from ._common import add_figure, add_table, flag
from ._inputs import ReportInputs
from ._model import Section

__all__ = ["STROBE_ITEMS", "flow_counts", "flow_section", "strobe_section"]

#: (item, topic, recommendation (abridged from von Elm 2007), section key or None, how addressed)
STROBE_ITEMS: list[tuple[str, str, str, str | None, str]] = [
    ("1", "Title and abstract", "(a) Indicate the study's design with a commonly used term; (b) an informative, balanced abstract",
     None, "Not addressed: written in the manuscript."),
    ("2", "Background/rationale", "Explain the scientific background and rationale",
     None, "Not addressed: the protocol synopsis (docs) holds the rationale; write it in the manuscript."),
    ("3", "Objectives", "State specific objectives, including any prespecified hypotheses",
     "methods", "Methods: the objectives and prespecified analysis plan (latc analyze sections)."),
    ("4", "Study design", "Present key elements of study design early in the paper",
     "methods", "Methods: multicenter observational cohort, neoadjuvant vs upfront surgery."),
    ("5", "Setting", "Describe the setting, locations, relevant dates (recruitment, exposure, follow-up, data collection)",
     "cohort", "Participant flow and Methods: centers, diagnosis dates, data cut."),
    ("6", "Participants", "(a) Eligibility criteria, sources and methods of selection, follow-up; (b) matched studies: matching criteria",
     "cohort", "Participant flow (criteria failed) and Methods (matching: caliper, ratio, exact on center)."),
    ("7", "Variables", "Define all outcomes, exposures, predictors, potential confounders and effect modifiers",
     "methods", "Methods: endpoints and confounders; derived-variable definitions in derived/metadata.csv."),
    ("8", "Data sources/measurement", "Sources of data and methods of assessment for each variable",
     "quality", "Data completeness and quality; Methods (RECIST 1.1, CTCAE v5, Clavien–Dindo, AJCC 8th)."),
    ("9", "Bias", "Describe any efforts to address potential sources of bias",
     "comparative", "Comparison with upfront surgery: common time zero, propensity score, balance, E-values."),
    ("10", "Study size", "Explain how the study size was arrived at",
     None, "Not addressed: all eligible patients of the participating centers; no formal sample-size calculation is computed here."),
    ("11", "Quantitative variables", "Explain how quantitative variables were handled; which groupings were chosen and why",
     "methods", "Methods and Baseline characteristics (continuous variables, categories, landmarks)."),
    ("12", "Statistical methods", "(a) Methods incl. confounding; (b) subgroups/interactions; (c) missing data; (d) loss to follow-up; (e) sensitivity analyses",
     "methods", "Methods (generated from results.json) and Sensitivity analyses (multiple imputation, landmark, time zero)."),
    ("13", "Participants", "(a) Numbers at each stage; (b) reasons for non-participation; (c) a flow diagram",
     "cohort", "Participant flow diagram and table."),
    ("14", "Descriptive data", "(a) Characteristics of participants; (b) missing data per variable; (c) follow-up time",
     "baseline", "Baseline characteristics (missing counts per variable) and the follow-up table in Survival."),
    ("15", "Outcome data", "Report numbers of outcome events or summary measures over time",
     "survival", "Survival: events, medians and landmark rates; Response, Surgery and Safety tables."),
    ("16", "Main results", "(a) Unadjusted and adjusted estimates with precision, confounders adjusted for; (b) category boundaries; (c) absolute risk",
     "comparative", "Comparison with upfront surgery: naive, adjusted, matched and weighted HRs; landmark survival (absolute)."),
    ("17", "Other analyses", "Other analyses done — subgroups, interactions, sensitivity analyses",
     "comparative", "Forest plot of subgroups (interaction p), sensitivity analyses, E-values, competing risks."),
    ("18", "Key results", "Summarise key results with reference to study objectives",
     "summary", "Partly: the Summary lists the headline estimates; interpretation belongs to the manuscript."),
    ("19", "Limitations", "Discuss limitations, sources of bias or imprecision",
     None, "Not addressed: discussion in the manuscript (the E-values and sensitivity analyses inform it)."),
    ("20", "Interpretation", "Cautious overall interpretation of results",
     None, "Not addressed: discussion in the manuscript."),
    ("21", "Generalisability", "Discuss the generalisability (external validity)",
     None, "Not addressed: discussion in the manuscript."),
    ("22", "Funding", "Source of funding and role of funders",
     None, "Not addressed: stated in the manuscript."),
]


#: Protocol criteria (``validation/eligibility.csv`` names, protocol order) → the reason for exclusion.
CRITERION_REASONS: dict[str, str] = {
    "age_14_or_older": "Age < 14 years at enrollment",
    "ecog_0_to_2": "ECOG performance status > 2",
    "confirmed_carcinoma": "Thyroid carcinoma (DTC/MTC/PDTC/ATC) not confirmed",
    "clinical_t4_n0_1": "Not clinical stage T4 N0–1 at baseline",
    "m1_surgical_benefit_documented": "cM1 without documented benefit from surgery",
    "measurable_lesion": "No RECIST 1.1 measurable lesion",
    "normal_organ_function": "Major-organ function not normal",
    "informed_consent": "No written informed consent",
    "no_refusal_of_biopsy_or_surgery": "Refused tumour biopsy or surgery",
    "no_prior_neck_surgery": "Prior thyroid or major neck surgery",
    "no_prior_cancer_treatment": "Prior cancer treatment",
    "no_concurrent_malignancy": "Concurrent active malignancy",
    "no_uncontrolled_systemic_disease": "Uncontrolled systemic disease",
    "not_pregnant_or_breastfeeding": "Pregnant or breastfeeding",
}


def _first_failed(failed: pd.Series) -> pd.Series:
    return failed.astype("str").fillna("").str.split(";").str[0].str.strip()


def _cut_left_out_patients(inp: ReportInputs) -> bool:
    """Did ``latc derive`` leave patients out because they were enrolled after its data cut?"""
    rows = inp.derive_parameters.get("rows_after_data_cut") or []
    if isinstance(rows, dict):
        return bool(rows.get("patients"))
    return any(isinstance(r, dict) and r.get("form") == "patients" and r.get("rows") for r in rows)


def flow_counts(inp: ReportInputs) -> dict[str, Any] | None:
    """STROBE flow counts: screened, excluded by reason, eligible, and per cohort included / analysed.

    * screened — patient records read (``validation/summary.json`` ``patients_read``), else subjects;
    * excluded — records quarantined by validation, patients left out by an earlier data cut
      (validated, but not in ``derived/subject``), then ineligible patients counted once under
      their **first** failed protocol criterion (``eligibility.csv`` ``failed_criteria``);
    * per cohort — included = analysis set; neoadjuvant analysed = response set (≥ 1 dose),
      upfront surgery analysed = patients with a curative operation (operated set).
    """
    subj = inp.derived("subject")
    if subj is None or "cohort" not in subj:
        return None
    vs = inp.validation_summary
    elig = inp.validation_file("eligibility")
    screened = int(vs.get("patients_read", len(subj)))
    excluded: dict[str, int] = {}
    quarantined = int(vs.get("patients_read", 0)) - int(vs.get("patients_clean", vs.get("patients_read", 0)))
    if quarantined > 0:
        excluded["Patient record failed validation (quarantined)"] = quarantined
    a = flag(subj["analysis_set"]) if "analysis_set" in subj else pd.Series(True, index=subj.index)
    if elig is not None and "eligible" in elig and len(elig):
        if "patient_id" in elig and "patient_id" in subj:
            # patients validated but not derived: enrolled after an earlier data cut (latc derive
            # --data-cut) — counted once, before the protocol criteria, so the flow adds up
            ids = elig["patient_id"].astype("str")
            gone = ~ids.isin(set(subj["patient_id"].astype("str")))
            clean = inp.clean("patients")
            if clean is not None and "patient_id" in clean:   # quarantined records are counted above
                gone &= ids.isin(set(clean["patient_id"].astype("str")))
            if gone.any():
                cut = inp.derive_parameters.get("data_cut")
                label = (f"Enrolled after the data cut ({cut})" if cut and _cut_left_out_patients(inp)
                         else "Not in the derived datasets")
                excluded[label] = int(gone.sum())
                elig = elig[~gone.to_numpy()]
        bad = elig[~flag(elig["eligible"])]
        reasons = _first_failed(bad["failed_criteria"]).replace("", "eligibility not assessable")
        for r, n in reasons.value_counts().items():
            excluded[CRITERION_REASONS.get(str(r), str(r).replace("_", " ").capitalize())] = int(n)
    else:
        n_out = int((~a).sum())
        if n_out:
            excluded["Not in the analysis set"] = n_out
    analysis = subj[a.to_numpy()]
    cohorts: dict[str, Any] = {}
    for cohort, g in analysis.groupby(analysis["cohort"].astype("str")):
        inc = len(g)
        if cohort == "neoadjuvant" and "response_set" in g:
            an = int(flag(g["response_set"]).sum())
            cohorts[cohort] = {"included": inc, "excluded": {"No dose of neoadjuvant therapy recorded": inc - an}, "analysed": an}
        elif "operated_set" in g:
            an = int(flag(g["operated_set"]).sum())
            cohorts[cohort] = {"included": inc, "excluded": {"No curative operation recorded": inc - an}, "analysed": an}
        else:
            cohorts[cohort] = {"included": inc, "analysed": inc}
    if not cohorts:
        return None
    return {"screened": screened, "excluded": excluded, "eligible": int(len(analysis)), "cohorts": cohorts}


def flow_section(inp: ReportInputs) -> Section:
    sec = Section("cohort", "Participants (STROBE flow)")
    counts = flow_counts(inp)
    if counts is None:
        sec.note("Participant flow", "no derived subject dataset in the results folder")
        return sec
    sec.paragraphs.append(
        f"{counts['screened']:,} patient records were screened; {counts['eligible']:,} eligible patients form the analysis set "
        + "(" + ", ".join(f"{c['included']:,} {k.replace('_', ' ')}" for k, c in counts["cohorts"].items()) + "). "
        "Patients failing several criteria are counted once, under the first failed criterion (protocol order).")
    if len(counts["cohorts"]) < 2:
        sec.paragraphs.append("Only one cohort is present: the comparison with upfront surgery cannot be made.")
    add_figure(sec, "flow_strobe", "Participant flow (STROBE item 13)", lambda: flow_diagram(counts),
               "Screened, excluded with reasons, included and analysed per cohort. Analysed: neoadjuvant = at least one "
               "dose (response and safety set); upfront surgery = curative operation recorded.")
    rows = [{"stage": "Screened (patient records)", "cohort": "all", "patients": counts["screened"]}]
    rows += [{"stage": f"Excluded: {k}", "cohort": "all", "patients": v} for k, v in counts["excluded"].items()]
    rows.append({"stage": "Eligible (analysis set)", "cohort": "all", "patients": counts["eligible"]})
    for k, c in counts["cohorts"].items():
        rows.append({"stage": "Included", "cohort": k, "patients": c["included"]})
        rows += [{"stage": f"Excluded from analysis: {r}", "cohort": k, "patients": v} for r, v in (c.get("excluded") or {}).items()]
        rows.append({"stage": "Analysed", "cohort": k, "patients": c["analysed"]})
    add_table(sec, "flow_counts", "Participant flow: numbers at each stage", pd.DataFrame(rows),
              caption="Sources: validation/summary.json (records read and quarantined), validation/eligibility.csv "
                      "(protocol criteria), derived/subject (analysis, response and operated sets).")
    return sec


def strobe_section(present: set[str]) -> Section:
    """The checklist; an item pointing to a section absent from this report says so."""
    sec = Section("strobe", "STROBE checklist (cohort studies)")
    sec.paragraphs.append("Each of the 22 STROBE items (von Elm et al., Lancet 2007;370:1453) mapped to the section "
                          "or file of this report that addresses it. Items about the narrative of the paper are "
                          "left to the manuscript and marked as not addressed.")
    rows = []
    for item, topic, rec, key, how in STROBE_ITEMS:
        status = "not addressed" if key is None else ("partly" if how.startswith("Partly") else "addressed")
        if key is not None and key not in present:
            status, how = "not addressed", f"{how} (section not in this report: not computable for these data)"
        rows.append({"item": item, "topic": topic, "recommendation": rec, "status": status,
                     "where": how, "section": key or ""})
    df = pd.DataFrame(rows)
    add_table(sec, "strobe_checklist", "STROBE checklist", df, columns=["item", "topic", "recommendation", "status", "where"],
              caption="Status: addressed / partly / not addressed (by this generated report).")
    sec.extra["checklist"] = rows
    return sec
