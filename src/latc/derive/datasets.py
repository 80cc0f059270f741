"""The analysis datasets: every derivation of ``latc.derive`` assembled per patient and per record.

``derive_datasets(clean, data_cut, eligibility=...)`` runs the derivation modules on the clean
typed study tables (output of ``latc validate``) and returns a :class:`DerivedDatasets`; it reads
and writes nothing (reading the clean tables: :func:`latc.io.read_clean_tables`; writing the
datasets: :func:`latc.io.write_datasets`; the ``latc derive`` run: :func:`latc.pipeline.derive_path`):

=================  ================================================================================
``subject``        one row per patient (like CDISC ADSL): demographics, analysis populations,
                   baseline disease, neoadjuvant exposure, imaging / biochemical / pathological
                   response, surgery, ATA risk and response to therapy, key time-to-event endpoints
``response``       long (like ADRS): timepoint responses computed from the measurements *and* those
                   recorded by the centers (``source``), plus the BOR / confirmed BOR parameters
``tumour``         target-lesion sums and % changes per assessment (like ADTR)
``tte``            OS, DSS, EFS, TTP, RFS, RFSSTR for the analysis set (like ADTTE)
``ae``             adverse events (like ADAE)
``exposure``       exposure per patient × agent (dose intensity)
``surgery``        surgical outcomes per patient; ``complications`` one row per complication
``biochem``        tumour-marker response per patient; ``labs`` the harmonised laboratory table
``concordance``    computed vs investigator-recorded responses where both exist
``problems``       every derivation's problems, with a ``derivation`` column
=================  ================================================================================

No rule is implemented here: each column comes from the module that owns its rule (cited in
``metadata.yaml`` and ``docs/derivations/datasets.md``); the building blocks are in ``_assembly``
(problem collector, per-patient alignment), ``_subject`` and ``_responses``.  What this module decides:

* **Populations.** ``enrolled`` = every patient of the clean ``patients`` table; ``analysis_set`` =
  eligible per protocol (the validation's ``eligibility`` table); ``safety_set`` = neoadjuvant
  cohort with at least one dose (:func:`latc.derive.safety.treatment_exposure`; ICH E9: every
  treated patient, eligible or not); ``response_set`` = analysis set ∩ safety set (the BOR/ORR
  denominator, reference date = first dose); ``operated_set`` = analysis set with a curative
  operation; ``r0r1_set`` = operated set with an R0/R1 index operation (the RFS population).
* **Which patients each derivation sees.** Baseline disease, staging, pathology, ATA initial risk,
  surgery, exposure and AEs: every enrolled patient. Imaging response: the response set.
  Biochemical response, ATA response to therapy and time-to-event: the analysis set (screen
  failures have no follow-up, so they would only produce "missing data" problems).
* **Response source** (issue 3 item 2: "computed, or investigator-assessed when that is what a
  center recorded"), chosen per patient so that one patient's BOR never mixes two readers:
  ``response_source="computed"`` (default) uses the RECIST 1.1 responses computed from the
  lesion measurements when the patient has any, else the recorded ones;
  ``"investigator"`` uses the recorded ones when the patient has any, else the computed ones.
  The same choice feeds EFS (progression before surgery). Where both exist, ``concordance``
  cross-tabulates them per timepoint and per (confirmed) BOR.
* **Robustness.** A recorded response code outside RECIST 1.1, a missing date or two different
  responses on one date become problems and the rows are left out; a derivation that fails on
  unexpected input is reported as a ``derivation_failed`` problem (its columns stay missing)
  instead of stopping the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from latc._compat import moved
from latc.derive import bor as _bor
from latc.derive._assembly import (PROBLEM_COLUMNS, _Collector, _eligibility_flags, _empty_form, _insert_after, _isin,
                                   _lookup, _lookup_text, _per_patient, _with_center)
from latc.derive._responses import (RESPONSE_PARAMETERS, RESPONSE_SOURCES, _crosstab, _recorded_responses,
                                    _response_dataset)
from latc.derive._subject import HISTOLOGY_GROUPS, INVASION_FIELDS, TTE_PARAMETERS, _subject
from latc.derive.data_cut import apply_data_cut
from latc.derive.ata_response import ata_response_to_therapy, postop_tg_suggests_distant_metastases
from latc.derive.ata_risk import ata_initial_risk, ata_risk_input
from latc.derive.biochem import derive_biochemical_response, harmonise_labs
from latc.derive.pathology import MPR_THRESHOLD, derive_pathological_response
from latc.derive.recist import check_target_lesions, timepoint_responses
from latc.derive.safety import TEAE_DAYS_AFTER_LAST_DOSE, adverse_event_analysis, exposure_by_agent, treatment_exposure
from latc.derive.surgery import PERMANENCE_MONTHS, complications_analysis, surgical_outcomes
from latc.derive.tte import derive_tte

__all__ = [
    "DATASET_NAMES",
    "HISTOLOGY_GROUPS",
    "INVASION_FIELDS",
    "PROBLEM_COLUMNS",
    "RESPONSE_PARAMETERS",
    "RESPONSE_SOURCES",
    "TTE_PARAMETERS",
    "DerivedDatasets",
    "concordance_summary",
    "derive_datasets",
]

#: Names that moved out of this module (one release of grace: reading them here warns).
__getattr__ = moved(__name__, {
    "read_clean_tables": "latc.io", "write_table_csv": "latc.io", "write_datasets": "latc.io", "CSV_NA": "latc.io",
    "derive_path": "latc.pipeline", "DeriveRun": "latc.pipeline",
})

#: Datasets in writing order (``problems`` is written too, as ``problems.csv``/``.parquet``).
DATASET_NAMES: tuple[str, ...] = (
    "subject", "response", "tumour", "tte", "ae", "exposure", "surgery", "complications", "biochem", "labs",
    "concordance", "problems",
)


# ------------------------------------------------------------------------------------------------
# the result


@dataclass
class DerivedDatasets:
    """What :func:`derive_datasets` returns: one DataFrame per analysis dataset (see module doc)."""

    subject: pd.DataFrame
    response: pd.DataFrame
    tumour: pd.DataFrame
    tte: pd.DataFrame
    ae: pd.DataFrame
    exposure: pd.DataFrame
    surgery: pd.DataFrame
    complications: pd.DataFrame
    biochem: pd.DataFrame
    labs: pd.DataFrame
    concordance: pd.DataFrame
    problems: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Dataset name → DataFrame, in :data:`DATASET_NAMES` order."""
        return {name: getattr(self, name) for name in DATASET_NAMES}

    def counts(self) -> dict[str, Any]:
        """Headline counts (plain JSON types) for the manifest, the CLI and the HTML summary."""
        s = self.subject

        def n(col: str) -> int:
            return int(s[col].fillna(False).astype(bool).sum()) if col in s else 0

        rs = s[s["response_set"].fillna(False).astype(bool)] if "response_set" in s else s.iloc[:0]
        op_neo = s[s["operated_set"].fillna(False).astype(bool) & s["cohort"].eq("neoadjuvant").fillna(False)]
        conc = concordance_summary(self.concordance)
        return {
            "subjects": int(len(s)),
            "analysis_set": n("analysis_set"), "safety_set": n("safety_set"), "response_set": n("response_set"),
            "operated_set": n("operated_set"), "r0r1_set": n("r0r1_set"),
            "analysis_set_by_cohort": {str(k): int(v) for k, v in
                                       s[s["analysis_set"].fillna(False).astype(bool)].groupby("cohort").size().items()},
            "objective_response": int(rs["objective_response"].fillna(False).astype(bool).sum()),
            "confirmed_objective_response": int(rs["confirmed_objective_response"].fillna(False).astype(bool).sum()),
            "pcr": int(op_neo["pcr"].fillna(False).astype(bool).sum()),
            "mpr": int(op_neo["mpr"].fillna(False).astype(bool).sum()),
            "pathology_graded": int(op_neo["pathological_response"].notna().sum()),
            "response_source": {str(k): int(v) for k, v in rs["response_source"].value_counts().items()},
            "concordance": {r["level"]: {"n": int(r["n"]), "agreement": None if pd.isna(r["agreement"]) else round(float(r["agreement"]), 4),
                                         "kappa": None if pd.isna(r["kappa"]) else round(float(r["kappa"]), 4)}
                            for r in conc.to_dict("records")},
            "rows": {name: int(len(t)) for name, t in self.tables().items()},
            "problems": int(len(self.problems)),
            "problems_by_derivation": {str(k): int(v) for k, v in self.problems.groupby("derivation").size().items()}
            if len(self.problems) else {},
        }

    def summary(self) -> str:
        c = self.counts()
        return (f"{c['subjects']:,} subjects; analysis set {c['analysis_set']:,}, safety set {c['safety_set']:,}, "
                f"response set {c['response_set']:,} (ORR {c['objective_response']:,}, confirmed {c['confirmed_objective_response']:,}), "
                f"operated {c['operated_set']:,} (R0/R1 {c['r0r1_set']:,}; pCR {c['pcr']:,}, MPR {c['mpr']:,} of "
                f"{c['pathology_graded']:,} graded neoadjuvant specimens); {c['problems']:,} derivation problems")

    def metadata(self) -> pd.DataFrame:
        """One row per dataset × variable of :meth:`tables` (label, type, unit, derivation, source,
        citation; from ``metadata.yaml``, types read from the data)."""
        from latc.derive._metadata import metadata_table

        return metadata_table(self.tables())


