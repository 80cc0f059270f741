"""Multiple imputation by chained equations, and pooling by Rubin's rules.

:func:`impute` follows R ``mice`` (van Buuren & Groothuis-Oudshoorn, J Stat Softw 2011;45(3)):

* every incomplete column is imputed in turn, left to right, for ``maxit`` iterations, from all the
  other columns (current completed values; categorical predictors as treatment dummies), starting
  from random draws of the observed values;
* defaults per column type, as ``mice``: numeric → ``"pmm"`` (predictive mean matching: a Bayesian
  linear-regression draw, ridge 1e-5, then a random pick among the 5 observed donors whose
  predicted means — β̂ for donors, β* for recipients, mice's ``matchtype = 1`` — are closest);
  two-level → ``"logreg"`` (logistic regression, coefficients drawn from their approximate
  posterior N(β̂, V̂)); unordered categorical with more levels → ``"polyreg"`` (multinomial
  logistic regression, category drawn from the fitted probabilities). Ordered categoricals are
  treated as unordered (mice would use ``polr``);
* ``survival=(time, event)``: the time column is not used as a predictor; instead the event
  indicator and the Nelson–Aalen cumulative hazard H(T) at each patient's time are (White &
  Royston, Stat Med 2009;28:1982). H(T) is computed like ``mice::nelsonaalen`` (the baseline
  hazard of a null ``coxph``, Efron ties: Σ 1/(n − k) over the d tied events).

Draws are random and cannot reproduce mice draw for draw; a seed makes them reproducible. Each
imputed data set ``i`` (1-based) draws from its own stream, ``SeedSequence(seed).spawn(...)[i − 1]``
(numpy), so data set ``i`` is the same whatever ``m`` is and whichever process makes it:
``n_jobs`` (worker processes, joblib/loky) never changes a result, and more imputations can be
added to a pilot run later (:func:`impute_fit` with ``start``) — what von Hippel's two-stage rule
(:func:`how_many_imputations`) needs.

:func:`pool` applies Rubin's rules exactly as ``mice::pool()`` (rule "rubin1987"): Q̄, Ū, B,
T = Ū + (1 + 1/m)B, riv, λ, Barnard–Rubin (1999) degrees of freedom with the complete-data
df (``dfcom``), fmi = (riv + 2/(df + 3))/(riv + 1), t-based CI and p as ``summary(pool(.))``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit
from scipy.stats import norm
from scipy.stats import t as t_dist

from latc._compat import positional_deprecated

from ._errors import StatsInputError

__all__ = ["ImputedData", "ImputedFits", "PoolTerms", "impute", "impute_fit", "pool", "nelson_aalen",
           "how_many_imputations", "ImputationsNeeded"]

_METHODS = ("pmm", "logreg", "polyreg")
_DONORS = 5
_RIDGE = 1e-5          # mice .norm.draw ridge
_PRIOR = 0.1           # ridge on standardized logistic coefficients: a N(0, 10) prior that keeps
                       # estimates finite under separation (mice adds pseudo-observations instead)


# ----------------------------------------------------------------------------------------------
# Nelson–Aalen
# ----------------------------------------------------------------------------------------------
def nelson_aalen(time, event) -> np.ndarray:
    """Cumulative hazard H(tᵢ) at each row's own time, as ``mice::nelsonaalen`` (Efron ties)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    u, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, e, minlength=len(u))
    n_at = np.cumsum(np.bincount(inv, minlength=len(u))[::-1])[::-1].astype(float)
    # Σ_{k=0}^{d-1} 1/(n − k) per time, d small: expand the tied events
    di = d.astype(np.int64)
    step_t = np.repeat(np.arange(len(u)), di)
    k = np.arange(di.sum()) - np.repeat(np.cumsum(di) - di, di)
    inc = np.bincount(step_t, 1.0 / (n_at[step_t] - k), minlength=len(u))
    return np.cumsum(inc)[inv]


# ----------------------------------------------------------------------------------------------
# the imputed data object
# ----------------------------------------------------------------------------------------------
@dataclass
class ImputedData:
    """m completed data sets and how they were made.

    ``datasets`` — list of m completed DataFrames (same index, columns and dtypes as the input);
    ``where`` — boolean DataFrame of the imputed cells; ``method`` — imputation method per column
    ("" = complete, not imputed); ``predictors`` — the predictors of each imputed column.
    """

    datasets: list[pd.DataFrame]
    original: pd.DataFrame
    where: pd.DataFrame
    method: dict[str, str]
    predictors: dict[str, list[str]]
    m: int
    maxit: int
    seed: int
    survival: tuple[str, str] | None = None
    chain_means: pd.DataFrame = field(default=None, repr=False)

    def fit(self, fn: Callable[[pd.DataFrame], object], *, n_jobs: int | None = 1) -> list:
        """Apply an analysis function to each completed data set (R ``with(imp, ...)``), in order;
        ``n_jobs`` worker processes (None = every CPU) — the fits do not depend on it."""
        n = _workers(n_jobs, len(self.datasets))
        if n <= 1:
            return [fn(d) for d in self.datasets]
        from joblib import Parallel, delayed

        return Parallel(n_jobs=n, backend="loky")(delayed(fn)(d) for d in self.datasets)

    def long(self) -> pd.DataFrame:
        """Stacked completed data with ``.imp`` (1..m) and ``.id`` columns (R ``complete(imp, "long")``)."""
        parts = []
        for i, d in enumerate(self.datasets, start=1):
            parts.append(d.assign(**{".imp": i, ".id": d.index}))
        out = pd.concat(parts, ignore_index=True)
        return out[[".imp", ".id", *self.original.columns]]


