"""rmst / rmst_difference against R survival 3.5-3 (tests/r/rmst_goldens.R → r_golden/rmst.json)
and survRM2's documented formulas for the between-group contrast (Uno et al., JCO 2014)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from latc.stats import StatsInputError, rmst, rmst_difference

GOLD = Path(__file__).parent / "data" / "r_golden"
CASES = json.loads((GOLD / "rmst.json").read_text())


def data(name: str) -> pd.DataFrame:
    df = pd.read_csv(GOLD / f"{name}.csv")
    if name == "veteran":  # R's factor level order
        df["celltype"] = pd.Categorical(df["celltype"], ["squamous", "smallcell", "adeno", "large"])
    return df


SPECS = {  # golden case → (data set, time, event, group)
    "lung_sex_365": ("lung", "time", "event", "sex"),
    "lung_sex_306": ("lung", "time", "event", "sex"),
    "lung_all_1200": ("lung", "time", "event", None),
    "veteran_celltype_100": ("veteran", "time", "status", "celltype"),
    "ovarian_rx_700": ("ovarian", "futime", "fustat", "rx"),
}


@pytest.mark.parametrize("case", sorted(SPECS))
def test_rmst_and_its_se_equal_r_survfit_rmean(case):
    gold = CASES[case]
    name, time, event, group = SPECS[case]
    if case == "lung_all_1200":  # beyond the last time: R's value, with a warning
        with pytest.warns(UserWarning, match="extrapolation"):
            res = rmst(data(name), time, event, group, tau=gold["tau"])
    else:
        res = rmst(data(name), time, event, group, tau=gold["tau"])
    np.testing.assert_allclose(res["rmst"], np.atleast_1d(gold["rmean"]), rtol=1e-12)
    np.testing.assert_allclose(res["se"], np.atleast_1d(gold["se"]), rtol=1e-10)
    assert res["n"].tolist() == list(np.atleast_1d(gold["n"])) and res["events"].tolist() == list(np.atleast_1d(gold["events"]))
    z = norm.ppf(0.975)
    np.testing.assert_allclose(res["lower"], res["rmst"] - z * res["se"], rtol=1e-14)


def test_without_censoring_rmst_is_the_mean_of_min_time_tau():
    # an identity independent of R: with no censoring the KM curve is the empirical survival, so its
    # area up to tau is mean(min(T, tau))
    rng = np.random.default_rng(3)
    t = np.round(rng.exponential(20, 300), 1)
    df = pd.DataFrame({"t": t, "e": 1})
    res = rmst(df, "t", "e", tau=25.0)
    assert res["rmst"].iloc[0] == pytest.approx(np.minimum(t, 25.0).mean(), rel=1e-12)


def test_difference_and_ratio_follow_survrm2():
    # survRM2::rmst2 "unadjusted": difference with SE sqrt(se1^2 + se0^2), ratio with the delta-method
    # SE of its log; arm values are R's (lung, sex 2 vs 1, tau 365)
    g = CASES["lung_sex_365"]
    (m0, m1), (s0, s1) = g["rmean"], g["se"]
    res = rmst_difference(data("lung"), "time", "event", "sex", tau=365)
    r = res.iloc[0]
    assert (r["group"], r["reference"]) == (2, 1)
    se = np.hypot(s0, s1)
    assert r["difference"] == pytest.approx(m1 - m0, rel=1e-12) and r["se"] == pytest.approx(se, rel=1e-10)
    assert r["p"] == pytest.approx(2 * norm.sf(abs(m1 - m0) / se), rel=1e-8)
    sl = np.sqrt((s1 / m1) ** 2 + (s0 / m0) ** 2)
    assert r["ratio_lower"] == pytest.approx(m1 / m0 * np.exp(-norm.ppf(0.975) * sl), rel=1e-10)
    # women (sex 2) live on average ~56 days more of the first year: the CI excludes 0
    assert r["lower"] > 0


def test_reference_group_and_tau_beyond_follow_up_are_checked():
    lung = data("lung")
    res = rmst_difference(lung, "time", "event", "sex", tau=365, reference=2)
    assert res["group"].tolist() == [1] and res["difference"].iloc[0] < 0
    with pytest.raises(StatsInputError, match="beyond the last follow-up time of group"):
        rmst_difference(lung, "time", "event", "sex", tau=1000)  # women's last time is 965 days
    with pytest.raises(StatsInputError, match="not a level"):
        rmst_difference(lung, "time", "event", "sex", tau=365, reference=3)
    with pytest.raises(StatsInputError, match="positive"):
        rmst(lung, "time", "event", tau=0)
    with pytest.raises(StatsInputError, match="rmst: tau must be a positive number"):
        rmst(lung, "time", "event", tau="365")  # was a numpy TypeError
    with pytest.raises(StatsInputError, match="^rmst: "):  # named for the function called, not kaplan_meier
        rmst(lung.assign(time=lung["time"].where(lung.index != 3)), "time", "event", tau=365)
    with pytest.warns(UserWarning, match="beyond the last follow-up time of all"):
        rmst(lung, "time", "event", tau=1200)
    with pytest.raises(TypeError):
        rmst(lung, "time", "event", "sex", 365)  # tau is keyword-only
