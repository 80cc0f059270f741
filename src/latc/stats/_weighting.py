"""Balancing weights: propensity-score weights (IPTW / ATT / ATC / overlap) and entropy balancing.

``method="glm"`` (default) — formulas as R's WeightIt (``weightit(method = "glm")``,
``get_w_from_ps``), with e = P(treated | X):

=========  ==================  ====================
estimand   treated             control
=========  ==================  ====================
ATE        1 / e               1 / (1 - e)
ATT        1                   e / (1 - e)
ATC        (1 - e) / e         1
ATO        1 - e               e
=========  ==================  ====================

``stabilize=True`` multiplies each weight by the proportion of patients in the patient's own group
(WeightIt's ``stabilize = TRUE``; Robins, Hernán & Brumback 2000), so stabilized ATE weights
average about 1 and the weighted sample keeps the original size.

``trim`` excludes patients outside the region of common support (weight 0; they stay in the
returned Series so rows line up):

* a float ``q`` in (0, 0.5): **asymmetric trimming by PS quantiles** (Stürmer et al., Am J
  Epidemiol 2010;172:843): exclude patients whose PS is below the ``q`` quantile of the treated
  patients' PS or above the ``1 - q`` quantile of the controls' PS (R ``quantile`` type 7);
* a pair ``(low, high)``: **fixed bounds** (Crump et al., Biometrika 2009 use (0.1, 0.9)):
  exclude patients with PS < low or PS > high.

Trimming changes the target population; report it with the estimate.

``truncate`` winsorizes large weights instead (Cole & Hernán, Am J Epidemiol 2008;168:656; R
WeightIt ``trim(w, at = q)``, whose name says "trim" for this operation): every weight above the
``q`` quantile (R ``quantile`` type 3) of the weights that can vary — all patients for the ATE and
ATO, the controls for the ATT (treated weights are all 1) — is set to that quantile. Nobody is
excluded; the target population is kept at the price of some bias.

``method="ebal"`` — **entropy balancing** (Hainmueller, Political Analysis 2012;20:25–46), as R's
WeightIt ``weightit(method = "ebal")``: no propensity model; the weights of the reweighted group
are the positive weights closest to the base weights q (default 1) in Kullback–Leibler divergence,
Σ w log(w / q), subject to **exact** moment constraints — the weighted means of the balance terms
equal the target group's means, and the weights sum to the target group's size:

=========  =============================  ==========================================
estimand   reweighted                     target means; weights sum to
=========  =============================  ==========================================
ATT        controls (treated weight 1)    treated means; n treated
ATC        treated (control weight 1)     control means; n controls
ATE        each group separately          whole-sample means; n (each group)
=========  =============================  ==========================================

The balance terms are the covariates as in the propensity model (a categorical covariate as
indicators of its non-reference levels) and, with ``moments=k``, the powers 2..k of every
continuous covariate (WeightIt's ``moments``; ``moments=2`` balances the second moments, hence the
variances too; binary terms get no powers). The solution is w_i = q_i exp(λ·(x_i − m)) scaled to the
required sum, λ minimising the convex dual log Σ q_i exp(λ·(x_i − m)) (Hainmueller 2012, eq. 5–6),
found by Newton's method with the analytic gradient (weighted mean of x − m) and Hessian (weighted
covariance of x) and a backtracking line search, on terms standardized by the reweighted group's SD.
Convergence means every standardized mean difference is below ``1e-10``. A target outside (or on
the edge of) the convex hull of the reweighted group's terms has no solution with positive
weights: that raises :class:`StatsInputError` naming the covariate(s).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc._compat import positional_deprecated
from latc.stats._errors import StatsInputError
from latc.stats._propensity import (_check_frame, _levels, design_matrix, propensity_values,
                                    treatment_indicator)

__all__ = ["weights"]

_METHODS = ("glm", "ebal")
_ESTIMANDS = {"glm": ("ATE", "ATT", "ATC", "ATO"), "ebal": ("ATE", "ATT", "ATC")}
EBAL_TOL = 1e-10      # largest standardized mean difference accepted as "exact" balance
EBAL_MAX_ITER = 200   # Newton steps; a feasible problem converges in well under 50


@positional_deprecated
def weights(df: pd.DataFrame, treatment: str, covariates: Sequence[str] | None = None,
            *, ps: str | pd.Series | np.ndarray | None = None, estimand: str = "ATE",
            stabilize: bool = False, trim: float | tuple[float, float] | None = None, truncate: float | None = None,
            treated: object | None = None, method: str = "glm", moments: int = 1,
            base_weights: str | pd.Series | np.ndarray | None = None) -> pd.Series:
    """Balancing weights: propensity-score weights (``method="glm"``) or entropy balancing (``"ebal"``).

    Parameters
    ----------
    df, treatment, covariates : as :func:`latc.stats.propensity` (or give ``ps``).
    ps : propensity scores (probabilities): column name, Series aligned on ``df`` or array
        (``method="glm"`` only).
    estimand : "ATE", "ATT", "ATC" or "ATO" (overlap weights; ``method="glm"`` only).
    stabilize : multiply by the proportion of the patient's group (WeightIt ``stabilize = TRUE``;
        ``method="glm"`` only).
    trim : None, a quantile ``q`` (Stürmer asymmetric trimming) or fixed PS bounds ``(low, high)``;
        excluded patients get weight 0 (``method="glm"`` only).
    truncate : None or a quantile ``q`` in (0.5, 1): weights above their ``q`` quantile are set to
        it (WeightIt ``trim(at = q)``; see the module docstring). Not combined with ``trim``.
    treated : the treated value when the treatment column is not 0/1 or logical.
    method : "glm" (propensity-score weights from a logistic model, WeightIt ``method = "glm"``) or
        "ebal" (entropy balancing, WeightIt ``method = "ebal"``; Hainmueller 2012).
    moments : ``method="ebal"``: the highest power of each continuous covariate whose mean is
        balanced (WeightIt ``moments``; 1 = means, 2 = means and variances).
    base_weights : ``method="ebal"``: positive base weights q of the reweighted patients (column
        name, Series aligned on ``df`` or array; WeightIt ``base.weights``); the weights are the
        closest to them in KL divergence. Default 1.

    Returns
    -------
    pd.Series named ``weights`` indexed like ``df``.

    Raises
    ------
    StatsInputError : one treatment group, missing values, a constant or collinear covariate;
        for "glm" perfect separation, PS of 0 or 1, no overlap between the groups' PS ranges, or
        trimming that leaves a group empty; for "ebal" a target mean outside the range (or the
        convex hull) of the reweighted group's covariates, naming the covariate.
    """
    method = str(method).lower()
    if method not in _METHODS:
        raise StatsInputError(f"weights: method must be one of {_METHODS}, not {method!r}")
    estimand = str(estimand).upper()
    if estimand not in _ESTIMANDS[method]:
        raise StatsInputError(f"weights: estimand must be one of {_ESTIMANDS[method]} with method={method!r}, "
                              f"not {estimand!r}")
    context = f"{estimand} weights" if method == "glm" else f"entropy balancing ({estimand})"
    _check_frame(df, [treatment], context)
    z = treatment_indicator(df[treatment], treatment, treated, context)
    t = z == 1
    if method == "ebal":
        given = [name for name, value in (("ps", ps), ("trim", trim)) if value is not None]
        given += ["stabilize"] if stabilize else []
        if given:
            raise StatsInputError(f"{context}: {', '.join(given)} belong(s) to propensity-score weights "
                                  "(method='glm'); entropy balancing uses the covariates directly")
        w = _ebal(df, t, covariates, estimand, moments, base_weights, context)
    else:
        if moments != 1 or base_weights is not None:
            raise StatsInputError(f"{context}: moments and base_weights belong to method='ebal'")
        w = _ps_weights(df, treatment, covariates, ps, treated, t, estimand, stabilize, trim, context)
    if truncate is not None:
        if trim is not None:
            raise StatsInputError(f"{context}: give trim (exclude patients) or truncate (cap weights), not both")
        if not (np.isscalar(truncate) and 0.5 < float(truncate) < 1):
            raise StatsInputError(f"{context}: truncate must be a quantile in (0.5, 1), not {truncate!r}")
        # the weights that vary: controls for the ATT, treated for the ATC, everyone otherwise
        vary = ~t if estimand == "ATT" else (t if estimand == "ATC" else np.ones(len(w), dtype=bool))
        cap = float(np.quantile(w[vary], float(truncate), method="closest_observation"))  # R type 3
        w = np.where(vary & (w > cap), cap, w)
    return pd.Series(w, index=df.index, name="weights")


def _ps_weights(df: pd.DataFrame, treatment: str, covariates: Sequence[str] | None,
                ps: str | pd.Series | np.ndarray | None, treated: object | None, t: np.ndarray, estimand: str,
                stabilize: bool, trim: float | tuple[float, float] | None, context: str) -> np.ndarray:
    """WeightIt's ``get_w_from_ps`` formulas, stabilization and trimming (module docstring)."""
    e = propensity_values(df, treatment, covariates, ps, treated, context)
    if e[t].max() <= e[~t].min() or e[~t].max() <= e[t].min():
        raise StatsInputError(f"{context}: the propensity score ranges of treated "
                              f"[{e[t].min():.3g}, {e[t].max():.3g}] and control "
                              f"[{e[~t].min():.3g}, {e[~t].max():.3g}] patients do not overlap")
    if estimand == "ATE":
        w = np.where(t, 1 / e, 1 / (1 - e))
    elif estimand == "ATT":
        w = np.where(t, 1.0, e / (1 - e))
    elif estimand == "ATC":
        w = np.where(t, (1 - e) / e, 1.0)
    else:
        w = np.where(t, 1 - e, e)
    if stabilize:
        p1 = t.mean()
        w = w * np.where(t, p1, 1 - p1)
    if trim is not None:
        if isinstance(trim, (tuple, list)) and len(trim) == 2:
            low, high = float(trim[0]), float(trim[1])
            if not 0 <= low < high <= 1:
                raise StatsInputError(f"{context}: trim bounds must satisfy 0 <= low < high <= 1, got {trim}")
        elif isinstance(trim, (int, float, np.floating)) and 0 < float(trim) < 0.5:
            q = float(trim)
            low = float(np.quantile(e[t], q))          # numpy "linear" = R quantile type 7
            high = float(np.quantile(e[~t], 1 - q))
        else:
            raise StatsInputError(f"{context}: trim must be a quantile in (0, 0.5) or a pair "
                                  f"(low, high), not {trim!r}")
        out = (e < low) | (e > high)
        w = np.where(out, 0.0, w)
        for group, mask in (("treated", t), ("control", ~t)):
            if not (w[mask] > 0).any():
                raise StatsInputError(f"{context}: trimming at PS [{low:.3g}, {high:.3g}] leaves no "
                                      f"{group} patient")
    return np.asarray(w, dtype=float)


