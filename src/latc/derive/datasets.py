"""The analysis datasets: every derivation of ``latc.derive`` assembled per patient and per record.

``derive_datasets(clean, data_cut, eligibility=...)`` runs the derivation modules on the clean
typed study tables (output of ``latc validate``) and returns a :class:`DerivedDatasets`:

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
``metadata.yaml`` and ``docs/derivations/datasets.md``).  What this module decides:

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from latc.derive import bor as _bor
from latc.derive.data_cut import apply_data_cut
from latc.derive.ata_response import ata_response_to_therapy, postop_tg_suggests_distant_metastases
from latc.derive.ata_risk import ata_dynamic_risk, ata_initial_risk, ata_risk_input
from latc.derive.biochem import derive_biochemical_response, harmonise_labs, positions, text_from_codes
from latc.derive.pathology import MPR_THRESHOLD, derive_pathological_response
from latc.derive.recist import check_target_lesions, response_long, timepoint_responses
from latc.derive.safety import TEAE_DAYS_AFTER_LAST_DOSE, adverse_event_analysis, exposure_by_agent, treatment_exposure
from latc.derive.surgery import PERMANENCE_MONTHS, complications_analysis, surgical_outcomes
from latc.derive.tte import derive_tte

__all__ = [
    "DATASET_NAMES",
    "PROBLEM_COLUMNS",
    "RESPONSE_SOURCES",
    "DerivedDatasets",
    "DeriveRun",
    "concordance_summary",
    "derive_datasets",
    "derive_path",
    "read_clean_tables",
    "write_datasets",
]

#: Datasets in writing order (``problems`` is written too, as ``problems.csv``/``.parquet``).
DATASET_NAMES: tuple[str, ...] = (
    "subject", "response", "tumour", "tte", "ae", "exposure", "surgery", "complications", "biochem", "labs",
    "concordance", "problems",
)
RESPONSE_SOURCES: tuple[str, ...] = ("computed", "investigator")
PROBLEM_COLUMNS = ["derivation", "patient_id", "field", "value", "rule", "message"]

#: Histology code → group reported in the tables (DTC = papillary, follicular, oncocytic).
HISTOLOGY_GROUPS = {"ptc": "DTC", "ftc": "DTC", "oncocytic": "DTC", "pdtc": "PDTC", "atc": "ATC", "mtc": "MTC"}
#: Invasion flags of the diagnosis form, in the order their names are listed.
INVASION_FIELDS = (
    "invasion_strap_muscles", "invasion_trachea", "invasion_larynx", "invasion_esophagus", "invasion_rln",
    "invasion_skin", "invasion_carotid", "invasion_prevertebral", "invasion_mediastinal_vessels",
)
#: Time-to-event parameters carried wide into ``subject`` (lower-case prefix).
TTE_PARAMETERS = ("OS", "DSS", "EFS", "TTP", "RFS", "RFSSTR")

#: ``response`` parameter codes (after CDISC ADRS PARAMCD) and their labels.
RESPONSE_PARAMETERS: dict[str, str] = {
    "TRGRESP": "Target lesion response (RECIST 1.1)",
    "NTRGRESP": "Non-target lesion response (RECIST 1.1)",
    "NEWLPROG": "New lesion (Y/N)",
    "OVRLRESP": "Overall timepoint response (RECIST 1.1)",
    "BOR": "Best overall response (unconfirmed)",
    "CBOR": "Best overall response (confirmed)",
}
_LONG_TO_PARAMCD = {"target_response": "TRGRESP", "non_target_response": "NTRGRESP", "new_lesion": "NEWLPROG",
                    "overall_response": "OVRLRESP"}
_TYPE_DTYPES = {"text": "str", "notes": "str", "choice": "str", "integer": "Int64", "number": "Float64",
                "date": "datetime64[ns]", "yesno": "boolean"}


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


# ------------------------------------------------------------------------------------------------
# helpers


def _empty_form(form: str) -> pd.DataFrame:
    from latc.dictionary import load_dictionary

    f = load_dictionary().forms[form]
    return pd.DataFrame({fl.name: pd.Series([], dtype=_TYPE_DTYPES[fl.type]) for fl in f.fields})


def _problems_frame(derivation: str, problems: pd.DataFrame | None) -> pd.DataFrame:
    """A module's problem table in the common shape (``lesion_id`` folds into field/value)."""
    if problems is None or not len(problems):
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in PROBLEM_COLUMNS})
    p = problems
    n = len(p)

    def col(name: str, default: Any = pd.NA) -> np.ndarray:
        return p[name].astype("str").to_numpy(dtype=object) if name in p else np.full(n, default, dtype=object)

    field_ = col("field")
    value = col("value")
    if "lesion_id" in p and "field" not in p:
        field_ = np.full(n, "lesion_id", dtype=object)
        value = col("lesion_id")
    out = pd.DataFrame({"derivation": derivation, "patient_id": col("patient_id"), "field": field_, "value": value,
                        "rule": col("rule"), "message": col("message")})
    return out.astype("str")


