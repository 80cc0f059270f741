"""Clinical data: the patient and sample attribute tables (cBioPortal File-Formats.md, "Clinical Data").

**Patients** — one row per patient of `latc derive`'s ``subject`` dataset. The attributes are listed
in :data:`PATIENT_ATTRIBUTES` (id, source column, display name, description, datatype, priority,
how the value is written); the survival pairs follow cBioPortal's conventions ("Clinical patient
columns"): ``OS_STATUS`` ``0:LIVING`` / ``1:DECEASED`` with ``OS_MONTHS``, ``DFS_STATUS``
``0:DiseaseFree`` / ``1:Recurred/Progressed`` with ``DFS_MONTHS``; every other ``*_STATUS`` value
starts with ``0:`` or ``1:``. latc's time zero is the **treatment decision** (OS, DSS, EFS) and the
**index operation** (DFS = recurrence-free survival after R0/R1 surgery), not cBioPortal's default
"initial diagnosis"; the descriptions say so.

**Samples** — one row per biospecimen: a patient's specimen of one tissue (tumour, lymph node,
blood) at one time point (baseline, on treatment, surgery, follow-up) and collection date, which
may have several assays in the manifest (``biospecimens`` form: one row per assay). Its id is
``<patient_id>-<TP>_<TISSUE>`` (``BL``/``OT``/``SX``/``FU``; ``TU``/``LN``/``PB``; a ``-2``, ``-3`` …
suffix when a patient has several collection dates of the same kind), so every molecular profile of
one specimen shares a sample column. Each patient also has a **diagnostic sample**
``<patient_id>-DX``: the diagnostic tumour specimen (biopsy / cytology) that the clinical molecular
tests of the ``diagnosis`` form (BRAF V600E, RAS, TERT promoter, RET, fusions) were done on; it
carries the mutations of the MAF and gives every patient a sample (cBioPortal shows no patient
without one). ``CANCER_TYPE`` / ``CANCER_TYPE_DETAILED`` / ``ONCOTREE_CODE`` come from the histology
(:data:`ONCOTREE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import pandas as pd

from latc.cbioportal._inputs import RunInputs
from latc.cbioportal._writer import Attribute, CbioportalExportError, Notes, check_id

__all__ = ["ONCOTREE", "CANCER_TYPE", "PATIENT_ATTRIBUTES", "SAMPLE_ATTRIBUTES", "TIMEPOINT_CODE", "TISSUE_CODE",
           "PatientAttribute", "patient_table", "patient_value", "dictionary_label", "humanize", "sample_table",
           "days_from_decision", "survival_status",
           "SURVIVAL_LABELS"]

#: latc histology → (OncoTree code, OncoTree name); OncoTree tissue THYROID
ONCOTREE: dict[str, tuple[str, str]] = {
    "ptc": ("THPA", "Papillary Thyroid Cancer"),
    "ftc": ("THFO", "Follicular Thyroid Cancer"),
    "oncocytic": ("THHC", "Hurthle Cell Thyroid Cancer"),
    "pdtc": ("THPD", "Poorly Differentiated Thyroid Cancer"),
    "atc": ("THAP", "Anaplastic Thyroid Cancer"),
    "mtc": ("THME", "Medullary Thyroid Cancer"),
}
#: CANCER_TYPE of every sample (OncoTree main type of the THYROID tissue)
CANCER_TYPE = "Thyroid Cancer"
TIMEPOINT_CODE = {"diagnosis": "DX", "baseline": "BL", "on_treatment": "OT", "surgery": "SX", "follow_up": "FU"}
TISSUE_CODE = {"tumour": "TU", "lymph_node": "LN", "blood": "PB"}
_TIMEPOINT_LABEL = {"diagnosis": "Diagnosis", "baseline": "Baseline", "on_treatment": "On treatment",
                    "surgery": "Surgery", "follow_up": "Follow-up"}
_TISSUE_LABEL = {"tumour": "Tumour", "lymph_node": "Lymph node", "blood": "Peripheral blood"}
#: SAMPLE_TYPE drives the sample colour in the timeline ("Clinical sample columns")
_SAMPLE_TYPE = {"tumour": "Primary", "lymph_node": "Lymph node", "blood": "Blood"}
_ASSAY_LABEL = {"scrna_seq": "scRNA-seq", "bulk_rna_seq": "Bulk RNA-seq", "spatial": "Spatial transcriptomics",
                "flow": "Flow cytometry", "he_slide": "H&E slide", "ultrasound": "Ultrasound image"}

#: status value of each survival pair: (no event, event) — File-Formats.md "Clinical patient columns"
SURVIVAL_LABELS: dict[str, tuple[str, str]] = {
    "OS": ("0:LIVING", "1:DECEASED"),
    "DFS": ("0:DiseaseFree", "1:Recurred/Progressed"),
    "DSS": ("0:ALIVE OR DEAD TUMOR FREE", "1:DEAD WITH TUMOR"),
    "EFS": ("0:EVENT FREE", "1:EVENT"),
}

_MOLECULAR = {"positive": "Positive", "negative": "Negative", "not_tested": "Not tested"}
_FUSION = {"none": "None", "ret": "RET fusion", "alk": "ALK fusion", "ntrk": "NTRK fusion", "braf": "BRAF fusion",
           "other": "Other fusion", "not_tested": "Not tested"}
_COHORT = {"neoadjuvant": "Neoadjuvant therapy", "upfront_surgery": "Upfront surgery"}
_SEX = {"female": "Female", "male": "Male"}
_AS_IS = {"CR", "PR", "SD", "PD", "NE", "pCR", "MPR", "R0", "R1", "R2", "DTC", "PDTC", "ATC", "MTC"}


def humanize(value: Any) -> Any:
    """A code as a label: ``biochemical_incomplete`` → ``Biochemical incomplete``; clinical
    abbreviations (CR, pCR, R0, T4a, IVB …) stay as they are; missing stays missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return value
    text = str(value)
    if text in _AS_IS or not text[:1].islower():
        return text
    text = text.replace("_", " ")
    return text[:1].upper() + text[1:]


