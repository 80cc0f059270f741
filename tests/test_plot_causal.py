"""Love plot and propensity-score distributions: points and bars equal the ``latc.stats`` balance
table and the histogram of the scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.plot import love_plot, ps_plot
from latc.stats import balance, love_data, propensity, weights
from test_plot_data import all_text, cohort, overlapping_texts, render, small_cohort, texts_outside

COVARIATES = ["age", "sex", "ecog_score", "histology", "braf_v600e"]


def _frame(c) -> pd.DataFrame:
    d = c["subject"].copy()
    d["age"] = d["age_at_diagnosis"].astype(float)
    d["ecog_score"] = pd.to_numeric(d["ecog"]).astype(float)
    return d


@pytest.fixture(scope="module")
def weighted():
    d = _frame(cohort())
    d["propensity_score"] = propensity(d, "cohort", COVARIATES, treated="neoadjuvant")
    d["w"] = weights(d, "cohort", ps="propensity_score", estimand="ATE", treated="neoadjuvant")
    return d


def test_love_points_equal_balance_smds(weighted):
    bal = balance(weighted, "cohort", COVARIATES, weights="w", treated="neoadjuvant")
    data = love_data(bal)
    fig = love_plot(data, labels={"age": "Age at diagnosis (years)"}, sample_labels={"Adjusted": "After IPTW"})
    ax = fig.axes[0]
    ylabels = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]
    for sample, col in (("Unadjusted", "diff_un"), ("Adjusted", "diff_adj")):
        ln = next(x for x in ax.get_lines() if x.get_gid() == f"love:{sample}")
        drawn = dict(zip(np.asarray(ln.get_ydata(), dtype=int), np.asarray(ln.get_xdata(), dtype=float)))
        expected = bal[col].abs()
        for var, y in fig.plotted.drop_duplicates("variable").set_index("variable")["y"].items():
            assert drawn[int(y)] == pytest.approx(expected[var])
    # sorted by unadjusted |SMD|: the top row (highest y) has the largest imbalance
    top = bal["diff_un"].abs().idxmax()
    assert fig.plotted.loc[fig.plotted["variable"] == top, "y"].iloc[0] == len(bal) - 1
    assert ylabels[-1].startswith("Age") or top != "age"
    assert any(np.allclose(ln.get_xdata(), [0.1, 0.1]) for ln in ax.get_lines())   # threshold line
    assert "After IPTW" in all_text(fig)
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, "love_default")


def test_love_accepts_a_balance_table_and_unadjusted_only():
    d = _frame(small_cohort())
    bal = balance(d, "cohort", ["age", "sex"], treated="neoadjuvant")
    fig = love_plot(bal)
    gids = {ln.get_gid() for ln in fig.axes[0].get_lines() if (ln.get_gid() or "").startswith("love:")}
    assert gids == {"love:Unadjusted"}
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, "love_10_patients")
    assert "No data" in all_text(love_plot(pd.DataFrame()))


def test_ps_bars_equal_histograms_before_and_after_weighting(weighted):
    fig = ps_plot(weighted, weights="w", weights_label="After IPTW")
    edges = np.linspace(0, 1, 31)
    t = (weighted["cohort"] == "neoadjuvant").to_numpy()
    x = weighted["propensity_score"].to_numpy(dtype=float)
    w = weighted["w"].to_numpy(dtype=float)
    expected = {"Before adjustment": (np.histogram(x[t], edges)[0], np.histogram(x[~t], edges)[0]),
                "After IPTW": (np.histogram(x[t], edges, weights=w[t])[0], np.histogram(x[~t], edges, weights=w[~t])[0])}
    for ax, (panel, (ht, hc)) in zip(fig.axes, expected.items()):
        top = [p.get_height() for p in ax.patches if p.get_gid() == f"ps:{panel}:treated"]
        bottom = [p.get_height() for p in ax.patches if p.get_gid() == f"ps:{panel}:control"]
        np.testing.assert_allclose(top, ht)
        np.testing.assert_allclose(bottom, -hc)          # mirrored below the axis
    assert f"Neoadjuvant (n = {int(t.sum())})" in all_text(fig)
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, "ps_default")


def test_ps_small_and_missing_scores():
    d = _frame(small_cohort())
    rng = np.random.default_rng(5)
    d["propensity_score"] = rng.uniform(0.1, 0.9, len(d))
    fig = ps_plot(d)
    assert len(fig.axes) == 1
    assert sum(p.get_height() for p in fig.axes[0].patches if p.get_gid().endswith("treated")) == \
        (d["cohort"] == "neoadjuvant").sum()
    assert overlapping_texts(fig) == []
    render(fig, "ps_10_patients")
    assert "No data" in all_text(ps_plot(d.assign(propensity_score=np.nan)))
