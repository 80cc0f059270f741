"""E-values: VanderWeele & Ding, Ann Intern Med 2017;167:268-274, and R's EValue examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latc.stats import StatsInputError, evalue


def test_paper_breastfeeding_example():
    # Paper's worked example (Victora 1987): RR 3.9 (95% CI 1.8-8.7) -> E-values 7.26 and 3.0;
    # EValue vignette: evalues.OR(est = 3.9, lo = 1.8, hi = 8.7, rare = TRUE)
    e = evalue(3.9, 1.8, 8.7, measure="OR", rare=True)
    assert round(e.loc["E-value", "point"], 2) == 7.26
    assert e.loc["E-value", "lower"] == pytest.approx(3.0, abs=1e-12)   # 1.8 + sqrt(1.8 x 0.8)
    assert np.isnan(e.loc["E-value", "upper"])


def test_paper_smoking_lung_cancer_example():
    # Paper: RR 10.73 (8.02-14.36) -> E-values 20.95 and 15.52 (EValue vignette evalues.RR)
    e = evalue(10.73, 8.02, 14.36)
    assert round(e.loc["E-value", "point"], 2) == 20.95
    assert round(e.loc["E-value", "lower"], 2) == 15.52


def test_paper_protective_leukemia_example():
    # Paper / EValue ?evalues.RR: RR 0.80 (0.71-0.91) -> 1.81 and 1.43 (the upper limit is closest to 1)
    e = evalue(0.80, 0.71, 0.91)
    assert round(e.loc["E-value", "point"], 2) == 1.81
    assert round(e.loc["E-value", "upper"], 2) == 1.43
    assert np.isnan(e.loc["E-value", "lower"])
    # symmetry: 1/0.80 has the same E-value (EValue example evalues.RR(1 / 0.80))
    assert evalue(1 / 0.80).loc["E-value", "point"] == pytest.approx(e.loc["E-value", "point"])


def test_common_outcome_hr_conversion():
    # EValue ?evalues.HR: evalues.HR(0.56, 0.46, 0.69, rare = FALSE); conversion of Table 2:
    # RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))
    e = evalue(0.56, 0.46, 0.69, measure="HR", rare=False)
    rr = (1 - 0.5 ** math.sqrt(0.56)) / (1 - 0.5 ** math.sqrt(1 / 0.56))
    assert e.loc["RR", "point"] == pytest.approx(rr)
    assert round(e.loc["E-value", "point"], 2) == 2.35
    assert round(e.loc["E-value", "upper"], 2) == 1.91
    # rare outcome: HR taken as RR
    assert evalue(0.56, measure="HR", rare=True).loc["RR", "point"] == 0.56


def test_common_outcome_or_uses_square_root():
    # EValue ?evalues.OR: evalues.OR(0.86, 0.75, 0.99, rare = FALSE): RR = sqrt(OR)
    e = evalue(0.86, 0.75, 0.99, measure="OR", rare=False)
    assert e.loc["RR", "point"] == pytest.approx(math.sqrt(0.86))
    assert round(e.loc["E-value", "point"], 2) == 1.37
    assert round(e.loc["E-value", "upper"], 2) == 1.08


def test_interval_including_one_gives_one():
    assert evalue(1.2, 0.9, 1.5).loc["E-value", "lower"] == 1.0
    assert evalue(0.8, 0.6, 1.1).loc["E-value", "upper"] == 1.0


@pytest.mark.parametrize("args, kwargs, message", [
    ((0.0,), {}, "positive"),
    ((1.5, 1.7, 2.0), {}, "above the estimate"),
    ((1.5, 1.2, 1.4), {}, "below the estimate"),
    ((1.5,), {"measure": "RD"}, "measure"),
    ((float("nan"),), {}, "positive"),
])
def test_evalue_bad_input(args, kwargs, message):
    with pytest.raises(StatsInputError, match=message):
        evalue(*args, **kwargs)


# --- a non-null true value (EValue's `true=`): the expected values of the EValue package's own test
# suite (mayamathur/evalue_package, EValue/tests/testthat, "EVALUE: VARIOUS TRUE VALUES" and
# "Common HR"/"Common OR"), the six positions of the true value around an estimate and its CI

def _f(r):  # the E-value of a ratio r >= 1 (VanderWeele & Ding 2017)
    return r + math.sqrt(r * (r - 1))


@pytest.mark.parametrize("est, lo, hi, true, point, lower, upper", [
    # causative 1.3 (1.1-1.4)
    (1.3, 1.1, 1.4, 1.05, _f(1.3 / 1.05), _f(1.1 / 1.05), None),   # true below the CI
    (1.3, 1.1, 1.4, 1.1, _f(1.3 / 1.1), 1.0, None),                 # true = the lower limit
    (1.3, 1.1, 1.4, 1.2, _f(1.3 / 1.2), 1.0, None),                 # inside the CI, below the estimate
    (1.3, 1.1, 1.4, 1.35, _f(1.35 / 1.3), None, 1.0),               # inside the CI, above the estimate
    (1.3, 1.1, 1.4, 1.4, _f(1.4 / 1.3), None, 1.0),
    (1.3, 1.1, 1.4, 1.5, _f(1.5 / 1.3), None, _f(1.5 / 1.4)),       # true above the CI
    # preventive 0.6 (0.5-0.7)
    (0.6, 0.5, 0.7, 0.4, _f(0.6 / 0.4), _f(0.5 / 0.4), None),
    (0.6, 0.5, 0.7, 0.55, _f(0.6 / 0.55), 1.0, None),
    (0.6, 0.5, 0.7, 0.65, _f(0.65 / 0.6), None, 1.0),
    (0.6, 0.5, 0.7, 0.75, _f(0.75 / 0.6), None, _f(0.75 / 0.7)),
])
def test_evalue_against_a_non_null_true_value(est, lo, hi, true, point, lower, upper):
    e = evalue(est, lo, hi, true=true).loc["E-value"]
    assert e["point"] == pytest.approx(point, rel=1e-12)
    for got, want in ((e["lower"], lower), (e["upper"], upper)):
        assert np.isnan(got) if want is None else got == pytest.approx(want, rel=1e-12)


def test_true_value_is_converted_like_the_estimate():
    # common outcome: HR 1.3 (1.2-1.4) against a true HR of 1.1; OR 5 (3-) against a true OR of 2
    def hr_rr(h):
        return (1 - 0.5 ** math.sqrt(h)) / (1 - 0.5 ** math.sqrt(1 / h))
    e = evalue(1.3, 1.2, 1.4, measure="HR", rare=False, true=1.1).loc["E-value"]
    assert e["point"] == pytest.approx(_f(hr_rr(1.3) / hr_rr(1.1)), rel=1e-12)
    assert e["lower"] == pytest.approx(_f(hr_rr(1.2) / hr_rr(1.1)), rel=1e-12) and np.isnan(e["upper"])
    e = evalue(5, 3, measure="OR", rare=False, true=2).loc["E-value"]
    assert e["point"] == pytest.approx(_f(math.sqrt(5) / math.sqrt(2)), rel=1e-12)
    assert e["lower"] == pytest.approx(_f(math.sqrt(3) / math.sqrt(2)), rel=1e-12)
    # the rare-outcome HR: EValue's evalues.HR(0.3, true = 0.4, rare = TRUE)
    assert evalue(0.3, measure="HR", true=0.4).loc["E-value", "point"] == pytest.approx(_f(0.4 / 0.3), rel=1e-12)
    assert evalue(0.9, true=0.9).loc["E-value", "point"] == 1.0
    with pytest.raises(StatsInputError, match="true"):
        evalue(1.3, true=0)
