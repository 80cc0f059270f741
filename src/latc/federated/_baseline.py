"""Table 1 by cohort, federated: the analysis's ``baseline/table1`` from per-site aggregates.

Every cell of Table 1 depends on the patients only through one variable's distribution within a
cohort (``latc.stats.table_one`` summarises, tests and standardises each variable on its own):

* **categorical** variables — counts per level and cohort (and missing): n (%), chi-squared,
  multi-level SMD;
* **normally summarised continuous** variables — n, Σx and Σx² per cohort (and missing): mean (SD),
  one-way ANOVA and the SMD depend on nothing else;
* **skewed continuous** variables (median [IQR], Kruskal–Wallis) — counts per distinct value and
  cohort (ranks and quantiles need the values).

The coordinator pools these and rebuilds, per cohort, a column per variable with exactly those
summaries — the pooled levels and values in their counts; for a normal variable n values with the
pooled Σx and Σx² (the mean ± a spread that reproduces the SD) — and runs the analysis's own
``table_one`` call on it, so the table equals the pooled one (to rounding) with nothing re-coded.

Cells: every level count and every value count of 1–2 at a site withholds that **variable** (the
table keeps the others; the reason names site and cell). A skewed variable on a fine grid (tumour
size in mm) needs the site's opt-in ``min_cell_by_analysis={"table_one_values": 1}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._disclosure import FederatedDisclosureError, check_messages
from ._messages import Message
from ._protocol import SiteRuntime, site_step

__all__ = ["combine_table_one", "site_table_one"]

ANALYSIS = "counts"
VALUES = "table_one_values"


def _value(v: Any) -> Any:
    return None if pd.isna(v) else v


def site_table_one(rt: SiteRuntime, variables: Sequence[str], continuous: Sequence[str],
                   nonnormal: Sequence[str]) -> Message:
    """Per variable and cohort, the aggregates of the module docstring (or why a variable is withheld)."""
    from latc.analysis._baseline import table_one_frame

    from ._comparison import site_derived

    rt.policy.require_allowed(ANALYSIS, rt.site)
    subject = site_derived(rt).analysis_set
    d = table_one_frame(subject, [v for v in variables if v in subject.columns])
    cohorts = sorted(set(d["cohort"].dropna()))
    out: dict[str, Any] = {"cohorts": cohorts, "n": [int((d["cohort"] == c).sum()) for c in cohorts],
                           "variables": {}, "withheld": {}}
    bad_n = rt.policy.small_cells(ANALYSIS, {f"patients | cohort={c}": n for c, n in zip(cohorts, out["n"])})
    if bad_n:
        return Message(ANALYSIS, rt.site, "table_one", {}, bad_n)
    for v in variables:
        if v not in d.columns:
            out["variables"][v] = {"kind": "absent"}
            continue
        per = []
        cells: dict[str, float] = {}
        kind = "normal" if v in continuous and v not in nonnormal else ("values" if v in continuous else "levels")
        for c in cohorts:
            x = d.loc[d["cohort"] == c, v]
            miss = int(x.isna().sum())
            nn = x.dropna()
            if kind == "normal":
                f = nn.to_numpy(dtype=float)
                per.append({"missing": miss, "n": int(len(f)), "sum": float(f.sum()), "sumsq": float((f * f).sum())})
                cells[f"{v} non-missing | cohort={c}"] = len(f)
            else:
                vc = nn.value_counts(sort=False).sort_index()
                per.append({"missing": miss, "values": [_value(k) for k in vc.index], "counts": vc.astype(int).tolist()})
                cells.update({f"{v}={k} | cohort={c}": int(n) for k, n in vc.items()})
        bad = rt.policy.small_cells(VALUES if kind == "values" else ANALYSIS, cells)
        if bad:
            out["withheld"][v] = bad[0]["cell"] + f": {bad[0]['reason']}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
        else:
            out["variables"][v] = {"kind": kind, "per_cohort": per}
    return Message(ANALYSIS, rt.site, "table_one", out)


site_step("table_one")(site_table_one)


def _normal_values(n: int, total: float, sumsq: float) -> np.ndarray:
    """n numbers with sum ``total`` and sum of squares ``sumsq`` (their mean, SD and any statistic of
    mean and variance equal the pooled ones)."""
    if n == 0:
        return np.empty(0)
    m = total / n
    ss = max(sumsq - total * total / n, 0.0)           # Σ(x − m)²
    if n == 1:
        return np.array([m])
    k = n // 2
    a = np.sqrt(ss / (2 * k))                          # k values at m + a, k at m − a (+ one at m when n is odd)
    vals = np.r_[np.full(k, m + a), np.full(k, m - a), np.full(n - 2 * k, m)]
    return vals


def combine_table_one(messages: Sequence[Message], variables: Sequence[str], nonnormal: Sequence[str]
                      ) -> tuple[pd.DataFrame, dict[str, str]]:
    """The pooled Table 1 (``baseline/table1`` layout) and the variables withheld, with reasons."""
    from latc.analysis._baseline import VARIABLES
    from latc.stats import table_one

    msgs = check_messages(messages, ANALYSIS)
    withheld: dict[str, str] = {}
    for m in msgs:
        for v, why in m.payload["withheld"].items():
            withheld.setdefault(v, f"site {m.site!r}: {why}")
    cohorts = sorted({c for m in msgs for c in m.payload["cohorts"]})
    n = {c: sum(m.payload["n"][m.payload["cohorts"].index(c)] for m in msgs if c in m.payload["cohorts"])
         for c in cohorts}
    used = [v for v in variables if v not in withheld
            and any(m.payload["variables"].get(v, {}).get("kind") not in (None, "absent") for m in msgs)]
    cols: dict[str, list] = {"cohort": [], **{v: [] for v in used}}
    for c in cohorts:
        cols["cohort"] += [c] * n[c]
        for v in used:
            parts = [m.payload["variables"][v]["per_cohort"][m.payload["cohorts"].index(c)]
                     for m in msgs if c in m.payload["cohorts"]]
            kind = next(m.payload["variables"][v]["kind"] for m in msgs)
            missing = sum(p["missing"] for p in parts)
            if kind == "normal":
                vals: list = _normal_values(sum(p["n"] for p in parts), sum(p["sum"] for p in parts),
                                            sum(p["sumsq"] for p in parts)).tolist()
            else:
                pooled: dict[Any, int] = {}
                for p in parts:
                    for val, k in zip(p["values"], p["counts"]):
                        pooled[val] = pooled.get(val, 0) + int(k)
                vals = [val for val, k in sorted(pooled.items(), key=lambda x: str(x[0])) for _ in range(k)]
            cols[v] += vals + [None] * missing
    frame = pd.DataFrame(cols)
    for v in used:
        kind = next(m.payload["variables"][v]["kind"] for m in msgs)
        frame[v] = frame[v].astype(float) if kind in ("normal", "values") else frame[v].astype(object)
    if not used:
        raise FederatedDisclosureError("table 1: every variable withheld: " + "; ".join(f"{k}: {v}" for k, v in withheld.items()))
    t = table_one(frame, "cohort", used, nonnormal=[v for v in nonnormal if v in used])
    t.attrs = {}
    t.insert(1, "label", t["variable"].map(VARIABLES).fillna(""))
    return t, withheld
