"""Subgroup analyses: the treatment effect within each level of a subgroup variable, with the
test of treatment × subgroup interaction — the data of a forest plot.

Per level (R calls in tests/r_desc/desc_goldens.R):

* ``model="cox"`` — hazard ratio from :func:`latc.stats.cox` (``coxph(Surv(time, event) ~
  treatment + adjust, data = level)``; with weights, robust variance as
  ``coxph(..., weights = w, robust = TRUE)``);
* ``model="logistic"`` — odds ratio from ``glm(outcome ~ treatment + adjust, binomial)``, Wald CI
  (R ``confint.default``, not the profile interval of ``confint``); with weights, the
  design-based sandwich variance of ``survey::svyglm(design = svydesign(ids = ~1, weights = ~w))``.

Interaction p-value (one per subgroup variable, on each of its rows):

* unweighted — **likelihood-ratio test** of ``treatment + subgroup + adjust`` against
  ``treatment * subgroup + adjust`` on all patients (R ``anova(fit0, fit1)`` for coxph,
  ``anova(fit0, fit1, test = "LRT")`` for glm), df = levels − 1;
* weighted — **Wald test** of the interaction coefficients with the robust variance (a
  likelihood ratio is not valid for a weighted pseudo-likelihood).

A level where the effect cannot be estimated (no events, one treatment group only, too few
patients, a non-converging fit) gets NA estimates and a ``note`` saying why, not an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from latc._compat import positional_deprecated

from ._cox import cox
from ._errors import StatsInputError
from ._propensity import _levels, design_matrix, treatment_indicator

__all__ = ["subgroups"]

_COLUMNS = ["subgroup", "level", "n", "events", "measure", "estimate", "lower", "upper", "p",
            "p_interaction", "interaction_test", "note"]
_T = "_treatment_"


def _logistic(y: np.ndarray, X: np.ndarray, w: np.ndarray | None):
    """glm(binomial) estimates with model-based (unweighted) or svyglm sandwich (weighted) variance;
    returns (coef, var, loglik)."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            kw = {} if w is None else {"var_weights": w}
            fit = GLM(y, X, family=families.Binomial(), **kw).fit(tol=1e-12, maxiter=100)
        except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError, ValueError):
            raise StatsInputError("logistic model does not converge (perfect separation: the "
                                  "outcome is predicted exactly in this subgroup)") from None
    beta = np.asarray(fit.params)
    mu = 1 / (1 + np.exp(-(X @ beta)))
    if w is None:
        var = np.asarray(fit.cov_params())
    else:
        bread = np.linalg.inv((X * (w * mu * (1 - mu))[:, None]).T @ X)
        score = X * (w * (y - mu))[:, None]
        score = score - score.mean(axis=0)
        n = len(y)
        var = bread @ (score.T @ score * n / (n - 1)) @ bread
    if np.any(mu < 1e-10) or np.any(mu > 1 - 1e-10):
        raise StatsInputError("fitted probabilities numerically 0 or 1 (perfect separation)")
    loglik = float(np.sum(y * np.log(mu) + (1 - y) * np.log1p(-mu)))
    return beta, var, loglik


def _effect(frame: pd.DataFrame, model: str, outcome, adjust: list[str], weights: str | None,
            conf_level: float) -> dict:
    """Treatment effect in one set of patients (may raise StatsInputError)."""
    zq = float(norm.ppf(1 - (1 - conf_level) / 2))
    if model == "cox":
        time, event = outcome
        fit = cox(frame, time, event, [_T, *adjust], weights=weights, conf_level=conf_level)
        row = fit.summary.loc[_T]
        return {"estimate": row["exp_coef"], "lower": row["lower"], "upper": row["upper"], "p": row["p"]}
    X = design_matrix(frame, [_T, *adjust], context="logistic subgroup model")
    w = frame[weights].to_numpy(float) if weights else None
    beta, var, _ = _logistic(frame[outcome].to_numpy(float), X.to_numpy(float), w)
    j = list(X.columns).index(_T)
    b, se = beta[j], np.sqrt(var[j, j])
    return {"estimate": np.exp(b), "lower": np.exp(b - zq * se), "upper": np.exp(b + zq * se),
            "p": float(2 * norm.sf(abs(b / se)))}


