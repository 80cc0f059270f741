"""Logistic regression by GLORE (Wu et al., J Am Med Inform Assoc 2012;19:758): exact federated
Newton–Raphson.

Each round the coordinator sends β; each site returns its gradient Xᵀ(y − p), Hessian
Xᵀ diag(p(1 − p)) X (p × p) and log-likelihood; the coordinator sums them and takes the Newton step
β ← β + H⁻¹g. The sums equal the pooled ones, so the iterates and the MLE are those of the pooled
``glm(..., family = binomial)`` (:func:`latc.stats.propensity`); the coordinator stops when the
largest step is below 1e−10 (the pooled fit stops on the deviance, tol 1e−10), one round later
than needed to reach the MLE to machine precision. Standard errors: √diag(H⁻¹).

The propensity score itself is computed at each site from the announced β̂
(:func:`site_propensity`) and never leaves it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ._design import site_design
from ._disclosure import DisclosurePolicy, FederatedInputError, check_messages
from ._messages import Message
from ._site import site_rows

__all__ = ["site_logistic_step", "combine_logistic_step", "newton_logistic", "site_propensity"]

_DEFAULT = DisclosurePolicy()


def _site_xy(df, outcome, covariates, levels, site, policy):
    site_rows(df, site, policy, "logistic", [outcome, *covariates])
    y = pd.to_numeric(df[outcome]).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        raise FederatedInputError(f"site {site!r}: outcome '{outcome}' must be 0/1 without missing values")
    X, names = site_design(df, covariates, levels, style="glm", site=site)
    return X, y, names


def site_logistic_step(df: pd.DataFrame, outcome: str, covariates: Sequence[str], levels: dict,
                       beta: Sequence[float], *, site: str, policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Payload: names, gradient[p], hessian[p][p], loglik, n. Cells: outcome 1 and 0 counts."""
    X, y, names = _site_xy(df, outcome, covariates, levels, site, policy)
    bad = policy.small_cells("logistic", {f"{outcome}=1": int(y.sum()), f"{outcome}=0": int((1 - y).sum())})
    if bad:
        return Message("logistic", site, "glore_step", {"names": names}, bad)
    eta = X @ np.asarray(beta, dtype=float)
    p = 1.0 / (1.0 + np.exp(-eta))
    loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    return Message("logistic", site, "glore_step", {"names": names, "gradient": X.T @ (y - p),
                                                    "hessian": (X * (p * (1 - p))[:, None]).T @ X,
                                                    "loglik": loglik, "n": len(y)})


def combine_logistic_step(messages: Sequence[Message]) -> tuple[float, np.ndarray, np.ndarray]:
    msgs = check_messages(messages, "logistic")
    return (float(sum(m.payload["loglik"] for m in msgs)),
            np.sum([m.array("gradient") for m in msgs], axis=0),
            np.sum([m.array("hessian") for m in msgs], axis=0))


def newton_logistic(evaluate: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]], p: int,
                    tol: float = 1e-10, max_iter: int = 50) -> dict:
    """GLORE coordinator: Newton from β = 0 on the summed gradient/Hessian. Returns coef, var, se,
    loglik, iterations (rounds)."""
    beta = np.zeros(p)
    for it in range(1, max_iter + 1):
        loglik, g, H = evaluate(beta)
        step = np.linalg.solve(H, g)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            loglik, g, H = evaluate(beta)
            var = np.linalg.inv(H)
            return {"coef": beta, "var": var, "se": np.sqrt(np.diag(var)), "loglik": loglik,
                    "iterations": it + 1}
    raise FederatedInputError(f"GLORE: no convergence in {max_iter} rounds (separation?)")


def site_propensity(df: pd.DataFrame, covariates: Sequence[str], levels: dict, beta: Sequence[float],
                    scale: str = "probability") -> np.ndarray:
    """The site's own propensity scores from the announced β̂ (stays at the site)."""
    X, _ = site_design(df, covariates, levels, style="glm")
    eta = X @ np.asarray(beta, dtype=float)
    return eta if scale == "logit" else 1.0 / (1.0 + np.exp(-eta))
