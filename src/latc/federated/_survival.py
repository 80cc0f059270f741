"""Kaplan–Meier and the log-rank test, federated on the pooled time grid.

Protocol (three messages per site):

1. ``site_km_times`` → the site's distinct follow-up times (event and censoring), optionally coarsened
   to a grid (``coarsen=step``: every time rounded **up** to a multiple of ``step``, see
   :func:`coarsen_times`); no counts.
2. the coordinator announces the union ``grid = combine_time_grid(messages)``;
3. ``site_km_counts`` → per group and grid time: events and censorings (the numbers at risk follow
   as reverse cumulative sums); ``combine_km`` / ``combine_logrank`` form the pooled curves / test.

Exactness: with the raw times the result is :func:`latc.stats.kaplan_meier` /
:func:`latc.stats.logrank` on the pooled rows (Greenwood variance, R's log CI, median and its CI by
``print(survfit)``'s rules, numbers at risk). With ``coarsen`` it is exactly the pooled analysis of
the coarsened times (every site must coarsen the same way).

Disclosure: the cell rule applies to each group's patients and events at the site (1–2 suppressed);
the per-time counts themselves are 0/1 on a fine grid, which is what a pooled KM needs — coarsening
is the site's option to release fewer, larger cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from latc.stats._km import KMResult, _confint, _first_below_half
from latc.stats._logrank import logrank_result, logrank_stratum
from latc.stats._test_result import TestResult

from ._disclosure import DisclosurePolicy, FederatedInputError, check_messages
from ._messages import Message
from ._site import as_text, site_rows

__all__ = ["coarsen_times", "site_km_times", "combine_time_grid", "site_km_counts", "combine_km",
           "combine_logrank"]

_DEFAULT = DisclosurePolicy()


def coarsen_times(t: np.ndarray, step: float | None) -> np.ndarray:
    """Times rounded up to a multiple of ``step`` (``None``: unchanged). 0 stays 0."""
    t = np.asarray(t, dtype=float)
    if step is None:
        return t
    if not step > 0:
        raise FederatedInputError(f"coarsen step must be positive, not {step!r}")
    return np.ceil(np.round(t / step, 9)) * step


def _surv_columns(df: pd.DataFrame, time: str, event: str, site: str, what: str):
    t = pd.to_numeric(df[time]).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    e = pd.to_numeric(df[event]).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(t).any() or np.isnan(e).any():
        raise FederatedInputError(f"site {site!r}, {what}: missing values in '{time}' or '{event}'")
    if (t < 0).any() or not np.isin(e, (0.0, 1.0)).all():
        raise FederatedInputError(f"site {site!r}, {what}: '{time}' must be ≥ 0 and '{event}' 0/1")
    return t, e.astype(bool)


def site_km_times(df: pd.DataFrame, time: str, event: str, *, site: str, analysis: str = "km",
                  coarsen: float | None = None, events_only: bool = False,
                  policy: DisclosurePolicy = _DEFAULT) -> Message:
    """The site's distinct times (all follow-up times, or only event times with ``events_only``).

    Payload: time, event, coarsen, times (sorted). Cells checked: the site's n and events.
    """
    site_rows(df, site, policy, analysis, [time, event])
    t, e = _surv_columns(df, time, event, site, analysis)
    t = coarsen_times(t, coarsen)
    bad = policy.small_cells(analysis, {"patients": len(t), "events": int(e.sum())})
    if bad:
        return Message(analysis, site, "times", {"time": time, "event": event}, bad)
    times = np.unique(t[e] if events_only else t)
    return Message(analysis, site, "times", {"time": time, "event": event, "coarsen": coarsen,
                                            "events_only": events_only, "times": times})


def combine_time_grid(messages: Sequence[Message]) -> list[float]:
    """The union of the sites' distinct times: the grid the coordinator announces."""
    msgs = check_messages(messages)
    return np.unique(np.concatenate([np.asarray(m.payload["times"], dtype=float) for m in msgs])).tolist()


def _grid_index(t: np.ndarray, grid: np.ndarray, site: str) -> np.ndarray:
    idx = np.searchsorted(grid, t)
    if len(t) and ((idx >= len(grid)).any() or (grid[np.minimum(idx, len(grid) - 1)] != t).any()):
        raise FederatedInputError(f"site {site!r}: a follow-up time is not on the announced grid "
                                  "(coarsen the same way as in the times round)")
    return idx


def group_labels(df: pd.DataFrame, group: str | None, site: str, what: str) -> np.ndarray:
    """Each row's group as text (``"all"`` without ``group``); a missing group is refused."""
    if group is None:
        return np.array(["all"] * len(df), dtype=object)
    if df[group].isna().any():
        raise FederatedInputError(f"site {site!r}, {what}: missing values in '{group}'")
    return as_text(df[group])


def weight_values(df: pd.DataFrame, weights: str | None, site: str) -> np.ndarray:
    """The case weights (ones without ``weights``); refused unless finite and ≥ 0."""
    if weights is None:
        return np.ones(len(df))
    w = pd.to_numeric(df[weights]).to_numpy(dtype=float)
    if not np.isfinite(w).all() or (w < 0).any():
        raise FederatedInputError(f"site {site!r}: weights '{weights}' must be finite and ≥ 0")
    return w


