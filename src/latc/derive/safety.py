"""Safety of neoadjuvant therapy: CTCAE v5.0 adverse events (the ``ae`` dataset) and exposure.

Rules (documented in ``docs/derivations/safety.md``):

* **Safety population**: neoadjuvant-cohort patients with at least one dose (a ``treatments`` row
  with a start date). Percentages in the summaries use it as denominator.
* **Treatment-emergent AE (TEAE)**: onset on or after the first neoadjuvant dose and no later than
  the *earlier* of (a) the day before the first operation after the first dose — from the
  operation on, events are postoperative complications (Clavien–Dindo, ``surgery.py``) — and
  (b) the last dose + 30 days (the common 30-day post-treatment adverse-event reporting window of
  oncology protocols; a parameter). Upfront-surgery patients have no
  TEAE. The window ends are inclusive.
* **Treatment-related**: attribution possible, probable or definite (the NCI attribution scale;
  unrelated / unlikely are not related).
* **Worst grade per patient per term**: in term tables a patient counts once per CTCAE term, at
  the highest grade (NCI CTCAE v5.0 reporting convention; "grade ≥ 3" = grade 3, 4 or 5).
* **Kinase-inhibitor toxicities that matter before neck surgery** (anti-angiogenic TKIs impair
  haemostasis and wound healing: the warnings of the lenvatinib label — hypertension, proteinuria,
  haemorrhagic events, fistula formation, impaired wound healing; Schlumberger et al., SELECT,
  *N Engl J Med* 2015;372:621): hypertension; proteinuria; bleeding (pharyngeal / tracheal
  haemorrhage); wound-healing problems (wound dehiscence / complication); fistula (tracheal /
  oesophageal fistula).
* **Exposure**: duration = last stop − first start + 1 day; relative dose intensity for
  ``mg_day`` agents as bounds, because the date of a dose reduction and the length of an
  interruption are not recorded (see :func:`exposure_by_agent`).

Nothing here raises on data: unknown codes and impossible dates give missing values and a problem
record (``patient_id, field, value, rule, message``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from latc._compat import tables_deprecated
from latc.derive._tables import study_tables
from latc.derive.surgery import _bool_where, _choice, _col, _date, _days, _flag, _lookup, _number, _Problems

#: Days after the last dose during which a new AE is still treatment-emergent.
TEAE_DAYS_AFTER_LAST_DOSE = 30
GRADES = (1, 2, 3, 4, 5)
ATTRIBUTIONS = ("unrelated", "unlikely", "possible", "probable", "definite")
RELATED_ATTRIBUTIONS = ("possible", "probable", "definite")
ACTIONS = ("none", "dose_reduced", "interrupted", "discontinued", "not_applicable")
#: Agent classes in dictionary order (used to name a patient's class combination, e.g. ``mki+ici``).
AGENT_CLASSES = ("mki", "braf_mek", "ret_selective", "ntrk", "ici", "chemo")
DOSE_UNITS = ("mg_day", "mg_q3w", "mg_q2w", "mg_m2_q3w", "auc_q3w")
REASONS_STOPPED = ("planned_surgery", "progression", "toxicity", "patient_choice", "death", "other")
#: CTCAE v5.0 terms of the dictionary (adverse_events.ctcae_term codes).
CTCAE_TERMS = (
    "hypertension", "proteinuria", "diarrhea", "fatigue", "ppe", "anorexia", "weight_loss", "nausea", "vomiting",
    "mucositis_oral", "hypothyroidism", "hypocalcemia", "alt_increased", "ast_increased", "platelet_decreased",
    "neutrophil_decreased", "anemia", "qtc_prolonged", "rash_maculopapular", "fever", "pneumonitis", "colitis",
    "adrenal_insufficiency", "hoarseness", "dysphonia", "pharyngeal_hemorrhage", "tracheal_hemorrhage",
    "tracheal_fistula", "esophageal_fistula", "wound_dehiscence", "wound_complication", "thromboembolic_event",
    "arthralgia", "headache",
)
#: Kinase-inhibitor toxicities relevant before neck surgery: CTCAE term → group.
KI_TOXICITY_GROUPS: dict[str, str] = {
    "hypertension": "hypertension",
    "proteinuria": "proteinuria",
    "pharyngeal_hemorrhage": "bleeding",
    "tracheal_hemorrhage": "bleeding",
    "wound_dehiscence": "wound_healing",
    "wound_complication": "wound_healing",
    "tracheal_fistula": "fistula",
    "esophageal_fistula": "fistula",
}

OVERVIEW_MEASURES: dict[str, str] = {
    "any": "any TEAE",
    "grade_3_plus": "TEAE grade >= 3",
    "serious": "serious TEAE",
    "related": "treatment-related TEAE",
    "related_grade_3_plus": "treatment-related TEAE grade >= 3",
    "dose_reduced": "TEAE leading to dose reduction",
    "interrupted": "TEAE leading to interruption",
    "discontinued": "TEAE leading to discontinuation",
    "surgical_delay": "TEAE delaying surgery",
    "fatal": "fatal TEAE (grade 5)",
}


# ------------------------------------------------------------------------------------------------
# exposure


def _clean_treatments(treatments: pd.DataFrame, probs: _Problems) -> pd.DataFrame:
    t = pd.DataFrame({"patient_id": treatments["patient_id"].astype("str")}, index=treatments.index)
    t["course_id"] = pd.to_numeric(_col(treatments, "course_id"), errors="coerce").astype("Int64")
    t["agent"] = _col(treatments, "agent").astype("str").str.strip().str.lower()
    t["agent_class"] = _choice(treatments, "agent_class", AGENT_CLASSES, probs, "treatments")
    t["start_date"] = _date(treatments, "start_date", probs, "treatments")
    t["stop_date"] = _date(treatments, "stop_date", probs, "treatments")
    t["start_dose"] = _number(treatments, "start_dose", probs, "treatments")
    t["dose_unit"] = _choice(treatments, "dose_unit", DOSE_UNITS, probs, "treatments")
    t["dose_reduced"] = _flag(treatments, "dose_reduced", probs, "treatments")
    t["interrupted"] = _flag(treatments, "interrupted", probs, "treatments")
    t["final_dose"] = _number(treatments, "final_dose", probs, "treatments")
    t["reason_stopped"] = _choice(treatments, "reason_stopped", REASONS_STOPPED, probs, "treatments")
    probs.add(t["start_date"].isna() & _col(treatments, "start_date").isna(), t, "start_date", "start_date_missing",
              "drug course without a start date: not counted as a dose")
    backwards = (t["stop_date"] < t["start_date"]).fillna(False)
    probs.add(backwards, t, "stop_date", "stop_before_start", "drug course stops before it starts: duration not computed")
    t["stop_date"] = t["stop_date"].mask(backwards)
    probs.add(t["start_dose"].le(0), t, "start_dose", "dose_not_positive", "starting dose must be above 0")
    t["start_dose"] = t["start_dose"].mask(t["start_dose"].le(0).fillna(False))
    red = t["dose_reduced"].eq(True).fillna(False)
    probs.add(red & t["final_dose"].isna(), t, "final_dose", "final_dose_missing",
              "dose reduced but no final dose: dose intensity not computed")
    probs.add(red & t["final_dose"].ge(t["start_dose"]).fillna(False), t, "final_dose", "final_dose_not_reduced",
              "dose reduced but the final dose is not below the starting dose: dose intensity not computed")
    t["final_dose"] = t["final_dose"].mask(red & t["final_dose"].ge(t["start_dose"]).fillna(False))
    t["course_days"] = (_days(t["stop_date"], t["start_date"]) + 1).astype("Int64")
    return t


def exposure_by_agent(treatments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposure per patient and agent (several courses of one agent are pooled).

    Columns: ``patient_id, agent, agent_class, dose_unit, n_courses, first_dose_date, last_dose_date,
    days_on_agent`` (sum of course durations, stop − start + 1 each), ``start_dose`` (first course),
    ``final_dose`` (last course; the start dose when not reduced), ``dose_reduced``, ``interrupted``,
    ``discontinued_for_toxicity``, ``reason_stopped`` (last course), and for ``mg_day`` agents
    ``planned_cumulative_dose`` (first start dose × days on agent), ``cumulative_dose_min`` /
    ``cumulative_dose_max`` and ``relative_dose_intensity_min`` / ``_max`` / ``_mid``.

    Dose intensity (the reduction date and interruption length are not recorded): an unreduced
    course contributes start dose × days; a reduced course at least final dose × days (reduced from
    the first day) and at most start dose × (days − 1) + final dose (reduced on the last day); the
    ``_mid`` value assumes the reduction at mid-course, i.e. ``(min + max) / 2``. Interruptions are
    not subtracted, so for an interrupted agent every value is an upper bound of the true
    intensity (``interrupted`` says so). Other dose units (cycles every 2–3 weeks; the number of
    cycles is not recorded) → missing.

    Returns ``(table, problems)``.
    """
    probs = _Problems()
    t = _clean_treatments(treatments, probs)
    return _exposure_by_agent(t, probs), probs.frame()


