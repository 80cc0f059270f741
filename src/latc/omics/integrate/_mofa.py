"""Multi-omics factor analysis (MOFA+, Argelaguet et al., *Genome Biol* 2020;21:111) with mofapy2.

Views are modalities, samples are patients; a patient without a modality is a missing row in that
view (MOFA's likelihood skips missing values, so no imputation is needed). Each feature is
z-scored on its observed values before fitting so that features of different scales share one
prior; MOFA itself then centres them. The fit is seeded (mofapy2 seeds numpy's global generator
with ``seed`` when it initialises the factors), so the same data and seed give the same factors.

Outputs are tables: ``factors`` (patients × factors), ``weights`` (long: modality, feature,
factor, weight), ``variance_explained`` (R², %, per modality × factor, as MOFA's
``calculate_variance_explained``) and ``variance_explained_total`` (per modality).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from latc.omics._manifest import OmicsInputError
from latc.omics.integrate._matrix import SEP, FeatureMatrix


@dataclass
class MofaResult:
    """A fitted MOFA+ model as tables (see the module docstring)."""

    factors: pd.DataFrame
    weights: pd.DataFrame
    variance_explained: pd.DataFrame
    variance_explained_total: pd.Series
    views: dict[str, list[str]]
    seed: int

    def top_weights(self, factor: str, n: int = 10) -> pd.DataFrame:
        """The ``n`` features with the largest absolute weight on ``factor``."""
        w = self.weights[self.weights["factor"] == factor]
        return w.reindex(w["weight"].abs().sort_values(ascending=False).index).head(n)


def _views(matrix: FeatureMatrix, min_patients: int) -> tuple[pd.Index, dict[str, pd.DataFrame]]:
    """Standardised views over the patients that have at least one view."""
    patients = matrix.availability.index[matrix.availability.any(axis=1)]
    views = {}
    for mod, cols in matrix.modalities.items():
        v = matrix.values.loc[patients, cols]
        n_obs = v.notna().sum()
        sd = v.std(ddof=0)
        keep = (n_obs >= min_patients) & (sd > 0)
        v = v.loc[:, keep.to_numpy()]
        if v.shape[1] == 0 or int(v.notna().any(axis=1).sum()) < min_patients:
            continue
        views[mod] = (v - v.mean()) / v.std(ddof=0)
    return patients, views


def run_mofa(matrix: FeatureMatrix, *, n_factors: int = 5, seed: int = 0, iterations: int = 1000,
             convergence_mode: str = "fast", scale_views: bool = True, min_patients: int = 5,
             drop_factor_r2: float | None = None) -> MofaResult:
    """Fit MOFA+ to the modalities of a :class:`FeatureMatrix`.

    Parameters
    ----------
    matrix : patients × features with modality blocks (:func:`build_feature_matrix`).
    n_factors : number of factors (``set_model_options(factors=)``); ARD priors prune unused ones
        towards zero weight (they stay in the tables with near-zero variance explained).
    seed : mofapy2's ``set_train_options(seed=)``.
    iterations, convergence_mode : mofapy2 training options (``"fast"``, ``"medium"``, ``"slow"``).
    scale_views : scale each view to unit total variance (``set_data_options(scale_views=)``), so a
        modality with many features does not dominate.
    min_patients : a feature needs this many observed patients, and a view this many patients,
        or it is left out.
    drop_factor_r2 : drop factors explaining less than this fraction of variance during training
        (``dropR2``); ``None`` keeps ``n_factors``.

    Raises
    ------
    OmicsInputError when no modality has enough patients and features.
    """
    from mofapy2.run.entry_point import entry_point

    patients, views = _views(matrix, min_patients)
    if len(views) < 1 or len(patients) < min_patients:
        raise OmicsInputError(f"MOFA needs at least one modality with ≥{min_patients} patients; "
                              f"usable: {', '.join(views) or 'none'}")
    names = list(views)
    data = [[views[m].to_numpy(dtype=float)] for m in names]
    feats = [[f"{c}" for c in views[m].columns] for m in names]
    buf = io.StringIO()
    # mofapy2 prints progress and takes log(0) in its spike-and-slab ELBO term (harmless)
    with contextlib.redirect_stdout(buf), np.errstate(divide="ignore", invalid="ignore"):
        ent = entry_point()
        ent.set_data_options(scale_views=scale_views)
        ent.set_data_matrix(data, likelihoods=["gaussian"] * len(names), views_names=names,
                            groups_names=["patients"], samples_names=[list(patients.astype(str))],
                            features_names=feats)
        ent.set_model_options(factors=n_factors, spikeslab_weights=True, ard_weights=True)
        ent.set_train_options(iter=iterations, convergence_mode=convergence_mode, seed=seed,
                              dropR2=drop_factor_r2, verbose=False, quiet=True)
        ent.build()
        ent.run()
    z = np.asarray(ent.model.nodes["Z"].getExpectation())
    k = z.shape[1]
    fac_names = [f"Factor{i + 1}" for i in range(k)]
    factors = pd.DataFrame(z, index=pd.Index(patients.astype(str), name="patient_id"), columns=fac_names)
    ws = ent.model.nodes["W"].getExpectation()
    rows = []
    for m, w in zip(names, ws):
        w = np.asarray(w)
        feat = [c.split(SEP, 1)[1] if c.startswith(m + SEP) else c for c in views[m].columns]
        rows.append(pd.DataFrame({
            "modality": m, "feature": np.repeat(feat, k), "column": np.repeat(list(views[m].columns), k),
            "factor": np.tile(fac_names, len(feat)), "weight": w.reshape(-1)}))
    weights = pd.concat(rows, ignore_index=True)
    r2 = ent.model.calculate_variance_explained()[0] * 100          # one group: views × factors
    ve = pd.DataFrame(np.asarray(r2), index=pd.Index(names, name="modality"), columns=fac_names)
    tot = ent.model.calculate_variance_explained(total=True)[0] * 100
    ve_total = pd.Series(np.asarray(tot), index=pd.Index(names, name="modality"), name="r2_percent")
    return MofaResult(factors=factors, weights=weights, variance_explained=ve,
                      variance_explained_total=ve_total, views={m: list(views[m].columns) for m in names},
                      seed=seed)
