"""Kaplan–Meier, cumulative-incidence and forest plots: what is drawn equals the ``latc.stats``
results it was given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latc.plot import cif_plot, forest_plot, km_plot
from latc.plot._style import format_p
from latc.stats import cox, cumulative_incidence, kaplan_meier, logrank, subgroups
from test_plot_data import all_text, cohort, overlapping_texts, render, small_cohort, texts_outside

COHORTS = {"default": cohort, "10 patients": small_cohort}


def _os(c):
    return c["tte"][c["tte"]["paramcd"] == "OS"]


def _km_line(fig, key):
    return next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == f"km:{key}")


@pytest.mark.parametrize("which", list(COHORTS))
def test_km_steps_and_risk_table_equal_the_kmresult(which):
    os_ = _os(COHORTS[which]())
    km = kaplan_meier(os_, "time_months", "event", group="cohort")
    lr = logrank(os_, "time_months", "event", "cohort")
    fig = km_plot(km, logrank=lr, landmarks=[36], median_lines=True)
    for g in km.groups:
        tab = km.table[km.table["group"] == g]
        ln = _km_line(fig, g)
        assert ln.get_drawstyle() == "steps-post"
        np.testing.assert_allclose(ln.get_xdata(), np.r_[0.0, tab["time"].to_numpy()])
        np.testing.assert_allclose(ln.get_ydata(), np.r_[1.0, tab["survival"].to_numpy()])
    # numbers at risk: one cell per group × x tick, equal to KMResult.risk_table at those ticks
    ticks = fig.axes[0].get_xticks()
    expected = km.risk_table(ticks)
    cells = {t.get_gid(): t.get_text() for t in fig.axes[1].texts if (t.get_gid() or "").startswith("risk:")}
    assert len(cells) == len(km.groups) * len(ticks)
    for _, r in expected.iterrows():
        assert cells[f"risk:{r['group']}:{r['time']:g}"] == f"{r['n_risk']:.0f}"
    # the risk-table columns sit exactly under the x ticks
    xs = sorted({t.get_position()[0] for t in fig.axes[1].texts if (t.get_gid() or "").startswith("risk:")})
    np.testing.assert_allclose(xs, ticks)
    assert ("Log-rank " + format_p(lr.p)) in all_text(fig)
    assert "At 36 months:" in all_text(fig)
    assert fig.axes[0].get_xlabel() == "Months since treatment decision"
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, f"km_{which.replace(' ', '_')}")


def test_km_hazard_ratio_in_panel_from_cox():
    os_ = _os(cohort())
    km = kaplan_meier(os_, "time_months", "event", group="cohort")
    fit = cox(os_, "time_months", "event", ["cohort"])
    fig = km_plot(km, cox=fit)
    row = fit.summary.iloc[0]
    assert f"{row['exp_coef']:.2f} ({row['lower']:.2f}–{row['upper']:.2f})" in all_text(fig)
    assert "Upfront surgery vs neoadjuvant" in all_text(fig)


def test_km_no_events_is_flat_at_one_with_a_note():
    os_ = _os(small_cohort()).assign(event=0)
    km = kaplan_meier(os_, "time_months", "event", group="cohort")
    fig = km_plot(km)
    for g in km.groups:
        assert np.all(_km_line(fig, g).get_ydata() == 1.0)
    assert f"No events: all {len(os_)} patients censored" in all_text(fig)
    assert overlapping_texts(fig) == []


def test_km_single_group_and_overlay_of_two_fits():
    c = cohort()
    os_ = _os(c)
    efs = c["tte"][c["tte"]["paramcd"] == "EFS"]
    one = kaplan_meier(os_, "time_months", "event")
    fig = km_plot(one)
    assert len([ln for ln in fig.axes[0].get_lines() if (ln.get_gid() or "").startswith("km:")]) == 1
    assert "All patients" in all_text(fig)
    both = km_plot({"OS": one, "EFS": kaplan_meier(efs, "time_months", "event")})
    assert {"OS", "EFS"} <= {ln.get_gid()[3:] for ln in both.axes[0].get_lines() if (ln.get_gid() or "").startswith("km:")}
    assert overlapping_texts(both) == []


def test_km_empty_says_why():
    assert "No data" in all_text(km_plot(None))


# ------------------------------------------------------------------------------------------------
# cumulative incidence


@pytest.mark.parametrize("which", list(COHORTS))
def test_cif_curves_equal_the_cifresult_and_show_grays_p(which):
    rfs = COHORTS[which]()["tte"]
    rfs = rfs[rfs["paramcd"] == "RFS"]
    ci = cumulative_incidence(rfs, "time_months", "event_type", group="cohort")
    fig = cif_plot(ci, cause_labels={1: "Recurrence", 2: "Death without recurrence"})
    lines = {ln.get_gid(): ln for ln in fig.axes[0].get_lines() if (ln.get_gid() or "").startswith("cif:")}
    assert len(lines) == len(ci.groups) * len(ci.causes)
    for g in ci.groups:
        for cause in ci.causes:
            tab = ci.table[(ci.table["group"] == g) & (ci.table["cause"] == cause)]
            ln = lines[f"cif:{g}:{cause}"]
            np.testing.assert_allclose(ln.get_ydata()[1:-1], tab["cif"].to_numpy())
            np.testing.assert_allclose(ln.get_xdata()[1:-1], tab["time"].to_numpy())
            assert ln.get_xdata()[-1] == pytest.approx(ci.last_time[g])
    if ci.tests is not None:
        p1 = float(ci.tests.loc[ci.tests["cause"] == 1, "p"].iloc[0])
        assert f"Gray's test, recurrence: {format_p(p1)}" in all_text(fig)
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, f"cif_{which.replace(' ', '_')}")


def test_cif_single_group_has_no_test_text():
    rfs = cohort()["tte"]
    rfs = rfs[rfs["paramcd"] == "RFS"]
    ci = cumulative_incidence(rfs, "time_months", "event_type")
    fig = cif_plot(ci)
    assert "Gray" not in all_text(fig)
    assert overlapping_texts(fig) == []


# ------------------------------------------------------------------------------------------------
# forest


@pytest.fixture(scope="module")
def subgroup_table():
    c = cohort()
    os_ = _os(c).merge(c["subject"].drop(columns=["center_id", "cohort"]), on="patient_id")
    os_["age_group"] = pd.cut(os_["age_at_diagnosis"].astype(float), [0, 55, 200], right=False,
                              labels=["<55", "≥55"])
    return subgroups(os_, "cohort", ("time_months", "event"), ["age_group", "sex", "histology", "braf_v600e"],
                     treated="neoadjuvant")


def test_forest_one_row_per_subgroup_level(subgroup_table):
    sg = subgroup_table
    fig = forest_plot(sg, favours=("neoadjuvant", "upfront surgery"),
                      labels={"age_group": "Age at diagnosis (years)", "braf_v600e": "BRAF V600E"})
    rows = fig.rows
    levels = rows[rows["kind"].isin(["level", "overall"])]
    assert len(levels) == len(sg)
    assert (rows["kind"] == "header").sum() == sg.loc[sg["subgroup"] != "Overall", "subgroup"].nunique()
    ax = fig.axes[0]
    marked = {a.get_gid() for a in [*ax.get_lines(), *ax.patches] if (a.get_gid() or "").startswith("forest:")}
    estimable = sg[sg["estimate"].notna()]
    assert marked == {f"forest:{r.subgroup}:{r.level}" for r in estimable.itertuples()}
    # estimate markers at the estimates, on a log axis with the reference line at 1
    assert ax.get_xscale() == "log"
    assert any(np.allclose(ln.get_xdata(), [1.0, 1.0]) for ln in ax.get_lines())
    for r in estimable[estimable["subgroup"] != "Overall"].itertuples():
        ln = next(x for x in ax.get_lines() if x.get_gid() == f"forest:{r.subgroup}:{r.level}")
        lo, hi = ax.get_xlim()
        assert ln.get_xdata()[0] == pytest.approx(min(max(r.estimate, lo), hi))
    text = all_text(fig)
    for r in estimable.itertuples():
        assert f"{r.estimate:.2f} ({r.lower:.2f}–{r.upper:.2f})" in text
    if sg["estimate"].isna().any():
        assert "not estimable" in text
    p_int = sg.loc[sg["subgroup"] == "sex", "p_interaction"].iloc[0]
    assert f"{p_int:.2f}" in text
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, "forest_default")


def test_forest_small_table_and_empty(subgroup_table):
    small = subgroup_table[subgroup_table["subgroup"].isin(["Overall", "sex"])]
    fig = forest_plot(small)
    assert len(fig.rows) == 4            # overall, header, two levels
    assert overlapping_texts(fig) == []
    assert "No data" in all_text(forest_plot(subgroup_table.iloc[:0]))


def test_km_six_groups_readable():
    c = cohort()
    os_ = _os(c).merge(c["subject"][["patient_id", "histology"]], on="patient_id")
    km = kaplan_meier(os_, "time_months", "event", group="histology")
    fig = km_plot(km, logrank=logrank(os_, "time_months", "event", "histology"), landmarks=[12, 60],
                  median_lines=True)
    assert len(fig.risk) == 6 * len(fig.axes[0].get_xticks())
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    render(fig, "km_by_histology")