# ------------------------------------------------------------------------------------------------
# concordance of computed and recorded responses


def concordance_summary(concordance: pd.DataFrame) -> pd.DataFrame:
    """Per level: ``n``, ``n_agree``, ``agreement`` (proportion) and Cohen's kappa.

    Kappa = (p_o − p_e) / (1 − p_e) with p_e from the two readers' marginal proportions (Cohen,
    *Educ Psychol Meas* 1960;20:37); missing when p_e = 1 (a single category).
    """
    rows = []
    for level in ("timepoint_response", "best_overall_response", "confirmed_best_overall_response"):
        c = concordance[concordance["level"] == level] if len(concordance) else concordance
        n = int(c["n"].sum()) if len(c) else 0
        agree = int(c.loc[c["agree"].astype(bool), "n"].sum()) if n else 0
        if n:
            pc = c.groupby("computed")["n"].sum() / n
            pi = c.groupby("investigator")["n"].sum() / n
            pe = float((pc * pi.reindex(pc.index).fillna(0)).sum())
            po = agree / n
            kappa = (po - pe) / (1 - pe) if pe < 1 else np.nan
        else:
            po, kappa = np.nan, np.nan
        rows.append({"level": level, "n": n, "n_agree": agree, "agreement": po, "kappa": kappa})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# the assembly


