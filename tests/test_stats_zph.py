"""cox_zph against R survival 3.5-3 ``cox.zph`` (tests/r/survival_goldens.R → tests/data/r_golden/zph_*.json).

R: cox.zph(<the coxph fit of the case>, transform = "km" | "rank" | "identity"); the golden's
"call" field holds the model. Tolerance 1e-6 on the chi-squares (issue 4).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, cox, cox_zph
from test_stats_cox import CASES, GOLD, data


@pytest.mark.filterwarnings("ignore:cox. .* row")
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("transform", ["km", "rank", "identity"])
def test_cox_zph_matches_r(name, transform):
    r_call, fit_fn = CASES[name]
    g = json.loads((GOLD / f"zph_{name}.json").read_text())
    assert r_call in g["call"]
    res = cox_zph(fit_fn(), transform=transform)
    ref = pd.DataFrame(g[transform])
    assert list(res.index) == list(ref["term"])          # per term (celltype: one term, 3 df) + GLOBAL
    np.testing.assert_allclose(res["chisq"], ref["chisq"], rtol=1e-6)
    np.testing.assert_array_equal(res["df"], ref["df"])
    np.testing.assert_allclose(res["p"], ref["p"], rtol=1e-6, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Starting with pandas")
def test_zph_differs_from_lifelines_pre_3_0_approximation():
    # DESIGN.md pitfall: lifelines' proportional_hazard_test is the approximation R dropped in 3.0.
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    rossi = data("rossi")
    cols = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    cph = CoxPHFitter().fit(rossi, "week", "arrest")
    old = proportional_hazard_test(cph, rossi, time_transform="km").summary["test_statistic"]
    new = cox_zph(cox(rossi, "week", "arrest", cols), transform="km")
    ref = pd.DataFrame(json.loads((GOLD / "zph_rossi_efron.json").read_text())["km"]).set_index("term")
    np.testing.assert_allclose(new.loc[cols, "chisq"], ref.loc[cols, "chisq"], rtol=1e-6)
    assert np.max(np.abs(old.loc[cols].to_numpy() - ref.loc[cols, "chisq"].to_numpy())) > 1e-3


def test_zph_needs_a_latc_fit_and_known_transform():
    with pytest.raises(StatsInputError, match="latc.stats.cox"):
        cox_zph(object())
    fit = cox(data("ovarian"), "futime", "fustat", ["age", "rx"])
    with pytest.raises(StatsInputError, match="transform"):
        cox_zph(fit, transform="spline")