def _mapped(mapping: dict[str, str]) -> Callable[[Any], Any]:
    def f(v: Any) -> Any:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return v
        return mapping.get(str(v), humanize(v))
    return f


def _as_is(v: Any) -> Any:
    return v


def _flag(v: Any) -> Any:
    if v is None or (not isinstance(v, (bool, np.bool_)) and pd.isna(v)):
        return None
    return bool(v)


def _number(v: Any) -> Any:
    if v is None or pd.isna(v):
        return None
    return float(v)


def survival_status(prefix: str) -> Callable[[Any], Any]:
    """The status writer of a survival pair: 0 → ``0:…``, 1 → ``1:…`` (:data:`SURVIVAL_LABELS`)."""
    no, yes = SURVIVAL_LABELS[prefix]

    def f(v: Any) -> Any:
        if v is None or pd.isna(v):
            return None
        return yes if int(v) == 1 else no
    return f


@dataclass(frozen=True)
class PatientAttribute:
    """A patient attribute and where it comes from: ``source`` column of ``subject``, ``write``
    turns the derived value into the exported one."""

    attribute: Attribute
    source: str
    write: Callable[[Any], Any]


def _pa(aid: str, source: str, name: str, description: str, datatype: str = "STRING", priority: int = 1,
        write: Callable[[Any], Any] | None = None) -> PatientAttribute:
    if write is None:
        write = {"STRING": humanize, "NUMBER": _number, "BOOLEAN": _flag}[datatype]
    return PatientAttribute(Attribute(aid, name, description, datatype, priority), source, write)