def derive_datasets(
    clean: Mapping[str, pd.DataFrame],
    data_cut: date | str,
    *,
    eligibility: pd.DataFrame | None = None,
    response_source: str = "computed",
    confirm_days: int = 28,
    sd_min_days: int = 42,
    time_zero: str = "decision",
    mpr_threshold: float = MPR_THRESHOLD,
    permanence_months: int = PERMANENCE_MONTHS,
    days_after_last_dose: int = TEAE_DAYS_AFTER_LAST_DOSE,
) -> DerivedDatasets:
    """Derive every analysis dataset from the clean typed study tables.

    Parameters
    ----------
    clean
        Form → clean typed table (``ValidationResult.clean`` or :func:`read_clean_tables`); a
        missing form counts as empty.
    data_cut
        The data cut-off: records dated after it are left out and events ongoing at it left open
        (:func:`latc.derive.data_cut.apply_data_cut`); survival is censored at it
        (:func:`latc.derive.tte.derive_tte`).
    eligibility
        The validation's eligibility table (``patient_id, eligible, failed_criteria, …``). Without
        it every patient is in the analysis set (and a problem ``eligibility_not_supplied`` says so).
    response_source
        ``"computed"`` (default: RECIST 1.1 from the measurements, the recorded responses where a
        patient has no measurements) or ``"investigator"`` (the recorded responses where a center
        recorded them, else computed). See the module docstring.
    confirm_days, sd_min_days
        BOR confirmation interval and minimum SD duration (RECIST 1.1 §4.4; admiralonco
        ``ref_confirm`` / ``ref_start_window``).
    time_zero
        Time zero of OS/DSS/EFS (``decision``, ``diagnosis`` or ``treatment_start``).
    mpr_threshold, permanence_months, days_after_last_dose
        Passed to the pathology, surgery and safety derivations.

    Returns a :class:`DerivedDatasets`; data problems never raise (they are in ``.problems``).
    A wrong parameter value raises ``ValueError``.
    """
    if response_source not in RESPONSE_SOURCES:
        raise ValueError(f"response_source must be one of {', '.join(RESPONSE_SOURCES)}; got {response_source!r}")
    t_start = time.perf_counter()
    from latc.dictionary import load_dictionary

    forms = load_dictionary().forms
    T = {name: (clean[name] if name in clean and clean[name] is not None else _empty_form(name)) for name in forms}
    col = _Collector()
    # the study as known at the data cut (records dated later left out, events ongoing at the cut)
    T, after_cut = apply_data_cut(T, data_cut)
    for r in after_cut.to_dict("records"):
        col.note("data_cut", "after_data_cut", f"{r['form']}: {r['rows']} row(s) {r['action']}", field=r["form"],
                 value=str(r["rows"]))

    patients = T["patients"].drop_duplicates("patient_id").reset_index(drop=True)
    pid = patients["patient_id"].astype("str")
    idx = patients.index
    centers = pd.Series(patients["center_id"].astype("str").to_numpy(), index=pid.to_numpy())
    cohort = patients["cohort"].astype("str")

    elig = _eligibility_flags(patients, eligibility, col)
    analysis = elig["eligible"].fillna(False).to_numpy(bool)
    pat_analysis = patients[analysis].reset_index(drop=True)
    # the study tables each derivation takes (form name → table): every enrolled patient, or the analysis set
    enrolled_tables = {**T, "patients": patients}
    analysis_tables = {**T, "patients": pat_analysis}

    def empty() -> pd.DataFrame:
        return pd.DataFrame({"patient_id": pd.Series([], dtype="str")})

    def pair() -> tuple[pd.DataFrame, pd.DataFrame]:
        return empty(), empty()

    # --- safety and exposure (every enrolled patient) -----------------------------------------------
    exposure, p = col.run("exposure", lambda: treatment_exposure(enrolled_tables), pair)
    col.add("exposure", p)
    by_agent, p = col.run("exposure", lambda: exposure_by_agent(T["treatments"]), pair)
    col.add("exposure", p)
    ae, p = col.run("safety", lambda: adverse_event_analysis(enrolled_tables, days_after_last_dose=days_after_last_dose),
                    pair)
    col.add("safety", p)
    ex = _per_patient(exposure, pid, ["safety_population", "first_dose_date"])
    safety = ex["safety_population"].fillna(False).to_numpy(bool)
    response_set = analysis & safety
    first_dose = ex["first_dose_date"].astype("datetime64[ns]")

    # --- imaging response ---------------------------------------------------------------------------
    col.add("recist", col.run("recist", lambda: check_target_lesions(T["lesions"]), empty))
    tumour = col.run("recist", lambda: timepoint_responses(T["lesions"], T["lesion_assessments"]), empty)
    if "overall_response" not in tumour:
        tumour = pd.DataFrame({"patient_id": pd.Series([], dtype="str"), "assessment_date": pd.Series([], dtype="datetime64[ns]"),
                               "overall_response": pd.Series([], dtype="str")})
    computed = tumour[["patient_id", "assessment_date", "overall_response"]].dropna(subset=["overall_response"])
    recorded = col.run("response", lambda: _recorded_responses(T["timepoint_responses"], col),
                       lambda: _recorded_responses(None, col))
    has_computed = _isin(pid, computed["patient_id"])
    has_recorded = _isin(pid, recorded["patient_id"])
    if response_source == "computed":
        source = np.select([has_computed, has_recorded], ["computed", "investigator"], default=None)
    else:
        source = np.select([has_recorded, has_computed], ["investigator", "computed"], default=None)
    source = pd.Series(source, index=idx, dtype="str")
    by_source = pd.Series(source.to_numpy(), index=pid.to_numpy())
    use_computed = computed[_lookup(computed["patient_id"], by_source).eq("computed").fillna(False).to_numpy(bool)]
    use_recorded = recorded[_lookup(recorded["patient_id"], by_source).eq("investigator").fillna(False).to_numpy(bool)]
    analysis_responses = pd.concat([use_computed, use_recorded[["patient_id", "assessment_date", "overall_response"]]],
                                   ignore_index=True)
    reference = pd.DataFrame({"patient_id": pid[response_set].to_numpy(), "reference_date": first_dose[response_set].to_numpy()})
    fu = T["follow_up"]
    deaths = fu.loc[fu["death_date"].notna(), ["patient_id", "death_date"]] if "death_date" in fu else None
    endpoints = col.run("response", lambda: _bor.response_endpoints(
        analysis_responses, reference, confirm_days=confirm_days, sd_min_days=sd_min_days, deaths=deaths,
        tumour=tumour if "percent_change_from_baseline" in tumour else None), empty)

    # concordance where both sources exist
    both = computed.merge(recorded[["patient_id", "assessment_date", "overall_response"]], on=["patient_id", "assessment_date"],
                          suffixes=("_computed", "_investigator"))
    conc = [_crosstab("timepoint_response", both["overall_response_computed"], both["overall_response_investigator"])]
    both_ref = reference[_isin(reference["patient_id"], computed["patient_id"]) & _isin(reference["patient_id"], recorded["patient_id"])]

    def _bor_concordance() -> list[pd.DataFrame]:
        if not len(both_ref):
            return [_crosstab(lv, pd.Series([], dtype="str"), pd.Series([], dtype="str"))
                    for lv in ("best_overall_response", "confirmed_best_overall_response")]
        kw = {"confirm_days": confirm_days, "sd_min_days": sd_min_days}
        a = _bor.bor_table(computed, both_ref, **kw).set_index("patient_id")
        b = _bor.bor_table(recorded[["patient_id", "assessment_date", "overall_response"]], both_ref, **kw)
        b = b.set_index("patient_id").reindex(a.index)
        return [_crosstab(lv, a[lv], b[lv]) for lv in ("best_overall_response", "confirmed_best_overall_response")]

    conc += col.run("response", _bor_concordance, lambda: [])
    concordance = pd.concat(conc, ignore_index=True)

    # --- pathology, staging (every patient) ----------------------------------------------------------
    pathology, p = col.run("pathology", lambda: derive_pathological_response(
        enrolled_tables, mpr_threshold=mpr_threshold), pair)
    col.add("pathology", p)

    # --- biochemistry and ATA (labs for everyone; response for the analysis set) ---------------------
    labs_h, p = col.run("biochem", lambda: harmonise_labs(T["labs"]), pair)
    col.add("biochem", p)
    biochem = empty()
    if "tg_interpretable" in labs_h:
        biochem, _, p = col.run("biochem", lambda: derive_biochemical_response(
            analysis_tables, labs_harmonised=labs_h),
            lambda: (empty(), empty(), empty()))
        col.add("biochem", p)
    postop = col.run("ata_risk", lambda: postop_tg_suggests_distant_metastases(T, labs_harmonised=labs_h),
                     empty) if "tg_interpretable" in labs_h else empty()

    def _risk() -> pd.DataFrame:
        inp = ata_risk_input(T)
        if "postop_tg_suggests_distant_metastases" in postop:
            inp = inp.merge(postop[["patient_id", "postop_tg_suggests_distant_metastases"]], on="patient_id", how="left")
        return ata_initial_risk(inp)

    risk = col.run("ata_risk", _risk, empty)
    ata_resp, p = (col.run("ata_response", lambda: ata_response_to_therapy(analysis_tables, labs_harmonised=labs_h), pair)
                   if "tg_interpretable" in labs_h else pair())
    col.add("ata_response", p)

    # --- surgery (every patient) -----------------------------------------------------------------------
    surgery, p = col.run("surgery", lambda: surgical_outcomes(enrolled_tables, permanence_months=permanence_months), pair)
    col.add("surgery", p)
    complications, p = col.run("surgery", lambda: complications_analysis(T, permanence_months=permanence_months), pair)
    col.add("surgery", p)

    # --- time to event (analysis set) --------------------------------------------------------------
    tte_tables = {**analysis_tables, "tumour": use_computed, "timepoint_responses": use_recorded}
    tte, p = col.run("tte", lambda: derive_tte(tte_tables, data_cut, time_zero=time_zero), pair)
    col.add("tte", p)

    # --- subject ------------------------------------------------------------------------------------
    subject = _subject(patients, pid, T, elig, analysis, safety, response_set, source, exposure, endpoints, pathology,
                       biochem, risk, ata_resp, surgery, tte)

    # --- long datasets ------------------------------------------------------------------------------
    response = _response_dataset(tumour, recorded, endpoints, by_source, response_set, pid, centers, cohort)
    tumour_out = tumour.copy()
    if "patient_id" in tumour_out and len(tumour_out.columns) > 3:
        tumour_out = _with_center(tumour_out, centers)
        tumour_out = _insert_after(tumour_out, "center_id", "cohort", _lookup_text(
            tumour_out["patient_id"], pd.Series(cohort.to_numpy(), index=pid.to_numpy())).to_numpy())
        fd = _lookup(tumour_out["patient_id"], pd.Series(first_dose.to_numpy(), index=pid.to_numpy())).astype("datetime64[ns]")
        tumour_out = _insert_after(tumour_out, "baseline_date", "days_from_treatment_start",
                                   (tumour_out["assessment_date"] - fd).dt.days.astype("Int64").to_numpy())
    datasets = {
        "tte": tte,
        "ae": _with_center(ae, centers),
        "exposure": _with_center(by_agent, centers),
        "surgery": _with_center(surgery, centers),
        "complications": _with_center(complications, centers),
        "biochem": _with_center(biochem, centers),
        "labs": labs_h if "center_id" in labs_h or "patient_id" not in labs_h else _with_center(labs_h, centers),
    }
    problems = col.frame()
    timings = dict(col.timings)
    timings["total"] = time.perf_counter() - t_start
    parameters = {"data_cut": str(pd.Timestamp(data_cut).date()), "response_source": response_source,
                  "confirm_days": confirm_days, "sd_min_days": sd_min_days, "time_zero": time_zero,
                  "mpr_threshold": mpr_threshold, "permanence_months": permanence_months,
                  "days_after_last_dose": days_after_last_dose, "eligibility_supplied": eligibility is not None,
                  "rows_after_data_cut": after_cut.to_dict("records")}
    return DerivedDatasets(subject=subject, response=response, tumour=tumour_out.reset_index(drop=True),
                           concordance=concordance, problems=problems, parameters=parameters, timings=timings,
                           **{k: v.reset_index(drop=True) for k, v in datasets.items()})
