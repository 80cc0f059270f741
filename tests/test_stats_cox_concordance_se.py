"""CoxResult.concordance_se against R: the "(se = …)" that summary(coxph) prints after the
concordance, fit$concordance["std"], recorded beside the fit's other numbers in
tests/data/r_golden/cox_<name>.json by tests/r/survival_goldens.R (R 4.2.2 + survival 3.5-3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.stats import cox

DATA = Path(__file__).parent / "data" / "r_golden"


def _gold(name: str) -> dict:
    return json.loads((DATA / f"cox_{name}.json").read_text())


def _data(name: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / f"{name}.csv")
    if name == "veteran":
        df["celltype"] = pd.Categorical(df["celltype"], ["squamous", "smallcell", "adeno", "large"])
    return df


CASES = {
    "lung_efron": ("lung", "time", "event", ["age", "sex", "ph.ecog"], {"ties": "efron"}),
    "lung_breslow": ("lung", "time", "event", ["age", "sex", "ph.ecog"], {"ties": "breslow"}),
    "rossi_efron": ("rossi", "week", "arrest", ["fin", "age", "race", "wexp", "mar", "paro", "prio"], {}),
    "ovarian": ("ovarian", "futime", "fustat", ["age", "rx"], {}),
    "veteran_celltype": ("veteran", "time", "status", ["trt", "celltype", "karno"], {}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_concordance_se_matches_r(name):
    ds, t, e, covs, kw = CASES[name]
    df = _data(ds).dropna(subset=covs)
    fit = cox(df, t, e, covs, **kw)
    g = _gold(name)  # R: see g["call"]
    np.testing.assert_allclose(fit.concordance, g["concordance"]["concordance"], atol=1e-9)
    np.testing.assert_allclose(fit.concordance_se, g["concordance"]["std"], rtol=1e-9)


def test_concordance_se_is_nan_where_r_variance_is_not_ported():
    # a stratified fit (R: veteran_strata, se 0.0268) and a weighted one: NaN, not a wrong number
    df = _data("veteran")
    fit = cox(df, "time", "status", ["trt", "karno", "age"], strata="celltype")
    assert np.isfinite(fit.concordance) and np.isnan(fit.concordance_se)
    w = df.assign(w=np.linspace(0.5, 2.0, len(df)))
    assert np.isnan(cox(w, "time", "status", ["trt"], weights="w").concordance_se)
