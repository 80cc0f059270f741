"""Prognostic model comparison for recurrence risk: a baseline Cox model vs an extended one.

:func:`prognostic` fits two Cox models with :func:`latc.stats.cox` on the same complete cases —
e.g. ATA 2015 initial risk alone vs ATA risk + response to neoadjuvant therapy — and reports for
each: Harrell's and Uno's C (R conventions, R's standard errors), time-dependent AUC and Brier score
at the horizon(s) (riskRegression conventions), calibration (risk groups, slope, O/E); then the
difference in C (infinitesimal-jackknife SE as R's ``concordance(fit1, fit2)`` and a seeded
bootstrap percentile CI), Harrell's optimism-corrected bootstrap estimates, optional K-fold
cross-validated C, and the likelihood-ratio test for the added variables (nested models).

Predicted risks are 1 − S(t | x) from the Cox model with the Efron (or Breslow, following the
fit's ties) baseline hazard, as R ``survfit(coxph_fit, newdata)``. See docs/stats/prognostic.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from latc._compat import positional_deprecated

from ._calibration import calibration
from ._cox import CoxResult, cox, cox_coef, design_matrix
from ._discrimination import _concordance, brier_score, harrell_c, time_dependent_auc, uno_c, uno_weights
from ._errors import StatsInputError, survival_data

__all__ = ["PrognosticResult", "cox_predicted_risk", "prognostic"]

_MODELS = ("baseline", "extended")


# ----------------------------------------------------------------------------------------------
# predicted risk from a Cox fit
# ----------------------------------------------------------------------------------------------
def _baseline_cumhaz(fit: CoxResult) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative baseline hazard at the event-time steps, for the linear predictor centred at the
    training means (Efron-adjusted for ``ties="efron"``, as R ``survfit.coxph``)."""
    if fit.strata:
        raise StatsInputError("prognostic: stratified Cox models have no single baseline hazard; "
                              "fit without strata")
    rs = fit._risk
    st = rs.steps(fit._X, fit.coef)
    shift = float((fit._X @ fit.coef).max())        # steps() works with η − max η
    h = rs.step_meanwt / st["s0"] * np.exp(-shift)
    return rs.gtime[rs.step_group], np.cumsum(h)


def cox_predicted_risk(fit: CoxResult, X_train: np.ndarray, X_new: np.ndarray,
                       times: Sequence[float]) -> np.ndarray:
    """Predicted probability of the event by each time, 1 − exp(−Λ₀(t) exp((x − x̄)β)).

    ``X_train`` is the model matrix the fit was estimated on (its column means centre the linear
    predictor); ``X_new`` the rows to predict (same columns). R: ``1 - summary(survfit(fit,
    newdata), times)$surv``. Returns an (n_new, len(times)) array.
    """
    step_t, cumhaz = _baseline_cumhaz(fit)
    i = np.searchsorted(step_t, np.asarray(times, dtype=float), side="right") - 1
    h0 = np.where(i < 0, 0.0, cumhaz[np.maximum(i, 0)])
    lp = (X_new - X_train.mean(axis=0)) @ fit.coef
    return -np.expm1(-np.outer(np.exp(lp), h0))


# ----------------------------------------------------------------------------------------------
# result
# ----------------------------------------------------------------------------------------------
@dataclass
class PrognosticResult:
    """Comparison of two prognostic Cox models.

    ``summary``: tidy table — model (baseline / extended / extended - baseline), metric, horizon,
    estimate, se, lower, upper, p, method, note. ``calibration``: model, horizon, group, n, events,
    mean_predicted, observed, observed_lower, observed_upper, … (calibration plot points).
    ``bootstrap``: one row per successful replicate (empty without bootstrap).
    """

    summary: pd.DataFrame
    calibration: pd.DataFrame
    baseline_fit: CoxResult
    extended_fit: CoxResult
    lr_test: dict
    horizons: list[float]
    n: int
    events: int
    bootstrap: pd.DataFrame = field(default_factory=pd.DataFrame)
    settings: dict = field(default_factory=dict)