def _exposure_by_agent(t: pd.DataFrame, probs: _Problems) -> pd.DataFrame:
    t = t[t["start_date"].notna().to_numpy()].sort_values(["patient_id", "agent", "start_date", "course_id"], kind="mergesort")
    days = t["course_days"].astype("Float64")
    start = t["start_dose"]
    final = t["final_dose"].where(t["dose_reduced"].eq(True).fillna(False), start)
    red = t["dose_reduced"].eq(True).fillna(False)
    t = t.assign(
        _final=final,
        _cmin=(final * days).where(red, start * days),
        _cmax=(start * (days - 1) + final).where(red, start * days),
        _tox=t["reason_stopped"].eq("toxicity").fillna(False),
    )
    g = t.groupby(["patient_id", "agent"], sort=False)
    out = g.agg(
        agent_class=("agent_class", "first"), dose_unit=("dose_unit", "first"), n_units=("dose_unit", "nunique"),
        n_courses=("start_date", "size"), first_dose_date=("start_date", "min"), last_dose_date=("stop_date", "max"),
        days_on_agent=("course_days", "sum"), start_dose=("start_dose", "first"), final_dose=("_final", "last"),
        dose_reduced=("dose_reduced", "max"), interrupted=("interrupted", "max"),
        discontinued_for_toxicity=("_tox", "max"), reason_stopped=("reason_stopped", "last"),
        cumulative_dose_min=("_cmin", "sum"), cumulative_dose_max=("_cmax", "sum"),
        _days_known=("course_days", "count"), _cmin_known=("_cmin", "count"),
    ).reset_index()
    complete = out["_days_known"].eq(out["n_courses"]) & out["_cmin_known"].eq(out["n_courses"])
    mixed = out["n_units"].gt(1)
    probs.add(mixed, out, "dose_unit", "mixed_dose_units", "courses of one agent use different dose units: dose intensity not computed")
    out["days_on_agent"] = out["days_on_agent"].astype("Int64").mask(~out["_days_known"].eq(out["n_courses"]))
    per_day = out["dose_unit"].eq("mg_day").fillna(False) & ~mixed & complete
    planned = (out["start_dose"] * out["days_on_agent"].astype("Float64")).astype("Float64")
    out["planned_cumulative_dose"] = planned.where(per_day)
    out["cumulative_dose_min"] = out["cumulative_dose_min"].astype("Float64").where(per_day)
    out["cumulative_dose_max"] = out["cumulative_dose_max"].astype("Float64").where(per_day)
    out["relative_dose_intensity_min"] = out["cumulative_dose_min"] / out["planned_cumulative_dose"]
    out["relative_dose_intensity_max"] = out["cumulative_dose_max"] / out["planned_cumulative_dose"]
    out["relative_dose_intensity_mid"] = (out["relative_dose_intensity_min"] + out["relative_dose_intensity_max"]) / 2
    for col in ("dose_reduced", "interrupted", "discontinued_for_toxicity"):
        out[col] = out[col].astype("boolean")
    return out.drop(columns=["n_units", "_days_known", "_cmin_known"]).reset_index(drop=True)