_T0 = "months from the treatment decision (latc's time zero for both cohorts)"
#: patient attributes: id, subject column, display name, description, datatype, priority, writer
PATIENT_ATTRIBUTES: list[PatientAttribute] = [
    _pa("CENTER", "center_id", "Center", "Pseudonymous center code"),
    _pa("COHORT", "cohort", "Cohort", "Neoadjuvant therapy or upfront surgery (the observational comparison)",
        priority=2000, write=_mapped(_COHORT)),
    _pa("ANALYSIS_SET", "analysis_set", "Analysis set", "Eligible patient (population of the efficacy analyses)",
        "BOOLEAN"),
    _pa("AGE", "age_at_diagnosis", "Diagnosis Age", "Age at diagnosis in years", "NUMBER"),
    _pa("SEX", "sex", "Sex", "Sex", write=_mapped(_SEX)),
    _pa("ECOG", "ecog", "ECOG Performance Status", "ECOG performance status at baseline (0-2)"),
    _pa("HISTOLOGY", "histology", "Histology", "Histology of the diagnosis form (WHO)"),
    _pa("HISTOLOGY_GROUP", "histology_group", "Histology Group", "DTC, PDTC, ATC or MTC"),
    _pa("HISTOLOGY_SUBTYPE", "histology_subtype", "Histological Subtype", "Histological subtype (diagnosis form)"),
    _pa("CLINICAL_T", "ct", "cT", "Clinical T category at baseline (AJCC 8th)"),
    _pa("CLINICAL_N", "cn", "cN", "Clinical N category at baseline (AJCC 8th)"),
    _pa("CLINICAL_M", "cm", "cM", "Clinical M category at baseline (AJCC 8th)"),
    _pa("CLINICAL_STAGE", "clinical_stage", "Clinical Stage", "Clinical stage group at baseline (AJCC 8th)"),
    _pa("TNM_PREFIX", "stage_prefix", "Pathological TNM Prefix",
        "yp after neoadjuvant therapy, p after upfront surgery", write=_as_is),
    _pa("PATHOLOGICAL_T", "pathological_t", "ypT/pT", "Pathological T category of the resected specimen (AJCC 8th)"),
    _pa("PATHOLOGICAL_N", "pathological_n", "ypN/pN", "Pathological N category of the resected specimen (AJCC 8th)"),
    _pa("PATHOLOGICAL_STAGE", "pathological_stage", "ypStage/pStage", "Pathological stage group (AJCC 8th)"),
    _pa("ATA_RISK", "ata_risk", "ATA Risk", "ATA 2015 initial risk of structural recurrence"),
    _pa("BRAF_V600E", "braf_v600e", "BRAF V600E", "BRAF V600E (clinical molecular test at diagnosis)",
        write=_mapped(_MOLECULAR)),
    _pa("RAS_STATUS", "ras", "RAS Mutation", "HRAS/NRAS/KRAS mutation (clinical test; gene not recorded)",
        write=_mapped(_MOLECULAR)),
    _pa("TERT_PROMOTER", "tert_promoter", "TERT Promoter", "TERT promoter mutation (clinical molecular test)",
        write=_mapped(_MOLECULAR)),
    _pa("RET_MUTATION", "ret", "RET Mutation", "RET mutation (clinical molecular test)", write=_mapped(_MOLECULAR)),
    _pa("FUSION", "fusion", "Gene Fusion", "Gene fusion (clinical molecular test)", write=_mapped(_FUSION)),
    _pa("NEOADJUVANT_AGENTS", "agents", "Neoadjuvant Agents", "Neoadjuvant regimen (agents)"),
    _pa("AGENT_CLASS", "agent_class", "Agent Class", "Neoadjuvant regimen: drug classes"),
    _pa("EXPOSURE_DAYS", "exposure_days", "Exposure (Days)", "Days from first to last neoadjuvant dose", "NUMBER"),
    _pa("BEST_OVERALL_RESPONSE", "best_overall_response", "Best Overall Response",
        "RECIST 1.1 best overall response (unconfirmed), neoadjuvant phase", priority=500),
    _pa("CONFIRMED_BOR", "confirmed_best_overall_response", "Confirmed BOR",
        "RECIST 1.1 best overall response with confirmation of CR/PR >= 4 weeks"),
    _pa("OBJECTIVE_RESPONSE", "objective_response", "Objective Response", "Best overall response CR or PR",
        "BOOLEAN"),
    _pa("BEST_PERCENT_CHANGE", "best_percent_change_from_baseline", "Best % Change (Target Sum)",
        "Best % change of the RECIST target sum from baseline (waterfall plot)", "NUMBER"),
    _pa("BIOCHEMICAL_MARKER", "biochemical_marker", "Biochemical Marker", "Tg, TgAb, calcitonin or CEA"),
    _pa("BIOCHEMICAL_RESPONSE", "biochemical_response", "Biochemical Response",
        "Biochemical response of the marker, baseline to pre-surgery"),
    _pa("BIOCHEMICAL_PERCENT_CHANGE", "biochemical_percent_change", "Biochemical % Change",
        "% change of the marker, baseline to pre-surgery", "NUMBER"),
    _pa("PATHOLOGICAL_RESPONSE", "pathological_response", "Pathological Response",
        "pCR (no viable tumour), MPR (<= 10 % viable) or non-response", priority=400),
    _pa("VIABLE_TUMOR_PCT", "viable_tumor_pct", "Viable Tumour (%)", "% viable tumour in the tumour bed", "NUMBER"),
    _pa("PCR", "pcr", "pCR", "Pathological complete response", "BOOLEAN"),
    _pa("MPR", "mpr", "MPR", "Major pathological response (<= 10 % viable tumour)", "BOOLEAN"),
    _pa("RESECTION_STATUS", "resection_status", "Resection Status", "R0 / R1 / R2 of the index operation"),
    _pa("LARYNX_PRESERVED", "larynx_preserved", "Larynx Preserved", "No total laryngectomy at the index operation",
        "BOOLEAN"),
    _pa("MAX_CLAVIEN_DINDO", "max_clavien_dindo", "Worst Clavien-Dindo Grade",
        "Worst Clavien-Dindo grade of the surgical complications"),
    _pa("RESPONSE_TO_THERAPY", "response_to_therapy", "ATA Response to Therapy",
        "ATA response to therapy 6-24 months after surgery"),
    _pa("OS_STATUS", "os_event", "Overall Survival Status", "Overall survival status (death from any cause)",
        write=survival_status("OS")),
    _pa("OS_MONTHS", "os_time_months", "Overall Survival (Months)", f"Overall survival in {_T0}", "NUMBER"),
    _pa("DFS_STATUS", "rfs_event", "Recurrence-free Status",
        "Recurrence-free survival after R0/R1 surgery: recurrence or death", write=survival_status("DFS")),
    _pa("DFS_MONTHS", "rfs_time_months", "Recurrence-free Survival (Months)",
        "Recurrence-free survival in months from the index operation (R0/R1 resected patients)", "NUMBER"),
    _pa("DSS_STATUS", "dss_event", "Disease-specific Survival Status", "Death from thyroid cancer",
        write=survival_status("DSS")),
    _pa("DSS_MONTHS", "dss_time_months", "Disease-specific Survival (Months)",
        f"Disease-specific survival in {_T0}", "NUMBER"),
    _pa("EFS_STATUS", "efs_event", "Event-free Survival Status", "Event-free survival status",
        write=survival_status("EFS")),
    _pa("EFS_MONTHS", "efs_time_months", "Event-free Survival (Months)", f"Event-free survival in {_T0}", "NUMBER"),
]