def _interaction(frame: pd.DataFrame, var: str, levels: list, model: str, outcome, adjust: list[str],
                 weights: str | None) -> tuple[float, str]:
    """p-value of treatment × subgroup (LRT unweighted, robust Wald weighted)."""
    d = frame.copy()
    dummies, inter = [], []
    for k, lev in enumerate(levels[1:], start=1):
        s = (d[var] == lev).to_numpy(float)
        d[f"_s{k}_"] = s
        d[f"_ts{k}_"] = s * d[_T].to_numpy(float)
        dummies.append(f"_s{k}_")
        inter.append(f"_ts{k}_")
    base = [_T, *dummies, *adjust]
    if model == "cox":
        time, event = outcome
        fit1 = cox(d, time, event, base + inter, weights=weights)
        if weights:
            idx = [fit1.names.index(c) for c in inter]
            b = fit1.coef[idx]
            stat = float(b @ np.linalg.solve(fit1.var[np.ix_(idx, idx)], b))
            return float(chi2.sf(stat, len(idx))), "Wald (robust variance)"
        fit0 = cox(d, time, event, base)
        return float(chi2.sf(2 * (fit1.loglik[1] - fit0.loglik[1]), len(inter))), "likelihood ratio"
    y = d[outcome].to_numpy(float)
    w = d[weights].to_numpy(float) if weights else None
    X1 = design_matrix(d, base + inter, context="logistic interaction model")
    b1, v1, ll1 = _logistic(y, X1.to_numpy(float), w)
    if weights:
        idx = [list(X1.columns).index(c) for c in inter]
        stat = float(b1[idx] @ np.linalg.solve(v1[np.ix_(idx, idx)], b1[idx]))
        return float(chi2.sf(stat, len(idx))), "Wald (robust variance)"
    X0 = design_matrix(d, base, context="logistic interaction model")
    _, _, ll0 = _logistic(y, X0.to_numpy(float), None)
    return float(chi2.sf(2 * (ll1 - ll0), len(inter))), "likelihood ratio"


def _blocker(frame: pd.DataFrame, model: str, outcome, n_params: int) -> str:
    """Why the effect cannot be estimated in this set of patients ('' if it can be tried)."""
    if len(frame) == 0:
        return "no patients"
    t = frame[_T].to_numpy()
    if t.min() == t.max():
        return f"only the {'treated' if t[0] == 1 else 'control'} group is present"
    ev = frame[outcome[1]] if model == "cox" else frame[outcome]
    ev = ev.to_numpy(float)
    if ev.sum() == 0:
        return "no events"
    if model == "logistic" and ev.sum() == len(ev):
        return "every patient had the outcome"
    if len(frame) <= n_params:
        return f"too few patients ({len(frame)}) for {n_params} coefficients"
    return ""


