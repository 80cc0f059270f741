"""Proportion confidence intervals and response-rate tables (latc.stats.proportion_ci / response_rates).

Goldens: tests/data/r_golden_desc/proportion_ci.json from tests/r_desc/desc_goldens.R —
``binom.test(x, n, conf.level)$conf.int`` (Clopper–Pearson), ``prop.test(x, n, conf.level,
correct = FALSE)$conf.int`` (Wilson); Agresti–Coull and Jeffreys by their published formulas in R.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, proportion_ci, response_rates

GOLD = Path(__file__).parent / "data" / "r_golden_desc"


@pytest.fixture(scope="module")
def golden() -> pd.DataFrame:
    return pd.DataFrame(json.loads((GOLD / "proportion_ci.json").read_text())["rows"])


@pytest.mark.parametrize("method,prefix", [("clopper-pearson", "cp"), ("wilson", "wilson"),
                                           ("agresti-coull", "ac"), ("jeffreys", "jeffreys")])
def test_intervals_agree_with_r(golden, method, prefix):
    for conf, g in golden.groupby("conf"):
        got = proportion_ci(g["x"].to_numpy(), g["n"].to_numpy(), method=method, conf_level=conf)
        np.testing.assert_allclose(got["lower"], g[f"{prefix}_lower"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(got["upper"], g[f"{prefix}_upper"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(got["proportion"], g["x"] / g["n"], rtol=0, atol=1e-15)


def test_edges_zero_and_all_successes():
    # binom.test(0, 20): [0, 1 - 0.025^(1/20)]; binom.test(20, 20): [0.025^(1/20), 1]
    got = proportion_ci([0, 20], [20, 20])
    assert got["lower"][0] == 0.0 and got["upper"][1] == 1.0
    assert got["upper"][0] == pytest.approx(1 - 0.025 ** (1 / 20), abs=1e-12)
    assert got["lower"][1] == pytest.approx(0.025 ** (1 / 20), abs=1e-12)
    for method in ("wilson", "agresti-coull", "jeffreys"):
        ci = proportion_ci([0, 20], [20, 20], method=method)
        assert ci["lower"][0] == pytest.approx(0.0, abs=1e-15) and ci["upper"][1] == pytest.approx(1.0)
        assert (ci["lower"] >= 0).all() and (ci["upper"] <= 1).all()


def test_scalar_and_broadcast():
    one = proportion_ci(7, 47)
    assert len(one) == 1 and one["successes"][0] == 7
    many = proportion_ci([1, 2, 3], 10)
    assert list(many["n"]) == [10, 10, 10]
    assert (np.diff(many["lower"]) > 0).all()


@pytest.mark.parametrize("x,n", [(-1, 10), (11, 10), (1.5, 10), (0, 0), (np.nan, 5)])
def test_invalid_counts_raise(x, n):
    with pytest.raises(StatsInputError):
        proportion_ci(x, n)


def test_invalid_method_and_level():
    with pytest.raises(StatsInputError, match="method"):
        proportion_ci(1, 2, method="wald")
    with pytest.raises(StatsInputError, match="conf_level"):
        proportion_ci(1, 2, conf_level=95)


def test_response_rates_by_subgroup_counts_and_exact_ci():
    df = pd.DataFrame({
        "objective_response": [1, 0, 1, None, 1, 0, 0, 1],
        "histology": ["PTC", "PTC", "PTC", "ATC", "ATC", "ATC", "FTC", "FTC"],
    })
    tab = response_rates(df, "objective_response", by="histology")
    assert list(tab["histology"]) == ["All", "ATC", "FTC", "PTC"]
    all_row = tab.iloc[0]
    # 4 responders among 7 evaluable patients; the missing outcome is not evaluable
    assert (all_row["responders"], all_row["n"], all_row["not_evaluable"]) == (4, 7, 1)
    atc = tab.set_index("histology").loc["ATC"]
    assert (atc["responders"], atc["n"], atc["not_evaluable"]) == (1, 2, 1)
    ref = proportion_ci(1, 2)
    assert atc["lower"] == pytest.approx(ref["lower"][0]) and atc["upper"] == pytest.approx(ref["upper"][0])
    assert "clopper-pearson" in atc["method"]


def test_response_rates_group_without_evaluable_patient_gets_note():
    df = pd.DataFrame({"pcr": [1.0, 0.0, np.nan], "arm": ["a", "a", "b"]})
    tab = response_rates(df, "pcr", by="arm").set_index("arm")
    assert np.isnan(tab.loc["b", "rate"]) and tab.loc["b", "note"] == "no evaluable patient"
    assert tab.loc["a", "rate"] == 0.5


def test_response_rates_refuses_non_binary_outcome():
    df = pd.DataFrame({"bor": ["CR", "PR", "SD"]})
    with pytest.raises(StatsInputError, match="bor"):
        response_rates(df, "bor")
    with pytest.raises(StatsInputError, match="row 2"):
        response_rates(pd.DataFrame({"y": [0, 1, 2]}), "y")
    with pytest.raises(StatsInputError, match="not found"):
        response_rates(pd.DataFrame({"y": [0, 1]}), "y", by="arm")
