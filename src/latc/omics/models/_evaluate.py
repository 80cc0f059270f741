"""Evaluation of outer-fold predictions: AUC / Harrell's C with patient bootstrap CIs, permutation
p-values, Brier score, calibration slope and intercept, and paired model comparisons.

Every metric is computed on :attr:`CVResult.patient_predictions` (one row per patient), so the
bootstrap resamples **patients**. For a binary outcome the AUC is that of the calibrated
probability: the outer folds' raw decision values are on different scales (and, under the null,
a fold model's direction is anti-correlated with its held-out patients — the training and test
parts of a fixed sample carry opposite chance associations), whereas the Platt map fitted on the
inner folds puts every fold on the probability scale and can flip a direction the inner folds did
not support. The bootstrap resamples (percentile interval, Efron & Tibshirani 1993, ch. 13) and a
patient with two samples counts once.

* AUC: Mann–Whitney form with ties counted ½ (Hanley & McNeil, *Radiology* 1982;143:29).
* Harrell's C: :func:`latc.stats.harrell_c` (agrees with R ``concordance(..., reverse = TRUE)``);
  the bootstrap uses the same pair counting.
* Brier score: mean (p − y)².
* Calibration (Van Calster et al., *J Clin Epidemiol* 2016;74:167; Steyerberg, *Clinical
  Prediction Models*, 2nd ed., §15.3): slope = coefficient of logit(p) in ``glm(y ~ logit(p),
  binomial)``; intercept ("calibration-in-the-large") = intercept of ``glm(y ~ 1,
  offset = logit(p), binomial)``. Ideal: slope 1, intercept 0.
* Permutation test (Ojala & Garriga, *JMLR* 2010;11:1833): the whole nested CV is re-run on
  outcomes permuted **between patients** (a patient's rows keep one outcome; optional strata,
  e.g. center, permute within stratum); p = (1 + #{null ≥ observed}) / (1 + n_permutations).
* Paired comparison of two models on the same patients: the difference of AUC / C in each
  bootstrap resample of patients gives a percentile CI and a two-sided bootstrap p.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logit
from scipy.stats import rankdata

from latc.omics._manifest import OmicsInputError
from latc.omics.models._cv import CVResult


# ----------------------------------------------------------------------------------------------
# AUC (vectorised over bootstrap resamples)
# ----------------------------------------------------------------------------------------------
def auc(y, score) -> float:
    """Area under the ROC curve (Mann–Whitney; ties ½)."""
    return float(_auc_rows(np.asarray(y, dtype=int)[None, :], np.asarray(score, dtype=float)[None, :])[0])


def _auc_rows(Y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """AUC of each row of (labels, scores) matrices; NaN where a row has one class only."""
    r = rankdata(S, axis=1)
    n1 = Y.sum(axis=1)
    n0 = Y.shape[1] - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ((r * Y).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), out, np.nan)


def _boot_index(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _percentile(x: np.ndarray, conf: float) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    a = (1 - conf) / 2
    return float(np.quantile(x, a)), float(np.quantile(x, 1 - a))


def auc_ci(y, score, *, n_boot: int = 1000, seed: int = 0, conf_level: float = 0.95) -> dict:
    """AUC with a percentile bootstrap CI over patients (one entry per patient)."""
    y = np.asarray(y, dtype=int)
    s = np.asarray(score, dtype=float)
    idx = _boot_index(len(y), n_boot, seed)
    boot = _auc_rows(y[idx], s[idx])
    lo, hi = _percentile(boot, conf_level)
    return {"metric": "auc", "estimate": auc(y, s), "lower": lo, "upper": hi, "n_boot": n_boot,
            "n_boot_valid": int(np.isfinite(boot).sum())}


# ----------------------------------------------------------------------------------------------
# calibration
# ----------------------------------------------------------------------------------------------
def brier(y, p) -> float:
    """Brier score, mean (p − y)²."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    return float(np.mean((p - y) ** 2))


def calibration_slope_intercept(y, p) -> dict:
    """Logistic recalibration slope and calibration-in-the-large (see module docstring)."""
    import statsmodels.api as sm

    y = np.asarray(y, dtype=float)
    lp = logit(np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6))
    out = {"calibration_slope": np.nan, "calibration_intercept": np.nan}
    if np.ptp(lp) > 1e-10:
        fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
        out["calibration_slope"] = float(fit.params[1])
    fit0 = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    out["calibration_intercept"] = float(fit0.params[0])
    return out


