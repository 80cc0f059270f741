"""cox(..., start=) — counting-process (start, stop] data with a time-varying covariate, against R
survival 3.5-3 on the Stanford heart transplant data (tests/r/cox_counting_goldens.R →
r_golden/heart.csv, cox_heart.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, cox, cox_zph

GOLD = Path(__file__).parent / "data" / "r_golden"
G = json.loads((GOLD / "cox_heart.json").read_text())
HEART = pd.read_csv(GOLD / "heart.csv")
COVS = ["age", "year", "surgery", "transplant"]


@pytest.mark.parametrize("case, kw", [
    ("efron", {}),
    ("breslow", {"ties": "breslow"}),
    ("cluster", {"cluster": "id"}),
    ("strata", {"strata": "surgery"}),
])
def test_counting_process_cox_equals_r_coxph(case, kw):
    g = G[case]
    covs = ["age", "transplant"] if case == "strata" else COVS
    fit = cox(HEART, "stop", "event", covs, start="start", **kw)
    assert list(fit.summary.index) == g["names"]
    np.testing.assert_allclose(fit.coef, g["coef"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.summary["se"], g["se"], rtol=1e-8)
    np.testing.assert_allclose(fit.loglik, g["loglik"], rtol=1e-10)
    assert fit.score_test["chisq"] == pytest.approx(g["score"], rel=1e-8)
    assert (fit.n, fit.events) == (g["n"], g["nevent"])
    if case == "cluster":  # robust SE summed per patient, as cluster = id
        np.testing.assert_allclose(fit.summary["robust_se"], g["robust_se"], rtol=1e-8)
    assert fit.counting_process and np.isnan(fit.concordance)


def test_one_interval_per_patient_from_zero_is_the_ordinary_model():
    # start = 0 everywhere: the counting-process fit is the plain fit, robust SE included
    df = HEART.groupby("id").agg(stop=("stop", "max"), event=("event", "max"), age=("age", "first"),
                                 year=("year", "first"), surgery=("surgery", "first")).reset_index()
    df["start"] = 0.0
    a = cox(df, "stop", "event", ["age", "year", "surgery"], robust=True)
    b = cox(df, "stop", "event", ["age", "year", "surgery"], robust=True, start="start")
    np.testing.assert_allclose(b.coef, a.coef, rtol=1e-10)
    np.testing.assert_allclose(b.summary["robust_se"], a.summary["robust_se"], rtol=1e-10)
    np.testing.assert_allclose(b.loglik, a.loglik, rtol=1e-12)


def test_start_must_precede_stop_and_zph_refuses():
    bad = HEART.copy()
    bad.loc[5, "start"] = bad.loc[5, "stop"]
    with pytest.raises(StatsInputError, match="start must be before its stop.*row 5"):
        cox(bad, "stop", "event", COVS, start="start")
    fit = cox(HEART, "stop", "event", COVS, start="start")
    with pytest.raises(StatsInputError, match="start, stop"):
        cox_zph(fit)
