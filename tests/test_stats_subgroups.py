"""Subgroup analyses (latc.stats.subgroups) against R on lifelines' rossi data.

Goldens from tests/r_desc/desc_goldens.R (data: tests/data/r_golden_desc/rossi_subgroups.csv,
agegrp = cut(age, c(0, 19, 24, 100)), iptw from glm(fin ~ age + race + wexp + mar + paro + prio)):
  per level  coxph(Surv(week, arrest) ~ fin + prio, data = level)            [+ weights = iptw, robust = TRUE]
  per level  glm(arrest ~ fin + prio, binomial), Wald CI (confint.default)
  per level  svyglm(arrest ~ fin + prio, svydesign(ids = ~1, weights = ~iptw), quasibinomial())
  interaction  anova(coxph(~ fin + s + prio), coxph(~ fin * s + prio))      (LRT)
               anova(glm(~ fin + s + prio), glm(~ fin * s + prio), test = "LRT")
               Wald chi-square of the fin:s coefficients with the robust / svyglm variance (weighted)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, subgroups

GOLD = Path(__file__).parent / "data" / "r_golden_desc"
VARS = ["race", "wexp", "mar", "agegrp"]


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    d = pd.read_csv(GOLD / "rossi_subgroups.csv")
    d["agegrp"] = pd.Categorical(d["agegrp"], categories=["<=19", "20-24", ">=25"])
    return d


def _compare(got: pd.DataFrame, name: str, est_tol=1e-6, se_tol=1e-6):
    g = json.loads((GOLD / f"{name}.json").read_text())
    want = pd.DataFrame(g["rows"])
    body = got[got["subgroup"] != "Overall"].reset_index(drop=True)
    assert list(body["subgroup"]) == list(want["subgroup"])
    assert list(body["level"]) == [str(x) for x in want["level"]]
    assert list(body["n"]) == list(want["n"]) and list(body["events"]) == list(want["events"])
    np.testing.assert_allclose(np.log(body["estimate"]), want["coef"], rtol=est_tol, atol=1e-9)
    np.testing.assert_allclose(body["lower"], want["lower"], rtol=se_tol)
    np.testing.assert_allclose(body["upper"], want["upper"], rtol=se_tol)
    np.testing.assert_allclose(body["p"], want["p"], rtol=se_tol)
    for var, p in g["p_interaction"].items():
        got_p = body.loc[body["subgroup"] == var, "p_interaction"].unique()
        assert len(got_p) == 1
        assert got_p[0] == pytest.approx(p, rel=se_tol)


def test_cox_subgroups_agree_with_r(rossi):
    res = subgroups(rossi, "fin", ("week", "arrest"), VARS, adjust=["prio"])
    assert list(res.columns[:10]) == ["subgroup", "level", "n", "events", "measure", "estimate", "lower",
                                      "upper", "p", "p_interaction"]
    assert res.iloc[0][["subgroup", "level", "n", "events"]].tolist() == ["Overall", "All", 432, 114]
    assert (res["measure"] == "HR").all()
    assert (res.loc[1:, "interaction_test"] == "likelihood ratio").all()
    _compare(res, "subgroups_rossi_cox")


def test_weighted_cox_subgroups_agree_with_r(rossi):
    res = subgroups(rossi, "fin", ("week", "arrest"), VARS, adjust=["prio"], weights="iptw")
    assert (res.loc[1:, "interaction_test"] == "Wald (robust variance)").all()
    _compare(res, "subgroups_rossi_cox_weighted", se_tol=1e-3)      # robust SEs: 1e-3 relative


def test_logistic_subgroups_agree_with_r(rossi):
    res = subgroups(rossi, "fin", "arrest", VARS, adjust=["prio"])
    assert (res["measure"] == "OR").all()
    _compare(res, "subgroups_rossi_logistic")


def test_weighted_logistic_subgroups_agree_with_svyglm(rossi):
    res = subgroups(rossi, "fin", "arrest", VARS, model="logistic", adjust=["prio"], weights="iptw")
    _compare(res, "subgroups_rossi_logistic_weighted", se_tol=1e-3)


def test_degenerate_levels_give_a_note_not_a_crash(rossi):
    d = rossi.copy()
    d["site"] = np.where(d.index < 30, "A", "B")
    d.loc[d["site"] == "A", "arrest"] = 0                  # no events at site A
    d["stage"] = np.where(d.index >= len(d) - 40, "early", "late")
    d.loc[d["stage"] == "early", "fin"] = 1                 # one treatment group only
    d["constant"] = "x"
    d["empty"] = pd.Series([None] * len(d), dtype="str")
    res = subgroups(d, "fin", ("week", "arrest"), ["site", "stage", "constant", "empty"])
    r = res.set_index(["subgroup", "level"])
    assert np.isnan(r.loc[("site", "A"), "estimate"]) and r.loc[("site", "A"), "note"] == "no events"
    assert r.loc[("site", "A"), "n"] == 30
    assert np.isfinite(r.loc[("site", "B"), "estimate"])
    assert "only the treated group" in r.loc[("stage", "early"), "note"]
    assert "single level" in r.loc[("constant", "x"), "note"]
    assert np.isnan(r.loc[("constant", "x"), "p_interaction"])
    assert r.loc[("empty", "missing"), "note"] == "all values missing"
    # the interaction model with a no-event level is not estimable: stated, not raised
    assert np.isnan(r.loc[("site", "A"), "p_interaction"])
    assert r.loc[("site", "A"), "interaction_test"].startswith("not estimable")


def test_separation_in_a_logistic_subgroup_gives_a_note(rossi):
    d = rossi.copy()
    d["site"] = np.where(d.index < 60, "A", "B")
    a = d["site"] == "A"
    d.loc[a, "arrest"] = d.loc[a, "fin"]                    # outcome = treatment at site A
    res = subgroups(d, "fin", "arrest", ["site"]).set_index(["subgroup", "level"])
    assert np.isnan(res.loc[("site", "A"), "estimate"])
    assert "separation" in res.loc[("site", "A"), "note"]


def test_missing_subgroup_values_are_left_out_of_that_variable(rossi):
    d = rossi.copy()
    d["race"] = d["race"].astype(float)
    d.loc[:9, "race"] = np.nan
    res = subgroups(d, "fin", ("week", "arrest"), ["race"])
    assert res.loc[res["subgroup"] == "race", "n"].sum() == len(d) - 10
    assert res.iloc[0]["n"] == len(d)


@pytest.mark.parametrize("kwargs,match", [
    ({"model": "poisson"}, "model must be"),
    ({"outcome": "arrest", "model": "cox"}, "needs outcome=\\(time, event\\)"),
    ({"subgroup_vars": ["nope"]}, "not found"),
    ({"subgroup_vars": ["prio"], "adjust": ["prio"]}, "cannot be both"),
])
def test_invalid_arguments_raise(rossi, kwargs, match):
    args = {"outcome": ("week", "arrest"), "subgroup_vars": ["race"], **kwargs}
    with pytest.raises(StatsInputError, match=match):
        subgroups(rossi, "fin", **args)