def _row(model: str, metric: str, horizon=np.nan, estimate=np.nan, se=np.nan, lower=np.nan,
         upper=np.nan, p=np.nan, method: str = "", note: str = "") -> dict:
    horizon = np.nan if horizon is None else horizon
    return {"model": model, "metric": metric, "horizon": horizon, "estimate": estimate, "se": se,
            "lower": lower, "upper": upper, "p": p, "method": method, "note": note}


# ----------------------------------------------------------------------------------------------
# metrics on one set of linear predictors (shared by the apparent, bootstrap and CV estimates)
# ----------------------------------------------------------------------------------------------
def _c_values(t: np.ndarray, e: np.ndarray, lp: np.ndarray, tau: float) -> tuple[float, float]:
    """Harrell's and Uno's C without standard errors (fast path for resampling)."""
    if np.ptp(lp) == 0:
        return np.nan, np.nan
    hc = _concordance(t, e, lp, np.ones(len(t)), want_se=False)["estimate"]
    uc = _concordance(t, e, lp, uno_weights(t, e, tau), want_se=False)["estimate"]
    return float(hc), float(uc)


def _auc_values(t, e, lp, horizons) -> np.ndarray:
    if np.ptp(lp) == 0 or not e.any():
        return np.full(len(horizons), np.nan)
    return time_dependent_auc(t, e, lp, horizons)["auc"].to_numpy()


def _slope(t, e, lp) -> float:
    """Calibration slope of a linear predictor (Cox of the outcome on it)."""
    if np.ptp(lp) == 0:
        return np.nan
    try:  # the same bits as cox(DataFrame({"t": t, "e": e, "lp": lp}), "t", "e", ["lp"]).coef[0]
        return float(cox_coef(t, np.asarray(e, dtype=bool), lp[:, None], ["lp"])[0])
    except StatsInputError:
        return np.nan


