"""Statistical analysis (``latc.stats``): results as DataFrames that agree with R's reference packages.

Survival (agree with R ``survival`` 3.5; see docs/stats/survival.md):

- :func:`kaplan_meier` — KM curves, R-compatible CIs and medians, robust variance for weights.
- :func:`logrank` — log-rank test as ``survdiff``.
- :func:`cox` — Cox model as ``coxph`` (Efron/Breslow, strata, weights, robust/cluster).
- :func:`cox_zph` — proportional-hazards score test as ``cox.zph`` (survival >= 3.0).

Degenerate input raises :class:`StatsInputError` (a ``ValueError``) naming the column.
"""

from ._cox import CoxResult, cox
from ._errors import StatsInputError
from ._km import KMResult, kaplan_meier
from ._logrank import logrank
from ._zph import cox_zph

__all__ = [
    "CoxResult",
    "KMResult",
    "StatsInputError",
    "cox",
    "cox_zph",
    "kaplan_meier",
    "logrank",
]
