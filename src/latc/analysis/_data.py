"""The analysis inputs: derived datasets only, pseudonymous, restricted to the columns the plan uses.

The plan never reads the study tables or the validation outputs: only the analysis datasets of
``latc derive`` (``OUT/derived/<name>.parquet`` or a :class:`latc.derive.datasets.DerivedDatasets`).
Of those it keeps an explicit list of columns (:data:`ANALYSIS_COLUMNS`) — coded variables, dates,
numbers and flags; never a dictionary field flagged ``identifier`` or of type ``notes`` (free text),
never a generated free-text explanation — and refuses a dataset whose ``patient_id`` is not a
pseudonym (dictionary ``patient_id_pattern``), or whose text values look like a direct identifier
(phone number, e-mail, long digit run, date-of-birth label; ``latc.validate`` privacy patterns).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._results import AnalysisInputError, SectionSkipped

__all__ = ["ANALYSIS_COLUMNS", "AnalysisData", "MONTH_DAYS", "load_derived", "need", "privacy_violations"]

#: days per month (365.25 / 12), as ``latc.derive.tte``
MONTH_DAYS = 30.4375

_TTE_WIDE = [f"{p}_{c}" for p in ("os", "dss", "efs", "rfs", "rfsstr")
             for c in ("time_days", "time_months", "event", "event_type")]

#: dataset → the columns the analysis plan reads (nothing else is loaded).
ANALYSIS_COLUMNS: dict[str, list[str]] = {
    "subject": [
        "patient_id", "center_id", "cohort", "diagnosis_date", "treatment_decision_date", "age_at_diagnosis", "sex",
        "ecog", "analysis_set", "safety_set", "response_set", "operated_set", "r0r1_set", "histology",
        "histology_group", "primary_size_mm", "ct", "cn", "cm", "n_invaded_structures", "braf_v600e", "ras", "ret",
        "tert_promoter", "fusion", "baseline_resectability", "planned_laryngectomy", "planned_tracheal_resection",
        "planned_esophageal_resection", "clinical_stage", "agent_class", "agents", "first_dose_date",
        "exposure_days", "best_overall_response", "best_overall_response_date", "confirmed_best_overall_response",
        "confirmed_best_overall_response_date", "objective_response", "confirmed_objective_response",
        "disease_control", "confirmed_disease_control", "biochemical_marker", "biochemical_response",
        "viable_tumor_pct", "pathological_response", "pcr", "mpr", "curative_surgery", "index_surgery_date",
        "days_decision_to_surgery", "resection_status", "r0_resection", "macroscopically_complete_resection",
        "organ_resection_planned", "planned_organ_resection_avoided", "larynx_preserved",
        "total_laryngectomy_avoided", "tracheal_resection_avoided", "esophageal_resection_avoided",
        "any_complication", "max_clavien_dindo", "major_complication", "complication_30d", "hypoparathyroidism",
        "hypoparathyroidism_permanent", "rln_palsy", "rln_palsy_permanent", "death_30d", "death_90d", "ata_risk",
        "response_to_therapy", *_TTE_WIDE,
    ],
    "tte": ["patient_id", "center_id", "cohort", "paramcd", "time_zero_name", "time_days", "time_months", "event",
            "event_type", "event_description"],
    "ae": ["patient_id", "center_id", "cohort", "safety_population", "agent_class", "ctcae_term",
           "ki_toxicity_group", "grade", "treatment_emergent", "related", "grade_3_plus", "serious", "fatal",
           "dose_reduced", "interrupted", "discontinued", "surgical_delay"],
    "surgery": ["patient_id", "center_id", "cohort", "curative_surgery", "resection_status", "r1_resection",
                "r2_resection", "clavien_dindo_v", "major_complication_30d", "hematoma", "chyle_leak", "fistula",
                "wound_infection", "tracheostomy_after_surgery", "rln_palsy_bilateral", "operative_time_min",
                "blood_loss_ml", "length_of_stay_days"],
}
REQUIRED_DATASETS = ("subject", "tte")


@dataclass
class AnalysisData:
    """The analysis inputs (pseudonymous, allow-listed columns) and where they came from."""

    subject: pd.DataFrame
    tte: pd.DataFrame
    ae: pd.DataFrame
    surgery: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str = "in memory"

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"subject": self.subject, "tte": self.tte, "ae": self.ae, "surgery": self.surgery}

    @property
    def analysis_set(self) -> pd.DataFrame:
        """Eligible patients (protocol analysis set)."""
        return self.subject[_flag(self.subject["analysis_set"])] if "analysis_set" in self.subject else self.subject

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "derive_parameters": self.parameters,
                "datasets": {k: {"rows": int(len(v)), "columns": [str(c) for c in v.columns]} for k, v in self.tables().items()}}


def _flag(s: pd.Series) -> np.ndarray:
    return s.astype("boolean").fillna(False).to_numpy(bool)


def need(df: pd.DataFrame, columns: list[str], dataset: str = "subject") -> None:
    """Raise :class:`SectionSkipped` naming the derived columns a table needs but the input lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SectionSkipped(f"derived/{dataset} lacks column(s) {', '.join(missing)}")