def _class_combination(t: pd.DataFrame) -> pd.Series:
    """Per patient: the agent classes received, '+'-joined in dictionary order (``mki+ici``).

    Vectorised: each class is a bit, a patient's combination the sum over its distinct classes.
    """
    bit = {c: 1 << i for i, c in enumerate(AGENT_CLASSES)}
    pairs = t[["patient_id", "agent_class"]].dropna().drop_duplicates()
    if pairs.empty:
        return pd.Series(dtype="str")
    code = pairs["agent_class"].map(bit).astype("int64").groupby(pairs["patient_id"].to_numpy()).sum()
    labels = {v: "+".join(c for c in AGENT_CLASSES if v & bit[c]) for v in code.unique()}
    return code.map(labels).astype("str")


def _joined_agents(t: pd.DataFrame) -> pd.Series:
    """Per patient: the distinct agents, alphabetically, '+'-joined (vectorised over ranks)."""
    agents = t[["patient_id", "agent"]].dropna().drop_duplicates().sort_values(["patient_id", "agent"], kind="mergesort")
    if agents.empty:
        return pd.Series(dtype="str")
    rank = agents.groupby("patient_id", sort=False).cumcount()
    wide = agents.assign(_r=rank.to_numpy()).pivot(index="patient_id", columns="_r", values="agent")
    joined = wide[0].astype(object)
    for col in wide.columns[1:]:
        nxt = wide[col].astype(object)
        joined = joined.where(nxt.isna(), joined + "+" + nxt)
    return joined.astype("str")