#: sample attributes (the values are built by :func:`sample_table`)
SAMPLE_ATTRIBUTES: list[Attribute] = [
    Attribute("SAMPLE_ID", "Sample Identifier", "Sample identifier (patient, time point, tissue)"),
    Attribute("PATIENT_ID", "Patient Identifier", "Pseudonymous patient identifier"),
    Attribute("CANCER_TYPE", "Cancer Type", "OncoTree main type", "STRING", 1),
    Attribute("CANCER_TYPE_DETAILED", "Cancer Type Detailed", "OncoTree subtype from the histology", "STRING", 1),
    Attribute("ONCOTREE_CODE", "Oncotree Code", "OncoTree code from the histology", "STRING", 1),
    Attribute("SAMPLE_TYPE", "Sample Type", "Primary (tumour), lymph node or blood"),
    Attribute("TISSUE", "Tissue", "Tumour, lymph node or peripheral blood"),
    Attribute("TIMEPOINT", "Time Point", "Diagnosis, baseline, on treatment, surgery or follow-up"),
    Attribute("COLLECTION_DAY", "Collection Day", "Days from the treatment decision to collection", "NUMBER"),
    Attribute("ASSAYS", "Assays", "Assays of the biospecimen manifest (or the clinical molecular tests)"),
]


def _missing(v: Any) -> bool:
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


def days_from_decision(dates: pd.Series, decision: pd.Series) -> pd.Series:
    """Whole days from the treatment decision (timeline day 0) to ``dates`` (nullable integers)."""
    d = pd.to_datetime(dates, errors="coerce") - pd.to_datetime(decision, errors="coerce")
    return d.dt.days.astype("Int64")