# ------------------------------------------------------------------------------------------------
# entropy balancing (Hainmueller 2012; WeightIt weightit2ebal)
# ------------------------------------------------------------------------------------------------
def _balance_terms(df: pd.DataFrame, covariates: Sequence[str] | None, moments: int,
                   context: str) -> tuple[np.ndarray, list[str]]:
    """The balance terms (n × k) and a readable name for each: numeric covariates as they are, a
    logical one as 0/1, a categorical one as indicators of its non-reference levels, and with
    ``moments`` > 1 the standardized powers 2..moments of each non-binary term."""
    if isinstance(moments, bool) or not isinstance(moments, (int, np.integer)) or moments < 1:
        raise StatsInputError(f"{context}: moments must be a whole number >= 1, not {moments!r}")
    covariates = list(covariates or [])
    if not covariates:
        raise StatsInputError(f"{context}: give the covariates to balance")
    _check_frame(df, covariates, context)
    design_matrix(df, covariates, context)          # constant / infinite / collinear covariates
    cols: list[np.ndarray] = []
    names: list[str] = []
    for c in covariates:
        x = df[c]
        numeric = pd.api.types.is_numeric_dtype(x) and not isinstance(x.dtype, pd.CategoricalDtype)
        if x.dtype == bool or numeric:
            v = x.to_numpy(dtype=float)
            cols.append(v)
            names.append(f"'{c}'")
            if moments > 1 and len(np.unique(v)) > 2:
                u = (v - v.mean()) / v.std()       # powers of the standardized covariate: same span, better scaled
                for k in range(2, int(moments) + 1):
                    cols.append(u ** k)
                    names.append(f"'{c}'^{k}")
        else:
            for level in _levels(x)[1:]:
                cols.append((x == level).to_numpy(dtype=float))
                names.append(f"'{c}' = {level!r}")
    return np.column_stack(cols), names