@tables_deprecated("patients", "treatments", "surgery")
def treatment_exposure(tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exposure and safety population, one row per patient of ``patients``.

    ``tables``: form name → clean typed table; reads ``patients``, ``treatments`` and, optionally,
    ``surgery`` (for ``first_surgery_date``).

    Columns: ``patient_id, cohort, safety_population`` (neoadjuvant with ≥ 1 dose), ``agent_class``
    (class combination, e.g. ``mki+ici``), ``agents``, ``n_agents``, ``n_courses``,
    ``first_dose_date``, ``last_dose_date``, ``exposure_days`` (last stop − first start + 1, gaps
    between courses included), ``any_dose_reduction``, ``any_interruption``,
    ``discontinued_for_toxicity`` (any course stopped for toxicity), ``first_surgery_date`` (first
    operation on or after the first dose; ends the TEAE window).

    Returns ``(table, problems)``.
    """
    patients, treatments, surgery = study_tables(tables, ("patients", "treatments"), ("surgery",),
                                                 caller="treatment_exposure")
    probs = _Problems()
    t = _clean_treatments(treatments, probs)
    return _treatment_exposure(patients, t, surgery, probs), probs.frame()


def _treatment_exposure(patients: pd.DataFrame, t: pd.DataFrame, surgery: pd.DataFrame | None, probs: _Problems) -> pd.DataFrame:
    pt = pd.DataFrame({"patient_id": patients["patient_id"].astype("str").to_numpy(),
                       "cohort": _col(patients, "cohort").astype("str").to_numpy()})
    pid = pt["patient_id"]
    dosed = t[t["start_date"].notna().to_numpy()]
    g = dosed.groupby("patient_id")
    neo = pt["cohort"].eq("neoadjuvant").fillna(False)
    has_dose = pid.isin(dosed["patient_id"].unique())
    upfront_tx = has_dose & pt["cohort"].eq("upfront_surgery").fillna(False)
    probs.add(upfront_tx, pt, "cohort", "treatment_in_upfront_cohort",
              "neoadjuvant treatment recorded for an upfront-surgery patient: not in the safety population")
    out = pt.copy()
    out["safety_population"] = (neo & has_dose).astype("boolean")
    out["agent_class"] = _lookup(pid, _class_combination(dosed)).astype("str")
    out["agents"] = _lookup(pid, _joined_agents(dosed)).astype("str")
    out["n_agents"] = _lookup(pid, dosed[["patient_id", "agent"]].dropna().drop_duplicates().groupby("patient_id").size()).fillna(0).astype("Int64")
    out["n_courses"] = _lookup(pid, g.size()).fillna(0).astype("Int64")
    out["first_dose_date"] = _lookup(pid, g["start_date"].min()).astype("datetime64[ns]")
    last = _lookup(pid, g["stop_date"].max()).astype("datetime64[ns]")
    any_missing_stop = _lookup(pid, g["stop_date"].count() < g.size())
    out["last_dose_date"] = last.mask(any_missing_stop.fillna(False).astype(bool))
    out["exposure_days"] = (_days(out["last_dose_date"], out["first_dose_date"]) + 1).astype("Int64")
    out["any_dose_reduction"] = _bool_where(_lookup(pid, g["dose_reduced"].max()).fillna(False), has_dose)
    out["any_interruption"] = _bool_where(_lookup(pid, g["interrupted"].max()).fillna(False), has_dose)
    tox = dosed.loc[dosed["reason_stopped"].eq("toxicity").fillna(False).to_numpy(), "patient_id"]
    out["discontinued_for_toxicity"] = _bool_where(pid.isin(tox), has_dose)
    out["first_surgery_date"] = pd.Series(pd.NaT, index=pt.index, dtype="datetime64[ns]")
    if surgery is not None and len(surgery):
        s = pd.DataFrame({"patient_id": surgery["patient_id"].astype("str")}, index=surgery.index)
        s["surgery_date"] = _date(surgery, "surgery_date", probs, "surgery")
        s["first_dose_date"] = _lookup(s["patient_id"], pd.Series(out["first_dose_date"].to_numpy(), index=pid.to_numpy()))
        after = s[(s["surgery_date"] >= s["first_dose_date"]).fillna(False).to_numpy()]
        out["first_surgery_date"] = _lookup(pid, after.groupby("patient_id")["surgery_date"].min()).astype("datetime64[ns]")
    return out


# ------------------------------------------------------------------------------------------------
# adverse events


@tables_deprecated("adverse_events", "patients", "treatments", "surgery")
def adverse_event_analysis(
    tables: Mapping[str, pd.DataFrame],
    *,
    days_after_last_dose: int = TEAE_DAYS_AFTER_LAST_DOSE,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``ae`` analysis dataset (like CDISC ADAE): one row per recorded adverse event.

    ``tables``: form name → clean typed table; reads ``adverse_events``, ``patients``,
    ``treatments`` and, optionally, ``surgery`` (the first operation closes the TEAE window).

    Columns: ``patient_id, cohort, safety_population, agent_class, ae_id, ctcae_term,
    ki_toxicity_group, grade`` (Int64 1–5), ``start_date, stop_date, days_from_first_dose,
    teae_window_end, treatment_emergent, attribution, related, grade_3_plus, serious, fatal,
    action_taken, dose_reduced, interrupted, discontinued, surgical_delay``.

    ``treatment_emergent``: ``first_dose_date <= start_date <= teae_window_end`` with
    ``teae_window_end = min(first operation after the first dose − 1 day, last dose +
    days_after_last_dose)``; False for patients outside the safety population (upfront surgery,
    no dose); missing when the onset or the window is unknown.

    Returns ``(ae, problems)``.
    """
    adverse_events, patients, treatments, surgery = study_tables(
        tables, ("adverse_events", "patients", "treatments"), ("surgery",), caller="adverse_event_analysis")
    probs = _Problems()
    t = _clean_treatments(treatments, probs)
    expo = _treatment_exposure(patients, t, surgery, probs).set_index("patient_id")
    a = pd.DataFrame({"patient_id": adverse_events["patient_id"].astype("str")}, index=adverse_events.index)
    known_patient = a["patient_id"].isin(expo.index)
    probs.add(~known_patient, a, "patient_id", "unknown_patient", "adverse event of a patient not in the patients form")
    e = expo.reindex(a["patient_id"].to_numpy())
    e.index = a.index
    a["cohort"] = e["cohort"].astype("str")
    a["safety_population"] = e["safety_population"].astype("boolean").fillna(False)
    a["agent_class"] = e["agent_class"].astype("str")
    a["ae_id"] = pd.to_numeric(_col(adverse_events, "ae_id"), errors="coerce").astype("Int64")
    a["ctcae_term"] = _choice(adverse_events, "ctcae_term", CTCAE_TERMS, probs, "adverse_events")
    a["ki_toxicity_group"] = a["ctcae_term"].map(KI_TOXICITY_GROUPS).astype("str")
    raw_grade = _col(adverse_events, "grade")
    grade = pd.to_numeric(raw_grade.astype("str").str.strip(), errors="coerce")
    grade = grade.where(grade.isin(GRADES)).astype("Int64")
    probs.add(raw_grade.notna() & grade.isna(), adverse_events, "grade", "unknown_grade",
              "adverse_events.grade is not a CTCAE grade 1–5", value=raw_grade)
    a["grade"] = grade
    a["start_date"] = _date(adverse_events, "start_date", probs, "adverse_events")
    a["stop_date"] = _date(adverse_events, "stop_date", probs, "adverse_events")
    probs.add((a["stop_date"] < a["start_date"]).fillna(False), a, "stop_date", "stop_before_onset",
              "adverse event resolves before its onset")
    probs.add(a["start_date"].isna() & _col(adverse_events, "start_date").isna(), a, "start_date", "onset_missing",
              "adverse event without an onset date: treatment-emergence unknown")

    first = e["first_dose_date"].astype("datetime64[ns]")
    by_dose = e["last_dose_date"].astype("datetime64[ns]") + pd.Timedelta(days=days_after_last_dose)
    by_surgery = e["first_surgery_date"].astype("datetime64[ns]") - pd.Timedelta(days=1)
    window_end = pd.concat([by_dose, by_surgery], axis=1).min(axis=1).astype("datetime64[ns]")
    # without a known last dose the window is only known when surgery ends it first
    window_end = window_end.mask(by_dose.isna() & by_surgery.isna())
    a["days_from_first_dose"] = _days(a["start_date"], first)
    a["teae_window_end"] = window_end.where(a["safety_population"].to_numpy(dtype=bool))
    inside = (a["start_date"] >= first) & (a["start_date"] <= window_end)
    before = (a["start_date"] < first).fillna(False)
    te = inside.astype("boolean").mask(a["start_date"].isna() | (window_end.isna() & ~before), pd.NA).mask(before, False)
    a["treatment_emergent"] = te.mask(~a["safety_population"].to_numpy(dtype=bool), False).mask(~known_patient, pd.NA)
    probs.add(a["safety_population"] & window_end.isna() & a["start_date"].notna() & ~before, a, "start_date",
              "teae_window_unknown", "last dose date unknown and no later operation: treatment-emergence unknown")

    a["attribution"] = _choice(adverse_events, "attribution", ATTRIBUTIONS, probs, "adverse_events")
    a["related"] = _bool_where(a["attribution"].isin(RELATED_ATTRIBUTIONS), a["attribution"].notna())
    a["grade_3_plus"] = _bool_where(grade.ge(3).fillna(False), grade.notna())
    a["serious"] = _flag(adverse_events, "serious", probs, "adverse_events")
    a["fatal"] = _bool_where(grade.eq(5).fillna(False), grade.notna())
    action = _choice(adverse_events, "action_taken", ACTIONS, probs, "adverse_events")
    a["action_taken"] = action
    for code in ("dose_reduced", "interrupted", "discontinued"):
        a[code] = _bool_where(action.eq(code), action.notna())
    a["surgical_delay"] = _flag(adverse_events, "surgical_delay", probs, "adverse_events")
    return a.reset_index(drop=True), probs.frame()


# ------------------------------------------------------------------------------------------------
# summaries (counts and percentages of the safety population; CIs belong to the stats layer)


def _by_columns(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by or [])


def _population(exposure: pd.DataFrame, by_cols: list[str]) -> pd.DataFrame:
    pop = exposure[exposure["safety_population"].fillna(False).astype(bool).to_numpy()]
    if not by_cols:
        return pd.DataFrame({"n_safety": [len(pop)]})
    return pop.groupby(by_cols, dropna=False).size().rename("n_safety").reset_index()


def _selected(ae: pd.DataFrame, treatment_emergent_only: bool) -> pd.DataFrame:
    keep = ae["safety_population"].fillna(False).astype(bool)
    if treatment_emergent_only:
        keep &= ae["treatment_emergent"].fillna(False).astype(bool)
    return ae[keep.to_numpy()]


def ae_summary_by_term(
    ae: pd.DataFrame,
    exposure: pd.DataFrame,
    by: str | list[str] | None = None,
    *,
    term: str = "ctcae_term",
    treatment_emergent_only: bool = True,
) -> pd.DataFrame:
    """Patients with each AE term at any grade and at grade ≥ 3, with % of the safety population.

    A patient counts once per term, at the worst grade (CTCAE reporting convention). ``exposure``
    (from :func:`treatment_exposure`) gives the denominators: safety-population patients per group
    (``by`` columns must exist in both tables, e.g. ``"agent_class"`` or ``"cohort"``).
    ``term="ki_toxicity_group"`` summarises the kinase-inhibitor toxicity groups instead.

    Columns: ``[by…], <term>, n_safety, patients_any_grade, percent_any_grade,
    patients_grade_3_plus, percent_grade_3_plus, patients_worst_grade_1 … _5``; rows sorted by
    decreasing overall frequency, then term.
    """
    by_cols = _by_columns(by)
    sel = _selected(ae, treatment_emergent_only)
    sel = sel[sel[term].notna().to_numpy()]
    worst = sel.groupby(by_cols + ["patient_id", term], dropna=False)["grade"].max().reset_index()
    keys = by_cols + [term]
    worst["_g3"] = worst["grade"].ge(3).fillna(False).astype(bool)
    g = worst.groupby(keys, dropna=False)["_g3"]
    res = pd.DataFrame({"patients_any_grade": g.size(), "patients_grade_3_plus": g.sum()}).reset_index()
    counts = pd.crosstab([worst[k] for k in keys], worst["grade"].astype("Int64")).reindex(columns=list(GRADES), fill_value=0)
    counts.columns = [f"patients_worst_grade_{c}" for c in GRADES]
    res = res.merge(counts.reset_index(), on=keys, how="left") if len(res) else res.assign(**{c: pd.Series(dtype="int64") for c in counts.columns})
    pop = _population(exposure, by_cols)
    res = res.merge(pop, on=by_cols, how="left") if by_cols else res.assign(n_safety=int(pop["n_safety"].iloc[0]))
    res["n_safety"] = res["n_safety"].fillna(0).astype("int64")
    denom = res["n_safety"].where(res["n_safety"] > 0)
    res["percent_any_grade"] = (100.0 * res["patients_any_grade"] / denom).astype("Float64")
    res["percent_grade_3_plus"] = (100.0 * res["patients_grade_3_plus"] / denom).astype("Float64")
    total = res.groupby(term)["patients_any_grade"].transform("sum")
    res = res.assign(_total=total).sort_values(["_total", term] + by_cols, ascending=[False, True] + [True] * len(by_cols), kind="stable")
    cols = by_cols + [term, "n_safety", "patients_any_grade", "percent_any_grade", "patients_grade_3_plus",
                      "percent_grade_3_plus"] + [f"patients_worst_grade_{c}" for c in GRADES]
    res = res[cols].reset_index(drop=True)
    for c in ["patients_any_grade", "patients_grade_3_plus"] + [f"patients_worst_grade_{c}" for c in GRADES]:
        res[c] = res[c].fillna(0).astype("int64")
    return res


def ae_overview(
    ae: pd.DataFrame,
    exposure: pd.DataFrame,
    by: str | list[str] | None = None,
    *,
    treatment_emergent_only: bool = True,
) -> pd.DataFrame:
    """Overview table: patients (and events) with any TEAE, grade ≥ 3, serious, related, leading to
    dose reduction / interruption / discontinuation, delaying surgery, fatal.

    Columns: ``[by…], measure, label, n_safety, patients, percent, events`` (``percent`` of the
    safety population of the group).
    """
    by_cols = _by_columns(by)
    sel = _selected(ae, treatment_emergent_only)
    flags = pd.DataFrame({
        "any": pd.Series(True, index=sel.index),
        "grade_3_plus": sel["grade_3_plus"], "serious": sel["serious"], "related": sel["related"],
        "related_grade_3_plus": sel["related"].fillna(False) & sel["grade_3_plus"].fillna(False),
        "dose_reduced": sel["dose_reduced"], "interrupted": sel["interrupted"], "discontinued": sel["discontinued"],
        "surgical_delay": sel["surgical_delay"], "fatal": sel["fatal"],
    }).fillna(False).astype(bool)
    long = pd.concat([sel[by_cols + ["patient_id"]], flags], axis=1).melt(id_vars=by_cols + ["patient_id"], var_name="measure", value_name="_f")
    long = long[long["_f"].to_numpy(dtype=bool)]
    g = long.groupby(by_cols + ["measure"], dropna=False)
    counted = pd.DataFrame({"patients": g["patient_id"].nunique(), "events": g.size()}).reset_index()
    pop = _population(exposure, by_cols)
    grid = pop.merge(pd.DataFrame({"measure": list(OVERVIEW_MEASURES)}), how="cross")
    res = grid.merge(counted, on=by_cols + ["measure"], how="left")
    res["patients"] = res["patients"].fillna(0).astype("int64")
    res["events"] = res["events"].fillna(0).astype("int64")
    res["label"] = res["measure"].map(OVERVIEW_MEASURES)
    res["percent"] = (100.0 * res["patients"] / res["n_safety"].where(res["n_safety"] > 0)).astype("Float64")
    order = {m: i for i, m in enumerate(OVERVIEW_MEASURES)}
    res = res.sort_values(by_cols + ["measure"], key=lambda s: s.map(order) if s.name == "measure" else s, kind="stable")
    return res[by_cols + ["measure", "label", "n_safety", "patients", "percent", "events"]].reset_index(drop=True)


__all__ = [
    "KI_TOXICITY_GROUPS",
    "OVERVIEW_MEASURES",
    "RELATED_ATTRIBUTIONS",
    "TEAE_DAYS_AFTER_LAST_DOSE",
    "adverse_event_analysis",
    "ae_overview",
    "ae_summary_by_term",
    "exposure_by_agent",
    "treatment_exposure",
]