def patient_table(inputs: RunInputs, notes: Notes) -> tuple[list[Attribute], pd.DataFrame]:
    """The patient attributes present in ``subject`` and their values (``PATIENT_ID`` first)."""
    subject = inputs.subject
    source = f"{inputs.run_dir}/derived/subject.parquet"
    ids = [check_id(v, what="patient_id", source=source) for v in subject["patient_id"]]
    _check_pseudonymous(pd.Series(ids), source)
    out = pd.DataFrame({"PATIENT_ID": ids})
    attrs = [Attribute("PATIENT_ID", "Patient Identifier", "Pseudonymous patient identifier")]
    absent = []
    for spec in PATIENT_ATTRIBUTES:
        if spec.source not in subject.columns:
            absent.append(spec.source)
            continue
        out[spec.attribute.id] = [patient_value(spec, v) for v in subject[spec.source].tolist()]
        attrs.append(spec.attribute)
    if absent:
        notes.add(f"subject.parquet has no column(s) {', '.join(absent)}: their attributes are not exported")
    return attrs, out


#: subject columns written with the data dictionary's labels (form, field); "+"-joined codes label each part
DICTIONARY_LABELS = {"histology": ("diagnosis", "histology"), "histology_subtype": ("diagnosis", "histology_subtype"),
                     "agents": ("treatments", "agent"), "agent_class": ("treatments", "agent_class")}


@lru_cache(maxsize=None)
def _choices(form: str, field_name: str) -> dict[str, str]:
    from latc.dictionary import load_dictionary

    d = load_dictionary()
    try:
        return dict(d[form][field_name].choices)
    except (KeyError, AttributeError):
        return {}


def dictionary_label(form: str, field_name: str) -> Callable[[Any], Any]:
    """A writer giving a coded value the data dictionary's label (``+``-joined codes part by part;
    an unknown code through :func:`humanize`; missing stays missing)."""
    def f(v: Any) -> Any:
        if _missing(v):
            return v
        choices = _choices(form, field_name)
        return " + ".join(choices.get(part, humanize(part)) for part in str(v).split("+"))
    return f


def patient_value(spec: PatientAttribute, value: Any) -> Any:
    """The exported value of one patient attribute: the data dictionary's label for coded fields
    (:data:`DICTIONARY_LABELS`), else ``spec.write(value)``."""
    if spec.source in DICTIONARY_LABELS:
        return dictionary_label(*DICTIONARY_LABELS[spec.source])(value)
    return spec.write(value)


def _check_pseudonymous(ids: pd.Series, source: str) -> None:
    from latc.validate._privacy import non_pseudonymous

    bad = non_pseudonymous(ids)
    if bad.any():
        raise CbioportalExportError(f"{source}: {int(bad.sum())} patient_id value(s) do not match the dictionary's "
                                    "pseudonymous pattern (e.g. C01-0042); nothing is exported")


def _cancer_type(histology: Any, notes: Notes) -> tuple[str, Any, Any]:
    code = ONCOTREE.get(str(histology)) if not _missing(histology) else None
    if code is None:
        notes.add(f"histology {histology!r} has no OncoTree subtype: CANCER_TYPE_DETAILED and ONCOTREE_CODE are NA")
        return CANCER_TYPE, None, None
    return CANCER_TYPE, code[1], code[0]


def _specimens(inputs: RunInputs, notes: Notes) -> pd.DataFrame:
    """The biospecimen manifest grouped into specimens (patient × time point × tissue × date)."""
    cols = ["patient_id", "timepoint", "tissue", "collection_date", "assays", "manifest_ids"]
    manifest = inputs.clean.get("biospecimens")
    if manifest is None or manifest.empty:
        notes.add("no validated biospecimens form: only the diagnostic samples are exported")
        return pd.DataFrame(columns=cols)
    m = manifest.copy()
    known = set(inputs.subject["patient_id"])
    outside = ~m["patient_id"].isin(known)
    if outside.any():
        notes.add(f"{int(outside.sum())} manifest row(s) of patients not in subject.parquet are not exported")
        m = m[~outside]
    bad = ~m["timepoint"].isin(TIMEPOINT_CODE) | ~m["tissue"].isin(TISSUE_CODE)
    if bad.any():
        notes.add(f"{int(bad.sum())} manifest row(s) with an unknown timepoint or tissue are not exported")
        m = m[~bad]
    if inputs.data_cut is not None:
        late = pd.to_datetime(m["collection_date"]) > pd.Timestamp(inputs.data_cut)
        if late.any():
            notes.add(f"{int(late.sum())} manifest row(s) collected after the data cut {inputs.data_cut} "
                      "are not exported")
            m = m[~late]
    m = m.assign(collection_date=pd.to_datetime(m["collection_date"]), sample_id=m["sample_id"].astype(str),
                 assay=m["assay"].map(lambda a: _ASSAY_LABEL.get(a, a)))
    g = m.groupby(["patient_id", "timepoint", "tissue", "collection_date"], sort=True, dropna=False)
    out = g.agg(assays=("assay", lambda a: "; ".join(sorted(set(a.dropna())))),
                manifest_ids=("sample_id", lambda x: sorted(x))).reset_index()
    return out[cols]


