"""The biomarker-discovery run behind ``latc omics biomarkers``: feature matrix → univariate
screen → nested-CV models (omics, clinical-only, clinical + omics) with bootstrap CIs, a
permutation p-value and paired comparisons → MOFA factors → tables and figures.

Outcomes come from a per-patient ``subject`` table:

* binary (``mpr``, ``pcr``, ``objective_response`` or any column): booleans, 0/1, yes/no,
  true/false; a RECIST best overall response (CR/PR/SD/PD/NE) becomes objective response
  (CR or PR = 1; NE = missing; RECIST 1.1 §4.3.1/§4.4).
* ``rfs``: time from the first of ``rfs_time``, ``rfs_time_days``, ``rfs_months``; event from
  ``rfs_event`` or ``1 − rfs_cnsr`` (ADTTE convention, 0 = event).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latc.omics._manifest import OmicsInputError
from latc.omics.integrate import FeatureMatrix, build_feature_matrix, clinical_matrix
from latc.omics.models._cv import CVResult, nested_cv, nested_cv_cox
from latc.omics.models._evaluate import compare_models, evaluate, permutation_test, roc_curve_ci
from latc.omics.models._screen import screen_binary, screen_survival

#: Clinical covariates used by the clinical-only model when present in ``subject``.
CLINICAL_CANDIDATES: tuple[str, ...] = ("histology_group", "histology", "ct", "braf_v600e", "tert_promoter",
                                        "age_at_diagnosis")
_TRUE = {"1", "1.0", "true", "yes", "y", "cr", "pr"}
_FALSE = {"0", "0.0", "false", "no", "n", "sd", "pd"}
_MISSING = {"ne", "nan", "", "na", "<na>", "none"}


def binary_outcome(subject: pd.DataFrame, column: str) -> pd.Series:
    """0/1 (float, NaN = missing) outcome per patient from a subject column (see module doc)."""
    if column not in subject.columns:
        raise OmicsInputError(f"outcome column {column!r} is not in subject (columns: "
                              f"{', '.join(map(str, subject.columns[:12]))}{' …' if subject.shape[1] > 12 else ''})")
    s = subject[column]
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        v = pd.to_numeric(s, errors="coerce").astype("float64")
    else:
        txt = s.astype("object").where(s.notna(), "").astype(str).str.strip().str.lower()
        bad = ~txt.isin(_TRUE | _FALSE | _MISSING)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise OmicsInputError(f"subject row {i + 1}: {column}={s.iloc[i]!r} is not a binary outcome "
                                  "(0/1, yes/no, true/false, or CR/PR/SD/PD/NE)")
        v = txt.map(lambda x: 1.0 if x in _TRUE else (0.0 if x in _FALSE else np.nan)).astype("float64")
    bad = v.notna() & ~v.isin([0.0, 1.0])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise OmicsInputError(f"subject row {i + 1}: {column}={s.iloc[i]!r} is not 0/1")
    return pd.Series(v.to_numpy(), index=pd.Index(subject["patient_id"].astype(str), name="patient_id"), name=column)


def survival_outcome(subject: pd.DataFrame, prefix: str = "rfs") -> pd.DataFrame:
    """``time``, ``event`` per patient from ``<prefix>_time|_time_days|_months`` and
    ``<prefix>_event`` (or ``1 − <prefix>_cnsr``)."""
    tcol = next((c for c in (f"{prefix}_time", f"{prefix}_time_days", f"{prefix}_months") if c in subject.columns), None)
    ecol = next((c for c in (f"{prefix}_event", f"{prefix}_cnsr") if c in subject.columns), None)
    if tcol is None or ecol is None:
        raise OmicsInputError(f"outcome {prefix!r} needs columns {prefix}_time (or {prefix}_time_days / "
                              f"{prefix}_months) and {prefix}_event (or {prefix}_cnsr) in subject")
    t = pd.to_numeric(subject[tcol], errors="coerce").astype("float64")
    e = pd.to_numeric(subject[ecol].astype("object"), errors="coerce").astype("float64")
    if ecol.endswith("_cnsr"):
        e = 1 - e
    return pd.DataFrame({"time": t.to_numpy(), "event": e.to_numpy()},
                        index=pd.Index(subject["patient_id"].astype(str), name="patient_id"))


@dataclass
class BiomarkerResult:
    """Everything a biomarker run produced (tables; figures are written by :func:`write_biomarkers`)."""

    outcome: str
    matrix: FeatureMatrix
    screen: pd.DataFrame
    models: dict[str, CVResult]
    performance: pd.DataFrame
    comparison: pd.DataFrame
    permutation: pd.DataFrame
    mofa: object | None = None
    mofa_association: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def run_biomarkers(tables: Mapping[str, pd.DataFrame], subject: pd.DataFrame, outcome: str, *,
                   timepoint: str | Mapping[str, str] = "baseline", tissue=None, manifest: pd.DataFrame | None = None,
                   clinical: Sequence[str] | None = None, outer_folds: int = 5, inner_folds: int = 3,
                   n_features: int = 50, n_boot: int = 1000, n_permutations: int = 100, mofa_factors: int = 5,
                   run_mofa_model: bool = True, seed: int = 0, n_jobs: int = 1) -> BiomarkerResult:
    """Run the discovery layer for one outcome (``"rfs"`` = survival; anything else = a binary
    column of ``subject``). ``clinical`` defaults to the :data:`CLINICAL_CANDIDATES` present."""
    if "patient_id" not in subject.columns:
        raise OmicsInputError("subject has no patient_id column")
    dup = subject["patient_id"].astype(str).duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise OmicsInputError(f"subject row {i + 1}: patient_id {subject['patient_id'].iloc[i]} appears twice "
                              "(subject has one row per patient)")
    notes: list[str] = []
    survival = outcome == "rfs"
    y = survival_outcome(subject) if survival else binary_outcome(subject, outcome)
    fm = build_feature_matrix(tables, timepoint=timepoint, tissue=tissue, manifest=manifest)
    in_subject = fm.values.index.isin(y.index)
    if not in_subject.any():
        raise OmicsInputError(f"no patient of the feature tables is in subject (e.g. {fm.values.index[0]}); "
                              "sample/patient ids do not match")
    if (~in_subject).any():
        notes.append(f"{int((~in_subject).sum())} patient(s) with features are not in subject and were left out")
    ok = y.notna().all(axis=1) if survival else y.notna()
    patients = fm.values.index[in_subject & fm.values.index.isin(y.index[ok.to_numpy()])]
    fm = FeatureMatrix(values=fm.values.loc[patients], availability=fm.availability.loc[patients],
                       modalities=fm.modalities, samples=fm.samples[fm.samples["patient_id"].astype(str).isin(patients)])
    X = fm.values
    yy = y.loc[patients]
    perm_kw = dict(outer_folds=outer_folds, inner_folds=inner_folds, n_features=n_features)
    cv_kw = perm_kw | {"seed": seed}

    # univariate screen
    screen = (screen_survival(X, yy["time"], yy["event"]) if survival else screen_binary(X, yy))

    # clinical covariates
    if clinical is None:
        clinical = [c for c in CLINICAL_CANDIDATES if c in subject.columns
                    and subject[c].dropna().astype(str).nunique() > 1]
    clin = clinical_matrix(subject, clinical).reindex(patients) if clinical else None
    if not clinical:
        notes.append("no clinical covariates found in subject: the clinical comparison was skipped")

    def fit(M: pd.DataFrame, keep: Sequence[str] = ()) -> CVResult:
        if survival:
            return nested_cv_cox(M, yy["time"], yy["event"], keep=keep, **cv_kw)
        return nested_cv(M, yy, keep=keep, **cv_kw)

    models = {"omics": fit(X)}
    if clin is not None:
        models["clinical"] = fit(clin, keep=list(clin.columns))
        models["clinical+omics"] = fit(pd.concat([clin, X], axis=1), keep=list(clin.columns))
    perf = pd.concat([evaluate(m, n_boot=n_boot, seed=seed).assign(model=k) for k, m in models.items()],
                     ignore_index=True)
    comp = []
    if clin is not None:
        comp.append(compare_models(models["clinical"], models["omics"], names=("clinical", "omics"), n_boot=n_boot, seed=seed))
        comp.append(compare_models(models["clinical"], models["clinical+omics"], names=("clinical", "clinical+omics"),
                                   n_boot=n_boot, seed=seed))
    comparison = pd.concat(comp, ignore_index=True) if comp else pd.DataFrame()
    if n_permutations > 0:
        if survival:
            perm = permutation_test(X, time=yy["time"], event=yy["event"], n_permutations=n_permutations,
                                    seed=seed, n_jobs=n_jobs, **perm_kw)
        else:
            perm = permutation_test(X, yy, n_permutations=n_permutations, seed=seed, n_jobs=n_jobs, **perm_kw)
        permutation = perm.to_frame().assign(model="omics")
    else:
        permutation = pd.DataFrame()

    mofa = assoc = None
    if run_mofa_model:
        from latc.omics.integrate import run_mofa
        try:
            mofa = run_mofa(fm, n_factors=mofa_factors, seed=seed)
            f = mofa.factors.reindex(patients)
            assoc = (screen_survival(f, yy["time"], yy["event"]) if survival else screen_binary(f, yy))
        except OmicsInputError as exc:
            notes.append(f"MOFA skipped: {exc}")
    return BiomarkerResult(outcome=outcome, matrix=fm, screen=screen, models=models, performance=perf,
                           comparison=comparison, permutation=permutation, mofa=mofa, mofa_association=assoc,
                           notes=notes)


def write_biomarkers(res: BiomarkerResult, out: str | Path, *, n_boot: int = 1000, seed: int = 0) -> list[Path]:
    """Write the tables (``tables/*.csv``), figures (``figures/``, SVG + PNG) and ``summary.json`` of a
    run into ``out`` (the omics output layout, :mod:`latc.omics._output`); return the paths."""
    from latc.omics.models import _plots as P

    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def csv(df: pd.DataFrame, name: str, index: bool = False) -> None:
        p = out / "tables" / name
        df.to_csv(p, index=index)
        written.append(p)

    csv(res.matrix.values, "feature_matrix.csv", index=True)
    csv(res.matrix.availability, "modality_availability.csv", index=True)
    csv(res.screen, "screen.csv")
    csv(res.performance, "model_performance.csv")
    if not res.comparison.empty:
        csv(res.comparison, "model_comparison.csv")
    if not res.permutation.empty:
        csv(res.permutation, "permutation_test.csv")
    for name, m in res.models.items():
        slug = name.replace("+", "_plus_")
        csv(m.patient_predictions, f"cv_predictions_{slug}.csv")
        csv(m.folds, f"cv_folds_{slug}.csv")
        csv(m.stability.reset_index(), f"selection_stability_{slug}.csv")
    if res.mofa is not None:
        csv(res.mofa.factors, "mofa_factors.csv", index=True)
        csv(res.mofa.weights, "mofa_weights.csv")
        csv(res.mofa.variance_explained, "mofa_variance_explained.csv", index=True)
        if res.mofa_association is not None:
            csv(res.mofa_association, "mofa_factor_association.csv")
    fig_dir = out / "figures"
    binary = res.outcome != "rfs"
    written += P.save_figure(P.plot_volcano(res.screen, effect_label="log2 odds ratio per SD" if binary
                                            else "log2 hazard ratio per SD"), fig_dir / "volcano")
    written += P.save_figure(P.plot_selection_stability(res.models["omics"].stability), fig_dir / "selection_stability")
    if binary:
        curves, aucs = {}, {}
        for name, m in res.models.items():
            pp = m.patient_predictions
            curves[name] = roc_curve_ci(pp["y"], pp["probability"], n_boot=min(n_boot, 500), seed=seed)
            aucs[name] = res.performance.set_index("model").loc[name].to_dict()
        written += P.save_figure(P.plot_roc(curves, aucs), fig_dir / "roc")
        written += P.save_figure(P.plot_score_distribution(res.models["omics"].patient_predictions), fig_dir / "score_distribution")
    if res.mofa is not None:
        fac = res.mofa.factors
        if fac.shape[1] >= 2:
            o = res.models["omics"].patient_predictions.set_index("patient_id")["y"] if binary else None
            written += P.save_figure(P.plot_factors(fac, o), fig_dir / "mofa_factors")
        written += P.save_figure(P.plot_variance_explained(res.mofa.variance_explained), fig_dir / "mofa_variance_explained")
    summary = {"outcome": res.outcome, "n_patients": int(len(res.matrix.values)),
               "modalities": {m: len(c) for m, c in res.matrix.modalities.items()},
               "performance": res.performance.to_dict(orient="records"),
               "comparison": res.comparison.to_dict(orient="records"),
               "permutation": res.permutation.to_dict(orient="records"),
               "n_fdr_significant": int((res.screen["q_value"] <= 0.05).sum()), "notes": res.notes}
    p = out / "summary.json"
    p.write_text(json.dumps(summary, indent=2, default=float))
    written.append(p)
    return written
