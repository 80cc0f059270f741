"""Counts, proportions, response rates, Table 1 means/SDs and grid quantiles, federated.

Exactness (against :mod:`latc.stats` on the pooled rows):

* counts and % (of non-missing values) by group — exact (sums of counts);
* response rates with exact Clopper–Pearson CIs — exact: the CI depends on (responders, n) only;
* mean and SD — exact from (n, Σx, Σx²) per group: mean = Σx/n, SD² = (Σx² − (Σx)²/n)/(n − 1)
  (agrees to rounding; the sums are all a site sends);
* quantiles — exact **only on a declared grid**: sites send a histogram of counts per grid point
  (each value binned to the greatest grid point ≤ it); the coordinator computes R type-7 quantiles
  (``np.quantile``) of the binned pooled values. They equal the pooled quantiles when every value
  lies on the grid (e.g. age in whole years on an integer grid) and are otherwise the quantiles of the
  pooled data rounded down to the grid. Fine grids usually hold cells of 1–2 patients, which the
  default disclosure policy suppresses: a coarser grid, or the site's explicit
  ``min_cell_by_analysis={"quantiles": 1}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from latc.stats._proportion import add_rate_columns

from ._disclosure import DisclosurePolicy, FederatedInputError, check_messages
from ._messages import Message
from ._site import as_text, site_rows

__all__ = ["site_counts", "combine_counts", "site_response_rates", "combine_response_rates",
           "site_moments", "combine_moments", "site_histogram", "combine_quantiles"]

_DEFAULT = DisclosurePolicy()


def _group_keys(df: pd.DataFrame, by: str | None) -> tuple[np.ndarray, list[str]]:
    if by is None:
        return np.array(["All"] * len(df), dtype=object), ["All"]
    g = df[by]
    if g.isna().any():
        raise FederatedInputError(f"group column '{by}' has missing values")
    g = as_text(g)
    return g, sorted(set(g))


# --------------------------------------------------------------------------- counts (n, %)
def site_counts(df: pd.DataFrame, variable: str, by: str | None = "cohort", *, site: str,
                policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Counts of each level of ``variable`` per ``by`` group, and missing counts.

    Payload: variable, by, groups, levels, counts[group][level], missing[group].
    """
    site_rows(df, site, policy, "counts", [variable, by])
    g, groups = _group_keys(df, by)
    v = df[variable]
    miss = v.isna().to_numpy()
    vs = as_text(v)
    levels = sorted(set(vs[~miss]))
    counts = [[int(((g == k) & ~miss & (vs == lev)).sum()) for lev in levels] for k in groups]
    missing = [int(((g == k) & miss).sum()) for k in groups]
    cells = {f"{variable}={lev} | {by}={k}": counts[i][j] for i, k in enumerate(groups)
             for j, lev in enumerate(levels)}
    cells.update({f"{variable} missing | {by}={k}": missing[i] for i, k in enumerate(groups)})
    bad = policy.small_cells("counts", cells)
    if bad:
        return Message("counts", site, "counts", {"variable": variable, "by": by}, bad)
    return Message("counts", site, "counts", {"variable": variable, "by": by, "groups": groups,
                                              "levels": levels, "counts": counts, "missing": missing})


def combine_counts(messages: Sequence[Message]) -> pd.DataFrame:
    """Pooled counts: group, level, n, percent (of the non-missing values, as tableone), missing."""
    msgs = check_messages(messages, "counts")
    groups = sorted({k for m in msgs for k in m.payload["groups"]})
    levels = sorted({lev for m in msgs for lev in m.payload["levels"]})
    tab = np.zeros((len(groups), len(levels)), dtype=np.int64)
    miss = np.zeros(len(groups), dtype=np.int64)
    for m in msgs:
        gi = [groups.index(k) for k in m.payload["groups"]]
        li = [levels.index(v) for v in m.payload["levels"]]
        tab[np.ix_(gi, li)] += np.asarray(m.payload["counts"], dtype=np.int64).reshape(len(gi), len(li))
        miss[gi] += np.asarray(m.payload["missing"], dtype=np.int64)
    tot = tab.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100 * tab / tot
    rows = [{"group": k, "level": lev, "n": int(tab[i, j]), "percent": float(pct[i, j]),
             "missing": int(miss[i])} for i, k in enumerate(groups) for j, lev in enumerate(levels)]
    out = pd.DataFrame(rows)
    out.attrs["variable"] = msgs[0].payload["variable"]
    return out