def _diagnostic_samples(subject: pd.DataFrame) -> pd.DataFrame:
    """One ``<patient>-DX`` row per patient (module docstring)."""
    tests = pd.Series("", index=subject.index)
    for col, name in (("braf_v600e", "BRAF V600E"), ("ras", "RAS"), ("tert_promoter", "TERT promoter"),
                      ("ret", "RET"), ("fusion", "fusion")):
        if col in subject.columns:
            done = subject[col].notna() & (subject[col] != "not_tested")
            tests = tests.where(~done, tests + ", " + name)
    tests = tests.str.removeprefix(", ")
    diagnosis = (subject["diagnosis_date"] if "diagnosis_date" in subject.columns
                 else pd.Series(pd.NaT, index=subject.index))
    return pd.DataFrame({
        "SAMPLE_ID": subject["patient_id"] + "-DX", "PATIENT_ID": subject["patient_id"], "SAMPLE_TYPE": "Primary",
        "TISSUE": "Tumour", "TIMEPOINT": "Diagnosis",
        "COLLECTION_DAY": days_from_decision(diagnosis, subject["treatment_decision_date"]),
        "ASSAYS": ("Clinical molecular tests: " + tests).where(tests != "", "Diagnostic histology")})


def sample_table(inputs: RunInputs, notes: Notes) -> tuple[pd.DataFrame, dict[str, str]]:
    """The sample attributes (columns :data:`SAMPLE_ATTRIBUTES`) and the map manifest ``sample_id`` →
    exported SAMPLE_ID."""
    subject = inputs.subject.reset_index(drop=True)
    dx = _diagnostic_samples(subject)
    spec = _specimens(inputs, notes)
    mapping: dict[str, str] = {}
    frames = [dx]
    if not spec.empty:
        sid = (spec["patient_id"] + "-" + spec["timepoint"].map(TIMEPOINT_CODE) + "_" + spec["tissue"].map(TISSUE_CODE))
        nth = spec.groupby(["patient_id", "timepoint", "tissue"]).cumcount() + 1
        sid = sid.where(nth == 1, sid + "-" + nth.astype(str))
        for v in sid:
            check_id(v, what="sample id", source="biospecimens")
        decision = spec["patient_id"].map(subject.set_index("patient_id")["treatment_decision_date"])
        frames.append(pd.DataFrame({
            "SAMPLE_ID": sid, "PATIENT_ID": spec["patient_id"], "SAMPLE_TYPE": spec["tissue"].map(_SAMPLE_TYPE),
            "TISSUE": spec["tissue"].map(_TISSUE_LABEL), "TIMEPOINT": spec["timepoint"].map(_TIMEPOINT_LABEL),
            "COLLECTION_DAY": days_from_decision(spec["collection_date"], decision), "ASSAYS": spec["assays"]}))
        for s_id, ids in zip(sid, spec["manifest_ids"]):
            for mid in ids:
                mapping[mid] = s_id
    table = pd.concat(frames, ignore_index=True)
    types = {pid: _cancer_type(h, notes) for pid, h in zip(subject["patient_id"], subject["histology"])}
    table["CANCER_TYPE"] = table["PATIENT_ID"].map(lambda p: types[p][0])
    table["CANCER_TYPE_DETAILED"] = table["PATIENT_ID"].map(lambda p: types[p][1])
    table["ONCOTREE_CODE"] = table["PATIENT_ID"].map(lambda p: types[p][2])
    table = table[[a.id for a in SAMPLE_ATTRIBUTES]]
    table = table.sort_values(["PATIENT_ID", "COLLECTION_DAY", "SAMPLE_ID"], na_position="first", kind="stable")
    return table.reset_index(drop=True), mapping
