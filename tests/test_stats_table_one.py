"""Descriptive Table 1 (latc.stats.table_one) against R on survival's lung data.

Goldens from tests/r_desc/desc_goldens.R (R's tableone is not packaged in Debian; its formulas are
reproduced there with the R functions tableone calls):
  tapply(x, g, mean / sd / quantile(type 7)); StdDiff / StdDiffMulti (MASS::ginv, Yang & Dalton 2012)
  oneway.test(x ~ g, var.equal = TRUE); kruskal.test(x ~ g); chisq.test(table(g, x)); fisher.test(table(g, x))
  weighted: svydesign(ids = ~1, weights = ~w); svyby(~x, ~sex, des, svymean / svyvar, na.rm = TRUE);
            svyquantile(~x, subset(des, sex == l), c(.25, .5, .75)); svytable(~sex + x, des)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, balance, table_one

GOLD = Path(__file__).parent / "data" / "r_golden_desc"


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    d = pd.read_csv(GOLD / "lung_desc.csv")
    d["sex"] = pd.Categorical(d["sex"], categories=["male", "female"])
    d["ecog"] = pd.Categorical(d["ecog"].astype("Int64"), categories=[0, 1, 2, 3])
    d["dead"] = pd.Categorical(d["dead"], categories=["alive", "dead"])
    d["agegrp"] = pd.Categorical(d["agegrp"], categories=["<=60", "61-70", ">70"])
    return d


def _gold(name):
    return json.loads((GOLD / f"{name}.json").read_text())


def _both(*args, **kwargs):
    """The display table and the numbers behind it (table_one(..., numbers=True))."""
    return table_one(*args, **kwargs), table_one(*args, numbers=True, **kwargs)


def _numbers(nums, variable):
    return nums[nums["variable"] == variable].set_index(["level", "group"])


def _check_unweighted(tab, nums, gold, group_levels, cont, nonnormal, cat, exact=()):
    first = tab.drop_duplicates("variable").set_index("variable")
    assert [int(x) for x in tab.iloc[0][[str(k) for k in group_levels]]] == \
        [gold["n"][str(k)] for k in group_levels]
    for v in cont + nonnormal:
        g = gold[v]
        num = _numbers(nums, v)
        for k in group_levels:
            row = num.loc[("", k)]
            for stat in ("mean", "sd", "median", "q1", "q3"):
                assert row[stat] == pytest.approx(g[stat][str(k)], rel=1e-9), (v, k, stat)
            assert row["missing"] == g["missing"][str(k)]
        assert first.loc[v, "smd"] == pytest.approx(g["smd"], rel=1e-9)
        want_p = g["p_kruskal"] if v in nonnormal else g["p_anova"]
        assert first.loc[v, "p"] == pytest.approx(want_p, rel=1e-9)
        assert first.loc[v, "missing"] == sum(g["missing"].values())
    for v in cat:
        g = gold[v]
        num = _numbers(nums, v)
        for k in group_levels:
            counts = g["counts"][str(k)]
            for j, lev in enumerate(g["levels"]):
                assert num.loc[(lev, k), "n"] == counts[j]
                assert num.loc[(lev, k), "percent"] == pytest.approx(100 * counts[j] / sum(counts), rel=1e-12)
            assert num.loc[(g["levels"][0], k), "missing"] == g["missing"][str(k)]
        assert first.loc[v, "smd"] == pytest.approx(g["smd"], rel=1e-9)
        want_p = g["p_fisher"] if v in exact else g["p_chisq"]
        assert first.loc[v, "p"] == pytest.approx(want_p, rel=1e-6)


def test_two_groups_agree_with_r(lung):
    gold = _gold("table_one_lung_sex")["result"]
    tab, nums = _both(lung, "sex", ["age", "ecog", "dead", "agegrp", "wt.loss", "meal.cal"],
                      nonnormal=["wt.loss", "meal.cal"])
    _check_unweighted(tab, nums, gold, ["male", "female"], ["age"], ["wt.loss", "meal.cal"], ["ecog", "dead", "agegrp"])
    first = tab.drop_duplicates("variable").set_index("variable")
    assert first.loc["dead", "test"] == "chi-squared (Yates' correction)"     # R chisq.test default for 2x2
    assert first.loc["ecog", "test"] == "chi-squared"
    assert first.loc["age", "statistic"] == "mean (SD)" and first.loc["wt.loss", "statistic"] == "median [IQR]"
    assert first.loc["ecog", "missing"] == 1


def test_fisher_exact_agrees_with_r(lung):
    gold = _gold("table_one_lung_sex")["result"]
    tab, nums = _both(lung, "sex", ["ecog", "dead"], exact=["ecog", "dead"])
    _check_unweighted(tab, nums, gold, ["male", "female"], [], [], ["ecog", "dead"], exact=["ecog", "dead"])


def test_three_groups_mean_pairwise_smd_agrees_with_r(lung):
    gold = _gold("table_one_lung_agegrp")["result"]
    tab, nums = _both(lung, "agegrp", ["age", "ecog", "sex", "dead", "wt.loss"], nonnormal=["wt.loss"])
    _check_unweighted(tab, nums, gold, ["<=60", "61-70", ">70"], ["age"], ["wt.loss"], ["ecog", "sex", "dead"])


def test_binary_and_continuous_smd_are_the_balance_module_smd(lung):
    # the same definition as latc.stats.balance (pooled SD, binary standardized), in absolute value
    tab = table_one(lung, "sex", ["age", "dead"]).drop_duplicates("variable").set_index("variable")
    d = lung.assign(female=lung["sex"] == "female", died=(lung["dead"] == "dead").astype(float))
    bal = balance(d, "female", ["age", "died"], estimand="ATE", binary="std")
    assert tab.loc["age", "smd"] == pytest.approx(abs(bal.loc["age", "diff_un"]), rel=1e-12)
    assert tab.loc["dead", "smd"] == pytest.approx(abs(bal.loc["died", "diff_un"]), rel=1e-12)


def test_weighted_table_agrees_with_survey(lung):
    gold = _gold("table_one_lung_sex_weighted")
    tab, nums = _both(lung, "sex", ["age", "ecog", "dead", "wt.loss", "meal.cal"], weights="w",
                      nonnormal=["wt.loss", "meal.cal"])
    assert not any(isinstance(v, pd.DataFrame) for v in tab.attrs.values())  # no table in attrs
    groups = ["male", "female"]
    n = _numbers(nums, "n")
    for k in groups:
        assert n.loc[("", k), "n"] == pytest.approx(gold["n"][k], rel=1e-12)
    first = tab.drop_duplicates("variable").set_index("variable")
    for v in ("age", "wt.loss", "meal.cal"):
        num = _numbers(nums, v)
        for i, k in enumerate(groups):
            assert num.loc[("", k), "mean"] == pytest.approx(gold[v]["mean"][i], rel=1e-12)
            assert num.loc[("", k), "sd"] == pytest.approx(gold[v]["sd"][i], rel=1e-12)
            got_q = num.loc[("", k), ["q1", "median", "q3"]].to_numpy(float)
            np.testing.assert_allclose(got_q, gold[v]["q"][i])
        assert first.loc[v, "smd_weighted"] == pytest.approx(gold[v]["smd"], rel=1e-9)
    for v in ("ecog", "dead"):
        num = _numbers(nums, v)
        for i, k in enumerate(groups):
            for j, lev in enumerate(gold[v]["levels"]):
                assert num.loc[(lev, k), "n"] == pytest.approx(gold[v]["counts"][str(i + 1)][j], rel=1e-12)
        assert first.loc[v, "smd_weighted"] == pytest.approx(np.mean(gold[v]["smd"]), rel=1e-9)
    # no design-based tests: p is NA, and the unweighted SMD is still reported
    assert first["p"].isna().all()
    unweighted = table_one(lung, "sex", ["age"]).set_index("variable")
    assert first.loc["age", "smd"] == pytest.approx(unweighted.loc["age", "smd"])


def test_formatted_cells(lung):
    tab = table_one(lung, "sex", ["age", "dead", "wt.loss"], nonnormal=["wt.loss"]).set_index(["variable", "level"])
    assert tab.loc[("n", ""), "male"] == "138" and tab.loc[("n", ""), "female"] == "90"
    m = lung.loc[lung["sex"] == "male", "age"]
    assert tab.loc[("age", ""), "male"] == f"{m.mean():.2f} ({m.std():.2f})"
    alive_m = int(((lung["sex"] == "male") & (lung["dead"] == "alive")).sum())
    assert tab.loc[("dead", "alive"), "male"] == f"{alive_m} ({100 * alive_m / 138:.1f})"
    assert tab.loc[("wt.loss", ""), "female"].count("[") == 1


def test_degenerate_variables_do_not_crash():
    d = pd.DataFrame({"cohort": ["a", "a", "b", "b", "b"], "empty": [np.nan] * 5,
                      "same": ["x"] * 5, "age": [50.0, 60.0, 55.0, np.nan, 65.0]})
    tab = table_one(d, "cohort", ["empty", "same", "age"]).set_index("variable")
    assert tab.loc["empty", "statistic"] == "all missing" and tab.loc["empty", "missing"] == 5
    assert tab.loc["same", "smd"] == 0.0 and np.isnan(tab.loc["same", "p"])
    assert "not computed" in tab.loc["same", "test"]
    assert tab.loc["age", "missing"] == 1


@pytest.mark.parametrize("kwargs,match", [
    ({"variables": ["nope"]}, "not found"),
    ({"variables": ["age"], "nonnormal": ["bmi"]}, "not among the variables"),
    ({"variables": ["cohort"]}, "cannot also be a row variable"),
    ({"variables": ["age"], "weights": "w"}, "weights column 'w'"),
    ({"variables": ["stage"], "nonnormal": ["stage"]}, "categorical"),
])
def test_invalid_arguments_raise(kwargs, match):
    d = pd.DataFrame({"cohort": ["a", "b", "a"], "age": [1.0, 2.0, 3.0], "stage": ["I", "II", "I"],
                      "w": [1.0, np.nan, 2.0]})
    with pytest.raises(StatsInputError, match=match):
        table_one(d, "cohort", **kwargs)


def test_fisher_exact_three_groups_agrees_with_r(lung):
    # fisher.test(table(agegrp, sex)) and fisher.test(table(agegrp, dead)): 3 x 2 tables
    gold = _gold("table_one_lung_agegrp")["result"]
    tab, nums = _both(lung, "agegrp", ["sex", "dead"], exact=["sex", "dead"])
    _check_unweighted(tab, nums, gold, ["<=60", "61-70", ">70"], [], [], ["sex", "dead"], exact=["sex", "dead"])
    with pytest.raises(StatsInputError, match="use chi-squared"):
        table_one(lung, "agegrp", ["ecog"], exact=["ecog"])      # 3 x 4: not enumerated