def roc_curve_ci(y, score, *, n_boot: int = 1000, seed: int = 0, conf_level: float = 0.95,
                 grid: int = 101) -> pd.DataFrame:
    """ROC curve on a fixed false-positive-rate grid with a pointwise bootstrap band of the TPR."""
    from sklearn.metrics import roc_curve

    y, s = np.asarray(y, dtype=int), np.asarray(score, dtype=float)
    fpr_grid = np.linspace(0, 1, grid)

    def tpr_on_grid(yy, ss):
        fpr, tpr, _ = roc_curve(yy, ss)
        return np.interp(fpr_grid, fpr, tpr)

    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            curves.append(tpr_on_grid(y[i], s[i]))
    curves = np.array(curves)
    a = (1 - conf_level) / 2
    return pd.DataFrame({"fpr": fpr_grid, "tpr": tpr_on_grid(y, s),
                         "tpr_lower": np.quantile(curves, a, axis=0), "tpr_upper": np.quantile(curves, 1 - a, axis=0)})


# ----------------------------------------------------------------------------------------------
# survival
# ----------------------------------------------------------------------------------------------
def c_index_ci(time, event, risk, *, n_boot: int = 1000, seed: int = 0, conf_level: float = 0.95) -> dict:
    """Harrell's C (:func:`latc.stats.harrell_c`, R's SE) with a percentile patient bootstrap CI."""
    from latc.stats import StatsInputError, harrell_c

    t, e, r = (np.asarray(v, dtype=float) for v in (time, event, risk))
    try:
        res = harrell_c(t, e, r)
        est, se = res.estimate, res.se
    except StatsInputError:
        est, se = 0.5, np.nan
    boot = _c_boot(t, e, r, _boot_index(len(t), n_boot, seed))
    lo, hi = _percentile(boot, conf_level)
    return {"metric": "harrell_c", "estimate": float(est), "se": float(se), "lower": lo, "upper": hi,
            "n_boot": n_boot, "n_boot_valid": int(np.isfinite(boot).sum())}


def _harrell_fast(t: np.ndarray, e: np.ndarray, r: np.ndarray) -> float:
    """Harrell's C by pair counting as R ``concordance``: an event is compared with every patient
    still at risk after it — a later time, or a censoring at the same time; two events at the same
    time are not comparable; ties in risk count ½."""
    ev = e.astype(bool)
    ti, ri = t[ev][:, None], r[ev][:, None]
    comparable = (t[None, :] > ti) | ((t[None, :] == ti) & ~ev[None, :])
    n = comparable.sum()
    if n == 0:
        return np.nan
    conc = ((ri > r[None, :]) & comparable).sum() + 0.5 * ((ri == r[None, :]) & comparable).sum()
    return float(conc / n)


def _c_boot(t, e, r, idx) -> np.ndarray:
    return np.array([_harrell_fast(t[i], e[i], r[i]) for i in idx])


# ----------------------------------------------------------------------------------------------
# model-level summaries
# ----------------------------------------------------------------------------------------------
def evaluate(result: CVResult, *, n_boot: int = 1000, seed: int = 0, conf_level: float = 0.95) -> pd.DataFrame:
    """One-row table of a cross-validated model: discrimination with CI, and (binary) Brier and
    calibration slope / intercept of the calibrated probabilities."""
    pp = result.patient_predictions
    if result.outcome == "binary":
        row = auc_ci(pp["y"], pp["probability"], n_boot=n_boot, seed=seed, conf_level=conf_level)
        row |= {"brier": brier(pp["y"], pp["probability"])}
        row |= calibration_slope_intercept(pp["y"], pp["probability"])
        row |= {"n_patients": len(pp), "n_events": int(pp["y"].sum())}
    else:
        row = c_index_ci(pp["time"], pp["event"], pp["score"], n_boot=n_boot, seed=seed, conf_level=conf_level)
        row |= {"n_patients": len(pp), "n_events": int(pp["event"].sum())}
    return pd.DataFrame([row])


def compare_models(a: CVResult, b: CVResult, *, names: tuple[str, str] = ("a", "b"), n_boot: int = 1000,
                   seed: int = 0, conf_level: float = 0.95) -> pd.DataFrame:
    """Paired bootstrap difference ``b − a`` of AUC (binary) or Harrell's C (survival) over the
    patients predicted by both models."""
    if a.outcome != b.outcome:
        raise OmicsInputError("compare_models: the two models predict different outcomes")
    pa = a.patient_predictions.set_index("patient_id")
    pb = b.patient_predictions.set_index("patient_id")
    common = pa.index.intersection(pb.index)
    if len(common) < 10:
        raise OmicsInputError(f"compare_models: only {len(common)} patients predicted by both models")
    pa, pb = pa.loc[common], pb.loc[common]
    idx = _boot_index(len(common), n_boot, seed)
    if a.outcome == "binary":
        y = pa["y"].to_numpy(int)
        sa, sb = pa["probability"].to_numpy(float), pb["probability"].to_numpy(float)
        ea, eb = auc(y, sa), auc(y, sb)
        da = _auc_rows(y[idx], sa[idx])
        db = _auc_rows(y[idx], sb[idx])
        metric = "auc"
    else:
        t, e = pa["time"].to_numpy(float), pa["event"].to_numpy(float)
        sa, sb = pa["score"].to_numpy(float), pb["score"].to_numpy(float)
        ea, eb = _harrell_fast(t, e, sa), _harrell_fast(t, e, sb)
        da, db = _c_boot(t, e, sa, idx), _c_boot(t, e, sb, idx)
        metric = "harrell_c"
    d = db - da
    d = d[np.isfinite(d)]
    lo, hi = _percentile(d, conf_level)
    p = float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean())))
    return pd.DataFrame([{"metric": metric, "model_a": names[0], "model_b": names[1], "n_patients": len(common),
                          "estimate_a": ea, "estimate_b": eb, "difference": eb - ea, "lower": lo, "upper": hi,
                          "p_bootstrap": p, "n_boot": n_boot}])