# --------------------------------------------------------------------------- response rates
def _indicator(values: pd.Series, column: str) -> np.ndarray:
    num = pd.to_numeric(values.astype("Float64") if values.dtype != object else values, errors="coerce")
    arr = num.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isnan(arr) & ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise FederatedInputError(f"response rate: column '{column}' must be 0/1 or True/False")
    return arr


def site_response_rates(df: pd.DataFrame, outcome: str | Sequence[str], by: str | None = "cohort", *,
                        site: str, policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Responders, evaluable n and total per outcome and group (plus the ``All`` row).

    Payload: outcomes, by, groups, responders[outcome][group], n[..], total[..]; the "All" group is
    the site total. Cells checked: responders, non-responders, not evaluable.
    """
    outcomes = [outcome] if isinstance(outcome, str) else list(outcome)
    site_rows(df, site, policy, "response_rates", [*outcomes, by])
    g, groups = _group_keys(df, by)
    keys = ["All"] + ([k for k in groups] if by is not None else [])
    resp, n, total, cells = [], [], [], {}
    for out in outcomes:
        y = _indicator(df[out], out)
        r_row, n_row, t_row = [], [], []
        for k in keys:
            sel = np.ones(len(df), bool) if k == "All" else (g == k)
            ok = sel & ~np.isnan(y)
            r, e, t = int(np.nansum(y[ok])), int(ok.sum()), int(sel.sum())
            r_row.append(r), n_row.append(e), t_row.append(t)
            cells[f"{out} responders | {by}={k}"] = r
            cells[f"{out} non-responders | {by}={k}"] = e - r
            cells[f"{out} not evaluable | {by}={k}"] = t - e
        resp.append(r_row), n.append(n_row), total.append(t_row)
    bad = policy.small_cells("response_rates", cells)
    if bad:
        return Message("response_rates", site, "response_counts", {"outcomes": outcomes, "by": by}, bad)
    return Message("response_rates", site, "response_counts",
                   {"outcomes": outcomes, "by": by, "groups": keys, "responders": resp, "n": n, "total": total})


def combine_response_rates(messages: Sequence[Message], method: str = "clopper-pearson",
                           conf_level: float = 0.95) -> pd.DataFrame:
    """Pooled rates as :func:`latc.stats.response_rates` (same columns; CI from pooled counts)."""
    msgs = check_messages(messages, "response_rates")
    outcomes, by = msgs[0].payload["outcomes"], msgs[0].payload["by"]
    groups = ["All"] + sorted({k for m in msgs for k in m.payload["groups"] if k != "All"})
    rows = []
    for oi, out in enumerate(outcomes):
        for k in groups:
            r = e = t = 0
            for m in msgs:
                if k in m.payload["groups"]:
                    j = m.payload["groups"].index(k)
                    r += m.payload["responders"][oi][j]
                    e += m.payload["n"][oi][j]
                    t += m.payload["total"][oi][j]
            row = {"outcome": out}
            if by is not None:
                row[by] = k
            row.update({"responders": r, "n": e, "not_evaluable": t - e})
            rows.append(row)
    return add_rate_columns(pd.DataFrame(rows), method=method, conf_level=conf_level)


# --------------------------------------------------------------------------- mean / SD
def site_moments(df: pd.DataFrame, variables: Sequence[str], by: str | None = "cohort", *,
                 site: str, policy: DisclosurePolicy = _DEFAULT) -> Message:
    """(n, Σx, Σx²) of each numeric variable per group (missing values left out).

    Payload: variables, by, groups, n[var][group], sum[var][group], sumsq[var][group]. Cells
    checked: n per variable and group.
    """
    variables = [variables] if isinstance(variables, str) else list(variables)
    site_rows(df, site, policy, "moments", [*variables, by])
    g, groups = _group_keys(df, by)
    n, s1, s2, cells = [], [], [], {}
    for v in variables:
        x = pd.to_numeric(df[v]).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        rn, r1, r2 = [], [], []
        for k in groups:
            xs = x[(g == k) & ~np.isnan(x)]
            rn.append(len(xs)), r1.append(float(xs.sum())), r2.append(float((xs * xs).sum()))
            cells[f"{v} n | {by}={k}"] = len(xs)
        n.append(rn), s1.append(r1), s2.append(r2)
    bad = policy.small_cells("moments", cells)
    if bad:
        return Message("moments", site, "moments", {"variables": variables, "by": by}, bad)
    return Message("moments", site, "moments", {"variables": variables, "by": by, "groups": groups,
                                                "n": n, "sum": s1, "sumsq": s2})


def combine_moments(messages: Sequence[Message]) -> pd.DataFrame:
    """Pooled variable, group, n, mean, sd (sd with n − 1, NaN for n < 2)."""
    msgs = check_messages(messages, "moments")
    variables = msgs[0].payload["variables"]
    groups = sorted({k for m in msgs for k in m.payload["groups"]})
    rows = []
    for vi, v in enumerate(variables):
        for k in groups:
            n = s1 = s2 = 0.0
            for m in msgs:
                if k in m.payload["groups"]:
                    j = m.payload["groups"].index(k)
                    n += m.payload["n"][vi][j]
                    s1 += m.payload["sum"][vi][j]
                    s2 += m.payload["sumsq"][vi][j]
            mean = s1 / n if n > 0 else np.nan
            sd = float(np.sqrt(max(s2 - s1 * s1 / n, 0.0) / (n - 1))) if n > 1 else np.nan
            rows.append({"variable": v, "group": k, "n": int(n), "mean": mean, "sd": sd})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- grid quantiles
def site_histogram(df: pd.DataFrame, variable: str, grid: Sequence[float], by: str | None = "cohort", *,
                   site: str, policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Counts per grid point (a value goes to the greatest grid point ≤ it; values below the first
    grid point are refused). Payload: variable, by, grid, groups, counts[group][grid point]."""
    site_rows(df, site, policy, "quantiles", [variable, by])
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or len(grid) < 1 or np.any(np.diff(grid) <= 0):
        raise FederatedInputError("quantiles: the grid must be strictly increasing")
    g, groups = _group_keys(df, by)
    x = pd.to_numeric(df[variable]).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    ok = ~np.isnan(x)
    if (x[ok] < grid[0]).any():
        raise FederatedInputError(f"quantiles: '{variable}' has values below the grid's first point {grid[0]:g}")
    idx = np.searchsorted(grid, x[ok], side="right") - 1
    counts = [np.bincount(idx[g[ok] == k], minlength=len(grid)).tolist() for k in groups]
    cells = {f"{variable} in [{grid[j]:g}, next) | {by}={k}": c for k, row in zip(groups, counts)
             for j, c in enumerate(row)}
    bad = policy.small_cells("quantiles", cells)
    if bad:
        return Message("quantiles", site, "histogram", {"variable": variable, "by": by}, bad)
    return Message("quantiles", site, "histogram", {"variable": variable, "by": by, "grid": grid,
                                                    "groups": groups, "counts": counts})


def _type7_from_counts(values: np.ndarray, counts: np.ndarray, p: float) -> float:
    n = int(counts.sum())
    if n == 0:
        return np.nan
    cum = np.cumsum(counts)
    h = (n - 1) * p
    lo = int(np.floor(h))
    hi = min(lo + 1, n - 1)
    x_lo = values[np.searchsorted(cum, lo + 1)]       # order statistic lo (0-based)
    x_hi = values[np.searchsorted(cum, hi + 1)]
    return float(x_lo + (h - lo) * (x_hi - x_lo))


def combine_quantiles(messages: Sequence[Message], probs: Sequence[float] = (0.25, 0.5, 0.75)) -> pd.DataFrame:
    """Type-7 quantiles (R default, ``np.quantile``) of the pooled grid-binned values, per group.
    Exact when every value lies on the grid. Columns: group, n, then one column per probability."""
    msgs = check_messages(messages, "quantiles")
    grid = np.asarray(msgs[0].payload["grid"], dtype=float)
    for m in msgs:
        if not np.array_equal(np.asarray(m.payload["grid"], dtype=float), grid):
            raise FederatedInputError(f"quantiles: site {m.site!r} used another grid")
    groups = sorted({k for m in msgs for k in m.payload["groups"]})
    rows = []
    for k in groups:
        c = np.zeros(len(grid), dtype=np.int64)
        for m in msgs:
            if k in m.payload["groups"]:
                c += np.asarray(m.payload["counts"][m.payload["groups"].index(k)], dtype=np.int64)
        row = {"group": k, "n": int(c.sum())}
        row.update({f"q{p:g}": _type7_from_counts(grid, c, p) for p in probs})
        rows.append(row)
    return pd.DataFrame(rows)
