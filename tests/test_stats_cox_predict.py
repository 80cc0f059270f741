"""CoxResult.predict against R survival 3.5-3: predict(fit, newdata, type = "lp" / "risk") and
summary(survfit(fit, newdata), times)$surv (tests/r/cox_predict_goldens.R → cox_predict.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, cox

GOLD = Path(__file__).parent / "data" / "r_golden"
G = json.loads((GOLD / "cox_predict.json").read_text())
LEVELS = ["squamous", "smallcell", "adeno", "large"]


def _veteran():
    df = pd.read_csv(GOLD / "veteran.csv")
    df["celltype"] = pd.Categorical(df["celltype"], LEVELS)
    return df


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_predict_equals_r(ties):
    g = G[ties]
    fit = cox(_veteran(), "time", "status", ["karno", "age", "celltype"], ties=ties)
    nd = pd.DataFrame(g["newdata"])  # celltype as plain text: coded with the fit's levels
    np.testing.assert_allclose(fit.predict(nd), g["lp"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.predict(nd, type="risk"), g["risk"], rtol=1e-9)
    surv = fit.predict(nd, type="survival", times=g["times"])
    np.testing.assert_allclose(surv.to_numpy().T, g["surv"], rtol=1e-8)   # R: times x rows


def test_predict_refuses_unknown_levels_and_missing_covariates():
    fit = cox(_veteran(), "time", "status", ["karno", "celltype"])
    with pytest.raises(StatsInputError, match="level 'oat cell'.*did not see"):
        fit.predict(pd.DataFrame({"karno": [50], "celltype": ["oat cell"]}))
    with pytest.raises(StatsInputError, match="lacks the covariate"):
        fit.predict(pd.DataFrame({"karno": [50]}))
    with pytest.raises(StatsInputError, match="needs times"):
        fit.predict(pd.DataFrame({"karno": [50], "celltype": ["adeno"]}), type="survival")
