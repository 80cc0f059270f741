"""Adjusted p-values for multiple testing, as R's ``p.adjust`` — the one implementation every
biomarker screen of latc uses (single-cell composition, spatial and imaging features, omics models).

``BH`` (Benjamini & Hochberg, J R Stat Soc B 1995;57:289): q_(i) = min_{j ≥ i} m·p_(j)/j, capped at 1;
``holm`` (Holm, Scand J Stat 1979;6:65) and ``bonferroni`` control the family-wise error. As in R,
a missing p-value stays missing and does not count as a test (``n = sum(!is.na(p))``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from ._errors import StatsInputError

__all__ = ["p_adjust"]

METHODS = ("BH", "holm", "bonferroni")


def p_adjust(p, method: str = "BH") -> np.ndarray | pd.Series:
    """Adjusted p-values, R ``p.adjust(p, method)`` — ``method`` positional as in R: "BH" (also
    "fdr" or "bh"), "holm" or "bonferroni". A Series keeps its index; NaN stays NaN and is not counted."""
    m = {"fdr": "BH", "bh": "BH"}.get(method.lower(), method) if isinstance(method, str) else method
    if m not in METHODS:
        raise StatsInputError(f"p_adjust: method must be one of {', '.join(METHODS)} (or 'fdr'), not {method!r}")
    values = np.asarray(p, dtype=float)
    if values.ndim != 1:
        raise StatsInputError("p_adjust: give one vector of p-values")
    ok = np.isfinite(values)
    if ((values[ok] < 0) | (values[ok] > 1)).any():
        raise StatsInputError("p_adjust: p-values must lie in [0, 1]")
    q = np.full(values.shape, np.nan)
    if ok.any():
        x = values[ok]
        if m == "BH":
            q[ok] = false_discovery_control(x, method="bh")
        elif m == "bonferroni":
            q[ok] = np.minimum(1.0, x * len(x))
        else:  # holm: step-down, q_(i) = max_{j ≤ i} (n − j + 1)·p_(j)
            order = np.argsort(x, kind="stable")
            n = len(x)
            stepped = np.maximum.accumulate((n - np.arange(n)) * x[order])
            out = np.empty(n)
            out[order] = np.minimum(1.0, stepped)
            q[ok] = out
    return pd.Series(q, index=p.index, name=p.name) if isinstance(p, pd.Series) else q
