"""latc.stats.p_adjust against R's p.adjust, and the omics screens that now use it.

Goldens (R 4.2.2):
    p <- c(0.01, 0.04, 0.03, 0.005, NA, 0.5, 0.04, 0.2)
    p.adjust(p, "BH"); p.adjust(p, "holm"); p.adjust(p, "bonferroni")
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.stats import StatsInputError, p_adjust

P = [0.01, 0.04, 0.03, 0.005, np.nan, 0.5, 0.04, 0.2]
R = {
    "BH": [0.035, 0.056, 0.056, 0.035, np.nan, 0.5, 0.056, 0.233333333333333],
    "holm": [0.06, 0.16, 0.15, 0.035, np.nan, 0.5, 0.16, 0.4],
    "bonferroni": [0.07, 0.28, 0.21, 0.035, np.nan, 1, 0.28, 1],
}


@pytest.mark.parametrize("method", list(R))
def test_p_adjust_matches_r(method):
    np.testing.assert_allclose(p_adjust(P, method=method), R[method], rtol=1e-12, equal_nan=True)


def test_series_keeps_its_index_and_fdr_is_bh():
    s = pd.Series(P, index=[f"g{i}" for i in range(len(P))], name="p")
    q = p_adjust(s, method="fdr")
    assert isinstance(q, pd.Series) and list(q.index) == list(s.index)
    np.testing.assert_allclose(q.to_numpy(), R["BH"], rtol=1e-12, equal_nan=True)


def test_bad_input_is_refused():
    with pytest.raises(StatsInputError, match="method must be one of"):
        p_adjust(P, method="BY")
    with pytest.raises(StatsInputError, match=r"\[0, 1\]"):
        p_adjust([0.2, 1.5])


def test_the_omics_screens_use_the_one_implementation():
    # the four copies (single-cell composition, spatial and imaging features, omics models) are gone
    from latc.omics.models import bh_fdr
    from latc.omics.sc import bh

    np.testing.assert_allclose(bh(P), R["BH"], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(bh_fdr(P), R["BH"], rtol=1e-12, equal_nan=True)
    import pathlib

    src = pathlib.Path(__file__).resolve().parents[1] / "src" / "latc" / "omics"
    hits = [str(p) for p in src.rglob("*.py") if "multipletests" in p.read_text() or "false_discovery_control" in p.read_text()]
    assert hits == []
