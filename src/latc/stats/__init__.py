"""Statistical analysis (``latc.stats``): results as DataFrames that agree with R's reference packages.

Survival (agree with R ``survival`` 3.5; see docs/stats/survival.md):

- :func:`kaplan_meier` — KM curves, R-compatible CIs and medians, robust variance for weights.
- :func:`logrank` — log-rank test as ``survdiff``, a :class:`TestResult` (statistic, df, p,
  method; the per-group rows in ``.table``).
- :func:`cox` — Cox model as ``coxph`` (Efron/Breslow, strata, weights, robust/cluster).
- :func:`cox_zph` — proportional-hazards score test as ``cox.zph`` (survival >= 3.0).
- :func:`rmst`, :func:`rmst_difference` — restricted mean survival time as ``print(survfit, rmean=)``
  and its contrast between groups as survRM2's ``rmst2``.

Causal inference (agree with MatchIt / WeightIt / cobalt / EValue; see docs/stats/causal.md):

- :func:`propensity`, :func:`match`, :func:`weights`, :func:`balance`, :func:`love_data`,
  :func:`evalue`.

Competing risks (agree with R ``cmprsk`` 2.2; see docs/stats/competing.md):

- :func:`cumulative_incidence`, :func:`gray_test`, :func:`fine_gray`.

Prognostic models (agree with R ``survival`` / ``riskRegression``; see docs/stats/prognostic.md):

- :func:`harrell_c`, :func:`uno_c` (R's G(t−)), :func:`time_dependent_auc`, :func:`brier_score`,
  :func:`calibration`, :func:`prognostic`.

Descriptive and subgroup analyses (agree with tableone's formulas, ``binom.test``, ``coxph`` /
``glm`` / ``svyglm``; see docs/stats/descriptive.md):

- :func:`table_one`, :func:`proportion_ci`, :func:`response_rates`, :func:`subgroups`,
  :func:`p_adjust` (multiple testing, as ``p.adjust``).

Multiple imputation (chained equations as ``mice``; pooling agrees with ``mice::pool``; see
docs/stats/imputation.md):

- :func:`impute`, :func:`impute_fit` (impute and fit in worker processes), :func:`pool`,
  :func:`how_many_imputations` (von Hippel's two-stage rule).

Degenerate input raises :class:`StatsInputError` (a ``ValueError``) naming the column.
"""

from ._cox import CoxResult, cox
from ._errors import StatsInputError
from ._km import KMResult, kaplan_meier
from ._rmst import rmst, rmst_difference
from ._logrank import logrank
from ._test_result import TestResult
from ._zph import cox_zph
from ._balance import balance, effective_sample_size, love_data
from ._evalue import evalue
from ._matching import MatchResult, match
from ._propensity import propensity
from ._weighting import weights
from ._competing import CIFResult, FineGrayResult, cumulative_incidence, fine_gray, gray_test
from ._finegray import finegray_data
from ._frailty import FrailtyCoxResult, frailty_cox
from ._proportion import proportion_ci, response_rates
from ._multiplicity import p_adjust
from ._impute import ImputationsNeeded, ImputedData, ImputedFits, PoolTerms, how_many_imputations, impute, impute_fit, pool
from ._subgroups import subgroups
from ._table_one import table_one
from ._discrimination import ConcordanceResult, brier_score, harrell_c, time_dependent_auc, uno_c
from ._calibration import CalibrationResult, calibration
from ._prognostic import PrognosticResult, prognostic

__all__ = [
    "CoxResult",
    "KMResult",
    "StatsInputError",
    "TestResult",
    "p_adjust",
    "cox",
    "cox_zph",
    "kaplan_meier",
    "rmst",
    "rmst_difference",
    "logrank",
    "FrailtyCoxResult",
    "frailty_cox",
    # causal inference (docs/stats/causal.md)
    "MatchResult",
    "balance",
    "effective_sample_size",
    "evalue",
    "love_data",
    "match",
    "propensity",
    "weights",
    # competing risks (docs/stats/competing.md)
    "CIFResult",
    "FineGrayResult",
    "cumulative_incidence",
    "fine_gray",
    "finegray_data",
    "gray_test",
    # descriptive (docs/stats/descriptive.md)
    "proportion_ci",
    "response_rates",
    # multiple imputation (docs/stats/imputation.md)
    "ImputationsNeeded",
    "ImputedData",
    "ImputedFits",
    "PoolTerms",
    "how_many_imputations",
    "impute",
    "impute_fit",
    "pool",
    # subgroup analyses (docs/stats/descriptive.md)
    "subgroups",
    "table_one",
    # prognostic models (docs/stats/prognostic.md)
    "CalibrationResult",
    "ConcordanceResult",
    "PrognosticResult",
    "brier_score",
    "calibration",
    "harrell_c",
    "prognostic",
    "time_dependent_auc",
    "uno_c",
]