def _select(name: str, df: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in ANALYSIS_COLUMNS[name] if c in df.columns]
    return df.loc[:, keep].copy()


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="str") for c in ANALYSIS_COLUMNS[name]})


def privacy_violations(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """Reasons why ``tables`` may not be analysed (empty list: pseudonymous, no identifier, no free text).

    Checks (STUDY.md "only pseudonymous ids"; dictionary header "no field holds a direct identifier"):
    every ``patient_id`` matches the dictionary's pseudonym pattern; no column is a dictionary field
    flagged ``identifier`` or of type ``notes``; no text value looks like a direct identifier.
    Messages never echo a value.
    """
    from latc.dictionary import load_dictionary
    from latc.validate._privacy import looks_like_identifier, non_pseudonymous

    d = load_dictionary()
    flagged = {f.name for form in d.forms.values() for f in form.fields if f.identifier or f.type == "notes"}
    out = []
    for name, df in tables.items():
        bad_cols = sorted(set(map(str, df.columns)) & flagged)
        if bad_cols:
            out.append(f"derived/{name}: column(s) {', '.join(bad_cols)} are identifiers or free text in the data dictionary")
        if "patient_id" in df and len(df):
            n_bad = int(non_pseudonymous(df["patient_id"], d.patterns["patient_id_pattern"]).sum())
            if n_bad:
                out.append(f"derived/{name}: {n_bad} patient_id value(s) are not pseudonymous "
                           f"(pattern {d.patterns['patient_id_pattern']}); values not shown")
        for c in df.columns:
            if c == "patient_id" or not (pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object):
                continue
            values = pd.Series(pd.unique(df[c].dropna().astype("str")), dtype="str")
            if len(values) and looks_like_identifier(values).any():
                out.append(f"derived/{name}.{c}: value(s) look like a direct identifier (phone, e-mail, record "
                           "number or date of birth); values not shown")
    return out


def _finish(tables: dict[str, pd.DataFrame], parameters: dict[str, Any], source: str) -> AnalysisData:
    problems = privacy_violations(tables)
    if problems:
        raise AnalysisInputError("refusing to analyse identifiable data: " + "; ".join(problems))
    for c in ("patient_id", "center_id", "cohort"):
        for name, t in tables.items():
            if c in t:
                t[c] = t[c].astype("str")
    return AnalysisData(subject=tables["subject"], tte=tables["tte"], ae=tables["ae"], surgery=tables["surgery"],
                        parameters=parameters, source=source)


def load_derived(derived: Any) -> AnalysisData:
    """The analysis inputs from a ``latc derive`` / ``latc run`` output folder or a ``DerivedDatasets``.

    ``derived`` may be a folder holding ``<name>.parquet`` (or ``<name>.csv``), a folder holding
    ``derived/``, a :class:`~latc.derive.datasets.DerivedDatasets`, or a mapping name → DataFrame.
    Raises :class:`AnalysisInputError` (one line naming the folder and dataset) when ``subject`` or
    ``tte`` is absent, or when the data are not pseudonymous.
    """
    import json

    if isinstance(derived, AnalysisData):
        return derived
    parameters: dict[str, Any] = {}
    if isinstance(derived, Mapping) or hasattr(derived, "tables"):
        raw = dict(derived) if isinstance(derived, Mapping) else derived.tables()
        parameters = dict(getattr(derived, "parameters", {}) or {})
        for name in REQUIRED_DATASETS:
            if name not in raw or raw[name] is None:
                raise AnalysisInputError(f"derived datasets: '{name}' is missing")
        tables = {n: _select(n, raw[n]) if n in raw and raw[n] is not None else _empty(n) for n in ANALYSIS_COLUMNS}
        return _finish(tables, parameters, "in memory")
    folder = Path(derived)
    if not folder.exists():
        raise AnalysisInputError(f"{folder}: not found")
    if (folder / "derived").is_dir() and not (folder / "subject.parquet").exists():
        folder = folder / "derived"
    tables = {}
    for name in ANALYSIS_COLUMNS:
        pq, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
        if pq.exists():
            import pyarrow.parquet as papq

            cols = set(papq.read_schema(pq).names)
            tables[name] = pd.read_parquet(pq, columns=[c for c in ANALYSIS_COLUMNS[name] if c in cols])
        elif csv.exists():
            head = pd.read_csv(csv, nrows=0).columns
            from latc.io._spreadsheet import restore_formulas  # derived CSVs are spreadsheet-safe

            tables[name] = restore_formulas(pd.read_csv(csv, usecols=[c for c in ANALYSIS_COLUMNS[name] if c in head]))
        elif name in REQUIRED_DATASETS:
            raise AnalysisInputError(f"{folder}: no {name}.parquet (not a `latc derive` output folder)")
        else:
            tables[name] = _empty(name)
    p = folder / "parameters.json"
    if p.exists():
        try:
            parameters = json.loads(p.read_text(encoding="utf-8")).get("parameters", {})
        except (ValueError, AttributeError):
            parameters = {}
    return _finish(tables, parameters, str(folder))
