"""A small Cox proportional-hazards fit (Breslow ties, optional case weights) in numpy.

Used only to compute the *marginal* hazard ratios recorded in truth.json from a large sample of
simulated potential outcomes, and the naive/adjusted diagnostics; the statistics package provides
the full-featured models. Newton–Raphson on the log partial likelihood (Cox 1972; Breslow 1974).
"""

from __future__ import annotations

import numpy as np


def cox_fit(time: np.ndarray, event: np.ndarray, x: np.ndarray, weights: np.ndarray | None = None,
            max_iter: int = 50, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Fit a Cox model; returns (coefficients, model-based standard errors).

    ``x`` is n × p (or a vector for one covariate). Ties use Breslow's approximation.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    w = np.ones(len(time)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(-time, kind="stable")
    t, d, X, w = time[order], event[order], x[order], w[order]
    # last position of each group of tied times (descending order): the risk set is the prefix
    last = np.r_[t[1:] != t[:-1], True]
    group_end = np.flatnonzero(last)
    idx_end = np.repeat(group_end, np.diff(np.r_[-1, group_end]))
    n, p = X.shape
    beta = np.zeros(p)
    var = np.full((p, p), np.nan)
    for _ in range(max_iter):
        eta = X @ beta
        eta -= eta.max()
        r = w * np.exp(eta)
        s0 = np.cumsum(r)[idx_end]
        s1 = np.cumsum(r[:, None] * X, axis=0)[idx_end]
        s2 = np.cumsum(r[:, None, None] * (X[:, :, None] * X[:, None, :]), axis=0)[idx_end]
        dw = (w * d)[:, None]
        mean = s1 / s0[:, None]
        grad = (dw * (X - mean)).sum(axis=0)
        info = ((w * d)[:, None, None] * (s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :])).sum(axis=0)
        step = np.linalg.solve(info + 1e-8 * np.eye(p), grad)
        step = np.clip(step, -2.0, 2.0)  # damped: a category without events must not overflow
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            var = np.linalg.inv(info)
            break
    else:  # pragma: no cover - not reached on the well-posed fits used here
        var = np.linalg.inv(info)
    return beta, np.sqrt(np.diag(var))
