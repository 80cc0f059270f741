"""Propensity score: logistic regression of treatment on baseline covariates.

Matches R's ``glm(treatment ~ covariates, family = binomial)`` (the model behind MatchIt's
``distance = "glm"`` and WeightIt's ``method = "glm"``): a categorical covariate enters with
treatment contrasts (first level = reference, levels sorted unless the column is a pandas
Categorical, whose category order is kept, as R keeps a factor's level order), a logical covariate
as 0/1. The fit is statsmodels' GLM (binomial family, logit link, IRLS) — the same estimator as R.

Degenerate input — one treatment group only, missing values, a constant covariate, collinear
covariates, (quasi-)perfect separation — raises :class:`StatsInputError` naming the column, never
a silent NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc.stats._errors import StatsInputError

__all__ = ["propensity", "treatment_indicator", "design_matrix"]

# R's glm warns "fitted probabilities numerically 0 or 1 occurred" below 10 * .Machine$double.eps.
_SEPARATION_EPS = 10 * np.finfo(float).eps


def _check_frame(df: pd.DataFrame, columns: Sequence[str], context: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise StatsInputError(f"{context}: expected a pandas DataFrame, got {type(df).__name__}")
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise StatsInputError(f"{context}: column(s) {absent} not found in the data")
    if len(df) == 0:
        raise StatsInputError(f"{context}: the data has no rows")
    na = df[list(columns)].isna().sum()
    na = na[na > 0]
    if len(na):
        detail = ", ".join(f"'{c}' ({n} rows)" for c, n in na.items())
        raise StatsInputError(f"{context}: missing values in {detail}; impute them (latc.stats.impute) "
                              "or restrict to complete cases before this step")


def treatment_indicator(values: pd.Series, column: str, treated: object | None = None,
                        context: str = "propensity score") -> np.ndarray:
    """Return the treatment as a 0/1 integer array (1 = treated).

    Accepted codings: booleans, numbers 0/1, or any two distinct values together with
    ``treated=`` naming the treated value (e.g. ``treated="neoadjuvant"``).
    """
    if treated is not None:
        seen = set(pd.unique(values))
        if treated not in seen:
            raise StatsInputError(f"{context}: treated value {treated!r} does not occur in '{column}' "
                                  f"(values: {sorted(map(str, seen))})")
        if len(seen) > 2:
            raise StatsInputError(f"{context}: treatment column '{column}' must have two values, "
                                  f"found {len(seen)}: {sorted(map(str, seen))[:6]}")
        z = (values == treated).to_numpy(dtype=int)
    elif values.dtype == bool:
        z = values.to_numpy(dtype=int)
    else:
        try:
            num = pd.to_numeric(values).to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise StatsInputError(
                f"{context}: treatment column '{column}' is not 0/1; pass treated=<the treated value> "
                f"(values: {sorted(map(str, pd.unique(values)))[:6]})") from None
        if not np.isin(num, (0.0, 1.0)).all():
            raise StatsInputError(f"{context}: treatment column '{column}' must be 0/1 or True/False, "
                                  "or pass treated=<the treated value>")
        z = num.astype(int)
    n1 = int(z.sum())
    if n1 == 0 or n1 == len(z):
        group = "treated" if n1 == len(z) else "control"
        raise StatsInputError(f"{context}: only the {group} group is present in '{column}' "
                              f"({len(z)} rows); a comparison needs both groups")
    return z


def _levels(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if (values == c).any()]
    return sorted(pd.unique(values), key=lambda v: (str(type(v)), v))


def design_matrix(df: pd.DataFrame, covariates: Sequence[str],
                  context: str = "propensity score") -> pd.DataFrame:
    """R-style ``model.matrix`` with an intercept: numeric as is, logical as 0/1, categorical
    with treatment contrasts (columns named ``<variable><level>`` as R names them)."""
    parts: dict[str, np.ndarray] = {"(Intercept)": np.ones(len(df))}
    for col in covariates:
        x = df[col]
        if x.nunique(dropna=True) < 2:
            raise StatsInputError(f"{context}: covariate '{col}' is constant ({x.iloc[0]!r} in every "
                                  "row); it carries no information — drop it")
        if x.dtype == bool:
            parts[col] = x.to_numpy(dtype=float)
        elif pd.api.types.is_numeric_dtype(x) and not isinstance(x.dtype, pd.CategoricalDtype):
            v = x.to_numpy(dtype=float)
            if not np.isfinite(v).all():
                raise StatsInputError(f"{context}: covariate '{col}' has infinite values")
            parts[col] = v
        else:
            for level in _levels(x)[1:]:
                parts[f"{col}{level}"] = (x == level).to_numpy(dtype=float)
    X = pd.DataFrame(parts, index=df.index)
    rank = np.linalg.matrix_rank(X.to_numpy())
    if rank < X.shape[1]:
        raise StatsInputError(f"{context}: the covariates are collinear (design matrix rank {rank} < "
                              f"{X.shape[1]} columns: {list(X.columns)}); drop a redundant covariate")
    return X


def propensity(df: pd.DataFrame, treatment: str, covariates: Sequence[str], *,
               scale: str = "probability", treated: object | None = None) -> pd.Series:
    """Propensity score by logistic regression, as R's ``glm(..., family = binomial)``.

    Parameters
    ----------
    df : one row per patient.
    treatment : the treatment column (0/1, bool, or two values with ``treated=``).
    covariates : baseline covariates (numeric, logical or categorical).
    scale : ``"probability"`` (default; R ``fitted()`` / ``predict(type = "response")``) or
        ``"logit"`` for the linear predictor (R ``predict(type = "link")``; MatchIt's
        ``link = "linear.logit"`` distance).

    Returns
    -------
    pd.Series named ``propensity_score`` (or ``logit_propensity_score``) indexed like ``df``.
    """
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning, ConvergenceWarning

    if scale not in ("probability", "logit"):
        raise StatsInputError(f"scale must be 'probability' or 'logit', not {scale!r}")
    covariates = list(covariates)
    if not covariates:
        raise StatsInputError("propensity score: give at least one covariate")
    _check_frame(df, [treatment, *covariates], "propensity score")
    z = treatment_indicator(df[treatment], treatment, treated)
    X = design_matrix(df, covariates)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            fit = GLM(z, X.to_numpy(), family=families.Binomial()).fit(tol=1e-10, maxiter=100)
        except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError, ValueError) as err:
            raise StatsInputError(
                "propensity score: the logistic model cannot be fitted — perfect (or quasi-perfect) "
                "separation: some covariate pattern predicts treatment exactly, so treated and control "
                f"patients do not overlap ({type(err).__name__})") from None
    eta = X.to_numpy() @ fit.params
    p = 1.0 / (1.0 + np.exp(-eta))
    if (p < _SEPARATION_EPS).any() or (p > 1 - _SEPARATION_EPS).any():
        raise StatsInputError(
            "propensity score: fitted probabilities numerically 0 or 1 (perfect separation); "
            "treated and control patients do not overlap on these covariates")
    if scale == "logit":
        return pd.Series(eta, index=df.index, name="logit_propensity_score")
    return pd.Series(p, index=df.index, name="propensity_score")


def propensity_values(df, treatment, covariates, ps, treated, context) -> np.ndarray:
    """Propensity scores from ``ps`` (column name, Series or array; checked in (0, 1)) or, when
    ``ps`` is None, fitted on ``covariates`` — shared by matching and weighting."""
    if ps is None:
        if not covariates:
            raise StatsInputError(f"{context}: give covariates (to fit the propensity model) or ps")
        return propensity(df, treatment, covariates, treated=treated).to_numpy()
    if isinstance(ps, str):
        _check_frame(df, [ps], context)
        p = pd.to_numeric(df[ps]).to_numpy(dtype=float)
    elif isinstance(ps, pd.Series):
        if not ps.index.equals(df.index):
            raise StatsInputError(f"{context}: ps must be indexed like df")
        p = ps.to_numpy(dtype=float)
    else:
        p = np.asarray(ps, dtype=float)
        if p.shape != (len(df),):
            raise StatsInputError(f"{context}: ps has {p.size} values for {len(df)} rows")
    if np.isnan(p).any():
        raise StatsInputError(f"{context}: the propensity score has {int(np.isnan(p).sum())} missing values")
    if ((p <= 0) | (p >= 1)).any():
        raise StatsInputError(f"{context}: propensity scores must lie strictly between 0 and 1 "
                              "(a score of 0 or 1 means no overlap: the weight would be infinite)")
    return p