@dataclass
class PermutationResult:
    """Observed metric, the null distribution from permuted outcomes, and the p-value."""

    observed: float
    null: np.ndarray
    p_value: float
    metric: str

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"metric": self.metric, "observed": self.observed, "null_mean": float(np.mean(self.null)),
                              "null_q95": float(np.quantile(self.null, 0.95)), "n_permutations": len(self.null),
                              "p_permutation": self.p_value}])


def permute_by_patient(values: np.ndarray, groups: np.ndarray, rng: np.random.Generator,
                       strata: np.ndarray | None = None) -> np.ndarray:
    """Permute per-patient outcomes between patients (within strata); rows follow their patient."""
    g = pd.Series(groups).astype(str).to_numpy()
    uniq, first, inv = np.unique(g, return_index=True, return_inverse=True)
    per = np.asarray(values)[first]
    if strata is None:
        perm = rng.permutation(len(uniq))
    else:
        st = np.asarray(strata)[first]
        perm = np.arange(len(uniq))
        for s in np.unique(st):
            where = np.flatnonzero(st == s)
            perm[where] = where[rng.permutation(len(where))]
    return per[perm][inv]


def permutation_test(X: pd.DataFrame, y=None, *, time=None, event=None, groups=None, n_permutations: int = 100,
                     seed: int = 0, strata=None, n_jobs: int = 1, **cv_kwargs) -> PermutationResult:
    """Permutation p-value of a nested-CV AUC (``y``) or Harrell's C (``time``, ``event``): the
    complete nested CV (filter, penalty tuning, calibration) is refitted on each permutation of
    the outcome between patients (a patient's rows keep one outcome; ``strata`` per row, e.g.
    center, restricts permutations within strata).

    ``seed`` is the fold seed of every refit (fixed, so the null differs from the observed fit only
    by the outcome) and, offset by one, the seed of the permutations; ``cv_kwargs`` go to
    :func:`nested_cv` / :func:`nested_cv_cox`. ``n_jobs`` runs permutations in
    parallel processes (joblib).
    """
    from joblib import Parallel, delayed

    from latc.omics.models._cv import nested_cv, nested_cv_cox

    survival = time is not None
    if survival == (y is not None) or (survival and event is None):
        raise OmicsInputError("permutation_test: give either y (binary) or time and event (survival)")
    g = np.asarray(X.index if groups is None else groups).astype(str)
    if survival:
        out = np.column_stack([np.asarray(time, dtype=float), np.asarray(event, dtype=float)])
    else:
        out = np.asarray(pd.Series(np.asarray(y, dtype=float)), dtype=float)[:, None]
    ok = ~np.isnan(out).any(axis=1)
    rows = np.flatnonzero(ok)
    Xo, go, oo = X.iloc[rows], g[rows], out[rows]
    st = None if strata is None else np.asarray(strata)[rows]

    def metric(o: np.ndarray) -> float:
        if survival:
            r = nested_cv_cox(Xo, o[:, 0], o[:, 1], groups=go, seed=seed, **cv_kwargs)
            pp = r.patient_predictions
            return _harrell_fast(pp["time"].to_numpy(float), pp["event"].to_numpy(float), pp["score"].to_numpy(float))
        r = nested_cv(Xo, o[:, 0], groups=go, seed=seed, **cv_kwargs)
        return auc(r.patient_predictions["y"], r.patient_predictions["probability"])

    observed = metric(oo)
    rng = np.random.default_rng(seed + 1)
    # permute row indices of whole patients: the patient's outcome (one row) moves as a unit
    first_row = np.arange(len(go))
    perms = [oo[permute_by_patient(first_row, go, rng, st)] for _ in range(n_permutations)]
    null = np.array(Parallel(n_jobs=n_jobs)(delayed(metric)(p) for p in perms))
    p = (1 + np.sum(null >= observed - 1e-12)) / (1 + n_permutations)
    return PermutationResult(observed=observed, null=null, p_value=float(p),
                             metric="harrell_c" if survival else "auc")


__all__ = ["PermutationResult", "auc", "auc_ci", "brier", "c_index_ci", "calibration_slope_intercept",
           "compare_models", "evaluate", "permutation_test", "permute_by_patient", "roc_curve_ci"]