class _Collector:
    """Runs derivations, timing them and turning an unexpected failure into a problem row."""

    def __init__(self) -> None:
        self.problems: list[pd.DataFrame] = []
        self.timings: dict[str, float] = {}

    def add(self, derivation: str, problems: pd.DataFrame | None) -> None:
        if problems is not None and len(problems):
            self.problems.append(_problems_frame(derivation, problems))

    def note(self, derivation: str, rule: str, message: str, patient_id: pd.Series | None = None,
             field: str = "", value: pd.Series | str = "") -> None:
        pid = patient_id.astype("str").to_numpy(dtype=object) if patient_id is not None else np.array([pd.NA], dtype=object)
        val = value.astype("str").to_numpy(dtype=object) if isinstance(value, pd.Series) else value
        self.problems.append(pd.DataFrame({"derivation": derivation, "patient_id": pid, "field": field, "value": val,
                                           "rule": rule, "message": message}).astype("str"))

    def run(self, derivation: str, fn: Callable[[], Any], fallback: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - a failing derivation must not stop the other ones
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.note(derivation, "derivation_failed",
                      f"{derivation} could not be derived ({type(exc).__name__}: {first[:300]}); its columns are left missing")
            return fallback()
        finally:
            self.timings[derivation] = self.timings.get(derivation, 0.0) + time.perf_counter() - t0

    def frame(self) -> pd.DataFrame:
        if not self.problems:
            return pd.DataFrame({c: pd.Series([], dtype="str") for c in PROBLEM_COLUMNS})
        out = pd.concat(self.problems, ignore_index=True)[PROBLEM_COLUMNS]
        # several modules check the same source rows (e.g. treatments): report each problem once
        return out.drop_duplicates(ignore_index=True).astype("str")


def _per_patient(table: pd.DataFrame, pid: pd.Series, columns: list[str], rename: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Columns of a one-row-per-patient table aligned on ``pid`` (missing columns → all missing;
    a patient listed twice → the first row)."""
    if "patient_id" in table and len(table) and all(c in table for c in columns):
        # patients matched on hashed codes; each column taken with missing rows filled
        pos = positions(pid, table["patient_id"])
        cols = {c: pd.array(table[c], dtype=_nullable(table[c].dtype), copy=False).take(pos, allow_fill=True) for c in columns}
        return pd.DataFrame(cols, index=pid.index).rename(columns=dict(rename or {}))
    if "patient_id" in table and len(table):
        t = table.drop_duplicates("patient_id")
        t = t.set_index(t["patient_id"].astype("str").to_numpy())
    else:
        t = pd.DataFrame(index=pd.Index([], dtype=object))
    t = t.reindex(columns=list(columns))
    dtypes = {c: _nullable(t[c].dtype) for c in t.columns}
    t = t.reindex(pid.to_numpy()).astype(dtypes)
    t.index = pid.index
    return t.rename(columns=dict(rename or {}))


def _nullable(dtype: Any) -> Any:
    """The dtype a column keeps when reindexing adds missing rows (numpy bool/int → nullable)."""
    if dtype == bool:
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return "Int64"
    if dtype == object:
        return "str"
    return dtype


def _bool(values: pd.Series | np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=bool), index=index, dtype="boolean")


def _insert_after(df: pd.DataFrame, after: str, name: str, values: Any) -> pd.DataFrame:
    out = df.copy()
    if name in out:
        out = out.drop(columns=name)
    out.insert(out.columns.get_loc(after) + 1 if after in out else 0, name, values)
    return out


def _isin(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """``values.isin(keys)`` for text ids, hashed in pyarrow (numpy bool)."""
    import pyarrow.compute as pc

    from latc.derive.biochem import _arrow_text

    if not len(values) or not len(keys):
        return np.zeros(len(values), dtype=bool)
    return pc.is_in(_arrow_text(values), value_set=_arrow_text(keys), skip_nulls=True).to_numpy(zero_copy_only=False).astype(bool)


def _lookup(values: pd.Series, by_patient: pd.Series) -> pd.Series:
    """``by_patient`` (indexed by patient id, unique) looked up for each id in ``values`` — like
    ``values.map(by_patient)`` but matched on hashed codes; missing where the id is unknown."""
    pos = positions(values, by_patient.index)
    arr = pd.array(by_patient.to_numpy(), dtype=_nullable(by_patient.dtype)) if by_patient.dtype != "str" else by_patient.array
    return pd.Series(arr.take(pos, allow_fill=True), index=values.index)


def _lookup_text(values: pd.Series, by_patient: pd.Series) -> pd.Series:
    """Text ``by_patient`` looked up per id (``str``; built from codes, no per-row string work)."""
    pos = positions(values, by_patient.index)
    codes, uniques = pd.factorize(by_patient, use_na_sentinel=True)
    return text_from_codes(np.where(pos >= 0, codes[np.maximum(pos, 0)] if len(codes) else -1, -1),
                           [str(u) for u in uniques], index=values.index)


def _with_center(df: pd.DataFrame, centers: pd.Series) -> pd.DataFrame:
    """``center_id`` right after ``patient_id`` (from the patients table)."""
    values = _lookup_text(df["patient_id"], centers) if "patient_id" in df else pd.Series(dtype="str")
    return _insert_after(df, "patient_id", "center_id", values.to_numpy())


def _eligibility_flags(patients: pd.DataFrame, eligibility: pd.DataFrame | None, col: _Collector) -> pd.DataFrame:
    pid = patients["patient_id"].astype("str")
    if eligibility is None:
        col.note("populations", "eligibility_not_supplied",
                 "no eligibility table was given: every patient is counted in the analysis set")
        return pd.DataFrame({"eligible": pd.array([True] * len(pid), dtype="boolean"),
                             "failed_criteria": pd.array([pd.NA] * len(pid), dtype="str")}, index=patients.index)
    el = eligibility.copy()
    el["patient_id"] = el["patient_id"].astype("str")
    raw = el["eligible"] if "eligible" in el else pd.Series(pd.NA, index=el.index)
    if not pd.api.types.is_bool_dtype(raw):
        txt = raw.astype("str").str.strip().str.lower()
        raw = txt.map({"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False})
    el["eligible"] = raw.astype("boolean")
    if "failed_criteria" not in el:
        el["failed_criteria"] = pd.NA
    got = _per_patient(el, pid, ["eligible", "failed_criteria"])
    missing = got["eligible"].isna()
    if missing.any():
        col.note("populations", "eligibility_missing",
                 "patient has no usable row in the eligibility table: not counted in the analysis set",
                 patient_id=pid[missing], field="eligible")
    got["failed_criteria"] = got["failed_criteria"].astype("str").replace({"": pd.NA, "nan": pd.NA}).astype("str")
    return got


# ------------------------------------------------------------------------------------------------
# responses: which source, concordance


def _recorded_responses(tpr: pd.DataFrame, col: _Collector) -> pd.DataFrame:
    """Investigator/central timepoint responses with usable codes; the others become problems."""
    if tpr is None or not len(tpr):
        return pd.DataFrame({"patient_id": pd.Series([], dtype="str"), "assessment_date": pd.Series([], dtype="datetime64[ns]"),
                             "overall_response": pd.Series([], dtype="str"), "assessor": pd.Series([], dtype="str")})
    t = pd.DataFrame({
        "patient_id": tpr["patient_id"].astype("str").to_numpy(),
        "assessment_date": pd.to_datetime(tpr["assessment_date"], errors="coerce").astype("datetime64[ns]").to_numpy(),
        "overall_response": _bor.normalise_response(tpr["overall_response"]).to_numpy(),
        "assessor": (tpr["assessor"].astype("str") if "assessor" in tpr else pd.Series(pd.NA, index=tpr.index, dtype="str")).to_numpy(),
    })
    raw_code = tpr["overall_response"].astype("str").reset_index(drop=True)
    bad = ~t["overall_response"].isin(_bor.VALID_RESPONSES - {"ND"})
    if bad.any():
        col.note("response", "unknown_response_code",
                 "timepoint_responses.overall_response is not a RECIST 1.1 overall response "
                 "(CR, PR, SD, NON-CR/NON-PD, PD, NE): row left out of the best overall response",
                 patient_id=t.loc[bad, "patient_id"], field="overall_response", value=raw_code[bad].fillna(""))
    no_date = ~bad & t["assessment_date"].isna()
    if no_date.any():
        col.note("response", "assessment_date_missing", "recorded timepoint response without a valid date: row left out",
                 patient_id=t.loc[no_date, "patient_id"], field="assessment_date")
    t = t[~bad & ~no_date]
    dup = t.duplicated(["patient_id", "assessment_date"], keep=False)
    if dup.any():
        d = t[dup]
        conflicting = d.groupby(["patient_id", "assessment_date"])["overall_response"].transform("nunique") > 1
        c = d[conflicting.to_numpy()]
        if len(c):
            col.note("response", "conflicting_responses",
                     "two different recorded responses on the same date (e.g. investigator and central review): "
                     "the date is left out of the best overall response",
                     patient_id=c["patient_id"], field="overall_response", value=c["overall_response"])
            key = pd.MultiIndex.from_frame(c[["patient_id", "assessment_date"]])
            t = t[~pd.MultiIndex.from_frame(t[["patient_id", "assessment_date"]]).isin(key)]
        t = t.drop_duplicates(["patient_id", "assessment_date"])
    return t.reset_index(drop=True)


def _crosstab(level: str, computed: pd.Series, investigator: pd.Series) -> pd.DataFrame:
    df = pd.DataFrame({"computed": computed.astype("str").to_numpy(), "investigator": investigator.astype("str").to_numpy()})
    if not len(df):
        return pd.DataFrame({"level": pd.Series([], dtype="str"), "computed": pd.Series([], dtype="str"),
                             "investigator": pd.Series([], dtype="str"), "n": pd.Series([], dtype="int64"),
                             "agree": pd.Series([], dtype="bool")})
    g = df.groupby(["computed", "investigator"], dropna=False).size().rename("n").reset_index()
    g.insert(0, "level", level)
    g["agree"] = (g["computed"] == g["investigator"]).fillna(False).astype(bool)
    order = {v: i for i, v in enumerate(_bor.RESPONSE_ORDER)}
    g = g.sort_values(["computed", "investigator"], key=lambda s: s.map(order).fillna(99), kind="stable")
    return g.astype({"level": "str", "computed": "str", "investigator": "str", "n": "int64"}).reset_index(drop=True)


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

    def empty() -> pd.DataFrame:
        return pd.DataFrame({"patient_id": pd.Series([], dtype="str")})

    def pair() -> tuple[pd.DataFrame, pd.DataFrame]:
        return empty(), empty()

    # --- safety and exposure (every enrolled patient) -----------------------------------------------
    exposure, p = col.run("exposure", lambda: treatment_exposure(patients, T["treatments"], T["surgery"]), pair)
    col.add("exposure", p)
    by_agent, p = col.run("exposure", lambda: exposure_by_agent(T["treatments"]), pair)
    col.add("exposure", p)
    ae, p = col.run("safety", lambda: adverse_event_analysis(T["adverse_events"], patients, T["treatments"], T["surgery"],
                                                            days_after_last_dose=days_after_last_dose), pair)
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
        patients, T["diagnosis"], T["pathology"], T["surgery"], mpr_threshold=mpr_threshold), pair)
    col.add("pathology", p)

    # --- biochemistry and ATA (labs for everyone; response for the analysis set) ---------------------
    labs_h, p = col.run("biochem", lambda: harmonise_labs(T["labs"]), pair)
    col.add("biochem", p)
    biochem = empty()
    if "tg_interpretable" in labs_h:
        biochem, _, p = col.run("biochem", lambda: derive_biochemical_response(
            T["labs"], pat_analysis, T["diagnosis"], T["treatments"], T["surgery"], labs_harmonised=labs_h),
            lambda: (empty(), empty(), empty()))
        col.add("biochem", p)
    postop = col.run("ata_risk", lambda: postop_tg_suggests_distant_metastases(labs_h, T["surgery"], T["adjuvant"], T["diagnosis"]),
                     empty) if "tg_interpretable" in labs_h else empty()

    def _risk() -> pd.DataFrame:
        inp = ata_risk_input(T["diagnosis"], T["pathology"], T["surgery"])
        if "postop_tg_suggests_distant_metastases" in postop:
            inp = inp.merge(postop[["patient_id", "postop_tg_suggests_distant_metastases"]], on="patient_id", how="left")
        return ata_initial_risk(inp)

    risk = col.run("ata_risk", _risk, empty)
    ata_resp, p = (col.run("ata_response", lambda: ata_response_to_therapy(
        labs_h, T["diagnosis"], T["surgery"], T["adjuvant"], T["follow_up"], pat_analysis), pair)
        if "tg_interpretable" in labs_h else pair())
    col.add("ata_response", p)

    # --- surgery (every patient) -----------------------------------------------------------------------
    surgery, p = col.run("surgery", lambda: surgical_outcomes(patients, T["diagnosis"], T["surgery"], T["complications"],
                                                              T["treatments"], T["follow_up"], permanence_months=permanence_months), pair)
    col.add("surgery", p)
    complications, p = col.run("surgery", lambda: complications_analysis(T["complications"], T["surgery"],
                                                                         permanence_months=permanence_months), pair)
    col.add("surgery", p)

    # --- time to event (analysis set) --------------------------------------------------------------
    tte_tables = dict(T)
    tte_tables["patients"] = pat_analysis
    tte_tables["tumour"] = use_computed
    tte_tables["timepoint_responses"] = use_recorded
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


#: subject columns taken from each module's per-patient table (name in the module → name here)
_FROM_EXPOSURE = ["agent_class", "agents", "n_agents", "n_courses", "first_dose_date", "last_dose_date", "exposure_days",
                  "any_dose_reduction", "any_interruption", "discontinued_for_toxicity"]
_FROM_RESPONSE = [
    "reference_date", "best_overall_response", "best_overall_response_date", "confirmed_best_overall_response",
    "confirmed_best_overall_response_date", "objective_response", "confirmed_objective_response", "disease_control",
    "confirmed_disease_control", "first_response_date", "first_confirmed_response_date", "time_to_response_days",
    "time_to_confirmed_response_days", "duration_of_response_days", "duration_of_response_event",
    "confirmed_duration_of_response_days", "confirmed_duration_of_response_event", "best_percent_change_from_baseline",
    "depth_of_response_percent",
]
_FROM_BIOCHEM = [
    "biochemical_marker", "biochemical_percent_change", "biochemical_response", "biochemical_response_reason",
    "tg_percent_change", "tgab_percent_change", "tgab_positive", "calcitonin_percent_change", "cea_percent_change",
    "calcitonin_postop_doubling_time_days", "cea_postop_doubling_time_days",
]
_FROM_PATHOLOGY = ["clinical_stage", "stage_prefix", "viable_tumor_pct", "pathological_response", "pcr", "mpr",
                   "pathological_t", "pathological_n", "pathological_stage", "t_downstaged", "n_downstaged", "stage_downstaged"]
_FROM_SURGERY = [
    "curative_surgery", "surgery_date", "days_decision_to_surgery", "days_last_dose_to_surgery", "resection_status",
    "r0_resection", "macroscopically_complete_resection", "thyroidectomy_extent", "organ_resection_planned",
    "planned_organ_resection_avoided", "larynx_preserved", "total_laryngectomy_avoided", "tracheal_resection_avoided",
    "esophageal_resection_avoided", "any_complication", "max_clavien_dindo", "major_complication", "complication_30d",
    "hypoparathyroidism", "hypoparathyroidism_permanent", "rln_palsy", "rln_palsy_permanent", "death_30d", "death_90d",
]
_FROM_RISK = ["ata_risk", "ata_risk_reasons", "ata_risk_basis", "postop_tg_suggests_distant_metastases"]
_FROM_ATA_RESPONSE = ["rai_given", "response_to_therapy", "response_to_therapy_reason"]
_DIAGNOSIS = ["histology", "histology_subtype", "primary_size_mm", "ct", "cn", "cm", "distant_metastasis_sites",
              "braf_v600e", "ras", "ret", "tert_promoter", "fusion", "baseline_resectability", "planned_laryngectomy",
              "planned_tracheal_resection", "planned_esophageal_resection"]
_PATIENTS = ["center_id", "cohort", "diagnosis_date", "treatment_decision_date", "enrollment_date", "age_at_diagnosis", "sex", "ecog"]


def _subject(patients: pd.DataFrame, pid: pd.Series, T: Mapping[str, pd.DataFrame], elig: pd.DataFrame, analysis: np.ndarray,
             safety: np.ndarray, response_set: np.ndarray, source: pd.Series, exposure: pd.DataFrame, endpoints: pd.DataFrame,
             pathology: pd.DataFrame, biochem: pd.DataFrame, risk: pd.DataFrame, ata_resp: pd.DataFrame,
             surgery: pd.DataFrame, tte: pd.DataFrame) -> pd.DataFrame:
    idx = patients.index
    parts: list[pd.DataFrame] = [pd.DataFrame({"patient_id": pid}, index=idx), patients[_PATIENTS]]
    age = patients["age_at_diagnosis"].astype("Int64")
    parts.append(pd.DataFrame({"age_55_or_older": age.ge(55).astype("boolean")}, index=idx))

    # populations
    surg = _per_patient(surgery, pid, ["curative_surgery", "resection_status"])
    operated = analysis & surg["curative_surgery"].fillna(False).to_numpy(bool)
    r0r1 = operated & surg["resection_status"].isin(["R0", "R1"]).to_numpy(bool)
    parts.append(pd.DataFrame({
        "enrolled": _bool(np.ones(len(idx), dtype=bool), idx),
        "eligible": elig["eligible"].astype("boolean"),
        "failed_criteria": elig["failed_criteria"].astype("str"),
        "analysis_set": _bool(analysis, idx), "safety_set": _bool(safety, idx), "response_set": _bool(response_set, idx),
        "operated_set": _bool(operated, idx), "r0r1_set": _bool(r0r1, idx),
    }, index=idx))

    # baseline disease
    dx = _per_patient(T["diagnosis"], pid, _DIAGNOSIS + list(INVASION_FIELDS))
    hist = dx["histology"].astype("str")
    base = dx[_DIAGNOSIS].copy()
    base.insert(1, "histology_group", hist.map(HISTOLOGY_GROUPS).astype("str"))
    inv = dx[list(INVASION_FIELDS)].astype("boolean")
    known = inv.notna().all(axis=1)
    # the list of invaded structures is spelled once per distinct combination (a bit mask per patient)
    flags = np.column_stack([inv[f].fillna(False).to_numpy(bool) for f in INVASION_FIELDS]) if len(idx) else np.zeros((0, len(INVASION_FIELDS)), bool)
    mask = flags.astype(np.int64) @ (1 << np.arange(len(INVASION_FIELDS), dtype=np.int64))
    combos, mcode = np.unique(mask, return_inverse=True)
    spelled = [";".join(f.removeprefix("invasion_") for i, f in enumerate(INVASION_FIELDS) if m >> i & 1) or "none" for m in combos]
    base.insert(base.columns.get_loc("cm") + 1, "n_invaded_structures",
                pd.Series(flags.sum(axis=1), index=idx).astype("Int64").where(known))
    base.insert(base.columns.get_loc("n_invaded_structures") + 1, "invaded_structures",
                text_from_codes(np.where(known.to_numpy(bool), mcode.reshape(-1), -1), spelled, index=idx))
    parts.append(base)
    parts.append(_per_patient(pathology, pid, ["clinical_stage"]))

    parts.append(_per_patient(exposure, pid, _FROM_EXPOSURE))
    parts.append(pd.DataFrame({"response_source": source.where(response_set)}, index=idx).astype("str"))
    parts.append(_per_patient(endpoints, pid, _FROM_RESPONSE, {"reference_date": "response_reference_date"}))
    parts.append(_per_patient(biochem, pid, _FROM_BIOCHEM))
    parts.append(_per_patient(pathology, pid, [c for c in _FROM_PATHOLOGY if c != "clinical_stage"]))
    parts.append(_per_patient(surgery, pid, _FROM_SURGERY, {"surgery_date": "index_surgery_date"}))
    parts.append(_per_patient(risk, pid, _FROM_RISK))
    ar = _per_patient(ata_resp, pid, _FROM_ATA_RESPONSE)
    parts.append(ar)
    rk = _per_patient(risk, pid, ["ata_risk"])
    dyn = ata_dynamic_risk(rk["ata_risk"].astype("str"), ar["response_to_therapy"].astype("str"))
    parts.append(dyn[["restratified_risk", "restratified_risk_statement"]])

    # time-to-event, wide
    wide = {}
    if len(tte) and "paramcd" in tte:
        # per parameter, the first row of each patient, matched on hashed codes
        ppos = positions(tte["patient_id"], pid)
        pcode = positions(tte["paramcd"], list(TTE_PARAMETERS))
        for k, p in enumerate(TTE_PARAMETERS):
            rows = np.flatnonzero((pcode == k) & (ppos >= 0))
            if not len(rows):
                continue
            first_pos, first = np.unique(ppos[rows], return_index=True)
            take = np.full(len(idx), -1, dtype=np.int64)
            take[first_pos] = rows[first]
            for c in ("time_days", "time_months", "event", "event_type"):
                col = tte[c]
                wide[f"{p.lower()}_{c}"] = pd.array(col, dtype=_nullable(col.dtype), copy=False).take(take, allow_fill=True)
    tw = pd.DataFrame(wide, index=idx)
    for p in TTE_PARAMETERS:
        for c, dtype in (("time_days", "Int64"), ("time_months", "Float64"), ("event", "Int64"), ("event_type", "Int64")):
            name = f"{p.lower()}_{c}"
            tw[name] = tw[name].astype(dtype) if name in tw else pd.Series(pd.NA, index=idx, dtype=dtype)
    parts.append(tw[[f"{p.lower()}_{c}" for p in TTE_PARAMETERS for c in ("time_days", "time_months", "event", "event_type")]])

    out = pd.concat(parts, axis=1)
    for c in out.columns:  # module outputs of missing derivations come back as object columns
        if out[c].dtype == object:
            out[c] = out[c].astype("str")
    return out.reset_index(drop=True)


def _response_dataset(tumour: pd.DataFrame, recorded: pd.DataFrame, endpoints: pd.DataFrame, by_source: pd.Series,
                      response_set: np.ndarray, pid: pd.Series, centers: pd.Series, cohort: pd.Series) -> pd.DataFrame:
    in_set = pd.Series(response_set, index=pid.to_numpy())
    parts = []
    if "target_response" in tumour and len(tumour):
        long = response_long(tumour)
        parts.append(pd.DataFrame({
            "patient_id": long["patient_id"].astype("str"),
            "paramcd": text_from_codes(positions(long["parameter"], list(_LONG_TO_PARAMCD)), list(_LONG_TO_PARAMCD.values()),
                                       index=long.index),
            "assessment_date": long["assessment_date"], "value": long["value"], "source": "computed",
            "assessor": pd.Series(pd.NA, index=long.index, dtype="str")}))
    if len(recorded):
        parts.append(pd.DataFrame({
            "patient_id": recorded["patient_id"], "paramcd": "OVRLRESP", "assessment_date": recorded["assessment_date"],
            "value": recorded["overall_response"], "source": "investigator", "assessor": recorded["assessor"]}))
    timepoints = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"patient_id": pd.Series([], dtype="str"), "paramcd": pd.Series([], dtype="str"),
         "assessment_date": pd.Series([], dtype="datetime64[ns]"), "value": pd.Series([], dtype="str"),
         "source": pd.Series([], dtype="str"), "assessor": pd.Series([], dtype="str")})
    timepoints["analysis_flag"] = ((timepoints["source"] == _lookup(timepoints["patient_id"], by_source)).fillna(False)
                                   & _lookup(timepoints["patient_id"], in_set).fillna(False)).astype(bool)
    bor_rows = []
    if "best_overall_response" in endpoints:
        e = endpoints
        for code, col in (("BOR", "best_overall_response"), ("CBOR", "confirmed_best_overall_response")):
            bor_rows.append(pd.DataFrame({
                "patient_id": e["patient_id"].astype("str"), "paramcd": code, "assessment_date": e[f"{col}_date"],
                "value": e[col].astype("str"), "source": _lookup(e["patient_id"], by_source).astype("str"),
                "assessor": pd.Series(pd.NA, index=e.index, dtype="str"), "analysis_flag": True}))
    out = pd.concat([timepoints, *bor_rows], ignore_index=True)
    # order: patient, timepoints by date and parameter (computed before investigator), then BOR and
    # CBOR — on integer keys (string sorts
    # of millions of rows are slow)
    pcode = pd.factorize(out["patient_id"], sort=True)[0]
    ocode = positions(out["paramcd"], list(RESPONSE_PARAMETERS))
    scode = positions(out["source"], list(RESPONSE_SOURCES))
    day = out["assessment_date"].astype("datetime64[ns]").to_numpy().astype("int64")  # NaT sorts first
    per_patient = ocode >= list(RESPONSE_PARAMETERS).index("BOR")  # BOR, CBOR after the timepoints
    order = np.lexsort((scode, ocode, day, per_patient, pcode))
    out = out.take(order).reset_index(drop=True)
    out.insert(1, "center_id", _lookup_text(out["patient_id"], centers))
    out.insert(2, "cohort", _lookup_text(out["patient_id"], pd.Series(cohort.to_numpy(), index=pid.to_numpy())))
    out.insert(4, "param", text_from_codes(ocode[order], list(RESPONSE_PARAMETERS.values())))
    out["assessment_date"] = out["assessment_date"].astype("datetime64[ns]")
    for c in ("patient_id", "paramcd", "value", "source", "assessor"):
        out[c] = out[c].astype("str")
    out["analysis_flag"] = out["analysis_flag"].astype(bool)
    return out


# ------------------------------------------------------------------------------------------------
# input and output


def read_clean_tables(folder: str | Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None, str | None]:
    """Read a validation output folder: ``clean/<form>.parquet``, ``eligibility.csv``, ``summary.json``.

    Returns ``(clean, eligibility, data_cut)`` (``eligibility`` / ``data_cut`` None when absent).
    Raises ``FileNotFoundError`` when ``folder/clean`` has no Parquet table.
    """
    import json

    folder = Path(folder)
    files = sorted((folder / "clean").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{folder}: no clean/*.parquet tables (not a `latc validate` output folder)")
    clean = {f.stem: pd.read_parquet(f) for f in files}
    elig_path = folder / "eligibility.csv"
    eligibility = pd.read_csv(elig_path, dtype="str", keep_default_na=False, na_values=[""]) if elig_path.exists() else None
    if eligibility is not None:
        from latc.io._spreadsheet import restore_formulas  # the CSV is spreadsheet-safe ('-prefixed formulas)

        eligibility = restore_formulas(eligibility)
    data_cut = None
    summary = folder / "summary.json"
    if summary.exists():
        data_cut = json.loads(summary.read_text(encoding="utf-8")).get("data_cut") or None
    return clean, eligibility, data_cut


#: What a missing value is written as in latc's CSV outputs: R's ``read.csv`` reads ``NA`` as a missing
#: value in every column type (an empty cell only in logical and number columns: in a text or date
#: column it stays ``""``), pandas' ``read_csv`` reads it as missing too, and R's ``write.csv`` writes it.
CSV_NA = "NA"


def _csv_column(s: pd.Series) -> pd.Series:
    """One column in its CSV form: flags as ``TRUE``/``FALSE`` (what R's ``read.csv`` reads as logical
    without options; ``true``/``True`` stay text in R 4.2), categories and mixed text as text, dates kept."""
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):  # bool and the nullable boolean
        return s.astype("boolean").map({True: "TRUE", False: "FALSE"}, na_action="ignore").astype("object")
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        if pd.api.types.is_bool_dtype(cats.dtype):
            return _csv_column(s.astype("boolean"))
        return s.astype("object").where(s.notna(), None).map(str, na_action="ignore")
    if dtype == object:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind == "boolean":
            return s.map({True: "TRUE", False: "FALSE"}, na_action="ignore").astype("object")
        if kind not in ("string", "empty", "integer", "floating", "mixed-integer-float", "decimal", "date", "datetime",
                        "datetime64"):  # mixed types: each value as text
            return s.map(lambda v: "TRUE" if v is True or v is np.True_ else "FALSE" if v is False or v is np.False_
                         else str(v), na_action="ignore")
    return s


def write_table_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a derived or analysis table as CSV that R's ``read.csv`` and pandas' ``read_csv`` read
    without options (docs/r.md): logical columns as ``TRUE``/``FALSE``, missing values as ``NA``,
    dates as ``YYYY-MM-DD``, numbers as numbers; text cells a spreadsheet would run as a formula get
    a leading ``'`` (docs/spreadsheet_safety.md). Written through pyarrow (several times faster than
    ``DataFrame.to_csv`` at millions of rows), which quotes every text value."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from latc.io._spreadsheet import neutralise_formulas

    safe = neutralise_formulas(table)
    frame = pd.DataFrame({c: _csv_column(safe[c]) for c in safe.columns}, index=safe.index)
    frame.columns = [str(c) for c in safe.columns]
    t = pa.Table.from_pandas(frame, preserve_index=False)
    for i, f in enumerate(t.schema):
        if pa.types.is_timestamp(f.type):
            t = t.set_column(i, f.name, pc.cast(t.column(i), pa.date32(), safe=False))
        elif pa.types.is_null(f.type):  # a column without any value
            t = t.set_column(i, f.name, pa.array([None] * len(t), pa.string()))
    path = Path(path)
    pacsv.write_csv(t, path, write_options=pacsv.WriteOptions(quoting_style="needed", null_string=CSV_NA))
    return path


def write_datasets(ds: DerivedDatasets, out_dir: str | Path) -> dict[str, Path]:
    """Write every dataset as ``<name>.parquet`` and ``<name>.csv`` (read by R without options:
    :func:`write_table_csv`), plus ``metadata.csv`` / ``metadata.json`` (one row per dataset ×
    variable, from ``metadata.yaml``) and
    ``problems.csv``. Returns name → path of what was written (CSV paths for the datasets)."""
    import json

    from latc.derive._metadata import metadata_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    tables = ds.tables()
    for name, t in tables.items():
        t.to_parquet(out / f"{name}.parquet", index=False)
        write_table_csv(t, out / f"{name}.csv")
        written[name] = out / f"{name}.csv"
    meta = metadata_table(tables)
    write_table_csv(meta, out / "metadata.csv")
    (out / "metadata.json").write_text(json.dumps(meta.to_dict(orient="records"), indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "parameters.json").write_text(json.dumps({"parameters": ds.parameters, "counts": ds.counts()}, indent=2),
                                         encoding="utf-8")
    written["metadata"] = out / "metadata.csv"
    written["parameters"] = out / "parameters.json"
    return written


@dataclass
class DeriveRun:
    """What :func:`derive_path` did (for the CLI)."""

    datasets: DerivedDatasets
    written: dict[str, Path]
    input_kind: str  # "validation" (a validation/run output folder) or "study" (raw, validated here)
    validation_dir: Path | None
    data_cut: str


def _validation_folder(path: Path) -> Path | None:
    """``path`` itself or ``path/validation`` when it holds ``clean/*.parquet`` (a `latc validate` /
    `latc run` output folder)."""
    for cand in (path, path / "validation"):
        if cand.is_dir() and any((cand / "clean").glob("*.parquet")):
            return cand
    return None


def derive_path(study: str | Path, out: str | Path, *, data_cut: date | None = None, **kwargs: Any) -> DeriveRun:
    """``latc derive``: derive the analysis datasets of a study and write them to ``out/derived``.

    ``study`` is either a validation output folder (``clean/*.parquet``, as written by
    ``latc validate``; or a ``latc run`` output folder holding ``validation/``) or a raw study (CSV
    folder, XLSX workbook, REDCap export), which is read and validated first (the validation
    outputs go to ``out/validation``). The data cut is ``data_cut`` when given, else the one the
    validation used (``summary.json``), else today. ``kwargs`` go to :func:`derive_datasets`.
    Raises :class:`latc.io.StudyReadError` when a raw study cannot be read at all.
    """
    study, out = Path(study), Path(out)
    folder = _validation_folder(study) if study.is_dir() else None
    if folder is not None:
        clean, eligibility, cut_text = read_clean_tables(folder)
        cut = data_cut or (date.fromisoformat(cut_text) if cut_text else date.today())
        kind, vdir = "validation", folder
    else:
        from latc.io import read_study
        from latc.validate import validate_study, write_validation

        raw = read_study(study)
        result = validate_study(raw, data_cut=data_cut)
        vdir = write_validation(result, out / "validation")
        clean, eligibility, cut = result.clean, result.eligibility, date.fromisoformat(result.data_cut)
        kind = "study"
    ds = derive_datasets(clean, cut, eligibility=eligibility, **kwargs)
    written = write_datasets(ds, out / "derived")
    return DeriveRun(datasets=ds, written=written, input_kind=kind, validation_dir=vdir, data_cut=cut.isoformat())