def _folds(e: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number per row; events and non-events are spread evenly over the folds."""
    fold = np.empty(len(e), dtype=np.int64)
    for sel in (np.flatnonzero(e), np.flatnonzero(~e)):
        perm = rng.permutation(sel)
        fold[perm] = np.arange(len(perm)) % k
    return fold


@positional_deprecated
def prognostic(df: pd.DataFrame, time: str, event: str, baseline_model: Sequence[str],
               extended_model: Sequence[str], *, horizon: float | Sequence[float],
               tau: float | None = None, cv: int | None = None, seed: int = 20240611, n_boot: int = 200,
               optimism: bool = True, groups: int = 10, ties: str = "efron",
               conf_level: float = 0.95, missing: str = "error") -> PrognosticResult:
    """Compare a baseline and an extended Cox prognostic model for recurrence risk.

    Parameters
    ----------
    df : one row per patient (pseudonymous).
    time, event : time to recurrence and its indicator (1 = recurrence, 0 = censored).
    baseline_model : covariates of the reference model, e.g. ``["ata_initial_risk"]``.
    extended_model : covariates of the extended model, e.g. ``["ata_initial_risk",
        "best_overall_response", "pathological_response"]``; a superset of ``baseline_model`` for
        the likelihood-ratio test (otherwise the LR row is NA with a note).
    horizon : time point(s) for AUC, Brier and calibration (same unit as ``time``). Each must
        leave someone followed beyond it.
    tau : truncation time of Uno's C (events after it weigh 0); default the largest horizon.
    cv : K for K-fold cross-validation (``None`` = none): folds seeded and balanced for events;
        each fold's linear predictor comes from a model fitted on the other folds, and C/AUC are
        computed on the pooled cross-validated linear predictors (Simon et al., Brief Bioinform
        2011).
    seed : seed of the bootstrap and of the folds.
    n_boot : bootstrap replicates (0 = none). Each replicate refits both models on a resample of
        patients; replicates where a model cannot be fitted (a category absent, an infinite
        coefficient) are skipped and counted in ``settings["n_boot_failed"]``.
    optimism : also report Harrell's optimism-corrected estimates (apparent − mean over
        replicates of [metric of the replicate model on its resample − on the original data];
        Harrell, Lee & Mark, Stat Med 1996; Harrell, *Regression Modeling Strategies* §5.3).
    groups : quantile risk groups for calibration.
    ties : Cox ties method (``"efron"`` as R, or ``"breslow"``).
    missing : ``"error"`` or ``"drop"`` — complete cases over the union of both models' columns,
        so both models use the same patients.

    Raises
    ------
    StatsInputError : no events, a horizon without follow-up beyond it or without events before
        it, an unfittable model (constant, collinear or separated covariate).
    """
    base = [baseline_model] if isinstance(baseline_model, str) else list(baseline_model)
    ext = [extended_model] if isinstance(extended_model, str) else list(extended_model)
    if not base or not ext:
        raise StatsInputError("prognostic: baseline_model and extended_model each need at least "
                              "one covariate")
    horizons = sorted(float(h) for h in np.atleast_1d(np.asarray(horizon, dtype=float)))
    if cv is not None and (not isinstance(cv, (int, np.integer)) or cv < 2):
        raise StatsInputError(f"prognostic: cv must be an integer ≥ 2 (folds) or None, not {cv!r}")
    if n_boot < 0:
        raise StatsInputError(f"prognostic: n_boot must be ≥ 0, not {n_boot!r}")
    cols = list(dict.fromkeys(base + ext))
    data = survival_data(df, time, event, columns=cols, missing=missing, context="prognostic")
    frame = data.frame.reset_index(drop=True)
    t, e = data.time, data.event
    n = len(t)
    if not e.any():
        raise StatsInputError(f"prognostic: no events in '{event}' among {n} patients")
    for h in horizons:
        if not (t > h).any():
            raise StatsInputError(
                f"prognostic: horizon {h:g} is at or beyond the last follow-up ({t.max():g}); "
                "nobody is at risk after it, so AUC, Brier and calibration are undefined there")
        if not (e & (t <= h)).any():
            raise StatsInputError(f"prognostic: no event in '{event}' at or before the horizon "
                                  f"{h:g}; choose a later horizon")
    tau = horizons[-1] if tau is None else float(tau)
    if not (e & (t <= tau)).any():
        raise StatsInputError(f"prognostic: no event at or before tau = {tau:g}")
    z = float(norm.ppf(1 - (1 - conf_level) / 2))

    fits, Xs, lps, risks = {}, {}, {}, {}
    for name, covs in zip(_MODELS, (base, ext)):
        fits[name] = cox(frame, time, event, covs, ties=ties)
        Xs[name] = design_matrix(frame, covs)[0]
        lps[name] = Xs[name] @ fits[name].coef
        risks[name] = cox_predicted_risk(fits[name], Xs[name], Xs[name], horizons)

    rows: list[dict] = []
    cal_tables: list[pd.DataFrame] = []
    conc: dict[str, dict] = {}
    apparent: dict[tuple, float] = {}
    for name in _MODELS:
        hc = harrell_c(t, e, lps[name], conf_level=conf_level)
        uc = uno_c(t, e, lps[name], tau=tau, conf_level=conf_level)
        conc[name] = {"harrell_c": hc, "uno_c": uc}
        rows.append(_row(name, "harrell_c", np.nan, hc.estimate, hc.se, hc.lower, hc.upper,
                         method="R concordance(reverse = TRUE); infinitesimal-jackknife SE"))
        rows.append(_row(name, "uno_c", tau, uc.estimate, uc.se, uc.lower, uc.upper,
                         method="R concordance(timewt = 'n/G2', ymax = tau), G(t-); IJ SE"))
        apparent[(name, "harrell_c", None)] = hc.estimate
        apparent[(name, "uno_c", tau)] = uc.estimate
        auc = time_dependent_auc(t, e, lps[name], horizons)
        brier = brier_score(t, e, risks[name], horizons)
        for k, h in enumerate(horizons):
            rows.append(_row(name, "auc", h, auc["auc"].iloc[k],
                             method="cumulative/dynamic AUC, KM IPCW (riskRegression Score)",
                             note=auc["note"].iloc[k]))
            apparent[(name, "auc", h)] = auc["auc"].iloc[k]
            rows.append(_row(name, "brier", h, brier["brier"].iloc[k],
                             method="IPCW Brier score (riskRegression Score)",
                             note=brier["note"].iloc[k]))
            cal = calibration(t, e, risks[name][:, k], h, groups=groups,
                              linear_predictor=lps[name], conf_level=conf_level)
            for r in cal.summary.to_dict("records"):
                if r["metric"] == "calibration_slope":
                    if k > 0:       # the slope on log(-log(1 - p)) is the same at every horizon
                        continue
                    apparent[(name, "calibration_slope", None)] = r["estimate"]
                    r["horizon"] = np.nan
                    r["note"] = "apparent: 1 by construction on the development data"
                    if n_boot and optimism:
                        r["note"] += "; see calibration_slope_optimism_corrected"
                rows.append(_row(name, r["metric"], r["horizon"], r["estimate"], r["se"],
                                 r["lower"], r["upper"], method="calibration at the horizon",
                                 note=r["note"]))
            tab = cal.table.copy()
            tab.insert(0, "horizon", h)
            tab.insert(0, "model", name)
            cal_tables.append(tab)

    # difference in C: IJ covariance of the two concordances (R concordance(fit1, fit2))
    for metric in ("harrell_c", "uno_c"):
        a, b = conc["baseline"][metric], conc["extended"][metric]
        diff = b.estimate - a.estimate
        se = float(np.sqrt(np.sum((b.dfbeta - a.dfbeta) ** 2)))
        pz = float(2 * norm.sf(abs(diff) / se)) if se > 0 else np.nan
        rows.append(_row("extended - baseline", f"delta_{metric}",
                         tau if metric == "uno_c" else None, diff, se, diff - z * se,
                         diff + z * se, pz,
                         method="difference, infinitesimal-jackknife covariance "
                                "(R concordance(fit1, fit2)); Wald CI"))
    for h in horizons:
        apparent[("extended - baseline", "delta_auc", h)] = (apparent[("extended", "auc", h)]
                                                            - apparent[("baseline", "auc", h)])
    apparent[("extended - baseline", "delta_harrell_c", None)] = (
        conc["extended"]["harrell_c"].estimate - conc["baseline"]["harrell_c"].estimate)
    apparent[("extended - baseline", "delta_uno_c", tau)] = (
        conc["extended"]["uno_c"].estimate - conc["baseline"]["uno_c"].estimate)

    # likelihood-ratio test of the added variables
    fb, fe = fits["baseline"], fits["extended"]
    nested = set(base) <= set(ext) and set(fb.names) <= set(fe.names)
    if nested and len(fe.names) > len(fb.names):
        stat = 2 * (fe.loglik[1] - fb.loglik[1])
        dof = len(fe.names) - len(fb.names)
        lr: dict[str, Any] = {"chisq": float(stat), "df": dof, "p": float(chi2.sf(stat, dof)), "note": ""}
    else:
        lr = {"chisq": np.nan, "df": np.nan, "p": np.nan,
              "note": "models are not nested (baseline covariates must be a subset of the "
                      "extended ones, with more parameters); no likelihood-ratio test"}
    rows.append(_row("extended - baseline", "likelihood_ratio_chisq", np.nan, lr["chisq"], p=lr["p"],
                     method=f"LR test of the added variables (df = {lr['df']})", note=lr["note"]))

    settings = {"horizons": horizons, "tau": tau, "seed": seed, "n_boot": n_boot, "cv": cv,
                "optimism": optimism, "groups": groups, "ties": ties, "conf_level": conf_level,
                "n_boot_failed": 0}
    boot = pd.DataFrame()
    if n_boot:
        boot, failed = _bootstrap(frame, time, event, t, e, {"baseline": base, "extended": ext},
                                  Xs, fits, horizons, tau, n_boot, seed, ties, optimism)
        settings["n_boot_failed"] = failed
        rows += _bootstrap_rows(boot, apparent, horizons, tau, conf_level, optimism, failed, n_boot)
    if cv:
        rows += _cross_validation(frame, time, event, t, e, {"baseline": base, "extended": ext},
                                  Xs, fits, horizons, tau, cv, seed, ties)

    summary = pd.DataFrame(rows)
    summary.attrs["n"] = n
    summary.attrs["events"] = int(e.sum())
    return PrognosticResult(
        summary=summary, calibration=pd.concat(cal_tables, ignore_index=True),
        baseline_fit=fb, extended_fit=fe, lr_test=lr, horizons=horizons, n=n,
        events=int(e.sum()), bootstrap=boot, settings=settings)


# ----------------------------------------------------------------------------------------------
# bootstrap and cross-validation
# ----------------------------------------------------------------------------------------------
def _refit(frame, time, event, covs, idx, names, ties, X=None, t=None, e=None):
    """β̂ refitted on frame rows ``idx``; None when the model is not estimable on them.

    With ``X`` (the full data's model matrix, given when every covariate is numeric so that its
    columns are the covariates themselves) the refit is :func:`cox_coef` on ``X[idx]`` after the
    checks :func:`design_matrix` makes (a constant or collinear column) — the same β̂ as
    ``cox(frame.iloc[idx], …)`` without its summaries; otherwise ``cox`` itself."""
    if X is None:
        try:
            fit = cox(frame.iloc[idx], time, event, covs, ties=ties)
        except StatsInputError:
            return None
        return fit.coef if fit.names == names else None      # a category absent from the resample
    Xb = X[idx]
    if (np.ptp(Xb, axis=0) == 0).any():
        return None
    if Xb.shape[1] > 1 and np.linalg.matrix_rank(Xb - Xb.mean(axis=0)) < Xb.shape[1]:
        return None
    try:
        return cox_coef(t[idx], e[idx], Xb, names, ties=ties)
    except StatsInputError:
        return None


def _lean(models, fits, Xs, t, e) -> dict[str, tuple]:
    """Per model, the extra arguments of :func:`_refit`'s lean path — the full model matrix, times and
    events — when every covariate is numeric (its design columns are the covariates); else none."""
    return {m: (Xs[m], t, e) if fits[m].names == list(models[m]) else () for m in _MODELS}


def _bootstrap(frame, time, event, t, e, models, Xs, fits, horizons, tau, n_boot, seed, ties,
               optimism):
    rng = np.random.default_rng(seed)
    n = len(t)
    records, failed = [], 0
    lean = _lean(models, fits, Xs, t, e)
    for b in range(n_boot):                     # replicates, not patients
        idx = rng.integers(0, n, n)
        tb, eb = t[idx], e[idx]
        if not eb.any():
            failed += 1
            continue
        refits = {m: _refit(frame, time, event, models[m], idx, fits[m].names, ties, *lean[m]) for m in _MODELS}
        if any(f is None for f in refits.values()):
            failed += 1
            continue
        rec = {"replicate": b}
        for m in _MODELS:
            beta = refits[m]
            lp_b, lp_o = Xs[m][idx] @ beta, Xs[m] @ beta
            rec[f"{m}:harrell_c:boot"], rec[f"{m}:uno_c:boot"] = _c_values(tb, eb, lp_b, tau)
            for h, a in zip(horizons, _auc_values(tb, eb, lp_b, horizons)):
                rec[f"{m}:auc@{h:g}:boot"] = a
            if optimism:
                rec[f"{m}:harrell_c:orig"], rec[f"{m}:uno_c:orig"] = _c_values(t, e, lp_o, tau)
                for h, a in zip(horizons, _auc_values(t, e, lp_o, horizons)):
                    rec[f"{m}:auc@{h:g}:orig"] = a
                rec[f"{m}:calibration_slope:boot"] = 1.0      # MLE: slope of its own lp is 1
                rec[f"{m}:calibration_slope:orig"] = _slope(t, e, lp_o)
        records.append(rec)
    return pd.DataFrame(records), failed


def _bootstrap_rows(boot, apparent, horizons, tau, conf_level, optimism, failed, n_boot):
    rows = []
    if boot.empty:
        return [_row("extended - baseline", "delta_harrell_c_bootstrap",
                     note=f"all {n_boot} bootstrap replicates failed (models not estimable)")]
    alpha = 1 - conf_level
    note = f"{len(boot)} replicates" + (f" ({failed} skipped: model not estimable)" if failed else "")
    metrics = [("harrell_c", None, "harrell_c"), ("uno_c", tau, "uno_c")] + \
              [(f"auc@{h:g}", h, "auc") for h in horizons]
    for key, h, label in metrics:
        d = boot[f"extended:{key}:boot"] - boot[f"baseline:{key}:boot"]
        d = d.dropna()
        est = apparent[("extended - baseline", f"delta_{label}", h)]
        lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2]) if len(d) else (np.nan, np.nan)
        rows.append(_row("extended - baseline", f"delta_{label}_bootstrap", h, est,
                         float(d.std(ddof=1)) if len(d) > 1 else np.nan, lo, hi,
                         method="apparent difference; percentile bootstrap CI (models refitted "
                                "in each resample)", note=note))
    if not optimism:
        return rows
    for key, h, label in metrics + [("calibration_slope", None, "calibration_slope")]:
        opt = {}
        for m in _MODELS:
            opt[m] = (boot[f"{m}:{key}:boot"] - boot[f"{m}:{key}:orig"]).dropna()
            app = apparent[(m, label, h)]
            rows.append(_row(m, f"{label}_optimism_corrected", h, app - opt[m].mean(),
                             method="Harrell's bootstrap optimism correction "
                                    "(apparent - mean(boot - original))",
                             note=f"{note}; optimism {opt[m].mean():.4g}"))
        if label != "calibration_slope":
            app = apparent[("extended - baseline", f"delta_{label}", h)]
            dopt = (opt["extended"] - opt["baseline"]).dropna()
            rows.append(_row("extended - baseline", f"delta_{label}_optimism_corrected", h,
                             app - dopt.mean(), method="Harrell's bootstrap optimism correction",
                             note=note))
    return rows


def _cross_validation(frame, time, event, t, e, models, Xs, fits, horizons, tau, k, seed, ties):
    rng = np.random.default_rng([seed, k])
    fold = _folds(e, k, rng)
    lean = _lean(models, fits, Xs, t, e)
    pooled = {m: np.empty(len(t)) for m in _MODELS}
    for f in range(k):                          # folds, not patients
        train = np.flatnonzero(fold != f)
        test = fold == f
        for m in _MODELS:
            fit = _refit(frame, time, event, models[m], train, fits[m].names, ties, *lean[m])
            if fit is None:
                raise StatsInputError(f"prognostic: the {m} model cannot be fitted without fold "
                                      f"{f + 1} of {k} (a category absent or an infinite "
                                      "coefficient); use fewer folds or collapse categories")
            pooled[m][test] = Xs[m][test] @ fit
    rows = []
    method = f"{k}-fold cross-validation, pooled cross-validated linear predictors (seeded)"
    vals = {}
    for m in _MODELS:
        hc = harrell_c(t, e, pooled[m])
        uc = uno_c(t, e, pooled[m], tau=tau)
        vals[m] = (hc, uc)
        rows.append(_row(m, "harrell_c_cv", np.nan, hc.estimate, hc.se, hc.lower, hc.upper,
                         method=method))
        rows.append(_row(m, "uno_c_cv", tau, uc.estimate, uc.se, uc.lower, uc.upper, method=method))
        auc = time_dependent_auc(t, e, pooled[m], horizons)
        for h, a, note in zip(horizons, auc["auc"], auc["note"]):
            rows.append(_row(m, "auc_cv", h, a, method=method, note=note))
        rows.append(_row(m, "calibration_slope_cv", np.nan, _slope(t, e, pooled[m]), method=method))
    for j, metric in enumerate(("harrell_c_cv", "uno_c_cv")):
        a, b = vals["baseline"][j], vals["extended"][j]
        rows.append(_row("extended - baseline", f"delta_{metric}", tau if j else np.nan,
                         b.estimate - a.estimate, method=method))
    return rows