def _base(df: pd.DataFrame, base_weights: str | pd.Series | np.ndarray | None, context: str) -> np.ndarray:
    if base_weights is None:
        return np.ones(len(df))
    if isinstance(base_weights, str):
        _check_frame(df, [base_weights], context)
        q = pd.to_numeric(df[base_weights]).to_numpy(dtype=float)
        what = f"base weights '{base_weights}'"
    elif isinstance(base_weights, pd.Series):
        if not base_weights.index.equals(df.index):
            raise StatsInputError(f"{context}: base_weights must be indexed like df")
        q = base_weights.to_numpy(dtype=float)
        what = "base_weights"
    else:
        q = np.asarray(base_weights, dtype=float)
        what = "base_weights"
        if q.shape != (len(df),):
            raise StatsInputError(f"{context}: base_weights has {q.size} values for {len(df)} rows")
    if not (np.isfinite(q) & (q > 0)).all():
        raise StatsInputError(f"{context}: {what} must be positive and finite "
                              f"({int((~(np.isfinite(q) & (q > 0))).sum())} are not)")
    return q


def _ebal(df: pd.DataFrame, t: np.ndarray, covariates: Sequence[str] | None, estimand: str, moments: int,
          base_weights: str | pd.Series | np.ndarray | None, context: str) -> np.ndarray:
    X, names = _balance_terms(df, covariates, moments, context)
    q = _base(df, base_weights, context)
    w = np.ones(len(df))
    if estimand == "ATT":
        plan = [(~t, X[t].mean(axis=0), float(t.sum()), "control", "treated")]
    elif estimand == "ATC":
        plan = [(t, X[~t].mean(axis=0), float((~t).sum()), "treated", "control")]
    else:
        m = X.mean(axis=0)
        plan = [(~t, m, float(len(t)), "control", "whole-sample"), (t, m, float(len(t)), "treated", "whole-sample")]
    for mask, target, total, group, target_name in plan:
        w[mask] = total * _entropy_balance(X[mask], target, q[mask], names, context=context, group=group,
                                           target_name=target_name)
    return w