# ----------------------------------------------------------------------------------------------
# per-column models
# ----------------------------------------------------------------------------------------------
def _kind(s: pd.Series) -> str:
    if s.dtype == bool or isinstance(s.dtype, pd.BooleanDtype):
        return "logreg"
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
        n = s.dropna().nunique() if not isinstance(s.dtype, pd.CategoricalDtype) else len(s.cat.categories)
        return "logreg" if n <= 2 else "polyreg"
    return "pmm"


def _norm_draw(X: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    """mice .norm.draw: ridge least squares, σ* from χ², β* = β̂ + chol(V) z σ*."""
    xtx = X.T @ X
    pen = _RIDGE * np.diag(xtx)
    v = np.linalg.inv(xtx + np.diag(pen))
    v = (v + v.T) / 2
    coef = v @ (X.T @ y)
    resid = y - X @ coef
    dof = max(len(y) - X.shape[1], 1)
    sigma = np.sqrt(resid @ resid / rng.chisquare(dof))
    try:
        L = np.linalg.cholesky(v)
    except np.linalg.LinAlgError:
        L = np.linalg.cholesky(v + 1e-10 * np.eye(len(v)) * np.trace(v))
    beta = coef + (L @ rng.standard_normal(X.shape[1])) * sigma
    return coef, beta


def _pmm(X_obs, y_obs, X_mis, rng):
    coef, beta = _norm_draw(X_obs, y_obs, rng)
    yhat_obs = X_obs @ coef
    yhat_mis = X_mis @ beta
    order = np.argsort(yhat_obs, kind="stable")
    sorted_hat = yhat_obs[order]
    n_obs = len(sorted_hat)
    k = min(_DONORS, n_obs)
    # candidates: the k nearest on each side of the insertion point (2k window holds the k nearest)
    pos = np.searchsorted(sorted_hat, yhat_mis)
    offs = np.arange(-k, k)
    cand = np.clip(pos[:, None] + offs[None, :], 0, n_obs - 1)
    dist = np.abs(sorted_hat[cand] - yhat_mis[:, None])
    # duplicated candidates (clipped at the ends) must not count twice
    dup = np.zeros_like(dist, dtype=bool)
    dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
    dist = np.where(dup, np.inf, dist)
    dist = dist + rng.uniform(0, 1e-10, dist.shape) * (np.abs(dist).min(axis=1, keepdims=True) + 1e-300)
    nearest = np.argpartition(dist, k - 1, axis=1)[:, :k]
    pick = nearest[np.arange(len(pos)), rng.integers(0, k, len(pos))]
    return y_obs[order[cand[np.arange(len(pos)), pick]]]


def _standardize(X_obs: np.ndarray, X_mis: np.ndarray):
    """Centre and scale the non-intercept columns on the observed rows (fits become well scaled)."""
    mu = X_obs[:, 1:].mean(axis=0)
    sd = X_obs[:, 1:].std(axis=0)
    sd[sd == 0] = 1.0
    f = lambda X: np.c_[X[:, :1], (X[:, 1:] - mu) / sd]  # noqa: E731
    return f(X_obs), f(X_mis)


def _logistic_fit(X, y, start=None):
    """Newton–Raphson for logistic regression with a ridge on the slopes; returns β̂ and V̂ = H⁻¹.

    ``start`` warm-starts from the previous iteration's β̂ of the same column (the chained
    equations change the data little between iterations: 2–3 Newton steps instead of ~7 — the
    logistic fits are most of an imputation's time). V̂ is the inverse Hessian at the last step's
    starting point (the step is below 1e-8 there)."""
    p = X.shape[1]
    beta = start.copy() if start is not None and start.shape == (p,) else np.zeros(p)
    pen = _PRIOR * np.r_[0.0, np.ones(p - 1)]
    for _ in range(100):
        mu = expit(X @ beta)
        H = (X * (mu * (1 - mu))[:, None]).T @ X + np.diag(pen)
        g = X.T @ (y - mu) - pen * beta
        step = np.linalg.lstsq(H, g, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta, np.linalg.pinv(H)


def _logreg(X_obs, y_obs, X_mis, rng, start=None):
    """Draws for a two-level column (mice ``logreg``); returns (draws, β̂) — β̂ warm-starts the next
    iteration's fit."""
    X_obs, X_mis = _standardize(X_obs, X_mis)
    beta, V = _logistic_fit(X_obs, y_obs.astype(float), start)
    V = (V + V.T) / 2
    try:
        L = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        L = np.linalg.cholesky(V + 1e-10 * np.eye(len(V)) * np.trace(V))
    star = beta + L @ rng.standard_normal(len(beta))
    return (rng.uniform(size=len(X_mis)) <= expit(X_mis @ star)).astype(float), beta


def _softmax(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mx = eta.max(axis=1, keepdims=True)
    e = np.exp(eta - mx)
    s = e.sum(axis=1, keepdims=True)
    return e / s, (np.log(s) + mx)[:, 0]


def _polyreg(X_obs, y_obs, X_mis, n_levels, rng, start=None):
    """Multinomial logit (first level reference), category drawn from the fitted probabilities
    (as mice's ``polyreg``). ``start`` warm-starts from the previous iteration's fit; returns
    (draws, coefficients)."""
    X_obs, X_mis = _standardize(X_obs, X_mis)
    p = X_obs.shape[1]
    K = n_levels
    rows = np.arange(len(y_obs))
    yi = y_obs.astype(int)
    pen = _PRIOR

    def nll(theta):
        T = theta.reshape(p, K - 1)
        eta = np.zeros((len(yi), K))
        eta[:, 1:] = X_obs @ T
        P, lse = _softmax(eta)
        val = -(eta[rows, yi].sum() - lse.sum()) + 0.5 * pen * np.sum(T[1:] ** 2)   # intercepts unpenalised
        P[rows, yi] -= 1.0
        g = (X_obs.T @ P[:, 1:])
        g[1:] += pen * T[1:]
        return val, g.ravel()

    x0 = start if start is not None and start.shape == (p * (K - 1),) else np.zeros(p * (K - 1))
    res = minimize(nll, x0, jac=True, method="L-BFGS-B")
    eta = np.zeros((len(X_mis), K))
    eta[:, 1:] = X_mis @ res.x.reshape(p, K - 1)
    P, _ = _softmax(eta)
    u = rng.uniform(size=len(X_mis))[:, None]
    return np.minimum((np.cumsum(P, axis=1) < u).sum(axis=1), K - 1).astype(float), res.x


# ----------------------------------------------------------------------------------------------
# encoding
# ----------------------------------------------------------------------------------------------
class _Column:
    """A column as numbers: codes for categoricals (with their levels), floats otherwise."""

    def __init__(self, s: pd.Series, kind: str):
        self.name, self.kind, self.dtype = s.name, kind, s.dtype
        self.missing = s.isna().to_numpy()
        self.levels: list[Any] | None
        if kind == "pmm":
            self.levels = None
            self.values = s.to_numpy(dtype=float, na_value=np.nan)
        else:
            if isinstance(s.dtype, pd.CategoricalDtype):
                cat = s.cat
                levels = list(cat.categories)
                codes = cat.codes.to_numpy().astype(float)
            elif s.dtype == bool or isinstance(s.dtype, pd.BooleanDtype):
                levels, codes = [False, True], s.astype(float).to_numpy(dtype=float, na_value=np.nan).copy()
            else:
                levels = sorted(pd.unique(s.dropna()))
                codes = pd.Categorical(s, categories=levels).codes.astype(float)
            codes[codes < 0] = np.nan
            self.levels = levels
            self.values = codes

    @property
    def n_levels(self) -> int:
        """Number of categories (0 for a numeric column)."""
        return 0 if self.levels is None else len(self.levels)

    def dummies(self, v: np.ndarray) -> np.ndarray:
        if self.levels is None:
            return v[:, None]
        if len(self.levels) <= 2:
            return (v == 1).astype(float)[:, None]
        return (v[:, None] == np.arange(1, len(self.levels))[None, :]).astype(float)

    def restore(self, v: np.ndarray, template: pd.Series) -> pd.Series:
        if self.levels is None:
            out = pd.Series(v, index=template.index, name=self.name)
            # PMM returns observed values, so an integer column stays integer
            return out.astype(self.dtype) if pd.api.types.is_integer_dtype(self.dtype) else out
        idx = v.astype(int)
        if isinstance(self.dtype, pd.CategoricalDtype):
            return pd.Series(pd.Categorical.from_codes(idx, dtype=self.dtype), index=template.index, name=self.name)
        vals = np.asarray(self.levels, dtype=object)[idx]
        if self.dtype == bool or isinstance(self.dtype, pd.BooleanDtype):
            return pd.Series(vals.astype(bool), index=template.index, name=self.name).astype(self.dtype)
        return pd.Series(vals, index=template.index, name=self.name).astype(self.dtype)


def _check_sizes(df: pd.DataFrame, m: int, maxit: int) -> None:
    """The data is a DataFrame of at least two rows with unique column names; m ≥ 2, maxit ≥ 1."""
    if not isinstance(df, pd.DataFrame):
        raise StatsInputError(f"impute: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) < 2:
        raise StatsInputError("impute: the data has fewer than two rows")
    if not isinstance(m, (int, np.integer)) or m < 2:
        raise StatsInputError(f"impute: m must be an integer ≥ 2 (got {m!r}); Rubin's rules need at least 2")
    if not isinstance(maxit, (int, np.integer)) or maxit < 1:
        raise StatsInputError(f"impute: maxit must be an integer ≥ 1 (got {maxit!r})")
    if df.columns.duplicated().any():
        raise StatsInputError("impute: duplicated column names")


def _survival_terms(df: pd.DataFrame, survival: tuple[str, str] | None) -> tuple[dict[str, np.ndarray], set[str]]:
    """White & Royston's survival predictors: ({"nelson_aalen": H(T)}, {time column}) — the extra
    predictor columns and the columns left out as predictors; empty without ``survival``."""
    aux: dict[str, np.ndarray] = {}
    skip_as_predictor: set[str] = set()
    if survival is None:
        return aux, skip_as_predictor
    if len(survival) != 2:
        raise StatsInputError("impute: survival must be a (time, event) pair of column names")
    time_col, event_col = survival
    absent = [c for c in survival if c not in df.columns]
    if absent:
        raise StatsInputError(f"impute: survival column(s) {absent} not found in the data")
    for c in survival:
        if df[c].isna().any():
            raise StatsInputError(f"impute: survival column '{c}' has {int(df[c].isna().sum())} missing "
                                  "values; the outcome itself is not imputed")
    ev = pd.to_numeric(df[event_col], errors="coerce")
    if not ev.isin([0, 1]).all():
        raise StatsInputError(f"impute: event column '{event_col}' must be 0/1")
    aux["nelson_aalen"] = nelson_aalen(df[time_col], ev)
    skip_as_predictor.add(time_col)
    return aux, skip_as_predictor


def _column_kinds(df: pd.DataFrame) -> dict[str, str]:
    """The default method of every column (mice's defaults by type); a column with no observed
    value cannot be imputed."""
    kinds: dict[str, str] = {}
    for c in df.columns:
        s = df[c]
        n_obs = int(s.notna().sum())
        if n_obs == 0:
            raise StatsInputError(f"impute: column '{c}' has no observed value; it cannot be imputed — drop it")
        kinds[c] = _kind(s)
    return kinds


def _check_methods(method: dict[str, str], kinds: dict[str, str]) -> None:
    """The per-column overrides name known columns and methods that fit the column's type."""
    for c, meth in method.items():
        if c not in kinds:
            raise StatsInputError(f"impute: method given for unknown column '{c}'")
        if meth not in _METHODS and meth != "":
            raise StatsInputError(f"impute: method for '{c}' must be one of {list(_METHODS)}, not {meth!r}")
        if meth == "pmm" and kinds[c] != "pmm":
            raise StatsInputError(f"impute: '{c}' is categorical; pmm needs a numeric column")
        if meth in ("logreg", "polyreg") and kinds[c] == "pmm":
            raise StatsInputError(f"impute: '{c}' is numeric; convert it to a categorical for {meth}")


def _check_categorical_models(columns: dict[str, _Column], use_method: dict[str, str]) -> None:
    """A logreg column has at most two levels; a column imputed by logreg or polyreg has at least
    two observed levels."""
    for c, col in columns.items():
        if use_method[c] == "logreg" and col.n_levels > 2:
            raise StatsInputError(f"impute: '{c}' has {col.n_levels} levels; use polyreg")
        if use_method[c] in ("logreg", "polyreg"):
            observed = np.unique(col.values[~col.missing])
            if len(observed) < 2:
                raise StatsInputError(f"impute: categorical column '{c}' has a single observed level; "
                                      "there is nothing to model — fill it or drop it")


def _predictor_sets(targets: list[str], cols: list[str], predictors: dict[str, Sequence[str]] | None,
                    skip_as_predictor: set[str]) -> dict[str, list[str]]:
    """The predictors of each imputed column: ``predictors[c]`` when given (checked), else every
    other column except the survival time."""
    pred_sets: dict[str, list[str]] = {}
    for c in targets:
        if predictors and c in predictors:
            bad = [p for p in predictors[c] if p not in cols or p == c]
            if bad:
                raise StatsInputError(f"impute: invalid predictor(s) {bad} for '{c}'")
            pred_sets[c] = list(predictors[c])
        else:
            pred_sets[c] = [p for p in cols if p != c and p not in skip_as_predictor]
    return pred_sets


@dataclass
class _Chains:
    """What the chained equations run on: the encoded columns, the imputed ones (in order) with
    their method and predictors, and the extra (survival) predictor columns."""

    columns: dict[str, _Column]
    targets: list[str]
    use_method: dict[str, str]
    pred_sets: dict[str, list[str]]
    aux: dict[str, np.ndarray]

    def design(self, c: str, cur: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(X_obs, X_mis) of column ``c``'s model on the current completed values: intercept, the
        predictors (categoricals as dummies), the extra predictors; constant columns dropped."""
        col = self.columns[c]
        n = len(col.values)
        blocks = [np.ones((n, 1))]
        for p in self.pred_sets[c]:
            blocks.append(self.columns[p].dummies(cur[p]))
        blocks.extend(a[:, None] for a in self.aux.values())
        X = np.hstack(blocks)
        # drop constant predictor columns (mice removes them too)
        keep = np.r_[True, np.ptp(X[~col.missing, 1:], axis=0) > 0]
        X = X[:, keep]
        return X[~col.missing], X[col.missing]

    def draw(self, c: str, cur: dict[str, np.ndarray], warm: dict[str, np.ndarray],
             rng: np.random.Generator) -> np.ndarray:
        """New draws for the missing cells of ``c`` by its method (logreg and polyreg warm-start from
        ``warm``, the column's previous fit in this imputation's chain)."""
        col = self.columns[c]
        X_obs, X_mis = self.design(c, cur)
        y_obs = col.values[~col.missing]
        meth = self.use_method[c]
        if meth == "pmm":
            return _pmm(X_obs, y_obs, X_mis, rng)
        if meth == "logreg":
            draw, warm[c] = _logreg(X_obs, y_obs, X_mis, rng, warm.get(c))
            return draw
        draw, warm[c] = _polyreg(X_obs, y_obs, X_mis, col.n_levels, rng, warm.get(c))
        return draw

    def complete(self, df: pd.DataFrame, maxit: int, rng: np.random.Generator, imputation: int,
                 chain: list[dict]) -> pd.DataFrame:
        """One completed data set: random draws of the observed values to start, then ``maxit``
        rounds over the targets; each draw's mean is appended to ``chain``."""
        columns = self.columns
        cur = {c: col.values.copy() for c, col in columns.items()}
        warm: dict[str, np.ndarray] = {}
        for c in self.targets:                  # initial fill: random draws of the observed values
            col = columns[c]
            obs = col.values[~col.missing]
            cur[c][col.missing] = rng.choice(obs, size=int(col.missing.sum()), replace=True)
        for it in range(maxit):
            for c in self.targets:
                draw = self.draw(c, cur, warm, rng)
                cur[c][columns[c].missing] = draw
                chain.append({"imputation": imputation, "iteration": it + 1, "variable": c,
                              "mean": float(np.mean(draw))})
        out = df.copy()
        for c in self.targets:
            out[c] = columns[c].restore(cur[c], df[c])
        return out


def _imputation_rng(seed: int, i: int) -> np.random.Generator:
    """The random stream of imputed data set ``i`` (1-based): ``SeedSequence(seed).spawn(k)[i − 1]``
    for any k ≥ i — independent of m, of the other data sets and of the process that draws it."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i - 1,)))


def _prepare(df: pd.DataFrame, m: int, method, maxit: int, survival, predictors) -> _Chains:
    """Check the input and build the chained-equation models (shared by :func:`impute` and
    :func:`impute_fit`)."""
    _check_sizes(df, m, maxit)
    cols = list(df.columns)
    aux, skip_as_predictor = _survival_terms(df, survival)
    kinds = _column_kinds(df)
    method = dict(method or {})
    _check_methods(method, kinds)
    use_method = {c: (method.get(c, kinds[c]) if df[c].isna().any() else "") for c in cols}
    columns = {c: _Column(df[c], use_method[c] or kinds[c]) for c in cols}
    _check_categorical_models(columns, use_method)
    targets = [c for c in cols if use_method[c]]
    pred_sets = _predictor_sets(targets, cols, predictors, skip_as_predictor)
    return _Chains(columns, targets, use_method, pred_sets, aux)


#: below this many imputed rows (patients × data sets), ``n_jobs=None`` stays in this process:
#: starting the workers (each imports latc.stats: measured 3–6 s on 2 shared cores) costs more than
#: it saves (m = 20 on 10,000 patients: ~10 s in one process, slower with 2 workers)
_PARALLEL_MIN_WORK = 250_000


def _workers(n_jobs: int | None, n_tasks: int, work: int | None = None) -> int:
    """Worker processes to use: ``n_jobs`` (None = every CPU, but 1 when ``work`` is small), at most
    one per task."""
    if n_jobs is None:
        if work is not None and work < _PARALLEL_MIN_WORK:
            return 1
        n_jobs = os.cpu_count() or 1
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise StatsInputError(f"impute: n_jobs must be a positive integer or None (got {n_jobs!r})")
    return max(1, min(int(n_jobs), n_tasks))


def _run_block(chains: _Chains, df: pd.DataFrame, maxit: int, seed: int, indices: Sequence[int],
               fn: Callable | None, keep: bool) -> list[tuple]:
    """Imputed data sets ``indices`` (1-based), each from its own stream: (i, data set or None,
    fn(data set) or None, chain means). Runs in a worker process or in this one."""
    out = []
    for i in indices:
        chain: list[dict] = []
        d = chains.complete(df, maxit, _imputation_rng(seed, i), i, chain)
        out.append((i, d if keep else None, None if fn is None else fn(d), chain))
    return out


def _run(chains: _Chains, df: pd.DataFrame, maxit: int, seed: int, indices: list[int], fn: Callable | None,
         keep: bool, n_jobs: int | None) -> list[tuple]:
    """:func:`_run_block` over ``indices``, split round-robin over the workers (the data are sent
    once per worker, not once per imputation); results in imputation order."""
    n = _workers(n_jobs, len(indices), len(df) * len(indices))
    if n <= 1:
        return _run_block(chains, df, maxit, seed, indices, fn, keep)
    from joblib import Parallel, delayed

    blocks = [indices[k::n] for k in range(n)]
    parts = Parallel(n_jobs=n, backend="loky")(
        delayed(_run_block)(chains, df, maxit, seed, b, fn, keep) for b in blocks)
    return sorted((r for part in parts for r in part), key=lambda r: r[0])


@positional_deprecated
def impute(df: pd.DataFrame, *, m: int = 20, method: dict[str, str] | None = None, seed: int = 1,
           maxit: int = 10, survival: tuple[str, str] | None = None,
           predictors: dict[str, Sequence[str]] | None = None, n_jobs: int | None = None) -> ImputedData:
    """Multiple imputation by chained equations (see the module notes; R ``mice``).

    Parameters
    ----------
    df : the analysis columns only (identifiers and free text excluded: every column predicts
        every other one).
    m : number of imputed data sets (≥ 2; 20 or the percentage of incomplete cases, White et al.
        Stat Med 2011; or von Hippel's two-stage rule, :func:`how_many_imputations`).
    method : per-column override, "pmm", "logreg" or "polyreg" (defaults by type as mice).
    seed : random seed (reproducible draws; data set i uses stream i of ``SeedSequence(seed)``).
    maxit : iterations of the chained equations.
    survival : (time, event) columns of a survival outcome: event and Nelson–Aalen H(T) become
        predictors, the raw time does not; both must be complete.
    predictors : optional {column: [predictor columns]} restricting a column's model.
    n_jobs : worker processes for the m data sets (None = every CPU, in this process when
        patients × m < 250,000). The data sets are identical for every n_jobs.

    Returns
    -------
    :class:`ImputedData`.
    """
    chains = _prepare(df, m, method, maxit, survival, predictors)
    runs = _run(chains, df, maxit, seed, list(range(1, m + 1)), None, True, n_jobs)
    return ImputedData(datasets=[r[1] for r in runs], original=df.copy(), where=df.isna(), method=chains.use_method,
                       predictors={c: chains.pred_sets[c] + list(chains.aux) for c in chains.targets}, m=int(m),
                       maxit=int(maxit), seed=seed, survival=(survival[0], survival[1]) if survival else None,
                       chain_means=pd.DataFrame([row for r in runs for row in r[3]]))


@dataclass
class PoolTerms:
    """What Rubin's rules need from one fit — term names, estimates, variances, complete-data df
    (:func:`pool` reads it exactly; small to send back from a worker process, unlike a fit that
    keeps its model matrix)."""

    names: list[str]
    estimate: np.ndarray
    variance: np.ndarray
    dfcom: float

    @classmethod
    def of(cls, fit) -> "PoolTerms":
        """The pooling terms of any fit :func:`pool` accepts."""
        names, est, var, dfcom = _extract(fit)
        return cls(list(names), np.asarray(est, float), np.asarray(var, float), float(dfcom))


@dataclass
class ImputedFits:
    """An analysis fitted on imputed data sets ``start`` … ``start + m − 1`` without keeping the data
    sets (R ``with(mice(...), ...)``): ``fits`` in imputation order (:class:`PoolTerms` when
    ``terms_only``), ``method`` and ``predictors`` per imputed column, ``chain_means``."""

    fits: list
    m: int
    start: int
    seed: int
    maxit: int
    method: dict[str, str]
    predictors: dict[str, list[str]]
    chain_means: pd.DataFrame = field(default=None, repr=False)

    def __add__(self, other: "ImputedFits") -> "ImputedFits":
        """More imputations of the same data: ``other`` must start where this one ends."""
        if other.start != self.start + self.m or other.seed != self.seed or other.maxit != self.maxit:
            raise StatsInputError("ImputedFits: can only add the next imputations of the same seed and maxit")
        return ImputedFits(self.fits + other.fits, self.m + other.m, self.start, self.seed, self.maxit, self.method,
                           self.predictors, pd.concat([self.chain_means, other.chain_means], ignore_index=True))


def _terms_of(fn: Callable) -> Callable:
    return lambda d: PoolTerms.of(fn(d))


@positional_deprecated
def impute_fit(df: pd.DataFrame, fn: Callable[[pd.DataFrame], object], *, m: int = 20,
               method: dict[str, str] | None = None, seed: int = 1, maxit: int = 10,
               survival: tuple[str, str] | None = None, predictors: dict[str, Sequence[str]] | None = None,
               n_jobs: int | None = None, start: int = 1, terms_only: bool = True) -> ImputedFits:
    """Impute and fit in one pass, each data set fitted where it is made (``impute(...).fit(fn)``
    without holding or sending back m completed data sets).

    Parameters as :func:`impute`, plus: ``fn`` — the analysis of one completed data set;
    ``start`` — the first imputation's number (1-based): ``impute_fit(..., m=k, start=21)`` makes
    imputations 21 … 20 + k, exactly those a run with m = 20 + k would have made, so a pilot can
    be extended (``pilot + more``); ``terms_only`` — return each fit's :class:`PoolTerms` (what
    :func:`pool` needs) instead of the fit. ``m`` may be 1 when extending (``start`` > 1).
    """
    if not isinstance(start, (int, np.integer)) or start < 1:
        raise StatsInputError(f"impute_fit: start must be an integer ≥ 1 (got {start!r})")
    if start > 1 and (not isinstance(m, (int, np.integer)) or m < 1):
        raise StatsInputError(f"impute_fit: m must be an integer ≥ 1 (got {m!r})")
    chains = _prepare(df, m if start == 1 else 2, method, maxit, survival, predictors)
    runs = _run(chains, df, maxit, seed, list(range(start, start + m)), _terms_of(fn) if terms_only else fn,
                False, n_jobs)
    return ImputedFits(fits=[r[2] for r in runs], m=int(m), start=int(start), seed=seed, maxit=int(maxit),
                       method=chains.use_method,
                       predictors={c: chains.pred_sets[c] + list(chains.aux) for c in chains.targets},
                       chain_means=pd.DataFrame([row for r in runs for row in r[3]]))


# ----------------------------------------------------------------------------------------------
# how many imputations: von Hippel's two-stage quadratic rule
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImputationsNeeded:
    """:func:`how_many_imputations`'s answer: the pilot's m and FMI, the FMI's confidence interval,
    the target CV of the SE, and the number of imputations the rule requires."""

    pilot_m: int
    fmi: float
    fmi_lower: float
    fmi_upper: float
    confidence: float
    cv: float
    m_required: int

    def as_dict(self) -> dict[str, Any]:
        return {"pilot_m": self.pilot_m, "fmi": self.fmi, "fmi_lower": self.fmi_lower, "fmi_upper": self.fmi_upper,
                "confidence": self.confidence, "cv": self.cv, "m_required": self.m_required}


def how_many_imputations(fmi: float | Sequence[float], pilot_m: int, *, cv: float = 0.05,
                         alpha: float = 0.05) -> ImputationsNeeded:
    """Imputations needed for replicable standard errors: von Hippel's two-stage quadratic rule.

    von Hippel PT. How many imputations do you need? A two-stage calculation using a quadratic
    rule. Sociol Methods Res 2020;49(3):699–718, doi:10.1177/0049124117747303 (Stata
    ``how_many_imputations``; R ``howManyImputations::how_many_imputations``, whose code this
    follows):

    * stage 1, a pilot of ``pilot_m`` imputations estimates the fraction of missing information γ̂
      (``pool()``'s ``fmi``; the largest when several are given, as the R package);
    * a (1 − α) confidence interval for γ on the logit scale: logit(γ̂) ± z₁₋α/₂ √(2 / pilot_m);
    * stage 2 needs M = ⌈1 + ½ (γ_upper / CV)²⌉ imputations, CV being the coefficient of variation
      of the SE estimate one accepts across re-imputations (0.05: the SE would change by about 5 %).

    Returns :class:`ImputationsNeeded` (``m_required`` may be below ``pilot_m``: then the pilot
    suffices). A pure function.
    """
    g = np.atleast_1d(np.asarray(fmi, dtype=float))
    if g.size == 0 or not np.isfinite(g).all():
        raise StatsInputError("how_many_imputations: the FMI must be finite numbers")
    if not isinstance(pilot_m, (int, np.integer)) or pilot_m < 2:
        raise StatsInputError(f"how_many_imputations: pilot_m must be an integer ≥ 2 (got {pilot_m!r})")
    if not 0 < cv < 1 or not 0 < alpha < 1:
        raise StatsInputError("how_many_imputations: cv and alpha must lie in (0, 1)")
    gamma = float(np.clip(g.max(), 1e-12, 1 - 1e-12))       # FMI is a fraction; logit needs (0, 1)
    z = float(norm.ppf(1 - alpha / 2))
    half = z * math.sqrt(2 / int(pilot_m))
    lo, up = float(expit(logit(gamma) - half)), float(expit(logit(gamma) + half))
    return ImputationsNeeded(pilot_m=int(pilot_m), fmi=float(g.max()), fmi_lower=lo, fmi_upper=up,
                             confidence=1 - alpha, cv=float(cv), m_required=int(math.ceil(1 + 0.5 * (up / cv) ** 2)))


# ----------------------------------------------------------------------------------------------
# Rubin's rules
# ----------------------------------------------------------------------------------------------
def _extract(fit) -> tuple[list[str], np.ndarray, np.ndarray, float]:
    """(term names, estimates, variances, complete-data df) from a fitted model.

    Accepted: :class:`PoolTerms`, :class:`latc.stats.CoxResult` (robust variance when fitted robust, as mice uses
    ``robust.se``; dfcom = events − p, as mice's ``get.dfcom`` for coxph), statsmodels results
    (OLS/GLM/Logit: ``params``, ``bse``, ``df_resid``), or a mapping / DataFrame with
    ``estimate`` and ``std_error`` (optional ``dfcom``).
    """
    from ._cox import CoxResult
    if isinstance(fit, PoolTerms):
        return list(fit.names), fit.estimate, fit.variance, fit.dfcom
    if isinstance(fit, CoxResult):
        return list(fit.names), np.asarray(fit.coef, float), np.diag(fit.var).astype(float), \
            float(max(fit.events - len(fit.coef), 1))
    if hasattr(fit, "params") and hasattr(fit, "bse"):
        params = pd.Series(fit.params)
        bse = pd.Series(fit.bse)
        dfcom = float(getattr(fit, "df_resid", np.inf))
        return [str(k) for k in params.index], params.to_numpy(float), bse.to_numpy(float) ** 2, dfcom
    if isinstance(fit, pd.DataFrame):
        if not {"estimate", "std_error"} <= set(fit.columns):
            raise StatsInputError("pool: a DataFrame fit needs 'estimate' and 'std_error' columns")
        dfcom = float(fit["dfcom"].iloc[0]) if "dfcom" in fit else np.inf
        return [str(k) for k in fit.index], fit["estimate"].to_numpy(float), \
            fit["std_error"].to_numpy(float) ** 2, dfcom
    if isinstance(fit, dict) and "estimate" in fit and "std_error" in fit:
        est = pd.Series(fit["estimate"])
        se = pd.Series(fit["std_error"], index=est.index)
        return [str(k) for k in est.index], est.to_numpy(float), se.to_numpy(float) ** 2, \
            float(fit.get("dfcom", np.inf))
    raise StatsInputError(f"pool: cannot read estimates from a {type(fit).__name__}; pass CoxResult, "
                          "statsmodels results, or {'estimate': ..., 'std_error': ...}")


def barnard_rubin_df(m: int, b: np.ndarray, t: np.ndarray, dfcom: float) -> np.ndarray:
    """Barnard & Rubin (Biometrika 1999;86:948) degrees of freedom, as ``mice:::barnard.rubin``."""
    lam = (1 + 1 / m) * b / t
    lam = np.maximum(lam, 1e-4)
    dfold = (m - 1) / lam ** 2
    if np.isinf(dfcom):
        return dfold
    dfobs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return dfold * dfobs / (dfold + dfobs)


@positional_deprecated
def pool(fits: Sequence, *, dfcom: float | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    """Combine m fits by Rubin's rules, as ``summary(mice::pool(fits), conf.int = TRUE)``.

    Parameters
    ----------
    fits : the m fitted models (e.g. ``imp.fit(lambda d: cox(d, ...))``), all with the same terms.
    dfcom : complete-data degrees of freedom; default from the fits as mice (residual df for
        regression models, events − p for Cox, ∞ otherwise).

    Returns
    -------
    DataFrame indexed by term: m, estimate (Q̄), ubar, b, t, dfcom, df, riv, lambda, fmi,
    std_error (√T), statistic, p (t test on df), lower, upper.
    """
    fits = list(fits)
    if len(fits) < 2:
        raise StatsInputError(f"pool: need at least 2 fits, got {len(fits)}")
    parts = [_extract(f) for f in fits]
    names = parts[0][0]
    for k, p in enumerate(parts[1:], start=2):
        if p[0] != names:
            raise StatsInputError(f"pool: fit {k} has terms {p[0]}, fit 1 has {names}; every imputed "
                                  "data set must give the same model terms (a level missing from one "
                                  "data set?)")
    Q = np.vstack([p[1] for p in parts])
    U = np.vstack([p[2] for p in parts])
    if not (np.isfinite(Q).all() and np.isfinite(U).all()):
        raise StatsInputError("pool: a fit has non-finite estimates or variances")
    m = len(fits)
    if dfcom is None:
        dfcom = parts[0][3]
    dfcom = float(max(dfcom, 1))
    qbar = Q.mean(axis=0)
    ubar = U.mean(axis=0)
    b = Q.var(axis=0, ddof=1)
    tvar = ubar + (1 + 1 / m) * b
    df = barnard_rubin_df(m, b, tvar, dfcom)
    riv = (1 + 1 / m) * b / ubar
    lam = (1 + 1 / m) * b / tvar
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se = np.sqrt(tvar)
    stat = qbar / se
    p = 2 * t_dist.sf(np.abs(stat), np.maximum(df, 0.001))
    q = t_dist.ppf(1 - (1 - conf_level) / 2, df)
    out = pd.DataFrame({"m": m, "estimate": qbar, "ubar": ubar, "b": b, "t": tvar, "dfcom": dfcom, "df": df,
                        "riv": riv, "lambda": lam, "fmi": fmi, "std_error": se, "statistic": stat, "p": p,
                        "lower": qbar - q * se, "upper": qbar + q * se}, index=pd.Index(names, name="term"))
    out.attrs["method"] = ("Rubin's rules (mice::pool, rubin1987), Barnard-Rubin df with "
                           f"dfcom = {dfcom:g}, {conf_level:.0%} t interval")
    return out
