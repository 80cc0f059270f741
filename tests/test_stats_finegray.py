"""finegray_data — the Fine–Gray counting-process expansion — against R survival 3.5-3's ``finegray``,
and the Fine–Gray model fitted on it with ``cox(..., start=, weights=)`` against ``coxph`` and
``cmprsk::crr`` (tests/r/finegray_goldens.R → tests/data/r_golden/finegray_<case>.json; each JSON
holds the R calls).

Data: survival's mgus2 (months, many ties), cmprsk's ``?crr`` example (continuous times), the
hand-crafted ties data of tests/data/r_golden_competing/ and a simulated multicenter cohort
(tests/data/r_golden/fg_cohort.csv). Tolerances: the expansion is exact arithmetic on R's rule
(1e-12); the Cox fits on it iterate like R's (coefficients and SEs 1e-8 — measured ≈ 1e-14).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, cox, fine_gray, finegray_data

GOLD = Path(__file__).parent / "data" / "r_golden"
COMPETING = Path(__file__).parent / "data" / "r_golden_competing"


def golden(name: str) -> dict:
    return json.loads((GOLD / f"finegray_{name}.json").read_text())


def dataset(name: str) -> pd.DataFrame:
    if name == "ties":
        df = pd.read_csv(COMPETING / "ties.csv")
        return df.assign(id=np.arange(1, len(df) + 1))
    if name == "example":
        df = pd.read_csv(COMPETING / "cmprsk_crr_example.csv")
        return df.assign(id=np.arange(1, len(df) + 1))
    if name == "mgus2":       # complete cases in age, sex, hgb, as the R script
        return pd.read_csv(COMPETING / "mgus2.csv").dropna(subset=["age", "sex", "hgb"])
    df = pd.read_csv(GOLD / "fg_cohort.csv")
    df["histology"] = pd.Categorical(df["histology"], ["PTC", "FTC", "PDTC"])
    return df


# case → (data, time, event type, cause, censoring strata, id, covariates)
CASES = {
    "ties": ("ties", "time", "cause", 1, None, "id", ["x", "arm"]),
    "ties_death": ("ties", "time", "cause", 2, None, "id", ["x", "arm"]),
    "ties_strata": ("ties", "time", "cause", 1, "site", "id", ["x", "arm"]),
    "example": ("example", "ftime", "fstatus", 1, None, "id", ["x1", "x2", "x3"]),
    "mgus2_pcm": ("mgus2", "etime", "event", 1, None, "id", ["age", "sex", "hgb"]),
    "mgus2_death": ("mgus2", "etime", "event", 2, None, "id", ["age", "sex", "hgb"]),
    "mgus2_pcm_strata": ("mgus2", "etime", "event", 1, "sex", "id", ["age", "sex", "hgb"]),
    "cohort": ("cohort", "time", "event_type", 1, None, "patient_id", ["arm", "age", "histology"]),
    "cohort_strata": ("cohort", "time", "event_type", 1, "arm", "patient_id", ["arm", "age", "histology"]),
}


def expand(case: str) -> pd.DataFrame:
    name, time, ev, cause, strata, key, _ = CASES[case]
    return finegray_data(dataset(name), time, ev, cause=cause, strata=strata, id=key)


def r_name(term: str) -> str:
    """latc's coefficient name as R's model.matrix spells it (sex[M] → sexM)."""
    return re.sub(r"\[(.*)\]$", r"\1", term)


@pytest.mark.parametrize("case", list(CASES))
def test_expansion_equals_r_finegray(case):
    g = golden(case)["expanded"]
    fg = expand(case)
    key = CASES[case][5]
    assert len(fg) == g["nrow"]
    assert fg["fgstatus"].sum() == g["events"]
    assert fg["fgwt"].sum() == pytest.approx(g["sum_wt"], rel=1e-12)
    if "rows" in g:   # every row, in R's order
        r = g["rows"]
        assert fg[key].tolist() == r["id"]
        for col in ("fgstart", "fgstop", "fgwt"):
            np.testing.assert_allclose(fg[col], r[col], rtol=1e-12, atol=1e-12)
        assert fg["fgstatus"].tolist() == r["fgstatus"]
    else:             # per patient: rows, Σ weight, Σ weight × interval length
        p = g["per_id"]
        fg["wlen"] = fg["fgwt"] * (fg["fgstop"] - fg["fgstart"])
        agg = fg.groupby(key).agg(n=("fgwt", "size"), w=("fgwt", "sum"), wlen=("wlen", "sum")).loc[p["id"]]
        assert agg["n"].tolist() == p["n"]
        np.testing.assert_allclose(agg["w"], p["sum_wt"], rtol=1e-12)
        np.testing.assert_allclose(agg["wlen"], p["sum_wt_len"], rtol=1e-12)


def _fit_from_call(fg: pd.DataFrame, covariates: list[str], call: str):
    strata = re.search(r"strata\((\w+)\)", call)
    cluster = re.search(r"cluster = (\w+)", call)
    st = strata.group(1) if strata else None
    return cox(fg, "fgstop", "fgstatus", [c for c in covariates if c != st], start="fgstart", weights="fgwt",
               ties="breslow" if "breslow" in call else "efron", strata=st,
               cluster=cluster.group(1) if cluster else None)


@pytest.mark.parametrize("case, fit_name", [(c, f) for c in CASES for f in golden(c)["fits"]])
def test_cox_on_the_expansion_equals_r_coxph(case, fit_name):
    # R: coxph(Surv(fgstart, fgstop, fgstatus) ~ ..., weights = fgwt, data = finegray(...)) — its
    # default robust variance (non-integer weights) per row, or per patient with cluster = id
    g = golden(case)["fits"][fit_name]
    fit = _fit_from_call(expand(case), CASES[case][6], g["call"])
    assert [r_name(t) for t in fit.summary.index] == g["names"]
    np.testing.assert_allclose(fit.coef, g["coef"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.summary["se"], g["se"], rtol=1e-8)
    np.testing.assert_allclose(fit.summary["robust_se"], g["robust_se"], rtol=1e-8)
    np.testing.assert_allclose(fit.loglik, g["loglik"], rtol=1e-10)
    assert (fit.n, fit.events) == (g["n"], g["nevent"])


def test_finegray_coxph_equals_crr_without_ties():
    # ?crr example, continuous times: crr (tight) and finegray + Breslow coxph solve one estimating
    # equation — R: 1e-14 apart; latc's fine_gray and finegray_data + cox likewise
    g = golden("example")
    fit = _fit_from_call(expand("example"), ["x1", "x2", "x3"], g["fits"]["cluster"]["call"])
    np.testing.assert_allclose(g["fits"]["breslow"]["coef"], g["crr"]["tight"]["coef"], atol=1e-12)
    np.testing.assert_allclose(fit.coef, g["crr"]["tight"]["coef"], atol=1e-10)
    fg = fine_gray(dataset("example"), "ftime", "fstatus", ["x1", "x2", "x3"], gtol=1e-12, max_iter=50)
    np.testing.assert_allclose(fit.coef, fg.coef, atol=1e-10)
    # the SEs differ: crr's sandwich includes the estimation of G (ψ), coxph's robust one does not
    se_crr, se_cox = np.array(g["crr"]["tight"]["se"]), fit.summary["robust_se"].to_numpy()
    np.testing.assert_allclose(fg.summary["se"], se_crr, rtol=1e-6)
    assert 0 < np.max(np.abs(se_cox / se_crr - 1)) < 0.002


@pytest.mark.parametrize("case, max_diff", [("mgus2_pcm", 5e-4), ("mgus2_death", 2e-4), ("cohort", 1e-4)])
def test_tied_censoring_makes_finegray_and_crr_differ_slightly(case, max_diff):
    # finegray counts an event at t before a censoring at t (the censored patient is in G's risk
    # set, the failed one is not); crr keeps both in G's risk set. With tied times the weights, and
    # the estimates, differ a little — the size documented in docs/stats/competing.md
    g = golden(case)
    r_fg = np.array(g["fits"]["cluster" if "cluster" in g["fits"] else "breslow"]["coef"])
    r_crr = np.array(g["crr"]["tight"]["coef"])
    diff = np.max(np.abs(r_fg - r_crr))
    assert 1e-6 < diff < max_diff
    name, time, ev, cause, _, key, covs = CASES[case]
    df = dataset(name)
    fit = cox(finegray_data(df, time, ev, cause=cause, id=key), "fgstop", "fgstatus", covs, start="fgstart",
              weights="fgwt", cluster=key, ties="breslow")
    crr = fine_gray(df, time, ev, covs, cause=cause, gtol=1e-12, max_iter=50)
    np.testing.assert_allclose(fit.coef, r_fg, atol=1e-10)
    np.testing.assert_allclose(crr.coef, r_crr, atol=1e-8)


def test_breaking_the_ties_makes_finegray_and_crr_agree():
    # move every censoring 1e-6 after its tied events: both G's are then the same and the two
    # estimates coincide — the tie convention is the whole difference
    df = dataset("ties")
    df["time"] = df["time"] + np.where(df["cause"] == 0, 1e-6, 0.0)
    fit = cox(finegray_data(df, "time", "cause", cause=1, id="id"), "fgstop", "fgstatus", ["x", "arm"],
              start="fgstart", weights="fgwt", ties="breslow")
    crr = fine_gray(df, "time", "cause", ["x", "arm"], gtol=1e-12, max_iter=50)
    np.testing.assert_allclose(fit.coef, crr.coef, atol=1e-9)
    g = golden("ties")
    assert np.max(np.abs(np.array(g["fits"]["breslow"]["coef"]) - g["crr"]["tight"]["coef"])) > 1e-3


def test_expansion_rules_on_a_worked_example():
    # times 1..6; censored at 2, 4 and 6, competing death at 3, events of the cause at 1, 3 and 5.
    # G: 1 until 2, then 5/6 (6 at risk at 2: the five later times and the censored patient), then
    # 5/6 · 2/3 after 4 (3 at risk at 4).
    df = pd.DataFrame({"t": [1, 2, 3, 3, 4, 5, 6], "ev": [1, 0, 2, 1, 0, 1, 0], "pid": list("abcdefg")})
    fg = finegray_data(df, "t", "ev", cause=1, id="pid", count="k")
    death = fg[fg["pid"] == "c"]
    # the death at 3 runs to the next censoring (4), then (4, 6] — the last interval holds the event at 5
    assert death[["fgstart", "fgstop"]].values.tolist() == [[0, 4], [4, 6]]
    np.testing.assert_allclose(death["fgwt"], [1.0, 2 / 3])        # G(4)/G(3−) = (5/6 · 2/3)/(5/6)
    assert death["k"].tolist() == [0, 1] and death["fgstatus"].tolist() == [0, 0]
    others = fg[fg["pid"] != "c"]
    assert (others["fgwt"] == 1).all() and (others["fgstart"] == 0).all()
    assert others["fgstop"].tolist() == [1, 2, 3, 4, 5, 6]
    assert fg["fgstatus"].tolist() == [1, 0, 0, 0, 1, 0, 1, 0]
    assert fg.attrs["event"] == 1 and list(fg.columns[:3]) == ["t", "ev", "pid"]


def test_user_weights_multiply_and_a_time_zero_starts_at_minus_one():
    df = pd.DataFrame({"t": [0.0, 2, 3, 4, 5], "ev": [1, 2, 0, 1, 0], "w": [1.0, 2.0, 1.0, 0.5, 1.0]})
    fg = finegray_data(df, "t", "ev", weights="w", count="k")
    plain = finegray_data(df, "t", "ev")
    assert fg["k"].tolist() == [0, 0, 1, 0, 0, 0]      # the death at 2 gets one more interval, (3, 5]
    np.testing.assert_allclose(fg["fgwt"], plain["fgwt"] * df["w"].to_numpy()[[0, 1, 1, 2, 3, 4]])
    assert plain["fgwt"].iloc[2] == pytest.approx(2 / 3)   # G(3) = 2/3 (3 at risk at 3)
    assert (fg.loc[fg["k"] == 0, "fgstart"] == -1).all()   # R's zero: 2·min(T) − 1 when a time is 0


def test_labels_and_strata_without_events():
    df = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "outcome": ["recurrence", "death", "censored", "recurrence",
                                                                   "death", "death", "censored", "death"],
                       "site": ["A"] * 5 + ["B"] * 3})
    with pytest.warns(UserWarning, match=r"stratum/strata \['B'\].*left out"):
        fg = finegray_data(df, "t", "outcome", cause="recurrence", censor_code="censored", strata="site")
    assert set(fg["site"]) == {"A"} and fg.attrs["event"] == "recurrence"


def test_input_is_not_changed():
    df = dataset("ties")
    before = df.copy()
    finegray_data(df, "time", "cause", cause=1, strata="site", id="id")
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("kwargs, message", [
    ({"cause": 3}, r"no events of cause 3 in 'cause'"),
    ({"id": "site"}, r"id column 'site' has 'A' on more than one row"),
    ({"weights": "neg"}, r"weights column 'neg' must be finite and positive"),
    ({"count": "x"}, r"column\(s\) \['x'\] already in the data; choose another prefix="),
    ({"strata": "nowhere"}, r"column\(s\) \['nowhere'\] not found"),
])
def test_degenerate_input_names_the_column(kwargs, message):
    df = dataset("ties").assign(neg=-1.0)
    with pytest.raises(StatsInputError, match=message):
        finegray_data(df, "time", "cause", **kwargs)


def test_missing_values_refused_or_dropped():
    df = dataset("ties")
    df.loc[3, "time"] = np.nan
    with pytest.raises(StatsInputError, match=r"missing values in 'time' \(1 rows\)"):
        finegray_data(df, "time", "cause")
    with pytest.warns(UserWarning, match="1 row"):
        fg = finegray_data(df, "time", "cause", missing="drop")
    assert 4 not in set(fg["id"]) and len(fg) > len(df) - 1