@positional_deprecated
def subgroups(df: pd.DataFrame, treatment: str, outcome: str | tuple[str, str], subgroup_vars: Sequence[str],
              *, model: str | None = None, adjust: Sequence[str] | None = None, weights: str | None = None,
              treated: object | None = None, conf_level: float = 0.95, overall: bool = True) -> pd.DataFrame:
    """Treatment effect by subgroup, with interaction p-values, in forest-plot order.

    Parameters
    ----------
    treatment : treatment column (0/1, boolean, or two values with ``treated=``).
    outcome : ``(time, event)`` for a Cox model, or a 0/1 outcome column for a logistic model.
    subgroup_vars : the subgroup columns (levels in categorical order, else sorted); rows with a
        missing subgroup value are left out of that variable's rows.
    model : "cox" or "logistic" (default: "cox" for a (time, event) outcome, else "logistic").
    adjust : covariates in every model (per level, and in the interaction models).
    weights : case-weight column (e.g. IPTW): robust variance, robust Wald interaction test.
    overall : add a first row with all patients (subgroup "Overall", level "All").

    Returns
    -------
    DataFrame with columns subgroup, level, n, events, measure ("HR" / "OR"), estimate, lower,
    upper, p, p_interaction, interaction_test, note; ``attrs["method"]`` states the models and tests.
    """
    if model is None:
        model = "cox" if isinstance(outcome, (tuple, list)) else "logistic"
    if model not in ("cox", "logistic"):
        raise StatsInputError(f"subgroups: model must be 'cox' or 'logistic', not {model!r}")
    if model == "cox":
        if not (isinstance(outcome, (tuple, list)) and len(outcome) == 2):
            raise StatsInputError("subgroups: a Cox model needs outcome=(time, event)")
        outcome_cols = list(outcome)
    else:
        if not isinstance(outcome, str):
            raise StatsInputError("subgroups: a logistic model needs outcome=<0/1 column>")
        outcome_cols = [outcome]
    if isinstance(subgroup_vars, str):
        subgroup_vars = [subgroup_vars]
    subgroup_vars = list(subgroup_vars)
    adjust = [] if adjust is None else ([adjust] if isinstance(adjust, str) else list(adjust))
    if not isinstance(df, pd.DataFrame):
        raise StatsInputError(f"subgroups: expected a pandas DataFrame, got {type(df).__name__}")
    need = [treatment, *outcome_cols, *subgroup_vars, *adjust] + ([weights] if weights else [])
    absent = [c for c in need if c not in df.columns]
    if absent:
        raise StatsInputError(f"subgroups: column(s) {absent} not found in the data")
    if not subgroup_vars and not overall:
        raise StatsInputError("subgroups: give at least one subgroup variable")
    clash = set(subgroup_vars) & ({treatment, *outcome_cols, *adjust})
    if clash:
        raise StatsInputError(f"subgroups: {sorted(clash)} cannot be both a subgroup and the treatment, "
                              "outcome or an adjustment covariate")
    core = [treatment, *outcome_cols, *adjust] + ([weights] if weights else [])
    complete = df[core].notna().all(axis=1)
    n_dropped = int((~complete).sum())
    data = df.loc[complete].copy()
    if len(data) == 0:
        raise StatsInputError("subgroups: no patient has the treatment, outcome and covariates all recorded")
    data[_T] = treatment_indicator(data[treatment], treatment, treated, "subgroups")
    if model == "logistic":
        y = pd.to_numeric(data[outcome], errors="coerce")
        if not y.isin([0, 1]).all():
            raise StatsInputError(f"subgroups: outcome column '{outcome}' must be 0/1")
        data[outcome] = y.astype(float)
    n_params = 1 + len(adjust) + (model == "logistic")
    measure = "HR" if model == "cox" else "OR"
    rows = []

    def one(frame, subgroup, level):
        ev_col = outcome[1] if model == "cox" else outcome
        rec = {"subgroup": subgroup, "level": level, "n": len(frame),
               "events": int(pd.to_numeric(frame[ev_col]).sum()) if len(frame) else 0, "measure": measure,
               "estimate": np.nan, "lower": np.nan, "upper": np.nan, "p": np.nan,
               "p_interaction": np.nan, "interaction_test": "", "note": ""}
        why = _blocker(frame, model, outcome, n_params)
        if why:
            rec["note"] = why
            return rec
        try:
            rec.update(_effect(frame, model, outcome, adjust, weights, conf_level))
        except StatsInputError as err:
            rec["note"] = str(err)
        return rec

    if overall:
        rows.append(one(data, "Overall", "All"))
    for var in subgroup_vars:
        sub = data.loc[data[var].notna()]
        levels = _levels(sub[var]) if len(sub) else []
        start = len(rows)
        for lev in levels:
            rows.append(one(sub.loc[(sub[var] == lev).to_numpy()], var, lev))
        if len(levels) < 2:
            note = "a single level: no subgroups to compare" if levels else "all values missing"
            if not levels:
                rows.append({**one(sub, var, "missing"), "note": note})
            else:
                rows[start]["note"] = rows[start]["note"] or note
            continue
        try:
            p_int, test = _interaction(sub, var, levels, model, outcome, adjust, weights)
        except StatsInputError as err:
            p_int, test = np.nan, f"not estimable: {err}"
        for r in rows[start:]:
            r["p_interaction"], r["interaction_test"] = p_int, test
    out = pd.DataFrame.from_records(rows, columns=_COLUMNS)
    out["level"] = out["level"].astype(str)
    what = ("Cox model, Efron ties" if model == "cox" else "logistic regression, Wald CI")
    out.attrs["method"] = (
        f"{what}; per subgroup level: {measure} of treatment{' adjusted for ' + ', '.join(adjust) if adjust else ''}"
        f"{'; weights ' + weights + ' with robust variance' if weights else ''}; interaction: "
        f"{'robust Wald test' if weights else 'likelihood-ratio test'} of treatment x subgroup; "
        f"{conf_level:.0%} CI; {n_dropped} row(s) with missing treatment/outcome/covariates left out")
    return out