def site_km_counts(df: pd.DataFrame, time: str, event: str, group: str | None, grid: Sequence[float], *,
                   site: str, analysis: str = "km", coarsen: float | None = None,
                   policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Events and censorings per group at each grid time.

    Payload: time, event, group, groups, grid_size, n_event[group][grid], n_censor[group][grid].
    Cells checked: each group's patients and events at the site.
    """
    site_rows(df, site, policy, analysis, [time, event, group])
    t, e = _surv_columns(df, time, event, site, analysis)
    t = coarsen_times(t, coarsen)
    grid = np.asarray(grid, dtype=float)
    idx = _grid_index(t, grid, site)
    g = group_labels(df, group, site, analysis)
    groups = sorted(set(g))
    n_event, n_censor, cells = [], [], {}
    for k in groups:
        sel = g == k
        n_event.append(np.bincount(idx[sel & e], minlength=len(grid)))
        n_censor.append(np.bincount(idx[sel & ~e], minlength=len(grid)))
        cells[f"patients | {group}={k}"] = int(sel.sum())
        cells[f"events | {group}={k}"] = int((sel & e).sum())
    bad = policy.small_cells(analysis, cells)
    base = {"time": time, "event": event, "group": group}
    if bad:
        return Message(analysis, site, "km_counts", base, bad)
    return Message(analysis, site, "km_counts", {**base, "groups": groups, "grid_size": len(grid),
                                                 "n_event": n_event, "n_censor": n_censor})


def _pooled_counts(msgs: list[Message]) -> tuple[list[str], np.ndarray, np.ndarray]:
    m0 = len(msgs[0].payload["n_event"][0]) if msgs[0].payload["n_event"] else 0
    groups = sorted({k for m in msgs for k in m.payload["groups"]})
    d = np.zeros((len(groups), m0))
    c = np.zeros((len(groups), m0))
    for m in msgs:
        if m.payload["grid_size"] != m0:
            raise FederatedInputError(f"site {m.site!r} counted on a grid of another size")
        for k, de, ce in zip(m.payload["groups"], m.payload["n_event"], m.payload["n_censor"]):
            d[groups.index(k)] += np.asarray(de, dtype=float)
            c[groups.index(k)] += np.asarray(ce, dtype=float)
    return groups, d, c


def combine_km(messages: Sequence[Message], grid: Sequence[float], conf_type: str = "log",
               conf_level: float = 0.95, landmarks: Sequence[float] | None = None) -> KMResult:
    """Pooled Kaplan–Meier curves as :func:`latc.stats.kaplan_meier` (Greenwood variance): one row per
    group and grid time at which that group has a patient; medians with CIs; ``risk_table(times)``."""
    msgs = check_messages(messages)
    grid = np.asarray(grid, dtype=float)
    groups, D, C = _pooled_counts(msgs)
    z = float(norm.ppf(1 - (1 - conf_level) / 2))
    tables, medians = [], []
    for gi, level in enumerate(groups):
        keep = (D[gi] + C[gi]) > 0
        ut, d, c = grid[keep], D[gi][keep], C[gi][keep]
        n = np.cumsum((d + c)[::-1])[::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            surv = np.cumprod(np.where(d > 0, 1.0 - d / n, 1.0))
            inc = np.where(d > 0, d / (n * (n - d)), 0.0)
            se_surv = surv * np.sqrt(np.cumsum(inc))
        lower, upper = _confint(surv, se_surv, conf_type, z)
        tables.append(pd.DataFrame({"group": level, "time": ut, "n_risk": n, "n_event": d, "n_censor": c,
                                    "survival": surv, "std_err": se_surv, "lower": lower, "upper": upper}))
        medians.append({"group": level, "n": int((d + c).sum()), "events": float(d.sum()),
                        "median": _first_below_half(surv, ut), "lower": _first_below_half(lower, ut),
                        "upper": _first_below_half(upper, ut)})
    res = KMResult(table=pd.concat(tables, ignore_index=True), medians=pd.DataFrame(medians),
                   conf_type=conf_type, conf_level=conf_level, robust=False, groups=groups)
    if landmarks is not None:
        res.landmarks = res.at(landmarks)
    return res


def combine_logrank(messages: Sequence[Message], stratify_by_site: bool = False) -> TestResult:
    """Log-rank test as :func:`latc.stats.logrank` (``survdiff``) from the per-site counts, the same
    :class:`latc.stats.TestResult`; with ``stratify_by_site`` each site is a stratum (``strata = center``)."""
    msgs = check_messages(messages)
    levels = sorted({k for m in msgs for k in m.payload["groups"]})
    k = len(levels)
    if k < 2:
        raise FederatedInputError("logrank: a single group in the pooled data; the test needs two")
    strata = [[m] for m in msgs] if stratify_by_site else [msgs]
    obs, exp, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
    n_by_group = np.zeros(k, dtype=np.int64)
    for part in strata:
        groups, D, C = _pooled_counts(part)
        gi = [levels.index(x) for x in groups]
        deaths = np.zeros((D.shape[1], k))
        at_time = np.zeros((D.shape[1], k))
        deaths[:, gi] = D.T
        at_time[:, gi] = (D + C).T
        o, e_, v = logrank_stratum(at_time, deaths)
        obs += o
        exp += e_
        var += v
        n_by_group += at_time.sum(axis=0).astype(np.int64)
    method = "log-rank test (R survdiff, rho = 0), federated" + (", stratified by site" if stratify_by_site else "")
    return logrank_result(levels, n_by_group, obs, exp, var, method=method,
                          singular="logrank: the pooled variance matrix is singular (a group present at one site only, "
                                   "with stratify_by_site?)")