def _entropy_balance(X: np.ndarray, target: np.ndarray, q: np.ndarray, names: list[str], *, context: str,
                     group: str, target_name: str, tol: float = EBAL_TOL,
                     max_iter: int = EBAL_MAX_ITER) -> np.ndarray:
    """Weights p (summing to 1) minimising Σ p log(p / q) subject to Σ p x = ``target``.

    Dual (Hainmueller 2012, eq. 5–6): p_i ∝ q_i exp(λ·z_i), z = (x − target) / sd, λ minimising the
    convex L(λ) = log Σ q_i exp(λ·z_i), whose gradient is the p-weighted mean of z (zero at the
    solution: exact balance) and Hessian the p-weighted covariance of z. Newton steps (least-squares
    solve, so redundant terms do no harm) with Armijo backtracking.
    """
    sd = X.std(axis=0)
    for j, name in enumerate(names):
        lo, hi = X[:, j].min(), X[:, j].max()
        if sd[j] == 0 and abs(X[0, j] - target[j]) <= 1e-12 * max(1.0, abs(target[j])):
            continue                                      # constant at the target: nothing to balance
        if not lo < target[j] < hi:
            raise StatsInputError(
                f"{context}: covariate {name}: the {target_name} mean {target[j]:.6g} is outside the range "
                f"[{lo:.6g}, {hi:.6g}] of the {group} patients' values (or on its edge), so no positive weights "
                "can balance it; drop or coarsen the covariate, or use fewer moments")
    keep = sd > 0
    Z = (X[:, keep] - target[keep]) / sd[keep]
    kept = [n for n, k in zip(names, keep) if k]
    logq = np.log(q / q.sum())

    def dual(lam: np.ndarray) -> tuple[float, np.ndarray]:
        eta = logq + Z @ lam
        top = eta.max()
        e = np.exp(eta - top)
        s = e.sum()
        return float(top + np.log(s)), e / s

    def solved(lam: np.ndarray, p: np.ndarray) -> np.ndarray:
        # a target on the edge of the hull is reached only in the limit, with some weights -> 0
        if p.min() * len(p) < 1e-9:
            drive = ", ".join(kept[j] for j in np.argsort(-np.abs(lam))[:3])
            raise StatsInputError(
                f"{context}: the {target_name} means lie on the edge of the convex hull of the {group} "
                f"patients' covariates: exact balance needs some weights of 0 (driven by {drive}); drop or "
                "coarsen a covariate, or use fewer moments")
        return p

    lam = np.zeros(Z.shape[1])
    value, p = dual(lam)
    g = Z.T @ p
    for _ in range(max_iter):
        if np.max(np.abs(g)) < tol:
            return solved(lam, p)
        H = (Z * p[:, None]).T @ Z - np.outer(g, g)
        step = -np.linalg.lstsq(H, g, rcond=None)[0]
        slope = float(g @ step)
        if not slope < 0:
            break
        size = 1.0
        while True:
            new_value, new_p = dual(lam + size * step)
            if new_value <= value + 1e-4 * size * slope or size < 1e-10:
                break
            size /= 2
        if size < 1e-10 or not np.isfinite(new_value):
            break
        lam = lam + size * step
        value, p = new_value, new_p
        g = Z.T @ p
    if np.max(np.abs(g)) < tol:
        return solved(lam, p)
    worst = np.argsort(-np.abs(g))[:3]
    detail = ", ".join(f"{kept[j]} (standardized difference {g[j]:.2g})" for j in worst if abs(g[j]) >= tol)
    raise StatsInputError(
        f"{context}: no convergence: the {target_name} means cannot be reached with "
        f"positive weights on the {group} patients — they lie outside (or on the edge of) the convex hull of "
        f"those patients' covariates; worst: {detail}. Drop or coarsen a covariate, or use fewer moments")
